"""3-D Secure (SCA) through the Stripe adapter, and the signed webhooks localstripe sends about it.

The cardholder's side (Stripe.js) is played by `infra.local.localstripe.authenticate`; the webhook
endpoint by a small HTTP server on 127.0.0.1 registered with `register_webhook`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import stripe

from infra.local.localstripe import LocalStripe, LocalStripeHTTPError, authenticate, register_webhook
from seats.adapters.payments.stripe_gateway import StripeGateway
from seats.domain.errors import PaymentDeclined
from seats.domain.money import Money
from seats.services.ports import AttachedCard, PaymentRequest, ProviderPayment

pytestmark = pytest.mark.stripe

USD_120 = Money(Decimal("120.00"), "USD")
NEEDS_3DS_ALWAYS = "4000002760003184"  # Stripe's 3-D Secure 2 card: authentication on every payment
# The three ways a client names that card: a Stripe.js token of the number, Stripe's fixed test
# token, Stripe's test PaymentMethod.
SCA_CARDS = ["number", "tok_threeDSecure2Required", "pm_card_threeDSecure2Required"]
PAYMENT_INTENT_EVENTS = ("payment_intent.succeeded", "payment_intent.payment_failed")
WEBHOOK_WAIT_S = 10  # localstripe sends about a second after the request, in the background


# -- the webhook endpoint ---------------------------------------------------------------------------


class _Receiver:
    """An HTTP endpoint that keeps every POST (headers and raw body) it is sent."""

    def __init__(self) -> None:
        self.secret = f"whsec_{secrets.token_hex(16)}"
        self.deliveries: list[tuple[dict[str, str], bytes]] = []
        self._arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._arrived:
                    receiver.deliveries.append((dict(self.headers), body))
                    receiver._arrived.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/stripe/webhook"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def find(self, event_type: str, object_id: str) -> list[tuple[dict[str, str], bytes]]:
        with self._arrived:
            return [(h, b) for h, b in self.deliveries if _is(b, event_type, object_id)]

    def wait_for(self, event_type: str, object_id: str) -> tuple[dict[str, str], bytes]:
        """The first delivery of `event_type` about `object_id`, waiting up to WEBHOOK_WAIT_S."""
        deadline = time.monotonic() + WEBHOOK_WAIT_S
        with self._arrived:
            while True:
                found = [(h, b) for h, b in self.deliveries if _is(b, event_type, object_id)]
                if found:
                    return found[0]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [json.loads(b).get("type") for _, b in self.deliveries]
                    raise AssertionError(
                        f"no {event_type} for {object_id} within {WEBHOOK_WAIT_S}s; saw {seen}"
                    )
                self._arrived.wait(remaining)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _is(body: bytes, event_type: str, object_id: str) -> bool:
    event = json.loads(body)
    return bool(event.get("type") == event_type and event["data"]["object"].get("id") == object_id)


@pytest.fixture(scope="module")
def webhooks(localstripe: LocalStripe) -> Iterator[_Receiver]:
    """An endpoint registered with localstripe for the PaymentIntent events, switched off after."""
    receiver = _Receiver()
    name = f"sca-tests-{secrets.token_hex(4)}"
    register_webhook(localstripe.url, receiver.url, receiver.secret, name, events=PAYMENT_INTENT_EVENTS)
    try:
        yield receiver
    finally:
        register_webhook(localstripe.url, receiver.url, receiver.secret, name, events=())  # none
        receiver.close()


def _verified(delivery: tuple[dict[str, str], bytes], secret: str) -> stripe.Event:
    headers, body = delivery
    return stripe.Webhook.construct_event(body, headers["Stripe-Signature"], secret)


# -- helpers ------------------------------------------------------------------------------------------


@pytest.fixture
def sca_card(
    gateway: StripeGateway, card_token: Callable[..., str], account_id: str
) -> Callable[[str], AttachedCard]:
    """The 3-D Secure card attached to a new customer, named as `SCA_CARDS` lists."""

    def attach(named: str) -> AttachedCard:
        return gateway.attach(account_id, None, card_token(NEEDS_3DS_ALWAYS) if named == "number" else named)

    return attach


def _request(card: AttachedCard, *, off_session: bool = False) -> PaymentRequest:
    return PaymentRequest(
        key=f"seats:payment:sca-{secrets.token_hex(8)}",
        amount=USD_120,
        customer_ref=card.customer_ref,
        payment_method_ref=card.provider_ref,
        payment_method_id="pm_ours_sca",
        description="Add 1 seat to sub-sca",
        off_session=off_session,
    )


def _waiting(gateway: StripeGateway, card: AttachedCard) -> tuple[PaymentRequest, ProviderPayment]:
    """An on-session payment of `card`, confirmed: waiting for the cardholder's authentication."""
    request = _request(card)
    payment = gateway.confirm_payment(gateway.create_payment(request), request)
    assert payment.status == "requires_action", payment.status
    return request, payment


