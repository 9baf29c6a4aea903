"""Stripe adapter of the PaymentGateway port, on the official `stripe` SDK.

- One `stripe.StripeClient` per gateway (no global `stripe.api_key`), created on first use so that a
  cold start that never charges pays neither for `import stripe` nor for reading the key.
- Short timeout and no SDK retries by default: every POST carries an idempotency key, so the caller
  (or the client) retries safely and the Lambda stays within its time budget.
- A payment is a PaymentIntent in two steps: `create_payment` (no money moves; the ledger records the
  intent's id), then `confirm_payment`. Recovery looks the intent up by its id (`get_payment`), never
  by the idempotency key alone: Stripe forgets keys after 24 hours.
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
from typing import TYPE_CHECKING, Any, Literal, NoReturn

from seats.domain.errors import (
    DomainError,
    InvalidPaymentToken,
    PaymentDeclined,
    PaymentMethodExpired,
    PaymentProviderUnavailable,
)
from seats.domain.money import Money, UnsupportedCurrency
from seats.services.ports import (
    AttachedCard,
    Charge,
    ChargeStatus,
    PaymentRequest,
    ProviderPayment,
    ProviderStatus,
)

if TYPE_CHECKING:
    import stripe
    from stripe.params import PaymentIntentConfirmParams, PaymentIntentCreateParams

logger = logging.getLogger(__name__)

Operation = Literal[
    "create_customer",
    "attach",
    "create_payment",
    "confirm_payment",
    "get_payment",
    "cancel_payment",
    "refund",
    "list_charges",
]

# A Stripe card token (tok_...) or PaymentMethod id (pm_...); anything else is refused unsent.
_TOKEN = re.compile(r"^(tok|pm)_[A-Za-z0-9_]{1,200}$")
# A PaymentIntent id: anything else is never sent (an empty id would GET the list of intents).
_INTENT_ID = re.compile(r"^pi_[A-Za-z0-9_]{1,200}$")
# Stripe's catch-all decline is reported as the API's `card_declined`, as the sandbox does; the
# cardholder failing 3-D Secure (last_payment_error.code) as the port's `authentication_failed`.
_DECLINE_ALIASES = {
    "generic_decline": "card_declined",
    "payment_intent_authentication_failure": "authentication_failed",
}
# Characters kept as they are in an idempotency key; other keys are hashed.
_TOKEN_SAFE = re.compile(r"^[A-Za-z0-9_.:@+=-]*$")
# Request errors at payment that mean "this payment method cannot be used" (else: a bug, or config).
_PAYMENT_METHOD_CODES = {
    "resource_missing",
    "payment_method_unactivated",
    "payment_method_unexpected_state",
    "payment_method_invalid_parameter",
    "payment_method_not_available",
}
_PAYMENT_METHOD_PARAMS = {"payment_method", "source"}
_MAX_IDEMPOTENCY_KEY = 255
# The intent is read with its latest charge, whose `refunded` says whether the money went back.
_EXPAND_CHARGE = ["latest_charge"]
# PaymentIntent status -> the port's status; requires_payment_method is decided by last_payment_error.
_STATUSES: dict[str, ProviderStatus] = {
    "requires_confirmation": "requires_confirmation",
    "requires_action": "requires_action",
    "processing": "processing",
    "requires_capture": "processing",  # authorised, not captured: never asked for (automatic capture)
    "succeeded": "succeeded",
    "canceled": "canceled",
}


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

    def create_payment(self, request: PaymentRequest) -> str:
        """An unconfirmed PaymentIntent (no money moves) under the request's key: the same key, within
        Stripe's 24 hours, gives the same intent."""
        client = self._client()
        with self._translated("create_payment"):
            intent = client.v1.payment_intents.create(
                _create_params(request), {"idempotency_key": request.key}
            )
        return str(intent.id)

    def confirm_payment(self, provider_ref: str, request: PaymentRequest) -> ProviderPayment:
        """Take the money. A decline is answered `failed` (with its decline code), 3-D Secure on
        session `requires_action` (with the intent's client_secret, and the bank's page when Stripe
        gives one), off session `failed` `authentication_required`; an intent confirmed before is
        answered as it is."""
        return _payment_from_intent(self._confirm(provider_ref, request), request)

    def get_payment(self, provider_ref: str) -> ProviderPayment | None:
        import stripe

        if not isinstance(provider_ref, str) or not _INTENT_ID.match(provider_ref):
            return None  # not an id Stripe could have given
        client = self._client()
        with self._translated("get_payment"):
            try:
                intent = client.v1.payment_intents.retrieve(provider_ref, {"expand": _EXPAND_CHARGE})
            except stripe.InvalidRequestError as err:
                if _error_fields(err).get("code") != "resource_missing":
                    raise
                logger.info("Stripe has no PaymentIntent %s", provider_ref)
                return None
        return _payment_from_intent(intent.to_dict())

    def cancel_payment(self, provider_ref: str) -> ProviderPayment:
        """Cancel an intent that captured nothing; one Stripe will not cancel (succeeded, already
        canceled) is answered as it is."""
        import stripe

        _require_intent_id(provider_ref, "cancel_payment")
        client = self._client()
        with self._translated("cancel_payment"):
            try:
                intent = client.v1.payment_intents.cancel(
                    provider_ref,
                    {"expand": _EXPAND_CHARGE},
                    {"idempotency_key": _idempotency_key("seats-cancel", provider_ref)},
                )
            except stripe.InvalidRequestError as err:
                if not _unexpected_state(err):
                    raise
                logger.info("Stripe PaymentIntent %s cannot be canceled; answered as it is", provider_ref)
                intent = client.v1.payment_intents.retrieve(provider_ref, {"expand": _EXPAND_CHARGE})
        return _payment_from_intent(intent.to_dict())

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
        """The one-step, off-session charge the services call until they use the two steps: create
        and confirm under `idempotency_key`, a decline raised as PaymentDeclined (PaymentMethodExpired
        for an expired card)."""
        request = PaymentRequest(
            key=idempotency_key,
            amount=amount,
            customer_ref=customer_ref,
            payment_method_ref=payment_method_ref,
            payment_method_id=payment_method_id or "",
            description=description,
            off_session=True,
        )
        intent = self._confirm(self.create_payment(request), request)
        payment = _payment_from_intent(intent, request)
        if payment.status != "succeeded":
            _raise_charge_failure(payment)
        return Charge(
            charge_id=payment.provider_ref,
            amount=payment.amount,
            payment_method_ref=payment.payment_method_ref,
            idempotency_key=idempotency_key,
            status="succeeded",
            created_at=_instant(intent.get("created")),
            payment_method_id=payment_method_id,
        )

    def refund(self, provider_ref: str, idempotency_key: str) -> None:
        import stripe

        client = self._client()
        with self._translated("refund"):
            try:
                client.v1.refunds.create(
                    {"payment_intent": provider_ref, "metadata": {"idempotency_key": idempotency_key}},
                    # Stripe keys are account-wide: keep a refund's key apart from the charge's.
                    {"idempotency_key": _idempotency_key("seats-refund", idempotency_key)},
                )
            except stripe.InvalidRequestError as err:
                if _error_fields(err).get("code") != "charge_already_refunded":
                    raise
                logger.info("Stripe charge %s was already refunded", provider_ref)

    def list_charges(self) -> list[Charge]:
        client = self._client()
        charges: list[Charge] = []
        with self._translated("list_charges"):
            listed = client.v1.payment_intents.list(
                {"limit": 100, "expand": ["data.latest_charge.refunds"]}
            ).auto_paging_iter()
            for item in listed:
                charge = _charge_from_intent(item.to_dict())
                if charge is not None:
                    charges.append(charge)
        return sorted(charges, key=lambda c: (c.created_at, c.charge_id))

    # -- confirmation -------------------------------------------------------------------------------

    def _confirm(self, provider_ref: str, request: PaymentRequest) -> dict[str, Any]:
        """The intent after confirming it: Stripe's answer; on a decline, the intent the card error
        names; when Stripe will not confirm it (confirmed before, canceled), the intent as it is."""
        import stripe

        _require_intent_id(provider_ref, "confirm_payment")
        client = self._client()
        params: PaymentIntentConfirmParams = {"expand": _EXPAND_CHARGE}
        if request.off_session:
            params["off_session"] = True
        with self._translated("confirm_payment"):
            try:
                return client.v1.payment_intents.confirm(
                    provider_ref, params, {"idempotency_key": _derived_key(request.key, "confirm")}
                ).to_dict()
            except stripe.CardError as err:
                logger.info(*_summary(err, "confirm_payment"))
                return _declined_intent(err, provider_ref, request)
            except stripe.InvalidRequestError as err:
                if not _unexpected_state(err):
                    raise
                logger.info("Stripe PaymentIntent %s was not confirmable; read as it is", provider_ref)
                return client.v1.payment_intents.retrieve(provider_ref, {"expand": _EXPAND_CHARGE}).to_dict()

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


