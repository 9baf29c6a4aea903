"""The Stripe adapter of the PaymentGateway port, against localstripe (and a canned-answer stub)."""

from __future__ import annotations

import json
import logging
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import stripe

from infra.local.localstripe import LocalStripe
from seats.adapters.payments.stripe_gateway import StripeGateway
from seats.domain.errors import (
    DomainError,
    InvalidPaymentToken,
    PaymentDeclined,
    PaymentMethodExpired,
    PaymentProviderUnavailable,
)
from seats.domain.money import Money
from seats.services.ports import AttachedCard, PaymentRequest, ProviderPayment

ROOT = Path(__file__).resolve().parents[2]
USD_1975 = Money(Decimal("1975.00"), "USD")
VISA = "4242424242424242"
DECLINED = "4000000000000002"
ATTACH_OK_CHARGE_DECLINED = "4000000000000341"
INSUFFICIENT_FUNDS = "4000000000009995"
EXPIRED = "4000000000000069"
NEEDS_3DS = "4000002500003155"


def _key() -> str:
    return f"order-{secrets.token_hex(8)}"


def _attached(gateway: StripeGateway, account_id: str, token: str) -> AttachedCard:
    return gateway.attach(account_id, None, token)


def _charge(gateway: StripeGateway, card: AttachedCard, key: str, amount: Money = USD_1975) -> Any:
    return gateway.charge(
        customer_ref=card.customer_ref,
        payment_method_ref=card.provider_ref,
        amount=amount,
        idempotency_key=key,
        description="Add 2 seats to sub-acad",
    )


def _request(
    customer_ref: str | None,
    payment_method_ref: str,
    *,
    key: str | None = None,
    amount: Money = USD_1975,
    off_session: bool = False,
) -> PaymentRequest:
    return PaymentRequest(
        key=key or _key(),
        amount=amount,
        customer_ref=customer_ref,
        payment_method_ref=payment_method_ref,
        payment_method_id="pm_ours_1",
        description="Add 2 seats to sub-acad",
        off_session=off_session,
    )


def _paying(card: AttachedCard, **kwargs: Any) -> PaymentRequest:
    return _request(card.customer_ref, card.provider_ref, **kwargs)


def _unattached(stripe_client: stripe.StripeClient, token: str) -> str:
    """A PaymentMethod never attached to a customer: Stripe's decline cards are declined when charged."""
    return stripe_client.v1.payment_methods.create({"type": "card", "card": {"token": token}}).id


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- attach ------------------------------------------------------------------------------------------


def test_stripe_attach_card_token_creates_customer_and_attaches(
    gateway: StripeGateway,
    stripe_client: stripe.StripeClient,
    card_token: Callable[..., str],
    account_id: str,
) -> None:
    card = gateway.attach(account_id, None, card_token(VISA, 11, 2031))

    assert card.customer_ref is not None and card.customer_ref.startswith("cus_")
    assert card.provider_ref.startswith("pm_")
    assert (card.brand, card.last4, card.exp_month, card.exp_year) == ("visa", "4242", 11, 2031)
    method = stripe_client.v1.payment_methods.retrieve(card.provider_ref)
    assert method.customer == card.customer_ref
    customer = stripe_client.v1.customers.retrieve(card.customer_ref)
    assert customer.metadata.to_dict() == {"account_id": account_id}


def test_stripe_attach_fixed_test_token_to_existing_customer(
    gateway: StripeGateway, stripe_client: stripe.StripeClient, account_id: str
) -> None:
    first = gateway.attach(account_id, None, "tok_visa")
    second = gateway.attach(account_id, first.customer_ref, "tok_mastercard")

    assert second.customer_ref == first.customer_ref
    assert (second.brand, second.last4, second.exp_month, second.exp_year) == ("mastercard", "4444", 12, 2034)
    assert second.provider_ref != first.provider_ref
    assert stripe_client.v1.payment_methods.retrieve(second.provider_ref).customer == first.customer_ref


def test_stripe_attach_without_customer_ref_twice_makes_one_customer(
    gateway: StripeGateway, account_id: str
) -> None:
    first = gateway.attach(account_id, None, "tok_visa")
    again = gateway.attach(account_id, None, "tok_mastercard")  # idempotency key seats-customer-<account>

    assert again.customer_ref == first.customer_ref
    assert gateway.attach(f"{account_id}-other", None, "tok_visa").customer_ref != first.customer_ref


def test_stripe_attach_existing_payment_method_id(gateway: StripeGateway, account_id: str) -> None:
    card = gateway.attach(account_id, None, "pm_card_visa")  # a PaymentMethod id, not a token

    assert card.provider_ref.startswith("pm_") and card.last4 == "4242"


def test_stripe_attach_declined_card_is_payment_declined(
    gateway: StripeGateway, card_token: Callable[..., str], account_id: str
) -> None:
    with pytest.raises(PaymentDeclined) as caught:
        gateway.attach(account_id, None, card_token(DECLINED))

    assert caught.value.extra == {"decline_code": "card_declined"}  # Stripe's generic_decline
    assert (caught.value.status, caught.value.code) == (402, "payment_declined")


@pytest.mark.parametrize("token", ["tok_chargeDeclined", "tok_chargeDeclinedExpiredCard"])
def test_stripe_attach_spec_decline_tokens(gateway: StripeGateway, account_id: str, token: str) -> None:
    """docs/api.md, Payments: tok_chargeDeclined -> 402 card_declined, tok_chargeDeclinedExpiredCard -> 402 expired_card."""
    with pytest.raises(PaymentDeclined) as caught:
        gateway.attach(account_id, None, token)

    expected = "expired_card" if "Expired" in token else "card_declined"
    assert caught.value.extra["decline_code"] == expected


def test_stripe_attach_expired_card_number(
    gateway: StripeGateway, card_token: Callable[..., str], account_id: str
) -> None:
    with pytest.raises(PaymentDeclined) as caught:
        gateway.attach(account_id, None, card_token(EXPIRED))

    assert caught.value.extra["decline_code"] == "expired_card"


def test_stripe_insufficient_funds_is_declined_with_its_code(
    gateway: StripeGateway, card_token: Callable[..., str], account_id: str
) -> None:
    # Stripe (and localstripe) decline 4000000000009995 when it is attached, not when it is charged.
    with pytest.raises(PaymentDeclined) as caught:
        gateway.attach(account_id, None, card_token(INSUFFICIENT_FUNDS))

    assert caught.value.extra["decline_code"] == "insufficient_funds"
    assert "insufficient_funds" in caught.value.detail