# -- on session: requires_action ------------------------------------------------------------------


@pytest.mark.parametrize("named", SCA_CARDS)
def test_stripe_sca_on_session_confirm_requires_action_with_client_secret(
    gateway: StripeGateway,
    stripe_client: stripe.StripeClient,
    sca_card: Callable[[str], AttachedCard],
    named: str,
) -> None:
    card = sca_card(named)
    request = _request(card)
    provider_ref = gateway.create_payment(request)

    payment = gateway.confirm_payment(provider_ref, request)

    assert card.last4 == "3184" and card.provider_ref.startswith("pm_")
    assert card.provider_ref != "pm_card_threeDSecure2Required"  # attached: a copy of Stripe's test card
    intent = stripe_client.v1.payment_intents.retrieve(provider_ref)
    assert intent.status == "requires_action"
    assert payment == ProviderPayment(
        provider_ref=provider_ref,
        status="requires_action",
        amount=USD_120,
        payment_method_ref=card.provider_ref,
        client_secret=intent.client_secret,
        redirect_url=None,  # localstripe answers next_action use_stripe_sdk, never redirect_to_url
    )
    assert payment.client_secret and payment.client_secret.startswith(f"{provider_ref}_secret_")
    assert gateway.get_payment(provider_ref) == payment
    listed = {c.charge_id: c for c in gateway.list_charges()}[provider_ref]
    assert (listed.status, listed.decline_code) == ("requires_action", None)
    assert stripe_client.v1.charges.list({"customer": card.customer_ref}).data == []  # nothing taken


def test_stripe_sca_on_session_payment_keeps_the_card_for_off_session(
    gateway: StripeGateway, stripe_client: stripe.StripeClient, sca_card: Callable[[str], AttachedCard]
) -> None:
    card = sca_card("tok_threeDSecure2Required")
    on_session = gateway.create_payment(_request(card))
    off_session = gateway.create_payment(_request(card, off_session=True))

    assert stripe_client.v1.payment_intents.retrieve(on_session).setup_future_usage == "off_session"
    assert stripe_client.v1.payment_intents.retrieve(off_session).setup_future_usage is None


def test_stripe_sca_test_payment_method_pays_unattached(
    gateway: StripeGateway, stripe_client: stripe.StripeClient
) -> None:
    """pm_card_threeDSecure2Required named directly on a payment (no customer), as Stripe's docs do."""
    request = PaymentRequest(
        key=f"sca-direct-{secrets.token_hex(6)}",
        amount=USD_120,
        customer_ref=None,
        payment_method_ref="pm_card_threeDSecure2Required",
        payment_method_id="",
        description="x",
        off_session=False,
    )
    provider_ref = gateway.create_payment(request)

    payment = gateway.confirm_payment(provider_ref, request)

    assert (payment.status, payment.client_secret) == (
        "requires_action",
        stripe_client.v1.payment_intents.retrieve(provider_ref).client_secret,
    )


# -- off session: failed, authentication_required -------------------------------------------------


@pytest.mark.parametrize("named", SCA_CARDS)
def test_stripe_sca_off_session_confirm_is_failed_authentication_required(
    gateway: StripeGateway,
    stripe_client: stripe.StripeClient,
    sca_card: Callable[[str], AttachedCard],
    named: str,
) -> None:
    card = sca_card(named)
    request = _request(card, off_session=True)
    provider_ref = gateway.create_payment(request)

    payment = gateway.confirm_payment(provider_ref, request)

    assert payment == ProviderPayment(
        provider_ref=provider_ref,
        status="failed",
        amount=USD_120,
        payment_method_ref=card.provider_ref,
        decline_code="authentication_required",
    )
    assert gateway.get_payment(provider_ref) == payment
    assert stripe_client.v1.payment_intents.retrieve(provider_ref).status == "requires_payment_method"
    with pytest.raises(PaymentDeclined) as caught:  # the one-step off-session charge
        gateway.charge(
            customer_ref=card.customer_ref,
            payment_method_ref=card.provider_ref,
            amount=USD_120,
            idempotency_key=f"sca-charge-{secrets.token_hex(6)}",
            description="renewal",
        )
    assert caught.value.extra == {"decline_code": "authentication_required"}


