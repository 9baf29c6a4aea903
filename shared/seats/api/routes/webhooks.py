"""POST /webhooks/stripe: the payment provider's events (docs/stripe.md, "Webhooks"). No JWT: the
`Stripe-Signature` header, checked with the endpoint secret by the official SDK, is the authentication.

A missing, wrong or stale signature answers 400 invalid_signature and changes nothing. A verified event
answers 200 once handled (seats.services.webhooks: idempotent per payment, so an event delivered twice
has effect once; events about other payments, or of other types, change nothing). A payment that could
not be settled now answers 503 (the provider did not answer; the secret could not be read) or 409 (the
order changed meanwhile): either way the provider delivers the event again.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Header
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, Field

from seats import bootstrap, clock
from seats.api.answers import answers
from seats.domain.codes import ErrorCode
from seats.domain.errors import ConcurrentUpdate, InvalidSignature, PaymentProviderUnavailable
from seats.observability import logger
from seats.services.webhooks import on_payment_event

router = APIGatewayHttpRouter()


class WebhookReceived(BaseModel):
    received: Annotated[bool, Field(description="Always true: the event was verified and handled")]
    handled: Annotated[str, Field(description="What it did: completed, failed, refunded, waiting, moving, "
                                              "already_settled, ignored (type) or unknown (not our payment)")]


@router.post(
    "/webhooks/stripe", summary="Stripe's payment events (signed; no JWT)", tags=["Webhooks"],
    responses=answers(200, "The event was verified and handled", WebhookReceived, {
        400: [ErrorCode.INVALID_SIGNATURE], 409: [ErrorCode.CONCURRENT_UPDATE],
        503: [ErrorCode.PAYMENT_PROVIDER_UNAVAILABLE, ErrorCode.SERVICE_UNAVAILABLE],
    }),
)
def stripe_webhook(
    stripe_signature: Annotated[str | None, Header(
        alias="Stripe-Signature", max_length=2048,
        description="Stripe's `t=<unix time>,v1=<HMAC-SHA256>` signature of the raw body with the endpoint secret",
    )] = None,
) -> dict[str, Any]:
    payload = (router.current_event.decoded_body or "").encode("utf-8", "surrogatepass")
    try:
        event = bootstrap.verify_webhook(payload, stripe_signature)
    except InvalidSignature as refused:
        logger.warning("Webhook refused", extra={"reason": refused.detail})
        raise
    try:
        handled = on_payment_event(bootstrap.repository(), bootstrap.payment_gateway(), event, clock.utc_now())
    except (PaymentProviderUnavailable, ConcurrentUpdate):
        logger.info("Webhook event not settled now; the provider delivers it again",
                    extra={"event_id": event.event_id, "type": event.type})
        raise
    logger.info("Webhook event handled", extra={"event_id": event.event_id, "type": event.type, "handled": handled})
    return {"received": True, "handled": handled}