def test_stripe_attach_unknown_or_malformed_token_is_invalid(gateway: StripeGateway, account_id: str) -> None:
    with pytest.raises(InvalidPaymentToken):
        gateway.attach(account_id, None, "tok_doesNotExist")
    with pytest.raises(InvalidPaymentToken):
        gateway.attach(account_id, None, "pm_doesNotExist")
    # Malformed tokens are refused before any request: even with Stripe unreachable.
    offline = StripeGateway("sk_test_offline", api_base=f"http://127.0.0.1:{_closed_port()}", timeout_s=1)
    for token in ("", "4242424242424242", "tok visa", "src_123"):
        with pytest.raises(InvalidPaymentToken):
            offline.attach(account_id, None, token)


# -- charge --------------------------------------------------------------------------------------------


def test_stripe_charge_succeeds_off_session(
    gateway: StripeGateway, stripe_client: stripe.StripeClient, account_id: str
) -> None:
    card = gateway.attach(account_id, None, "tok_visa")
    key = _key()
    before = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)

    charge = _charge(gateway, card, key)

    assert charge.charge_id.startswith("pi_")
    assert (charge.status, charge.amount, charge.idempotency_key) == ("succeeded", USD_1975, key)
    assert charge.payment_method_ref == card.provider_ref
    assert before <= charge.created_at <= datetime.now(UTC) + timedelta(seconds=1)
    intent = stripe_client.v1.payment_intents.retrieve(charge.charge_id)
    assert (intent.status, intent.amount, intent.currency) == ("succeeded", 197500, "usd")
    assert (intent.customer, intent.payment_method) == (card.customer_ref, card.provider_ref)
    assert intent.metadata.to_dict() == {"idempotency_key": key}


def test_stripe_charge_uses_minor_units_of_the_currency(
    gateway: StripeGateway, stripe_client: stripe.StripeClient, account_id: str
) -> None:
    card = gateway.attach(account_id, None, "tok_visa")

    charge = _charge(gateway, card, _key(), Money(Decimal("250000"), "JPY"))

    intent = stripe_client.v1.payment_intents.retrieve(charge.charge_id)
    assert (intent.amount, intent.currency) == (250000, "jpy")
    assert charge.amount == Money(Decimal("250000"), "JPY")


def test_stripe_charge_declined_after_a_successful_attach(
    gateway: StripeGateway, card_token: Callable[..., str], account_id: str
) -> None:
    card = gateway.attach(account_id, None, card_token(ATTACH_OK_CHARGE_DECLINED))
    key = _key()

    with pytest.raises(PaymentDeclined) as caught:
        _charge(gateway, card, key)

    assert caught.value.extra == {"decline_code": "card_declined"}
    failed = [c for c in gateway.list_charges() if c.idempotency_key == key]
    assert [(c.status, c.decline_code, c.amount) for c in failed] == [("failed", "card_declined", USD_1975)]


def test_stripe_charge_spec_token_charge_customer_fail(gateway: StripeGateway, account_id: str) -> None:
    card = gateway.attach(account_id, None, "tok_chargeCustomerFail")
    assert card.last4 == "0341"

    with pytest.raises(PaymentDeclined) as caught:
        _charge(gateway, card, _key())
    assert caught.value.extra["decline_code"] == "card_declined"


def test_stripe_idempotent_retry_returns_the_same_payment_intent(
    gateway: StripeGateway, stripe_client: stripe.StripeClient, account_id: str
) -> None:
    card = gateway.attach(account_id, None, "tok_visa")
    key = _key()

    first = _charge(gateway, card, key)
    retry = _charge(gateway, card, key)
    other = _charge(gateway, card, _key())

    assert retry == first
    assert other.charge_id != first.charge_id
    mine = [c for c in gateway.list_charges() if c.idempotency_key == key]
    assert [c.charge_id for c in mine] == [first.charge_id]
    listed = stripe_client.v1.payment_intents.list({"limit": 100}).auto_paging_iter()
    assert sum(1 for pi in listed if pi.metadata.to_dict().get("idempotency_key") == key) == 1


def test_stripe_idempotent_retry_of_a_decline_is_the_same_decline(
    gateway: StripeGateway, account_id: str
) -> None:
    card = gateway.attach(account_id, None, "tok_chargeCustomerFail")
    key = _key()
    for _ in range(2):
        with pytest.raises(PaymentDeclined):
            _charge(gateway, card, key)
    assert len([c for c in gateway.list_charges() if c.idempotency_key == key]) == 1


