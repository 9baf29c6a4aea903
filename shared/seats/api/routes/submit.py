"""POST /orders/{order_id}/submit: one answer per Idempotency-Key (docs/api.md, Adding seats).

The first final answer (200, 202 and 4xx, status and body) is kept and replayed by seats.api.idempotency;
202 is the order `payment_pending`, waiting for the cardholder's 3-D Secure authentication (docs/stripe.md,
"3-D Secure and webhooks").
Answers that invite a retry with the same key (503, 409 concurrent_update, unexpected errors) are
raised, and so not kept. Charging exactly once does not depend on this layer: the charge key comes
from the order (see seats.services.submit).
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Header, Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from seats import bootstrap
from seats.api import idempotency, present
from seats.api.answers import answer, answers
from seats.api.idempotency import idempotency_store as idempotency_store  # imported from here by bench/
from seats.api.identity import current_caller
from seats.api.schemas import OrderOut
from seats.domain.codes import ADD_SEATS_CONFLICTS, ErrorCode
from seats.domain.errors import DomainError, IdempotencyKeyRequired
from seats.observability import metrics
from seats.services import submit

router = APIGatewayHttpRouter()


def _first_answer(request: dict[str, str]) -> dict[str, Any]:
    """Submit; a final answer is returned (and kept), anything worth retrying is raised (and not kept)."""
    try:
        order = submit.submit(bootstrap.repository(), bootstrap.payment_gateway(), request["order_id"],
                              request["caller"], submit_key=idempotency.request_digest(request))
    except DomainError as error:
        return idempotency.kept(error)
    if order.status == "payment_pending":  # waiting for the cardholder's authentication: the webhook completes it
        return {"status": 202, "body": present.order(order).model_dump(mode="json")}
    metrics.add_metric(name="SeatsAdded", unit=MetricUnit.Count, value=order.seats_to_add or 0)
    with single_metric(name="OrderValue", unit=MetricUnit.NoUnit, value=float(order.total.amount),
                       namespace=metrics.namespace) as metric:
        metric.add_dimension(name="currency", value=order.currency)
    return {"status": 200, "body": present.order(order).model_dump(mode="json")}


def submit_once(*, order_id: str, key: str, caller_id: str, context: LambdaContext | None) -> dict[str, Any]:
    """The answer to this submit: the first one again for a key already used, else a new one."""
    return idempotency.submit_once(_first_answer, order_id=order_id, key=key, caller_id=caller_id, context=context)


@router.post(
    "/orders/<order_id>/submit", summary="Pay for a draft and add its seats, exactly once", tags=["Add seats"],
    responses={
        **answers(200, "The completed order (a replayed answer has Idempotent-Replayed: true)", OrderOut, {
            400: [ErrorCode.IDEMPOTENCY_KEY_REQUIRED], 402: [ErrorCode.PAYMENT_DECLINED],
            403: [ErrorCode.NOT_CONTRACT_MANAGER],
            404: [ErrorCode.ORDER_NOT_FOUND, ErrorCode.SUBSCRIPTION_NOT_FOUND, ErrorCode.PAYMENT_METHOD_NOT_FOUND],
            409: [*ADD_SEATS_CONFLICTS, ErrorCode.ORDER_NOT_DRAFT, ErrorCode.QUOTE_EXPIRED,
                  ErrorCode.PAYMENT_METHOD_EXPIRED, ErrorCode.REQUEST_IN_PROGRESS, ErrorCode.CONCURRENT_UPDATE],
            422: [ErrorCode.VALIDATION_ERROR, ErrorCode.SEAT_LIMIT_EXCEEDED, ErrorCode.IDEMPOTENCY_KEY_REUSED],
            503: [ErrorCode.PAYMENT_PROVIDER_UNAVAILABLE, ErrorCode.SERVICE_UNAVAILABLE],
        }),
        202: answer("The card asks for the cardholder (3-D Secure): the order is payment_pending, with "
                             "the payment_action to complete; the provider's webhook completes it. Answered again, "
                             "without a new charge, to the same or a new Idempotency-Key while it waits", OrderOut),
    },
)
def submit_order(
    order_id: Annotated[str, Path(description="Order id")],
    idempotency_key: Annotated[str | None, Header(
        alias="Idempotency-Key", min_length=1, max_length=255,
        description="Idempotency-Key: 1-255 characters, one per intended submit; a retry reuses it",
    )] = None,
):  # returns a Response; an annotation would make Powertools validate it as the body
    if idempotency_key is None:
        raise IdempotencyKeyRequired()
    caller = current_caller(router)
    answer = submit_once(order_id=order_id, key=idempotency_key, caller_id=caller.user_id,
                         context=router.lambda_context)
    return idempotency.as_response(answer)
