"""Read routes: the caller's contracts, a contract's orders, history and renewal preview, single orders."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from seats import bootstrap, clock
from seats.api import present
from seats.api.answers import answers
from seats.api.identity import current_caller
from seats.api.schemas import ContractList, ContractOut, HistoryList, OrderList, OrderOut, RenewalPreviewOut
from seats.domain.codes import ErrorCode
from seats.services import read

router = APIGatewayHttpRouter()


# Every route documents its 422 as a problem: otherwise Powertools documents its own default shape.
_READ_PROBLEMS = {401: [ErrorCode.UNAUTHORIZED], 422: [ErrorCode.VALIDATION_ERROR]}


@router.get(
    "/contracts",
    summary="List the contracts the caller manages or administers",
    responses=answers(200, "One page of contracts", None, _READ_PROBLEMS),
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
    responses=answers(200, "The contract", None, {**_READ_PROBLEMS, 404: [ErrorCode.CONTRACT_NOT_FOUND]}),
)
def get_contract(contract_id: str) -> ContractOut:
    caller = current_caller(router)
    contract = read.get_contract(bootstrap.repository(), contract_id, caller.user_id)
    return present.contract(contract, caller.user_id, clock.today())


@router.get(
    "/contracts/<contract_id>/orders",
    summary="A contract's orders, newest first",
    responses=answers(200, "The orders", None, {**_READ_PROBLEMS, 404: [ErrorCode.CONTRACT_NOT_FOUND]}),
)
def list_orders(contract_id: str) -> OrderList:
    caller = current_caller(router)
    orders = read.list_orders(bootstrap.repository(), contract_id, caller.user_id)
    return OrderList(orders=[present.order(o) for o in orders])


@router.get(
    "/contracts/<contract_id>/history",
    summary="A contract's history, newest first",
    responses=answers(200, "The history events", None, {**_READ_PROBLEMS, 404: [ErrorCode.CONTRACT_NOT_FOUND]}),
)
def list_history(contract_id: str) -> HistoryList:
    caller = current_caller(router)
    events = read.list_history(bootstrap.repository(), contract_id, caller.user_id)
    return HistoryList(events=[present.history_event(e) for e in events])


@router.get(
    "/contracts/<contract_id>/renewal-preview",
    summary="What the next renewal will charge, on which card, and what may stop it",
    responses=answers(200, "The renewal preview", None, {**_READ_PROBLEMS, 404: [ErrorCode.CONTRACT_NOT_FOUND]}),
)
def get_renewal_preview(contract_id: str) -> RenewalPreviewOut:
    caller = current_caller(router)
    return present.renewal_preview(read.renewal_preview(bootstrap.repository(), contract_id, caller.user_id))


@router.get(
    "/orders/<order_id>",
    summary="Read one order",
    responses=answers(200, "The order", None, {**_READ_PROBLEMS, 404: [ErrorCode.ORDER_NOT_FOUND]}),
)
def get_order(order_id: str) -> OrderOut:
    caller = current_caller(router)
    return present.order(read.get_order(bootstrap.repository(), order_id, caller.user_id))