def test_stripe_idempotency_key_reused_for_another_amount(
    gateway: StripeGateway, account_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Stripe's idempotency_error is no longer a 422 of ours: the ledger settles it (by the intent's id),
    so it is PaymentProviderUnavailable, logged as an error."""
    card = gateway.attach(account_id, None, "tok_visa")
    key = _key()
    _charge(gateway, card, key)

    logged = caplog.at_level(logging.ERROR, logger="seats.adapters.payments.stripe_gateway")
    with logged, pytest.raises(PaymentProviderUnavailable):
        _charge(gateway, card, key, Money(Decimal("1.00"), "USD"))
    assert any("IdempotencyError" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)


# -- refund -------------------------------------------------------------------------------------------


def test_stripe_refund_is_idempotent(
    gateway: StripeGateway, stripe_client: stripe.StripeClient, account_id: str
) -> None:
    card = gateway.attach(account_id, None, "tok_visa")
    key = _key()
    charge = _charge(gateway, card, key)

    gateway.refund(charge.charge_id, key)  # the refund's key is kept apart from the charge's
    gateway.refund(charge.charge_id, key)  # a retry: the saved answer
    gateway.refund(charge.charge_id, _key())  # another key: Stripe says charge_already_refunded

    refunds = stripe_client.v1.refunds.list({"payment_intent": charge.charge_id}).data
    assert [(r.amount, r.status, r.payment_intent) for r in refunds] == [
        (197500, "succeeded", charge.charge_id)
    ]


def test_stripe_refund_of_unknown_charge_is_not_silent(gateway: StripeGateway) -> None:
    with pytest.raises(PaymentProviderUnavailable):
        gateway.refund("pi_doesNotExist", _key())


# -- list_charges -------------------------------------------------------------------------------------


def test_stripe_list_charges_reports_successes_and_failures(
    gateway: StripeGateway, card_token: Callable[..., str], account_id: str
) -> None:
    visa = gateway.attach(account_id, None, "tok_visa")
    failing = gateway.attach(account_id, visa.customer_ref, card_token(ATTACH_OK_CHARGE_DECLINED))
    ok_key, failed_key = _key(), _key()
    succeeded = _charge(gateway, visa, ok_key, Money(Decimal("300.00"), "GBP"))
    with pytest.raises(PaymentDeclined):
        _charge(gateway, failing, failed_key)

    charges = {c.idempotency_key: c for c in gateway.list_charges()}

    assert charges[ok_key] == succeeded
    failed = charges[failed_key]
    assert (failed.status, failed.decline_code, failed.amount) == ("failed", "card_declined", USD_1975)
    assert failed.payment_method_ref == failing.provider_ref and failed.charge_id.startswith("pi_")
    listed = gateway.list_charges()
    assert listed == sorted(listed, key=lambda c: (c.created_at, c.charge_id))


def test_stripe_list_charges_pages_through_everything(
    gateway: StripeGateway, stripe_client: stripe.StripeClient, account_id: str
) -> None:
    card = gateway.attach(account_id, None, "tok_visa")
    keys = {_key() for _ in range(105)}  # more than one page of 100
    for key in keys:
        _charge(gateway, card, key, Money(Decimal("1.00"), "USD"))
    # A PaymentIntent this adapter did not make (no idempotency_key metadata) is left out.
    foreign = stripe_client.v1.payment_intents.create({"amount": 500, "currency": "usd"})

    charges = gateway.list_charges()

    assert keys <= {c.idempotency_key for c in charges}
    assert foreign.id not in {c.charge_id for c in charges}
    assert len({c.charge_id for c in charges}) == len(charges)


# -- two-step payments: create, confirm, get, cancel ------------------------------------------------


def test_stripe_create_payment_moves_no_money(
    gateway: StripeGateway, stripe_client: stripe.StripeClient, account_id: str
) -> None:
    card = gateway.attach(account_id, None, "tok_visa")
    request = _paying(card)

    provider_ref = gateway.create_payment(request)

    assert provider_ref.startswith("pi_")
    assert gateway.get_payment(provider_ref) == ProviderPayment(
        provider_ref=provider_ref,
        status="requires_confirmation",
        amount=USD_1975,
        payment_method_ref=card.provider_ref,
    )
    intent = stripe_client.v1.payment_intents.retrieve(provider_ref)
    assert (intent.status, intent.latest_charge, intent.amount, intent.currency) == (
        "requires_confirmation",
        None,
        197500,
        "usd",
    )
    assert intent.metadata.to_dict() == {"idempotency_key": request.key, "payment_method_id": "pm_ours_1"}
    assert intent.setup_future_usage == "off_session"  # on session: the card is kept for the renewals
    assert stripe_client.v1.charges.list({"customer": card.customer_ref}).data == []


def test_stripe_create_payment_retried_with_the_same_key_is_the_same_intent(
    gateway: StripeGateway, stripe_client: stripe.StripeClient, account_id: str
) -> None:
    card = gateway.attach(account_id, None, "tok_visa")
    request = _paying(card)

    first = gateway.create_payment(request)

    assert gateway.create_payment(request) == first
    assert gateway.create_payment(_paying(card)) != first  # another key, another intent
    listed = stripe_client.v1.payment_intents.list({"limit": 100}).auto_paging_iter()
    assert sum(1 for pi in listed if pi.metadata.to_dict().get("idempotency_key") == request.key) == 1


def test_stripe_create_payment_key_reused_with_other_parameters_is_unavailable(
    gateway: StripeGateway, account_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    card = gateway.attach(account_id, None, "tok_visa")
    request = _paying(card)
    gateway.create_payment(request)

    logged = caplog.at_level(logging.ERROR, logger="seats.adapters.payments.stripe_gateway")
    with logged, pytest.raises(PaymentProviderUnavailable):  # Stripe's IdempotencyError
        gateway.create_payment(_paying(card, key=request.key, amount=Money(Decimal("1.00"), "USD")))
    assert [r.levelno for r in caplog.records if "IdempotencyError" in r.getMessage()] == [logging.ERROR]


@pytest.mark.parametrize("off_session", [False, True])
def test_stripe_confirm_payment_succeeds(
    gateway: StripeGateway, stripe_client: stripe.StripeClient, account_id: str, off_session: bool
) -> None:
    card = gateway.attach(account_id, None, "tok_visa")
    request = _paying(card, off_session=off_session)
    provider_ref = gateway.create_payment(request)

    payment = gateway.confirm_payment(provider_ref, request)

    assert payment == ProviderPayment(
        provider_ref=provider_ref, status="succeeded", amount=USD_1975, payment_method_ref=card.provider_ref
    )
    assert payment.captured and not payment.refunded
    assert gateway.get_payment(provider_ref) == payment
    intent = stripe_client.v1.payment_intents.retrieve(provider_ref)
    assert intent.status == "succeeded"
    assert intent.setup_future_usage == (None if off_session else "off_session")


def test_stripe_confirm_payment_twice_captures_once(
    gateway: StripeGateway, stripe_client: stripe.StripeClient, account_id: str
) -> None:
    card = gateway.attach(account_id, None, "tok_visa")
    request = _paying(card, off_session=True)
    provider_ref = gateway.create_payment(request)
    first = gateway.confirm_payment(provider_ref, request)

    again = gateway.confirm_payment(provider_ref, request)  # the same key: Stripe's saved answer
    # Stripe forgot the key (24 hours): it refuses to confirm a succeeded intent, which is read instead
    forgotten = gateway.confirm_payment(provider_ref, _paying(card, off_session=True))

    assert first.status == "succeeded" and again == first and forgotten == first
    charges = stripe_client.v1.charges.list({"customer": card.customer_ref}).data
    assert [(c.payment_intent, c.amount, c.status) for c in charges] == [(provider_ref, 197500, "succeeded")]


def test_stripe_confirm_payment_declined_is_failed(gateway: StripeGateway, account_id: str) -> None:
    card = gateway.attach(account_id, None, "tok_chargeCustomerFail")  # attaches, declined when charged
    request = _paying(card, off_session=True)
    provider_ref = gateway.create_payment(request)

    payment = gateway.confirm_payment(provider_ref, request)

    assert payment == ProviderPayment(
        provider_ref=provider_ref,
        status="failed",
        amount=USD_1975,
        payment_method_ref=card.provider_ref,
        decline_code="card_declined",  # Stripe's generic_decline
    )
    assert not payment.captured
    assert gateway.get_payment(provider_ref) == payment
    assert gateway.confirm_payment(provider_ref, request) == payment  # the saved decline
    assert gateway.confirm_payment(provider_ref, _paying(card)) == payment  # not confirmable: read


@pytest.mark.parametrize(
    ("token", "decline_code"),
    [
        ("tok_chargeDeclinedInsufficientFunds", "insufficient_funds"),
        ("tok_chargeDeclined", "card_declined"),
        ("tok_chargeDeclinedLostCard", "lost_card"),
        ("tok_chargeDeclinedExpiredCard", "expired_card"),
    ],
)
def test_stripe_confirm_payment_decline_codes(
    gateway: StripeGateway, stripe_client: stripe.StripeClient, token: str, decline_code: str
) -> None:
    method = _unattached(stripe_client, token)
    request = _request(None, method, off_session=True)
    provider_ref = gateway.create_payment(request)

    payment = gateway.confirm_payment(provider_ref, request)

    assert (payment.status, payment.decline_code, payment.payment_method_ref) == (
        "failed",
        decline_code,
        method,
    )
    listed = {c.charge_id: c for c in gateway.list_charges()}[provider_ref]
    assert (listed.status, listed.decline_code) == ("failed", decline_code)


def test_stripe_charge_of_an_expired_card_is_payment_method_expired(
    gateway: StripeGateway, stripe_client: stripe.StripeClient
) -> None:
    method = _unattached(stripe_client, "tok_chargeDeclinedExpiredCard")

    with pytest.raises(PaymentMethodExpired):
        gateway.charge(
            customer_ref=None,
            payment_method_ref=method,
            amount=USD_1975,
            idempotency_key=_key(),
            description="x",
        )


def test_stripe_confirm_payment_needing_authentication(
    gateway: StripeGateway, card_token: Callable[..., str], account_id: str
) -> None:
    card = gateway.attach(account_id, None, card_token(NEEDS_3DS))
    on_session, off_session = _paying(card), _paying(card, off_session=True)
    waiting, declined = gateway.create_payment(on_session), gateway.create_payment(off_session)

    # On session, the card holder is there to authenticate (3-D Secure) in the browser.
    assert gateway.confirm_payment(waiting, on_session).status == "requires_action"
    assert gateway.get_payment(waiting).status == "requires_action"  # type: ignore[union-attr]
    # Off session, Stripe declines it: authentication_required.
    failed = gateway.confirm_payment(declined, off_session)
    assert (failed.status, failed.decline_code, failed.payment_method_ref) == (
        "failed",
        "authentication_required",
        card.provider_ref,
    )
    assert gateway.get_payment(declined) == failed
    listed = {c.charge_id: c for c in gateway.list_charges()}
    assert (listed[waiting].status, listed[waiting].decline_code) == ("requires_action", None)
    assert (listed[declined].status, listed[declined].decline_code) == ("failed", "authentication_required")


def test_stripe_cancel_payment_of_an_unconfirmed_intent(
    gateway: StripeGateway, stripe_client: stripe.StripeClient, account_id: str
) -> None:
    card = gateway.attach(account_id, None, "tok_visa")
    request = _paying(card)
    provider_ref = gateway.create_payment(request)

    canceled = gateway.cancel_payment(provider_ref)

    assert canceled == ProviderPayment(
        provider_ref=provider_ref, status="canceled", amount=USD_1975, payment_method_ref=card.provider_ref
    )
    assert gateway.cancel_payment(provider_ref) == canceled  # a retry
    assert gateway.get_payment(provider_ref) == canceled
    assert gateway.confirm_payment(provider_ref, request) == canceled  # nothing taken after a cancel
    assert stripe_client.v1.charges.list({"customer": card.customer_ref}).data == []
    listed = {c.charge_id: c for c in gateway.list_charges()}[provider_ref]
    assert (listed.status, listed.idempotency_key, listed.payment_method_id) == (
        "canceled",
        request.key,
        "pm_ours_1",
    )


def test_stripe_cancel_payment_of_a_succeeded_intent_answers_it(
    gateway: StripeGateway, account_id: str
) -> None:
    card = gateway.attach(account_id, None, "tok_visa")
    request = _paying(card, off_session=True)
    provider_ref = gateway.create_payment(request)
    succeeded = gateway.confirm_payment(provider_ref, request)

    assert gateway.cancel_payment(provider_ref) == succeeded
    assert gateway.get_payment(provider_ref) == succeeded


def test_stripe_refund_then_get_payment_is_refunded(gateway: StripeGateway, account_id: str) -> None:
    card = gateway.attach(account_id, None, "tok_visa")
    request = _paying(card, off_session=True)
    provider_ref = gateway.create_payment(request)
    gateway.confirm_payment(provider_ref, request)
    before = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)

    gateway.refund(provider_ref, request.key)

    payment = gateway.get_payment(provider_ref)
    assert payment is not None
    assert (payment.status, payment.refunded, payment.amount) == ("succeeded", True, USD_1975)
    assert gateway.cancel_payment(provider_ref) == payment
    listed = {c.charge_id: c for c in gateway.list_charges()}[provider_ref]
    assert (listed.status, listed.amount, listed.idempotency_key) == ("refunded", USD_1975, request.key)
    assert listed.refunded_at is not None
    assert before <= listed.refunded_at <= datetime.now(UTC) + timedelta(seconds=1)


def test_stripe_get_payment_of_an_unknown_intent_is_none(gateway: StripeGateway) -> None:
    assert gateway.get_payment("pi_doesNotExist") is None
    # Not ids Stripe gives: answered unsent, even with Stripe unreachable.
    offline = StripeGateway("sk_test_offline", api_base=f"http://127.0.0.1:{_closed_port()}", timeout_s=1)
    for ref in ("", "pi_", "ch_123", "pi_1/confirm"):
        assert offline.get_payment(ref) is None
        with pytest.raises(PaymentProviderUnavailable):
            offline.confirm_payment(ref, _request("cus_x", "pm_x"))
        with pytest.raises(PaymentProviderUnavailable):
            offline.cancel_payment(ref)


def test_stripe_confirm_or_cancel_of_an_unknown_intent_is_unavailable(gateway: StripeGateway) -> None:
    with pytest.raises(PaymentProviderUnavailable):  # not an invalid card: the ledger's id is unknown
        gateway.confirm_payment("pi_doesNotExist", _request("cus_x", "pm_x"))
    with pytest.raises(PaymentProviderUnavailable):
        gateway.cancel_payment("pi_doesNotExist")


def test_stripe_create_payment_with_an_unknown_card_is_an_invalid_token(gateway: StripeGateway) -> None:
    with pytest.raises(InvalidPaymentToken):
        gateway.create_payment(_request(None, "pm_doesNotExist"))


# -- provider down ------------------------------------------------------------------------------------


def test_stripe_provider_down_is_unavailable(account_id: str) -> None:
    down = StripeGateway("sk_test_down", api_base=f"http://127.0.0.1:{_closed_port()}", timeout_s=2)
    started = time.monotonic()

    with pytest.raises(PaymentProviderUnavailable) as attach_error:
        down.attach(account_id, None, "tok_visa")
    with pytest.raises(PaymentProviderUnavailable):
        down.charge(
            customer_ref="cus_x",
            payment_method_ref="pm_x",
            amount=USD_1975,
            idempotency_key=_key(),
            description="x",
        )
    with pytest.raises(PaymentProviderUnavailable):
        down.refund("pi_x", _key())
    with pytest.raises(PaymentProviderUnavailable):
        down.list_charges()
    request = _request("cus_x", "pm_x")
    with pytest.raises(PaymentProviderUnavailable):
        down.create_payment(request)
    with pytest.raises(PaymentProviderUnavailable):
        down.confirm_payment("pi_x", request)
    with pytest.raises(PaymentProviderUnavailable):
        down.get_payment("pi_x")
    with pytest.raises(PaymentProviderUnavailable):
        down.cancel_payment("pi_x")

    assert time.monotonic() - started < 5  # no retries, no back-off
    assert (attach_error.value.status, attach_error.value.code) == (503, "payment_provider_unavailable")


def test_stripe_provider_not_answering_times_out_as_unavailable(account_id: str) -> None:
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        gateway = StripeGateway("sk_test_silent", api_base=f"http://127.0.0.1:{port}", timeout_s=0.5)
        started = time.monotonic()
        with pytest.raises(PaymentProviderUnavailable):
            gateway.attach(account_id, "cus_x", "tok_visa")
        # A confirmation that times out: its outcome is unknown, get_payment will tell.
        with pytest.raises(PaymentProviderUnavailable):
            gateway.confirm_payment("pi_x", _request("cus_x", "pm_x"))
        assert time.monotonic() - started < 4


# -- canned Stripe answers (what localstripe cannot produce) ------------------------------------------


class _Stub:
    """A tiny HTTP server answering every request with the next canned (status, body)."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, dict[str, Any]]] = []
        self.requests: list[dict[str, Any]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self._answer()

            def do_GET(self) -> None:
                self._answer()

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                stub.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": dict(self.headers),
                        "form": {k: v[0] for k, v in parse_qs(body).items()},
                    }
                )
                status, payload = stub.answers.pop(0) if stub.answers else (500, {"error": {}})
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub() -> Iterator[_Stub]:
    server = _Stub()
    yield server
    server.close()


