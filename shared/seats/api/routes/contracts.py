"""Read routes: the caller's contracts, a contract's orders and history, single orders."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from seats import bootstrap, clock
from seats.api import present
from seats.api.identity import current_caller
from seats.api.problems import PROBLEM_JSON
from seats.api.schemas import ContractList, ContractOut, HistoryList, OrderList, OrderOut, Problem
from seats.services import read

router = APIGatewayHttpRouter()


def _responses(success: str, problems: dict[int, str]) -> dict[int, Any]:
    """OpenAPI `responses`: the 200 (its schema from the return type) and problem+json answers."""
    return {
        200: {"description": success},
        **{status: {"description": code, "content": {PROBLEM_JSON: {"model": Problem}}}
           for status, code in problems.items()},
    }


# Every route documents its 422 as a problem: otherwise Powertools documents its own default shape.
_READ_PROBLEMS = {401: "unauthorized", 422: "validation_error"}


@router.get(
    "/contracts",
    summary="List the contracts the caller manages or administers",
    responses=_responses("One page of contracts", _READ_PROBLEMS),
)
def list_contracts(
    limit: Annotated[int, Query(ge=1, le=100, description="Page size")] = 50,
    next_token: Annotated[
        str | None, Query(min_length=1, max_length=1024, description="The next_token of the previous page")
    ] = None,
) -> ContractList:
    caller = current_caller(router)
    contracts, token = read.list_contracts(bootstrap.repository(), caller.user_id, limit, next_token)
    today = clock.today()
    return ContractList(
        contracts=[present.contract(c, caller.user_id, today) for c in contracts], next_token=token
    )


@router.get(
    "/contracts/<contract_id>",
    summary="Read one contract",
    responses=_responses("The contract", {**_READ_PROBLEMS, 404: "contract_not_found"}),
)
def get_contract(contract_id: str) -> ContractOut:
    caller = current_caller(router)
    contract = read.get_contract(bootstrap.repository(), contract_id, caller.user_id)
    return present.contract(contract, caller.user_id, clock.today())


@router.get(
    "/contracts/<contract_id>/orders",
    summary="A contract's orders, newest first",
    responses=_responses("The orders", {**_READ_PROBLEMS, 404: "contract_not_found"}),
)
def list_orders(contract_id: str) -> OrderList:
    caller = current_caller(router)
    orders = read.list_orders(bootstrap.repository(), contract_id, caller.user_id)
    return OrderList(orders=[present.order(o) for o in orders])


@router.get(
    "/contracts/<contract_id>/history",
    summary="A contract's history, newest first",
    responses=_responses("The history events", {**_READ_PROBLEMS, 404: "contract_not_found"}),
)
def list_history(contract_id: str) -> HistoryList:
    caller = current_caller(router)
    events = read.list_history(bootstrap.repository(), contract_id, caller.user_id)
    return HistoryList(events=[present.history_event(e) for e in events])


@router.get(
    "/orders/<order_id>",
    summary="Read one order",
    responses=_responses("The order", {**_READ_PROBLEMS, 404: "order_not_found"}),
)
def get_order(order_id: str) -> OrderOut:
    caller = current_caller(router)
    return present.order(read.get_order(bootstrap.repository(), order_id, caller.user_id))