def _summary(err: stripe.StripeError, operation: Operation) -> tuple[Any, ...]:
    """The log line of a Stripe error: type, status, code and request id, never its message."""
    fields = _error_fields(err)
    return (
        "Stripe %s failed: %s http_status=%s code=%s decline_code=%s param=%s request_id=%s",
        operation,
        type(err).__name__,
        err.http_status,
        fields.get("code") or err.code,
        fields.get("decline_code"),
        fields.get("param"),
        err.request_id,
    )


def _translate(err: stripe.StripeError, operation: Operation) -> DomainError:
    """The domain error for a Stripe error, logged by `_summary`."""
    import stripe

    fields = _error_fields(err)
    code = fields.get("code") or err.code
    summary = _summary(err, operation)
    if isinstance(err, stripe.CardError):
        logger.info(*summary)
        reason = _decline_reason(fields.get("decline_code") or code)
        return PaymentDeclined(f"The card was declined ({reason})", decline_code=reason)
    if isinstance(err, stripe.IdempotencyError):
        # The same key with other parameters: the ledger settles it (get_payment), a person looks.
        logger.error(*summary)
        return PaymentProviderUnavailable()
    if isinstance(err, stripe.InvalidRequestError) and _about_payment_method(err, operation, code):
        logger.info(*summary)
        return InvalidPaymentToken()
    if isinstance(err, (stripe.APIConnectionError, stripe.RateLimitError)) or (
        isinstance(err, stripe.APIError) and (err.http_status or 500) >= 500
    ):
        logger.warning(*summary)
    else:  # credentials refused, or a request Stripe should never have been sent: needs a human
        logger.error(*summary)
    return PaymentProviderUnavailable()