def _card_error(code: str, decline_code: str | None = None) -> tuple[int, dict[str, Any]]:
    error = {"type": "card_error", "code": code, "message": "Your card was declined. 4242 VISA"}
    if decline_code:
        error["decline_code"] = decline_code
    return 402, {"error": error}


# What Stripe answers to the create of `charge` (the first of its two requests).
_CREATED = (
    200,
    {
        "id": "pi_1",
        "object": "payment_intent",
        "status": "requires_confirmation",
        "created": 1_790_000_000,
        "payment_method": "pm_1",
        "amount": 197500,
        "currency": "usd",
    },
)


def _stub_charge(gateway: StripeGateway, key: str = "order-1") -> Any:
    return gateway.charge(
        customer_ref="cus_1",
        payment_method_ref="pm_1",
        amount=USD_1975,
        idempotency_key=key,
        description="Add 2 seats",
    )


def test_stripe_charge_request_is_confirmed_off_session_with_the_idempotency_key(stub: _Stub) -> None:
    stub.answers.append(_CREATED)
    stub.answers.append(
        (
            200,
            {
                "id": "pi_1",
                "object": "payment_intent",
                "status": "succeeded",
                "created": 1_790_000_000,
                "payment_method": "pm_1",
                "amount": 197500,
                "currency": "usd",
            },
        )
    )
    charge = _stub_charge(StripeGateway("sk_test_stub", api_base=stub.url), "order-42")

    create, confirm = stub.requests
    assert (create["method"], create["path"]) == ("POST", "/v1/payment_intents")
    assert create["headers"]["Idempotency-Key"] == "order-42"
    assert create["headers"]["Authorization"] == "Bearer sk_test_stub"
    form = create["form"]
    assert form["amount"] == "197500" and form["currency"] == "usd"
    assert "confirm" not in form and "off_session" not in form  # created first: no money moves
    assert "setup_future_usage" not in form  # off session: the card was saved before
    assert form["customer"] == "cus_1" and form["payment_method"] == "pm_1"
    assert form["metadata[idempotency_key]"] == "order-42"
    assert form["allowed_payment_method_types[0]"] == "card"  # payment_method_types is gone in 2026-09-30+
    assert (confirm["method"], confirm["path"]) == ("POST", "/v1/payment_intents/pi_1/confirm")
    assert confirm["headers"]["Idempotency-Key"] == "order-42:confirm"
    assert confirm["form"] == {"off_session": "true", "expand[0]": "latest_charge"}
    assert (charge.charge_id, charge.created_at) == ("pi_1", datetime.fromtimestamp(1_790_000_000, UTC))


