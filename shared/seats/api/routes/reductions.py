"""Pending reductions (docs/api.md, Reducing seats): the seat count a subscription will renew with."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field

from seats import bootstrap, clock
from seats.api import present
from seats.api.answers import answers
from seats.api.identity import current_caller
from seats.api.schemas import SubscriptionOut
from seats.domain.codes import ELIGIBILITY_CONFLICTS, REDUCE_SEATS_CONFLICTS, ErrorCode
from seats.observability import metrics
from seats.services import reduce_seats

router = APIGatewayHttpRouter()

PATH = "/contracts/<contract_id>/subscriptions/<subscription_id>/pending-reduction"


class ReductionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    seats: Annotated[int, Field(description="Seats wanted at renewal: at least 1 and the assigned seats, "
                                            "fewer than the current seats")]


_COMMON = {401: [ErrorCode.UNAUTHORIZED], 403: [ErrorCode.NOT_CONTRACT_MANAGER]}


@router.put(
    PATH,
    summary="Schedule (or replace) a seat reduction applied at renewal",
    responses=answers(200, "The subscription with its pending reduction", None, {
        **_COMMON,
        404: [ErrorCode.CONTRACT_NOT_FOUND, ErrorCode.SUBSCRIPTION_NOT_FOUND],
        409: [*REDUCE_SEATS_CONFLICTS, ErrorCode.BELOW_ASSIGNED_SEATS, ErrorCode.CONCURRENT_UPDATE],
        422: [ErrorCode.VALIDATION_ERROR, ErrorCode.INVALID_REDUCTION],
    }),
)
def put_pending_reduction(contract_id: str, subscription_id: str,
                          body: Annotated[ReductionIn, Body()]) -> SubscriptionOut:
    caller = current_caller(router)
    contract, subscription = reduce_seats.schedule_reduction(
        bootstrap.repository(), contract_id, subscription_id, caller.user_id, body.seats,
    )
    metrics.add_metric(name="ReductionsScheduled", unit=MetricUnit.Count, value=1)
    return present.subscription(contract, subscription, caller.user_id, clock.today())


@router.delete(
    PATH,
    summary="Cancel the pending seat reduction",
    responses=answers(204, "The reduction is cancelled", None, {
        **_COMMON,
        404: [ErrorCode.CONTRACT_NOT_FOUND, ErrorCode.SUBSCRIPTION_NOT_FOUND, ErrorCode.NO_PENDING_REDUCTION],
        409: [*ELIGIBILITY_CONFLICTS, ErrorCode.CONCURRENT_UPDATE],
        422: [ErrorCode.VALIDATION_ERROR],
    }),
)
def delete_pending_reduction(contract_id: str, subscription_id: str) -> Response[None]:
    caller = current_caller(router)
    reduce_seats.cancel_reduction(
        bootstrap.repository(), contract_id, subscription_id, caller.user_id,
    )
    return Response(status_code=204)