def _about_payment_method(err: stripe.StripeError, operation: Operation, code: str | None) -> bool:
    """Whether a request error says the token or payment method cannot be used."""
    param = _error_fields(err).get("param")
    if param == "customer":  # a stale customer_ref is not the card's fault
        return False
    if operation == "attach":
        return True
    if operation == "create_payment":
        return err.http_status == 404 or code in _PAYMENT_METHOD_CODES or param in _PAYMENT_METHOD_PARAMS
    if operation == "confirm_payment":  # a 404 here may be the intent itself: only what names the card
        return param in _PAYMENT_METHOD_PARAMS or (
            code in _PAYMENT_METHOD_CODES and code != "resource_missing"
        )
    return False


def _unexpected_state(err: stripe.StripeError) -> bool:
    return _error_fields(err).get("code") == "payment_intent_unexpected_state"


def _decline_reason(code: str | None) -> str:
    code = code or "card_declined"
    return _DECLINE_ALIASES.get(code, code)


def _require_intent_id(provider_ref: str, operation: Operation) -> None:
    if not isinstance(provider_ref, str) or not _INTENT_ID.match(provider_ref):
        logger.error("Stripe %s refused unsent: not a PaymentIntent id", operation)
        raise PaymentProviderUnavailable()


def _raise_charge_failure(payment: ProviderPayment) -> NoReturn:
    """What `charge` raises for a confirmed intent that did not succeed."""
    if payment.status == "failed":
        reason = _decline_reason(payment.decline_code)
        if reason == "expired_card":
            raise PaymentMethodExpired() from None
        raise PaymentDeclined(f"The card was declined ({reason})", decline_code=reason) from None
    if payment.status == "requires_action":  # the bank wants the card holder, who is not here
        logger.warning("Stripe charge %s needs authentication; reported as declined", payment.provider_ref)
        raise PaymentDeclined(
            "The card was declined (authentication_required)", decline_code="authentication_required"
        ) from None
    logger.error("Stripe charge %s ended in status %s", payment.provider_ref, payment.status)
    raise PaymentProviderUnavailable() from None