@pytest.mark.parametrize(
    ("answer", "expected", "decline_code"),
    [
        (_card_error("expired_card"), PaymentMethodExpired, None),
        (_card_error("card_declined", "insufficient_funds"), PaymentDeclined, "insufficient_funds"),
        (_card_error("card_declined", "generic_decline"), PaymentDeclined, "card_declined"),
        (_card_error("card_declined", "do_not_honor"), PaymentDeclined, "do_not_honor"),
        (_card_error("incorrect_cvc"), PaymentDeclined, "incorrect_cvc"),
        (
            (
                400,
                {
                    "error": {
                        "type": "invalid_request_error",
                        "code": "resource_missing",
                        "param": "payment_method",
                        "message": "No such PaymentMethod: 'pm_1'",
                    }
                },
            ),
            InvalidPaymentToken,
            None,
        ),
        (
            (
                400,
                {
                    "error": {
                        "type": "invalid_request_error",
                        "code": "parameter_unknown",
                        "param": "foo",
                        "message": "Received unknown parameter: foo",
                    }
                },
            ),
            PaymentProviderUnavailable,
            None,
        ),
        (
            (400, {"error": {"type": "idempotency_error", "message": "Keys for idempotent requests..."}}),
            PaymentProviderUnavailable,  # the ledger settles it: no longer IdempotencyKeyReused (422)
            None,
        ),
        (
            (429, {"error": {"type": "invalid_request_error", "code": "rate_limit"}}),
            PaymentProviderUnavailable,
            None,
        ),
        (
            (500, {"error": {"type": "api_error", "message": "Something went wrong"}}),
            PaymentProviderUnavailable,
            None,
        ),
        ((503, {"error": {}}), PaymentProviderUnavailable, None),
        (
            (
                401,
                {
                    "error": {
                        "type": "invalid_request_error",
                        "message": "Invalid API Key provided: sk_test_****stub",
                    }
                },
            ),
            PaymentProviderUnavailable,
            None,
        ),
    ],
)
def test_stripe_charge_error_mapping(
    stub: _Stub, answer: tuple[int, dict[str, Any]], expected: type[Exception], decline_code: str | None
) -> None:
    stub.answers.extend([_CREATED, answer])  # the answer to the confirmation

    with pytest.raises(expected) as caught:
        _stub_charge(StripeGateway("sk_test_stub", api_base=stub.url))

    if decline_code is not None:
        assert caught.value.extra == {"decline_code": decline_code}  # type: ignore[attr-defined]
    assert "4242" not in str(caught.value) and "sk_test" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert [r["path"] for r in stub.requests] == ["/v1/payment_intents", "/v1/payment_intents/pi_1/confirm"]


