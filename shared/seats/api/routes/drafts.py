"""Add-seats drafts: create (POST .../seat-orders), edit (PATCH /orders/{id}), cancel (DELETE /orders/{id})."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field

from seats import bootstrap
from seats.api import present
from seats.api.answers import answers
from seats.api.identity import current_caller
from seats.api.schemas import OrderOut
from seats.domain.codes import ADD_SEATS_CONFLICTS, ErrorCode
from seats.services import add_seats

router = APIGatewayHttpRouter()

class SeatsToAdd(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    seats_to_add: Annotated[int, Field(description="Seats to add now; the subscription may reach 10000 seats")]


ContractId = Annotated[str, Path(description="Contract id")]
SubscriptionId = Annotated[str, Path(description="Subscription id, within the contract")]
OrderId = Annotated[str, Path(description="Order id")]


@router.post(
    "/contracts/<contract_id>/subscriptions/<subscription_id>/seat-orders",
    status_code=201, summary="Save an add-seats draft, priced to the renewal date", tags=["Add seats"],
    responses=answers(201, "The draft order", OrderOut, {
        403: [ErrorCode.NOT_CONTRACT_MANAGER],
        404: [ErrorCode.CONTRACT_NOT_FOUND, ErrorCode.SUBSCRIPTION_NOT_FOUND],
        409: [*ADD_SEATS_CONFLICTS, ErrorCode.DRAFT_EXISTS, ErrorCode.CONCURRENT_UPDATE],
        422: [ErrorCode.VALIDATION_ERROR, ErrorCode.SEAT_LIMIT_EXCEEDED],
    }),
)
def create_seat_order(contract_id: ContractId, subscription_id: SubscriptionId,
                      body: Annotated[SeatsToAdd, Body(description="How many seats to add")]) -> OrderOut:
    caller = current_caller(router)
    order = add_seats.create_draft(bootstrap.repository(), contract_id, subscription_id, body.seats_to_add,
                                   caller.user_id)
    return present.order(order)


@router.patch(
    "/orders/<order_id>", summary="Change the seats of a draft; it is priced again", tags=["Add seats"],
    responses=answers(200, "The draft, priced again", OrderOut, {
        403: [ErrorCode.NOT_CONTRACT_MANAGER], 404: [ErrorCode.ORDER_NOT_FOUND],
        409: [*ADD_SEATS_CONFLICTS, ErrorCode.ORDER_NOT_DRAFT, ErrorCode.CONCURRENT_UPDATE],
        422: [ErrorCode.VALIDATION_ERROR, ErrorCode.SEAT_LIMIT_EXCEEDED],
        503: [ErrorCode.PAYMENT_PROVIDER_UNAVAILABLE],
    }),
)
def update_seat_order(order_id: OrderId, body: Annotated[SeatsToAdd, Body(description="The new seats to add")]) -> OrderOut:
    caller = current_caller(router)
    order = add_seats.update_draft(bootstrap.repository(), bootstrap.payment_gateway(), order_id, body.seats_to_add,
                                   caller.user_id)
    return present.order(order)


@router.delete(
    "/orders/<order_id>", status_code=204, summary="Cancel a draft", tags=["Add seats"],
    responses=answers(204, "The draft is cancelled", None, {
        403: [ErrorCode.NOT_CONTRACT_MANAGER], 404: [ErrorCode.ORDER_NOT_FOUND],
        409: [ErrorCode.ORDER_NOT_DRAFT, ErrorCode.CONCURRENT_UPDATE],
        503: [ErrorCode.PAYMENT_PROVIDER_UNAVAILABLE],
    }),
)
def cancel_seat_order(order_id: OrderId):  # returns a Response; an annotation would make Powertools validate it as the body
    caller = current_caller(router)
    add_seats.cancel_draft(bootstrap.repository(), bootstrap.payment_gateway(), order_id, caller.user_id)
    return Response(status_code=204)