# -- requests -----------------------------------------------------------------------------------------


def _create_params(request: PaymentRequest) -> PaymentIntentCreateParams:
    """An unconfirmed PaymentIntent for cards only; an on-session payment saves the card for the
    off-session renewals (`setup_future_usage`)."""
    metadata = {"idempotency_key": request.key}
    if request.payment_method_id:
        metadata["payment_method_id"] = request.payment_method_id
    params: PaymentIntentCreateParams = {
        "amount": request.amount.minor_units,
        "currency": request.amount.currency.lower(),
        "payment_method": request.payment_method_ref,
        "description": request.description,
        "metadata": metadata,
    }
    if request.customer_ref:
        params["customer"] = request.customer_ref
    if not request.off_session:
        params["setup_future_usage"] = "off_session"
    params[_card_only_param()] = ["card"]  # type: ignore[literal-required]
    return params


def _idempotency_key(prefix: str, *parts: str) -> str:
    readable = "-".join((prefix, *parts))
    if len(readable) <= _MAX_IDEMPOTENCY_KEY and all(_TOKEN_SAFE.match(part) for part in parts):
        return readable
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return f"{prefix}-{digest}"


def _derived_key(key: str, step: str) -> str:
    """The key of a later step of the payment keyed `key` (`<key>:confirm`); hashed when too long."""
    readable = f"{key}:{step}"
    if len(readable) <= _MAX_IDEMPOTENCY_KEY:
        return readable
    return f"seats-{step}-{hashlib.sha256(key.encode('utf-8')).hexdigest()}"


def _card_only_param() -> str:
    """The parameter restricting a PaymentIntent to cards in the SDK's pinned API version: Stripe
    replaced `payment_method_types` by `allowed_payment_method_types` (2026-07-29) and refuses the
    former from 2026-09-30 (`payment_method_types_no_longer_supported`). Cards never redirect, so
    a confirmation needs no return_url."""
    import stripe

    version = str(getattr(stripe, "api_version", "") or "")
    return "allowed_payment_method_types" if version[:10] >= "2026-07-29" else "payment_method_types"


# -- answers ------------------------------------------------------------------------------------------


def _declined_intent(err: stripe.StripeError, provider_ref: str, request: PaymentRequest) -> dict[str, Any]:
    """The intent a card error at confirmation is about: Stripe sends it with the error; when it
    does not, the declined intent as Stripe leaves it (requires_payment_method, last_payment_error)."""
    fields = _error_fields(err)
    intent = fields.get("payment_intent")
    if isinstance(intent, dict) and intent.get("status") == "requires_payment_method":
        return intent
    return {
        "id": provider_ref,
        "status": "requires_payment_method",
        "amount": request.amount.minor_units,
        "currency": request.amount.currency.lower(),
        "payment_method": request.payment_method_ref,
        "last_payment_error": {
            "code": fields.get("code") or err.code,
            "decline_code": fields.get("decline_code"),
        },
    }


def _payment_from_intent(intent: dict[str, Any], request: PaymentRequest | None = None) -> ProviderPayment:
    """The port's view of a PaymentIntent (the status mapping is in docs/stripe.md)."""
    status = intent.get("status")
    error = intent.get("last_payment_error") or {}
    mapped = _STATUSES.get(str(status))
    if status == "requires_payment_method":  # declined (last_payment_error), or never given a card
        mapped = "failed"
    if mapped is None:
        logger.error("Stripe PaymentIntent %s is in an unknown status %s", intent.get("id"), status)
        raise PaymentProviderUnavailable()
    decline_code = None
    if error and mapped in ("failed", "canceled"):
        decline_code = _decline_reason(error.get("decline_code") or error.get("code"))
    waiting = mapped == "requires_action"  # only then does the client need the secret (never logged)
    return ProviderPayment(
        provider_ref=str(intent["id"]),
        status=mapped,
        amount=_intent_amount(intent, request),
        payment_method_ref=_payment_method_of(intent, request),
        decline_code=decline_code,
        refunded=mapped == "succeeded" and _latest_charge(intent).get("refunded") is True,
        client_secret=_text(intent.get("client_secret")) if waiting else None,
        redirect_url=_redirect_url(intent) if waiting else None,
    )