def test_stripe_charge_refused_for_api_version_reasons_is_not_an_invalid_token(stub: _Stub) -> None:
    stub.answers.append(
        (
            400,
            {"error": {"type": "invalid_request_error", "code": "payment_method_types_no_longer_supported"}},
        )
    )
    with pytest.raises(PaymentProviderUnavailable):
        _stub_charge(StripeGateway("sk_test_stub", api_base=stub.url))


def test_stripe_attach_to_unknown_customer_is_not_an_invalid_token(stub: _Stub) -> None:
    stub.answers.append((200, {"id": "pm_new", "object": "payment_method", "type": "card"}))
    stub.answers.append(
        (
            400,
            {"error": {"type": "invalid_request_error", "code": "resource_missing", "param": "customer"}},
        )
    )
    with pytest.raises(PaymentProviderUnavailable):
        StripeGateway("sk_test_stub", api_base=stub.url).attach("acme", "cus_gone", "tok_visa")
    assert [r["path"] for r in stub.requests] == ["/v1/payment_methods", "/v1/payment_methods/pm_new/attach"]
    assert stub.requests[0]["form"] == {"type": "card", "card[token]": "tok_visa"}
    assert stub.requests[0]["headers"]["Idempotency-Key"] == "seats-pm-acme-tok_visa"
    assert stub.requests[1]["form"] == {"customer": "cus_gone"}


def test_stripe_charge_needing_authentication_is_declined(stub: _Stub) -> None:
    stub.answers.append(_CREATED)
    stub.answers.append(
        (
            200,
            {
                "id": "pi_3ds",
                "object": "payment_intent",
                "status": "requires_action",
                "created": 1_790_000_000,
            },
        )
    )

    with pytest.raises(PaymentDeclined) as caught:
        _stub_charge(StripeGateway("sk_test_stub", api_base=stub.url))
    assert caught.value.extra == {"decline_code": "authentication_required"}


def _intent(status: str, **fields: Any) -> dict[str, Any]:
    """A PaymentIntent as Stripe answers it (latest_charge expanded when given)."""
    intent = {
        "id": "pi_1",
        "object": "payment_intent",
        "status": status,
        "created": 1_790_000_000,
        "payment_method": "pm_1",
        "amount": 197500,
        "currency": "usd",
        "latest_charge": None,
    }
    return {**intent, **fields}


def test_stripe_payment_requests_carry_their_idempotency_keys(stub: _Stub) -> None:
    gateway = StripeGateway("sk_test_stub", api_base=stub.url)
    request = _request("cus_1", "pm_1", key="order-7")  # on session
    for status in ("requires_confirmation", "requires_action", "canceled", "canceled"):
        stub.answers.append((200, _intent(status)))

    assert gateway.create_payment(request) == "pi_1"
    assert gateway.confirm_payment("pi_1", request).status == "requires_action"
    assert gateway.cancel_payment("pi_1").status == "canceled"
    assert gateway.get_payment("pi_1").status == "canceled"  # type: ignore[union-attr]

    create, confirm, cancel, get = stub.requests
    assert (create["path"], create["headers"]["Idempotency-Key"]) == ("/v1/payment_intents", "order-7")
    assert create["form"]["setup_future_usage"] == "off_session"  # on session: saved for the renewals
    assert create["form"]["metadata[idempotency_key]"] == "order-7"
    assert create["form"]["metadata[payment_method_id]"] == "pm_ours_1"
    assert create["form"]["description"] == "Add 2 seats to sub-acad"
    assert "confirm" not in create["form"] and "off_session" not in create["form"]
    assert (confirm["path"], confirm["headers"]["Idempotency-Key"]) == (
        "/v1/payment_intents/pi_1/confirm",
        "order-7:confirm",
    )
    assert confirm["form"] == {"expand[0]": "latest_charge"}  # on session: no off_session
    assert (cancel["path"], cancel["headers"]["Idempotency-Key"]) == (
        "/v1/payment_intents/pi_1/cancel",
        "seats-cancel-pi_1",
    )
    assert (get["method"], get["path"]) == ("GET", "/v1/payment_intents/pi_1?expand%5B0%5D=latest_charge")
    assert "Idempotency-Key" not in get["headers"]


def test_stripe_long_idempotency_keys_are_hashed_for_confirmation(stub: _Stub) -> None:
    stub.answers.append((200, _intent("succeeded")))
    key = "k" * 250

    StripeGateway("sk_test_stub", api_base=stub.url).confirm_payment(
        "pi_1", _request("cus_1", "pm_1", key=key)
    )

    sent = stub.requests[0]["headers"]["Idempotency-Key"]
    assert sent.startswith("seats-confirm-") and len(sent) <= 255


@pytest.mark.parametrize(
    ("intent", "status", "decline_code", "refunded"),
    [
        (_intent("requires_confirmation"), "requires_confirmation", None, False),
        (_intent("requires_action", next_action={"type": "use_stripe_sdk"}), "requires_action", None, False),
        (_intent("processing"), "processing", None, False),
        (_intent("requires_capture"), "processing", None, False),
        (_intent("succeeded", latest_charge={"id": "ch_1", "refunded": False}), "succeeded", None, False),
        (_intent("succeeded", latest_charge={"id": "ch_1", "refunded": True}), "succeeded", None, True),
        (_intent("succeeded", latest_charge="ch_1"), "succeeded", None, False),  # not expanded
        (
            _intent(
                "requires_payment_method",
                last_payment_error={
                    "type": "card_error",
                    "code": "card_declined",
                    "decline_code": "generic_decline",
                },
            ),
            "failed",
            "card_declined",
            False,
        ),
        (
            _intent(
                "requires_payment_method",
                payment_method=None,  # Stripe drops the card that failed authentication
                last_payment_error={
                    "type": "card_error",
                    "code": "authentication_required",
                    "decline_code": "authentication_required",
                    "payment_method": {"id": "pm_1", "object": "payment_method"},
                },
            ),
            "failed",
            "authentication_required",
            False,
        ),
        (_intent("canceled"), "canceled", None, False),
        (
            _intent("canceled", last_payment_error={"code": "card_declined", "decline_code": "do_not_honor"}),
            "canceled",
            "do_not_honor",
            False,
        ),
    ],
)
def test_stripe_payment_intent_status_mapping(
    stub: _Stub, intent: dict[str, Any], status: str, decline_code: str | None, refunded: bool
) -> None:
    stub.answers.append((200, intent))

    payment = StripeGateway("sk_test_stub", api_base=stub.url).get_payment("pi_1")

    assert payment == ProviderPayment(
        provider_ref="pi_1",
        status=status,  # type: ignore[arg-type]
        amount=USD_1975,
        payment_method_ref="pm_1",
        decline_code=decline_code,
        refunded=refunded,
    )


