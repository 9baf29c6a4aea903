"""Stripe's webhooks (docs/stripe.md, "Webhooks"): a signed event read into the port's PaymentEvent, and the
same events made and signed by the sandbox, so that one function and one code path serve both gateways.

The signature is checked by the official SDK (`stripe.Webhook.construct_event`: Stripe's `t=<unix>,v1=<hex
HMAC-SHA256 of "<t>.<body>">` scheme) against the real clock, with a 5-minute tolerance: SEATS_NOW fixes
business time, never a transport check.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from seats.domain.errors import InvalidSignature
from seats.domain.payments import payment_id_of_key
from seats.services.ports import PaymentEvent, ProviderPayment

TOLERANCE_S = 300  # Stripe's own default: an older signature is refused (a replayed delivery)
MAX_BODY_BYTES = 64 * 1024  # Stripe's events are a few kilobytes; anything larger is refused unread


def verify(payload: bytes, signature: str | None, secret: str, tolerance: int = TOLERANCE_S) -> PaymentEvent:
    """The event, once its signature is checked; InvalidSignature otherwise (nothing of it is used)."""
    import stripe

    if not signature:
        raise InvalidSignature("The Stripe-Signature header is missing")
    if not _json_object(payload):  # what the SDK would choke on, once the signature holds
        raise InvalidSignature("The body is not a JSON event")
    try:
        event = stripe.Webhook.construct_event(payload, signature, secret, tolerance=tolerance)
    except stripe.SignatureVerificationError as refused:
        raise InvalidSignature("The signature does not match the body, or is older than 5 minutes") from refused
    except (ValueError, TypeError, AttributeError) as malformed:
        raise InvalidSignature("The body is not a JSON event") from malformed
    return payment_event(event.to_dict())


def _json_object(payload: bytes) -> bool:
    try:
        return isinstance(json.loads(payload), dict)
    except (ValueError, RecursionError):
        return False


def payment_event(event: dict[str, Any]) -> PaymentEvent:
    """The parts of a (verified) event the services act on; `payment_id` from the key the intent carries."""
    data = event.get("data")
    intent = data.get("object") if isinstance(data, dict) else None
    intent = intent if isinstance(intent, dict) and intent.get("object") == "payment_intent" else {}
    metadata = intent.get("metadata")
    key = metadata.get("idempotency_key") if isinstance(metadata, dict) else None
    return PaymentEvent(
        event_id=str(event.get("id") or ""), type=str(event.get("type") or ""),
        provider_ref=intent["id"] if isinstance(intent.get("id"), str) and intent["id"] else None,
        payment_id=payment_id_of_key(key if isinstance(key, str) else None),
    )


def intent_event(event_type: str, payment: ProviderPayment, idempotency_key: str, at: int) -> dict[str, Any]:
    """A Stripe-shaped `payment_intent.*` event about `payment` (what the sandbox sends)."""
    intent: dict[str, Any] = {
        "id": payment.provider_ref, "object": "payment_intent", "amount": payment.amount.minor_units,
        "currency": payment.amount.currency.lower(), "payment_method": payment.payment_method_ref,
        "status": "requires_payment_method" if payment.status == "failed" else payment.status,
        "metadata": {"idempotency_key": idempotency_key},
        "last_payment_error": None,
    }
    if payment.status == "failed":
        failure = "payment_intent_authentication_failure" if payment.decline_code == "authentication_failed" \
            else "card_declined"
        intent["last_payment_error"] = {"code": failure, "decline_code": payment.decline_code}
    return {"id": f"evt_{secrets.token_hex(12)}", "object": "event", "type": event_type, "created": at,
            "livemode": False, "data": {"object": intent}}


def signed(event: dict[str, Any], secret: str, at: int | None = None) -> tuple[bytes, str]:
    """The event's body and its Stripe-Signature header, signed with `secret` at `at` (now by default)."""
    payload = json.dumps(event, separators=(",", ":")).encode()
    return payload, signature_header(payload, secret, int(time.time()) if at is None else at)


def signature_header(payload: bytes, secret: str, at: int) -> str:
    digest = hmac.new(secret.encode(), f"{at}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={at},v1={digest}"