def _redirect_url(intent: dict[str, Any]) -> str | None:
    """The bank's challenge page of an intent waiting for 3-D Secure (`next_action.redirect_to_url`);
    None when Stripe gives none (`use_stripe_sdk`: the client's Stripe.js handles it)."""
    action = intent.get("next_action")
    redirect = action.get("redirect_to_url") if isinstance(action, dict) else None
    return _text(redirect.get("url")) if isinstance(redirect, dict) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _intent_amount(intent: dict[str, Any], request: PaymentRequest | None) -> Money:
    try:
        return Money.from_minor_units(int(intent["amount"]), str(intent["currency"]).upper())
    except (UnsupportedCurrency, KeyError, TypeError, ValueError):
        if request is not None:
            return request.amount
        logger.error("Stripe PaymentIntent %s has no amount this adapter can read", intent.get("id"))
        raise PaymentProviderUnavailable() from None


def _payment_method_of(intent: dict[str, Any], request: PaymentRequest | None) -> str:
    error = intent.get("last_payment_error") or {}
    found = _id_of(intent.get("payment_method")) or _id_of(error.get("payment_method"))
    return found or (request.payment_method_ref if request is not None else "")


def _latest_charge(intent: dict[str, Any]) -> dict[str, Any]:
    charge = intent.get("latest_charge")
    return charge if isinstance(charge, dict) else {}


def _refunded_at(intent: dict[str, Any]) -> datetime | None:
    """When the latest charge was refunded (its last refund), if its refunds were expanded."""
    refunds = _latest_charge(intent).get("refunds")
    data = refunds.get("data") if isinstance(refunds, dict) else None
    times = [r["created"] for r in data or [] if r.get("status") == "succeeded" and r.get("created")]
    return _instant(max(times)) if times else None


def _id_of(value: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("id")
    return value if isinstance(value, str) else None


def _instant(epoch: Any) -> datetime:
    return datetime.fromtimestamp(int(epoch), UTC) if epoch is not None else datetime.now(UTC)


def _charge_status(intent: dict[str, Any]) -> ChargeStatus | None:
    """A listed intent's status; None for one that is not settled (unconfirmed, processing)."""
    status = intent.get("status")
    if status == "succeeded":
        return "refunded" if _latest_charge(intent).get("refunded") is True else "succeeded"
    if status == "requires_action":
        return "requires_action"
    if status == "canceled":
        return "canceled"
    if status == "requires_payment_method" and intent.get("last_payment_error"):
        return "failed"
    return None


def _charge_from_intent(intent: dict[str, Any]) -> Charge | None:
    """A Charge for a PaymentIntent this adapter made (metadata idempotency_key), None otherwise."""
    metadata = intent.get("metadata") or {}
    key = metadata.get("idempotency_key")
    status = _charge_status(intent)
    if not key or status is None:
        return None
    error = intent.get("last_payment_error") or {}
    try:
        amount = Money.from_minor_units(int(intent["amount"]), str(intent["currency"]).upper())
    except (UnsupportedCurrency, KeyError, ValueError):
        return None
    return Charge(
        charge_id=intent["id"],
        amount=amount,
        payment_method_ref=_payment_method_of(intent, None),
        idempotency_key=key,
        status=status,
        created_at=_instant(intent.get("created")),
        decline_code=_decline_reason(error.get("decline_code") or error.get("code")) if error else None,
        payment_method_id=metadata.get("payment_method_id"),
        refunded_at=_refunded_at(intent) if status == "refunded" else None,
    )