def test_stripe_sca_requires_action_carries_client_secret_and_redirect_url(stub: _Stub) -> None:
    """The client_secret (and the bank's page, when Stripe redirects) only while authentication waits."""
    redirect = {
        "type": "redirect_to_url",
        "redirect_to_url": {
            "url": "https://hooks.stripe.com/3d_secure_2/hosted?x=1",
            "return_url": "https://x",
        },
    }
    sdk = {"type": "use_stripe_sdk", "use_stripe_sdk": {"type": "three_d_secure_redirect", "stripe_js": ""}}
    secret = "pi_1_secret_Q2hlY2tvdXQ"
    stub.answers.append((200, _intent("requires_action", client_secret=secret, next_action=redirect)))
    stub.answers.append((200, _intent("requires_action", client_secret=secret, next_action=sdk)))
    stub.answers.append((200, _intent("requires_action", client_secret=None, next_action={"type": "x"})))
    succeeded = _intent("succeeded", client_secret=secret, latest_charge={"id": "ch_1", "refunded": False})
    stub.answers.append((200, succeeded))
    gateway = StripeGateway("sk_test_stub", api_base=stub.url)

    confirmed = gateway.confirm_payment("pi_1", _request("cus_1", "pm_1"))

    waiting = ProviderPayment(
        provider_ref="pi_1",
        status="requires_action",
        amount=USD_1975,
        payment_method_ref="pm_1",
        client_secret=secret,
        redirect_url="https://hooks.stripe.com/3d_secure_2/hosted?x=1",
    )
    assert confirmed == waiting
    assert gateway.get_payment("pi_1") == replace(waiting, redirect_url=None)  # Stripe.js handles it
    assert gateway.get_payment("pi_1") == ProviderPayment(
        provider_ref="pi_1", status="requires_action", amount=USD_1975, payment_method_ref="pm_1"
    )
    settled = gateway.get_payment("pi_1")  # settled: nothing to authenticate, no secret handed out
    assert settled is not None and (settled.status, settled.client_secret) == ("succeeded", None)


def test_stripe_sca_failed_authentication_is_authentication_failed(stub: _Stub) -> None:
    """Real Stripe's intent after the cardholder failed 3-D Secure: back to requires_payment_method,
    the card dropped and named by last_payment_error (code payment_intent_authentication_failure)."""
    intent = _intent(
        "requires_payment_method",
        payment_method=None,
        client_secret="pi_1_secret_abc",
        metadata={"idempotency_key": "order-9", "payment_method_id": "pm_ours_1"},
        last_payment_error={
            "type": "invalid_request_error",
            "code": "payment_intent_authentication_failure",
            "message": "The provided PaymentMethod has failed authentication.",
            "payment_method": {"id": "pm_1", "object": "payment_method"},
        },
    )
    stub.answers.append((200, intent))
    stub.answers.append(
        (200, {"object": "list", "url": "/v1/payment_intents", "has_more": False, "data": [intent]})
    )
    gateway = StripeGateway("sk_test_stub", api_base=stub.url)

    assert gateway.get_payment("pi_1") == ProviderPayment(
        provider_ref="pi_1",
        status="failed",
        amount=USD_1975,
        payment_method_ref="pm_1",
        decline_code="authentication_failed",
    )
    (listed,) = gateway.list_charges()
    assert (listed.status, listed.decline_code, listed.payment_method_ref) == (
        "failed",
        "authentication_failed",
        "pm_1",
    )


def test_stripe_payment_intent_in_an_unknown_status_is_unavailable(stub: _Stub) -> None:
    stub.answers.append((200, _intent("requires_something_new")))

    with pytest.raises(PaymentProviderUnavailable):
        StripeGateway("sk_test_stub", api_base=stub.url).get_payment("pi_1")


def test_stripe_get_payment_resource_missing_is_none(stub: _Stub) -> None:
    stub.answers.append(
        (404, {"error": {"type": "invalid_request_error", "code": "resource_missing", "param": "intent"}})
    )

    assert StripeGateway("sk_test_stub", api_base=stub.url).get_payment("pi_gone") is None


def test_stripe_confirm_payment_decline_without_the_intent_is_failed(stub: _Stub) -> None:
    stub.answers.append(_card_error("card_declined", "insufficient_funds"))

    payment = StripeGateway("sk_test_stub", api_base=stub.url).confirm_payment(
        "pi_1", _request("cus_1", "pm_1")
    )

    assert payment == ProviderPayment(
        provider_ref="pi_1",
        status="failed",
        amount=USD_1975,
        payment_method_ref="pm_1",
        decline_code="insufficient_funds",
    )


def test_stripe_confirm_payment_off_session_authentication_required_is_failed(stub: _Stub) -> None:
    """Real Stripe's answer to an off-session confirmation of a card that needs 3-D Secure."""
    error = {
        "type": "card_error",
        "code": "authentication_required",
        "decline_code": "authentication_required",
    }
    intent = _intent(
        "requires_payment_method",
        payment_method=None,
        last_payment_error={**error, "payment_method": {"id": "pm_1", "object": "payment_method"}},
    )
    stub.answers.append(
        (402, {"error": {**error, "message": "Your card was declined.", "payment_intent": intent}})
    )

    payment = StripeGateway("sk_test_stub", api_base=stub.url).confirm_payment(
        "pi_1", _request("cus_1", "pm_1", off_session=True)
    )

    assert (payment.status, payment.decline_code, payment.payment_method_ref) == (
        "failed",
        "authentication_required",
        "pm_1",
    )
    assert stub.requests[0]["form"]["off_session"] == "true"


def test_stripe_confirm_of_an_intent_stripe_will_not_confirm_reads_it(stub: _Stub) -> None:
    stub.answers.append(
        (
            400,
            {
                "error": {
                    "type": "invalid_request_error",
                    "code": "payment_intent_unexpected_state",
                    "message": "You cannot confirm this PaymentIntent because it has a status of succeeded.",
                }
            },
        )
    )
    stub.answers.append((200, _intent("succeeded", latest_charge={"id": "ch_1", "refunded": False})))

    payment = StripeGateway("sk_test_stub", api_base=stub.url).confirm_payment(
        "pi_1", _request("cus_1", "pm_1")
    )

    assert payment.status == "succeeded"
    assert [(r["method"], r["path"].split("?")[0]) for r in stub.requests] == [
        ("POST", "/v1/payment_intents/pi_1/confirm"),
        ("GET", "/v1/payment_intents/pi_1"),
    ]


