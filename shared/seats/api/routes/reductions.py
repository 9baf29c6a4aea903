"""Pending reductions (SPEC §4.3): the seat count a subscription will renew with."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field

from seats import bootstrap, clock
from seats.api import present
from seats.api.identity import current_caller
from seats.api.problems import PROBLEM_JSON
from seats.api.schemas import Problem, SubscriptionOut
from seats.observability import metrics
from seats.services import reduce_seats

router = APIGatewayHttpRouter()

PATH = "/contracts/<contract_id>/subscriptions/<subscription_id>/pending-reduction"


class ReductionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    seats: Annotated[int, Field(description="Seats wanted at renewal: at least 1 and the assigned seats, "
                                            "fewer than the current seats")]


def _responses(success: tuple[int, str], problems: dict[int, str]) -> dict[int, Any]:
    status, description = success
    return {
        status: {"description": description},
        **{code: {"description": reasons, "content": {PROBLEM_JSON: {"model": Problem}}}
           for code, reasons in problems.items()},
    }


_ELIGIBILITY = ("contract_not_active, not_purchased_online, not_auto_renewing, region_not_supported, "
                "maintenance_plan, renewal_due")
_COMMON = {401: "unauthorized", 403: "not_contract_manager"}


@router.put(
    PATH,
    summary="Schedule (or replace) a seat reduction applied at renewal",
    responses=_responses((200, "The subscription with its pending reduction"), {
        **_COMMON,
        404: "contract_not_found, subscription_not_found",
        409: f"{_ELIGIBILITY}, draft_exists, single_seat, below_assigned_seats, concurrent_update",
        422: "validation_error, invalid_reduction",
    }),
)
def put_pending_reduction(contract_id: str, subscription_id: str,
                          body: Annotated[ReductionIn, Body()]) -> SubscriptionOut:
    caller = current_caller(router)
    contract, subscription = reduce_seats.schedule_reduction(
        bootstrap.repository(), bootstrap.publisher(), contract_id, subscription_id, caller.user_id, body.seats,
    )
    metrics.add_metric(name="ReductionsScheduled", unit=MetricUnit.Count, value=1)
    return present.subscription(contract, subscription, caller.user_id, clock.today())


@router.delete(
    PATH,
    summary="Cancel the pending seat reduction",
    responses=_responses((204, "The reduction is cancelled"), {
        **_COMMON,
        404: "contract_not_found, subscription_not_found, no_pending_reduction",
        409: f"{_ELIGIBILITY}, concurrent_update",
        422: "validation_error",
    }),
)
def delete_pending_reduction(contract_id: str, subscription_id: str) -> Response[None]:
    caller = current_caller(router)
    reduce_seats.cancel_reduction(
        bootstrap.repository(), bootstrap.publisher(), contract_id, subscription_id, caller.user_id,
    )
    return Response(status_code=204)