def test_stripe_sca_off_session_decline_sends_a_signed_payment_failed_webhook(
    gateway: StripeGateway, sca_card: Callable[[str], AttachedCard], webhooks: _Receiver
) -> None:
    card = sca_card("tok_threeDSecure2Required")
    request = _request(card, off_session=True)
    provider_ref = gateway.create_payment(request)
    assert gateway.confirm_payment(provider_ref, request).status == "failed"

    event = _verified(webhooks.wait_for("payment_intent.payment_failed", provider_ref), webhooks.secret)

    intent = event.data.object
    assert (intent.status, intent.last_payment_error.code, intent.last_payment_error.decline_code) == (
        "requires_payment_method",
        "authentication_required",
        "authentication_required",
    )
    assert intent.metadata.idempotency_key == request.key


# -- the cardholder authenticates ------------------------------------------------------------------


@pytest.mark.parametrize("named", ["tok_threeDSecure2Required", "pm_card_threeDSecure2Required"])
def test_stripe_sca_authenticated_payment_succeeds_and_a_signed_webhook_says_so(
    localstripe: LocalStripe,
    gateway: StripeGateway,
    stripe_client: stripe.StripeClient,
    sca_card: Callable[[str], AttachedCard],
    webhooks: _Receiver,
    named: str,
) -> None:
    card = sca_card(named)
    request, waiting = _waiting(gateway, card)

    answered = authenticate(localstripe.url, waiting.provider_ref, success=True)

    assert answered["status"] == "succeeded"
    succeeded = gateway.get_payment(waiting.provider_ref)
    assert succeeded == ProviderPayment(
        provider_ref=waiting.provider_ref,
        status="succeeded",
        amount=USD_120,
        payment_method_ref=card.provider_ref,
    )
    charges = stripe_client.v1.charges.list({"customer": card.customer_ref}).data
    assert [(c.payment_intent, c.amount, c.status) for c in charges] == [
        (waiting.provider_ref, 12000, "succeeded")
    ]
    event = _verified(webhooks.wait_for("payment_intent.succeeded", waiting.provider_ref), webhooks.secret)
    assert (event.type, event.data.object.status, event.data.object.amount) == (
        "payment_intent.succeeded",
        "succeeded",
        12000,
    )
    assert event.data.object.metadata.idempotency_key == request.key
    assert webhooks.find("payment_intent.payment_failed", waiting.provider_ref) == []  # sent together


def test_stripe_sca_failed_authentication_is_failed_and_a_signed_webhook_says_so(
    localstripe: LocalStripe,
    gateway: StripeGateway,
    stripe_client: stripe.StripeClient,
    sca_card: Callable[[str], AttachedCard],
    webhooks: _Receiver,
) -> None:
    card = sca_card("tok_threeDSecure2Required")
    request, waiting = _waiting(gateway, card)

    answered = authenticate(localstripe.url, waiting.provider_ref, success=False)

    assert (answered["status"], answered["last_payment_error"]["code"]) == (
        "requires_payment_method",
        "payment_intent_authentication_failure",
    )
    failed = ProviderPayment(
        provider_ref=waiting.provider_ref,
        status="failed",
        amount=USD_120,
        payment_method_ref=card.provider_ref,  # Stripe drops the card; last_payment_error names it
        decline_code="authentication_failed",
    )
    assert gateway.get_payment(waiting.provider_ref) == failed
    listed = {c.charge_id: c for c in gateway.list_charges()}[waiting.provider_ref]
    assert (listed.status, listed.decline_code) == ("failed", "authentication_failed")
    assert stripe_client.v1.charges.list({"customer": card.customer_ref}).data == []  # nothing taken

    delivery = webhooks.wait_for("payment_intent.payment_failed", waiting.provider_ref)
    event = _verified(delivery, webhooks.secret)
    intent = event.data.object
    assert (event.type, intent.status, intent.last_payment_error.code) == (
        "payment_intent.payment_failed",
        "requires_payment_method",
        "payment_intent_authentication_failure",
    )
    assert intent.last_payment_error.payment_method.id == card.provider_ref
    assert (intent.metadata.idempotency_key, intent.amount, intent.currency) == (request.key, 12000, "usd")
    assert webhooks.find("payment_intent.succeeded", waiting.provider_ref) == []