def test_stripe_refund_already_refunded_is_done(stub: _Stub) -> None:
    stub.answers.append(
        (400, {"error": {"type": "invalid_request_error", "code": "charge_already_refunded"}})
    )

    StripeGateway("sk_test_stub", api_base=stub.url).refund("pi_1", "order-1")

    (request,) = stub.requests
    assert request["path"] == "/v1/refunds" and request["form"]["payment_intent"] == "pi_1"
    assert request["headers"]["Idempotency-Key"] == "seats-refund-order-1"


# -- secrets ------------------------------------------------------------------------------------------


def test_stripe_api_key_never_in_logs_or_exceptions(
    localstripe: LocalStripe,
    stripe_api_key: str,
    card_token: Callable[..., str],
    account_id: str,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, the SDK's "stripe" and urllib3 included
    refused_key = f"rk_test_seats_{secrets.token_hex(12)}"  # localstripe answers 401 to non-sk_ keys
    secrets_to_hide = [stripe_api_key, refused_key, stripe_api_key[-12:], refused_key[-12:]]
    gateway = StripeGateway(stripe_api_key, api_base=localstripe.url, timeout_s=5)
    raised: list[BaseException] = []

    def attempt(action: Callable[[], Any]) -> None:
        try:
            action()
        except DomainError as err:  # collect every failure to inspect its text
            raised.append(err)

    card = gateway.attach(account_id, None, "tok_visa")
    _charge(gateway, card, _key())
    attempt(lambda: gateway.attach(account_id, None, card_token(DECLINED)))
    attempt(lambda: gateway.attach(account_id, None, "tok_doesNotExist"))
    failing = gateway.attach(account_id, card.customer_ref, "tok_chargeCustomerFail")
    attempt(lambda: _charge(gateway, failing, _key()))
    attempt(lambda: StripeGateway(refused_key, api_base=localstripe.url).attach(account_id, None, "tok_visa"))
    down = StripeGateway(stripe_api_key, api_base=f"http://127.0.0.1:{_closed_port()}", timeout_s=1)
    attempt(
        lambda: down.charge(
            customer_ref=None,
            payment_method_ref="pm_x",
            amount=USD_1975,
            idempotency_key=_key(),
            description="x",
        )
    )

    assert [type(e) for e in raised] == [
        PaymentDeclined,
        InvalidPaymentToken,
        PaymentDeclined,
        PaymentProviderUnavailable,
        PaymentProviderUnavailable,
    ]
    texts = [record.getMessage() for record in caplog.records]
    texts += [f"{e!s} {e!r} {getattr(e, 'detail', '')} {getattr(e, 'extra', '')}" for e in raised]
    texts += [repr(e.__cause__) + repr(e.__context__) for e in raised]
    texts += [repr(gateway), repr(down)]
    captured = capsys.readouterr()
    texts += [captured.out, captured.err]
    assert any("Stripe" in text for text in texts)  # the logs were captured at all
    for text in texts:
        for secret in secrets_to_hide:
            assert secret not in text


# -- wiring -------------------------------------------------------------------------------------------


def test_stripe_gateway_built_by_bootstrap_charges_with_the_key_from_ssm(
    aws: None,
    localstripe: LocalStripe,
    stripe_client: stripe.StripeClient,
    monkeypatch: pytest.MonkeyPatch,
    account_id: str,
) -> None:
    """The deployed path: SEATS_PAYMENTS=stripe and STRIPE_API_KEY_PARAMETER as the template sets them,
    the key in an SSM SecureString (moto), the gateway from the composition root."""
    import boto3
    from aws_lambda_powertools.utilities import parameters

    from seats import bootstrap

    ssm = boto3.client("ssm")
    ssm.put_parameter(Name="/seats/stripe/api-key", Value="sk_test_from_ssm", Type="SecureString")
    ssm.put_parameter(Name="/seats/stripe/revoked", Value="rk_test_revoked", Type="SecureString")
    for name, value in {"SEATS_PAYMENTS": "stripe", "STRIPE_API_BASE": localstripe.url}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    parameters.clear_caches()  # a provider (and boto3 client) made inside this mock
    try:
        monkeypatch.setenv("STRIPE_API_KEY_PARAMETER", "/seats/stripe/api-key")
        bootstrap.reset()
        gateway = bootstrap.payment_gateway()
        card = gateway.attach(account_id, None, "tok_visa")
        key = _key()
        charge = _charge(gateway, card, key)

        assert (charge.status, charge.amount, charge.idempotency_key) == ("succeeded", USD_1975, key)
        intent = stripe_client.v1.payment_intents.retrieve(charge.charge_id)
        assert (intent.status, intent.amount, intent.currency) == ("succeeded", 197500, "usd")
        assert intent.customer == card.customer_ref and intent.metadata["idempotency_key"] == key

        # localstripe refuses keys not starting sk_; a parameter that does not exist cannot be read
        for unusable in ("/seats/stripe/revoked", "/seats/stripe/missing"):
            monkeypatch.setenv("STRIPE_API_KEY_PARAMETER", unusable)
            bootstrap.reset()
            with pytest.raises(PaymentProviderUnavailable):
                bootstrap.payment_gateway().attach(account_id, None, "tok_visa")
    finally:
        parameters.clear_caches()  # leave no provider bound to the finished mock


def test_stripe_rejected_key_is_read_again_on_the_next_call(
    localstripe: LocalStripe, account_id: str
) -> None:
    keys = iter(["rk_test_revoked", "sk_test_rotated"])  # localstripe refuses keys not starting sk_
    reads: list[str] = []

    def key_source() -> str:
        reads.append(next(keys))
        return reads[-1]

    gateway = StripeGateway(key_source, api_base=localstripe.url)
    with pytest.raises(PaymentProviderUnavailable):
        gateway.attach(account_id, None, "tok_visa")
    assert gateway.attach(account_id, None, "tok_visa").last4 == "4242"
    gateway.attach(account_id, None, "tok_mastercard")
    assert reads == ["rk_test_revoked", "sk_test_rotated"]


def test_stripe_gateway_construction_is_cheap() -> None:
    """Building the gateway neither imports the stripe SDK nor reads the key (cold start)."""
    code = (
        "import sys\n"
        "from seats.adapters.payments.stripe_gateway import StripeGateway\n"
        "def key():\n    raise SystemExit('key read')\n"
        "StripeGateway(key, api_base='http://127.0.0.1:9')\n"
        "print('stripe' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True, timeout=60
    )
    assert result.stdout.strip() == "False"
