"""Stripe adapter of the PaymentGateway port, on the official `stripe` SDK.

- One `stripe.StripeClient` per gateway (no global `stripe.api_key`), created on first use so that a
  cold start that never charges pays neither for `import stripe` nor for reading the key.
- Short timeout and no SDK retries by default: a charge carries an idempotency key, so the caller
  (or the client) retries safely and the Lambda stays within its time budget.
- Stripe errors become the domain errors of seats.domain.errors (see `_translate` and
  docs/stripe.md); the exceptions raised carry no Stripe message, no card data and never the key.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from seats.domain.errors import (
    DomainError,
    IdempotencyKeyReused,
    InvalidPaymentToken,
    PaymentDeclined,
    PaymentMethodExpired,
    PaymentProviderUnavailable,
)
from seats.domain.money import Money, UnsupportedCurrency
from seats.services.ports import AttachedCard, Charge

if TYPE_CHECKING:
    import stripe
    from stripe.params import PaymentIntentCreateParams

logger = logging.getLogger(__name__)

Operation = Literal["create_customer", "attach", "charge", "refund", "list_charges"]

# A Stripe card token (tok_...) or PaymentMethod id (pm_...); anything else is refused unsent.
_TOKEN = re.compile(r"^(tok|pm)_[A-Za-z0-9_]{1,200}$")
# Stripe's catch-all decline is reported as the API's `card_declined`, as the sandbox does.
_DECLINE_ALIASES = {"generic_decline": "card_declined"}
# Characters kept as they are in an idempotency key; other keys are hashed.
_TOKEN_SAFE = re.compile(r"^[A-Za-z0-9_.:@+=-]*$")
# Request errors at charge that mean "this payment method cannot be used" (else: a bug, or config).
_PAYMENT_METHOD_CODES = {
    "resource_missing",
    "payment_method_unactivated",
    "payment_method_unexpected_state",
    "payment_method_invalid_parameter",
    "payment_method_not_available",
}
_PAYMENT_METHOD_PARAMS = {"payment_method", "source"}
_MAX_IDEMPOTENCY_KEY = 255


class StripeGateway:
    """PaymentGateway on Stripe. `api_key` may be a callable returning the key (read on first use)."""

    def __init__(
        self,
        api_key: str | Callable[[], str],
        api_base: str | None = None,
        timeout_s: float = 10,
        *,
        max_network_retries: int = 0,
    ) -> None:
        if not api_key:
            raise ValueError("a Stripe API key is required")
        self._api_key = api_key
        self._api_base = api_base.rstrip("/") if api_base else None
        self._timeout_s = timeout_s
        self._max_network_retries = max_network_retries
        self._client_instance: stripe.StripeClient | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never the key
        return f"StripeGateway(api_base={self._api_base or 'https://api.stripe.com'!r})"

    # -- PaymentGateway ---------------------------------------------------------------------------

    def attach(self, account_id: str, customer_ref: str | None, token: str) -> AttachedCard:
        if not isinstance(token, str) or not _TOKEN.match(token):
            raise InvalidPaymentToken()
        client = self._client()
        if customer_ref is None:
            with self._translated("create_customer"):
                customer = client.v1.customers.create(
                    {"metadata": {"account_id": account_id}},
                    {"idempotency_key": _idempotency_key("seats-customer", account_id)},
                )
            customer_ref = customer.id
        with self._translated("attach"):
            payment_method_id = token
            if token.startswith("tok_"):
                created = client.v1.payment_methods.create(
                    {"type": "card", "card": {"token": token}},
                    {"idempotency_key": _idempotency_key("seats-pm", account_id, token)},
                )
                payment_method_id = created.id
            attached = client.v1.payment_methods.attach(
                payment_method_id,
                {"customer": customer_ref},
                {"idempotency_key": _idempotency_key("seats-attach", customer_ref, payment_method_id)},
            )
        method = attached.to_dict()
        card = method.get("card") or {}
        if method.get("type") != "card" or not card.get("last4"):
            raise InvalidPaymentToken("The payment method is not a card")
        return AttachedCard(
            customer_ref=customer_ref,
            provider_ref=method["id"],
            brand=str(card.get("brand") or "unknown"),
            last4=str(card["last4"]),
            exp_month=int(card["exp_month"]),
            exp_year=int(card["exp_year"]),
        )

    def charge(
        self,
        *,
        customer_ref: str | None,
        payment_method_ref: str,
        amount: Money,
        idempotency_key: str,
        description: str,
        payment_method_id: str | None = None,
    ) -> Charge:
        client = self._client()
        params = _intent_params(
            customer_ref, payment_method_ref, amount, idempotency_key, description, payment_method_id
        )
        with self._translated("charge"):
            intent = client.v1.payment_intents.create(params, {"idempotency_key": idempotency_key}).to_dict()
        status = intent.get("status")
        if status == "succeeded":
            return Charge(
                charge_id=intent["id"],
                amount=amount,
                payment_method_ref=_id_of(intent.get("payment_method")) or payment_method_ref,
                idempotency_key=idempotency_key,
                status="succeeded",
                created_at=_instant(intent.get("created")),
                payment_method_id=payment_method_id,
            )
        if status == "requires_action":  # the bank wants the card holder, who is not here
            logger.warning("Stripe charge %s needs authentication; reported as declined", intent.get("id"))
            raise PaymentDeclined(
                "The card was declined (authentication_required)", decline_code="authentication_required"
            )
        logger.error("Stripe charge %s ended in status %s", intent.get("id"), status)
        raise PaymentProviderUnavailable()

    def refund(self, charge_id: str, idempotency_key: str) -> None:
        import stripe

        client = self._client()
        with self._translated("refund"):
            try:
                client.v1.refunds.create(
                    {"payment_intent": charge_id, "metadata": {"idempotency_key": idempotency_key}},
                    # Stripe keys are account-wide: keep a refund's key apart from the charge's.
                    {"idempotency_key": _idempotency_key("seats-refund", idempotency_key)},
                )
            except stripe.InvalidRequestError as err:
                if _error_fields(err).get("code") != "charge_already_refunded":
                    raise
                logger.info("Stripe charge %s was already refunded", charge_id)

    def list_charges(self) -> list[Charge]:
        client = self._client()
        charges: list[Charge] = []
        with self._translated("list_charges"):
            for item in client.v1.payment_intents.list({"limit": 100}).auto_paging_iter():
                charge = _charge_from_intent(item.to_dict())
                if charge is not None:
                    charges.append(charge)
        return sorted(charges, key=lambda c: (c.created_at, c.charge_id))

    # -- the client ---------------------------------------------------------------------------------

    def _client(self) -> stripe.StripeClient:
        client = self._client_instance
        if client is not None:
            return client
        with self._lock:
            if self._client_instance is None:
                import stripe

                api_key = self._resolve_key()
                extra: dict[str, Any] = {}
                if self._api_base:
                    extra["base_addresses"] = {"api": self._api_base}
                self._client_instance = stripe.StripeClient(
                    api_key,
                    stripe_version=stripe.api_version,  # the version _card_only_param() reads
                    http_client=stripe.RequestsClient(timeout=self._timeout_s),
                    max_network_retries=self._max_network_retries,
                    **extra,
                )
            return self._client_instance

    @contextmanager
    def _translated(self, operation: Operation) -> Iterator[None]:
        import stripe

        try:
            yield
        except stripe.StripeError as err:
            if isinstance(err, stripe.AuthenticationError):
                # The key may have been rotated: read it again (through the 5-minute cache) next time.
                self._client_instance = None
            raise _translate(err, operation) from None

    def _resolve_key(self) -> str:
        if isinstance(self._api_key, str):
            return self._api_key
        try:
            return self._api_key()
        except Exception as err:  # noqa: BLE001 - any failure of the key store; name it, never the key
            logger.error("Cannot read the Stripe API key: %s", type(err).__name__)
            raise PaymentProviderUnavailable() from None


# -- error translation --------------------------------------------------------------------------------


def _error_fields(err: stripe.StripeError) -> dict[str, Any]:
    body = err.json_body if isinstance(err.json_body, dict) else {}
    fields = body.get("error")
    return fields if isinstance(fields, dict) else {}


def _translate(err: stripe.StripeError, operation: Operation) -> DomainError:
    """The domain error for a Stripe error. Logs type, status, code and request id, not messages."""
    import stripe

    fields = _error_fields(err)
    code = fields.get("code") or err.code
    decline_code = fields.get("decline_code")
    param = fields.get("param")
    summary = (
        "Stripe %s failed: %s http_status=%s code=%s decline_code=%s param=%s request_id=%s",
        operation,
        type(err).__name__,
        err.http_status,
        code,
        decline_code,
        param,
        err.request_id,
    )
    if isinstance(err, stripe.CardError):
        logger.info(*summary)
        if operation == "charge" and "expired_card" in (code, decline_code):
            return PaymentMethodExpired()
        reason = _decline_reason(decline_code or code)
        return PaymentDeclined(f"The card was declined ({reason})", decline_code=reason)
    if isinstance(err, stripe.IdempotencyError):
        logger.error(*summary)
        return IdempotencyKeyReused()
    if isinstance(err, stripe.InvalidRequestError) and (
        (operation == "attach" and param != "customer")  # a stale customer_ref is not the card's fault
        or (operation == "charge" and _about_payment_method(err, code, param))
    ):
        logger.info(*summary)
        return InvalidPaymentToken()
    if isinstance(err, (stripe.APIConnectionError, stripe.RateLimitError)) or (
        isinstance(err, stripe.APIError) and (err.http_status or 500) >= 500
    ):
        logger.warning(*summary)
    else:  # credentials refused, or a request Stripe should never have been sent: needs a human
        logger.error(*summary)
    return PaymentProviderUnavailable()


def _about_payment_method(err: stripe.StripeError, code: str | None, param: str | None) -> bool:
    if param == "customer":
        return False
    return err.http_status == 404 or code in _PAYMENT_METHOD_CODES or param in _PAYMENT_METHOD_PARAMS


def _decline_reason(code: str | None) -> str:
    code = code or "card_declined"
    return _DECLINE_ALIASES.get(code, code)


# -- helpers ------------------------------------------------------------------------------------------


def _intent_params(
    customer_ref: str | None,
    payment_method_ref: str,
    amount: Money,
    idempotency_key: str,
    description: str,
    payment_method_id: str | None,
) -> PaymentIntentCreateParams:
    """The PaymentIntent a charge creates: confirmed off-session, cards only."""
    metadata = {"idempotency_key": idempotency_key}
    if payment_method_id:
        metadata["payment_method_id"] = payment_method_id
    params: PaymentIntentCreateParams = {
        "amount": amount.minor_units,
        "currency": amount.currency.lower(),
        "payment_method": payment_method_ref,
        "confirm": True,
        "off_session": True,
        "description": description,
        "metadata": metadata,
    }
    if customer_ref:
        params["customer"] = customer_ref
    params[_card_only_param()] = ["card"]  # type: ignore[literal-required]
    return params


def _idempotency_key(prefix: str, *parts: str) -> str:
    readable = "-".join((prefix, *parts))
    if len(readable) <= _MAX_IDEMPOTENCY_KEY and all(_TOKEN_SAFE.match(part) for part in parts):
        return readable
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return f"{prefix}-{digest}"


def _card_only_param() -> str:
    """The parameter restricting a PaymentIntent to cards in the SDK's pinned API version: Stripe
    replaced `payment_method_types` by `allowed_payment_method_types` (2026-07-29) and refuses the
    former from 2026-09-30 (`payment_method_types_no_longer_supported`). Cards never redirect, so
    an off-session confirmation needs no return_url."""
    import stripe

    version = str(getattr(stripe, "api_version", "") or "")
    return "allowed_payment_method_types" if version[:10] >= "2026-07-29" else "payment_method_types"


def _id_of(value: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("id")
    return value if isinstance(value, str) else None


def _instant(epoch: Any) -> datetime:
    return datetime.fromtimestamp(int(epoch), UTC) if epoch is not None else datetime.now(UTC)


def _charge_from_intent(intent: dict[str, Any]) -> Charge | None:
    """A Charge for a PaymentIntent this adapter made (metadata idempotency_key), None otherwise."""
    key = (intent.get("metadata") or {}).get("idempotency_key")
    if not key:
        return None
    status = intent.get("status")
    error = intent.get("last_payment_error") or {}
    decline_code: str | None = None
    outcome: Literal["succeeded", "failed"]
    if status == "succeeded":
        outcome = "succeeded"
    elif status == "requires_action":
        outcome, decline_code = "failed", "authentication_required"
    elif status in ("requires_payment_method", "canceled") and error:
        outcome = "failed"
        decline_code = _decline_reason(error.get("decline_code") or error.get("code"))
    else:  # processing, or never confirmed
        return None
    try:
        amount = Money.from_minor_units(int(intent["amount"]), str(intent["currency"]).upper())
    except (UnsupportedCurrency, KeyError, ValueError):
        return None
    return Charge(
        charge_id=intent["id"],
        amount=amount,
        payment_method_ref=_id_of(intent.get("payment_method")) or "",
        idempotency_key=key,
        status=outcome,
        created_at=_instant(intent.get("created")),
        decline_code=decline_code,
        payment_method_id=(intent.get("metadata") or {}).get("payment_method_id"),
    )