def test_stripe_sca_webhook_signature_is_stripes_scheme_and_a_forged_one_is_refused(
    localstripe: LocalStripe,
    gateway: StripeGateway,
    sca_card: Callable[[str], AttachedCard],
    webhooks: _Receiver,
) -> None:
    _, waiting = _waiting(gateway, sca_card("tok_threeDSecure2Required"))
    authenticate(localstripe.url, waiting.provider_ref, success=False)
    headers, body = webhooks.wait_for("payment_intent.payment_failed", waiting.provider_ref)
    header = headers["Stripe-Signature"]

    # Stripe's scheme: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" keyed by the secret>
    fields = dict(part.split("=", 1) for part in header.split(","))
    assert set(fields) == {"t", "v1"} and abs(int(fields["t"]) - time.time()) < 60
    expected = hmac.new(webhooks.secret.encode(), f"{fields['t']}.".encode() + body, hashlib.sha256)
    assert hmac.compare_digest(fields["v1"], expected.hexdigest())
    assert headers["Content-Type"].startswith("application/json")
    assert _verified((headers, body), webhooks.secret).type == "payment_intent.payment_failed"

    forged_body = body.replace(b'"requires_payment_method"', b'"succeeded"')
    assert forged_body != body
    other_secret = f"whsec_{secrets.token_hex(16)}"
    forged_signature = hmac.new(other_secret.encode(), f"{fields['t']}.".encode() + body, hashlib.sha256)
    forged_header = f"t={fields['t']},v1={forged_signature.hexdigest()}"
    stale = int(fields["t"]) - 3600
    replayed = hmac.new(webhooks.secret.encode(), f"{stale}.".encode() + body, hashlib.sha256)
    for payload, signature, secret in (
        (forged_body, header, webhooks.secret),  # the body changed on the way
        (body, forged_header, webhooks.secret),  # signed with another secret
        (body, header, other_secret),  # checked against another endpoint's secret
        (body, f"t={stale},v1={replayed.hexdigest()}", webhooks.secret),  # older than the tolerance
        (body, f"t={fields['t']}", webhooks.secret),  # no signature at all
    ):
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(payload, signature, secret)


def test_stripe_sca_authenticate_is_refused_unless_the_payment_waits_for_it(
    localstripe: LocalStripe, gateway: StripeGateway, sca_card: Callable[[str], AttachedCard]
) -> None:
    _, waiting = _waiting(gateway, sca_card("tok_threeDSecure2Required"))
    authenticate(localstripe.url, waiting.provider_ref, success=True)

    with pytest.raises(LocalStripeHTTPError) as caught:
        authenticate(localstripe.url, waiting.provider_ref, success=False)  # already succeeded

    assert (caught.value.status, caught.value.code) == (400, "payment_intent_unexpected_state")
    assert gateway.get_payment(waiting.provider_ref).status == "succeeded"  # type: ignore[union-attr]


# -- cancel ------------------------------------------------------------------------------------------


def test_stripe_sca_cancel_of_a_payment_waiting_for_authentication(
    localstripe: LocalStripe,
    gateway: StripeGateway,
    stripe_client: stripe.StripeClient,
    sca_card: Callable[[str], AttachedCard],
) -> None:
    card = sca_card("tok_threeDSecure2Required")
    _, waiting = _waiting(gateway, card)

    canceled = gateway.cancel_payment(waiting.provider_ref)

    assert canceled == ProviderPayment(
        provider_ref=waiting.provider_ref,
        status="canceled",
        amount=USD_120,
        payment_method_ref=card.provider_ref,
    )  # no client_secret: there is nothing left to authenticate
    assert gateway.get_payment(waiting.provider_ref) == canceled
    assert stripe_client.v1.payment_intents.retrieve(waiting.provider_ref).status == "canceled"
    with pytest.raises(LocalStripeHTTPError) as caught:  # the cardholder comes back too late
        authenticate(localstripe.url, waiting.provider_ref, success=True)
    assert caught.value.status == 400
    assert gateway.get_payment(waiting.provider_ref) == canceled
    assert stripe_client.v1.charges.list({"customer": card.customer_ref}).data == []


# -- secrets -----------------------------------------------------------------------------------------


def test_stripe_sca_client_secret_never_logged(
    localstripe: LocalStripe,
    gateway: StripeGateway,
    sca_card: Callable[[str], AttachedCard],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # INFO everywhere (the stripe SDK's DEBUG lines carry whole response bodies), DEBUG for ours.
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="seats")
    card = sca_card("tok_threeDSecure2Required")
    request, waiting = _waiting(gateway, card)
    gateway.confirm_payment(waiting.provider_ref, request)  # replayed
    gateway.confirm_payment(waiting.provider_ref, _request(card))  # refused: read as it is
    gateway.get_payment(waiting.provider_ref)
    gateway.list_charges()
    with pytest.raises(PaymentDeclined):
        gateway.charge(
            customer_ref=card.customer_ref,
            payment_method_ref=card.provider_ref,
            amount=USD_120,
            idempotency_key=f"sca-charge-{secrets.token_hex(6)}",
            description="renewal",
        )
    gateway.cancel_payment(waiting.provider_ref)

    assert waiting.client_secret
    assert any("Stripe" in r.getMessage() for r in caplog.records)  # the logs were captured at all
    captured = capsys.readouterr()
    for text in [r.getMessage() for r in caplog.records] + [captured.out, captured.err, repr(gateway)]:
        assert waiting.client_secret not in text
        assert waiting.client_secret.split("_secret_")[1] not in text
