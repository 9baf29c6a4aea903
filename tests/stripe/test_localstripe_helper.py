"""infra/local/localstripe.py: start, answer, reset, stop, leave nothing behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import stripe

from infra.local.localstripe import (
    PICKLE_PATH,
    TEST_PAYMENT_METHODS,
    TEST_TOKENS,
    LocalStripe,
    LocalStripeError,
    LocalStripeHTTPError,
    authenticate,
    register_webhook,
    start_localstripe,
)

ROOT = Path(__file__).resolve().parents[2]


def _state(path: Path) -> tuple[bool, float | None]:
    return (path.exists(), path.stat().st_mtime if path.exists() else None)


def _refuses(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "\nState:\tZ" in status.read_text())


def test_localstripe_serves_on_loopback_and_leaves_no_pickle_file() -> None:
    before = _state(PICKLE_PATH)
    server = start_localstripe()
    try:
        assert server.url == f"http://127.0.0.1:{server.port}"
        client = stripe.StripeClient(
            "sk_test_helper", base_addresses={"api": server.url}, max_network_retries=0
        )
        customer = client.v1.customers.create({"metadata": {"account_id": "helper"}})
        assert client.v1.customers.retrieve(customer.id).id == customer.id  # writes went in memory
        assert _state(PICKLE_PATH) == before
    finally:
        server.stop()
    assert server.process.returncode is not None
    assert _refuses(server.port)
    assert _state(PICKLE_PATH) == before
    server.stop()  # twice is harmless


def test_localstripe_on_a_chosen_port_and_reset() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with start_localstripe(port) as server:
        assert server.port == port
        client = stripe.StripeClient(
            "sk_test_helper", base_addresses={"api": server.url}, max_network_retries=0
        )
        client.v1.customers.create({}, {"idempotency_key": "helper-reset"})
        assert len(client.v1.customers.list().data) == 1
        server.reset()
        assert client.v1.customers.list().data == []
        # Saved idempotent answers are forgotten with the store: the key makes a new customer.
        client.v1.customers.create({}, {"idempotency_key": "helper-reset"})
        assert len(client.v1.customers.list().data) == 1
    assert not server.running


def test_localstripe_exits_when_its_parent_dies() -> None:
    code = (
        "from infra.local.localstripe import start_localstripe\n"
        "import os\n"
        "server = start_localstripe()\n"
        "print(server.process.pid, server.port, flush=True)\n"
        "os._exit(0)\n"  # no stop(): the server must notice on its own
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60, check=True
    )
    pid, port = (int(part) for part in result.stdout.split())
    try:
        deadline = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(pid)
        assert _refuses(port)
    finally:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_localstripe_missing_executable_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCALSTRIPE_BIN", "/nonexistent/bin/localstripe")

    with pytest.raises(LocalStripeError, match=r"pip install 'localstripe==1\.15\.10'"):
        start_localstripe()


def test_localstripe_session_fixture_is_running(localstripe: LocalStripe) -> None:
    assert localstripe.running and "running=True" in repr(localstripe)


# -- the patches the two-step payments rely on (see the module docstring of infra/local/localstripe.py) --


def _method(client: stripe.StripeClient, token: str, *, attach: bool = True) -> tuple[str | None, str]:
    """(customer, PaymentMethod) for a card token; no customer when not attached."""
    method = client.v1.payment_methods.create({"type": "card", "card": {"token": token}}).id
    if not attach:
        return None, method
    customer = client.v1.customers.create({}).id
    client.v1.payment_methods.attach(method, {"customer": customer})
    return customer, method


def _intent(
    client: stripe.StripeClient, token: str, *, attach: bool = True, **params: Any
) -> stripe.PaymentIntent:
    customer, method = _method(client, token, attach=attach)
    create: Any = {"amount": 1000, "currency": "usd", "payment_method": method, **params}
    if customer:
        create["customer"] = customer
    return client.v1.payment_intents.create(create)


def _token(client: stripe.StripeClient, number: str) -> str:
    return client.v1.tokens.create(
        {"card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}}
    ).id


def test_localstripe_unknown_object_is_resource_missing(stripe_client: stripe.StripeClient) -> None:
    for retrieve in (stripe_client.v1.payment_intents.retrieve, stripe_client.v1.customers.retrieve):
        with pytest.raises(stripe.InvalidRequestError) as caught:
            retrieve("pi_doesNotExist")
        assert (caught.value.http_status, caught.value.code) == (404, "resource_missing")


def test_localstripe_payment_intent_takes_setup_future_usage(stripe_client: stripe.StripeClient) -> None:
    intent = _intent(stripe_client, "tok_visa", setup_future_usage="off_session", description="seats")

    assert (intent.status, intent.setup_future_usage, intent.description) == (
        "requires_confirmation",
        "off_session",
        "seats",
    )
    with pytest.raises(stripe.InvalidRequestError):
        _intent(stripe_client, "tok_visa", setup_future_usage="sometimes")


def test_localstripe_confirm_takes_off_session_and_refuses_an_unexpected_state(
    stripe_client: stripe.StripeClient,
) -> None:
    intent = _intent(stripe_client, "tok_visa")

    confirmed = stripe_client.v1.payment_intents.confirm(
        intent.id, {"off_session": True, "expand": ["latest_charge"]}
    )

    assert confirmed.status == "succeeded" and confirmed.latest_charge.status == "succeeded"
    for action in (stripe_client.v1.payment_intents.confirm, stripe_client.v1.payment_intents.cancel):
        with pytest.raises(stripe.InvalidRequestError) as caught:
            action(intent.id)
        assert (caught.value.http_status, caught.value.code) == (400, "payment_intent_unexpected_state")
        error: Any = caught.value.json_body
        assert error["error"]["payment_intent"]["status"] == "succeeded"
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.payment_intents.confirm(intent.id, {"off_session": "maybe"})  # type: ignore[typeddict-item]


def test_localstripe_cancel_of_an_unconfirmed_intent(stripe_client: stripe.StripeClient) -> None:
    intent = _intent(stripe_client, "tok_visa")

    assert stripe_client.v1.payment_intents.cancel(intent.id).status == "canceled"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.payment_intents.confirm(intent.id)
    assert caught.value.code == "payment_intent_unexpected_state"


@pytest.mark.parametrize("card", ["4000002500003155", "tok_threeDSecure2Required"])  # 3-D Secure required
@pytest.mark.parametrize("separate_confirm", [True, False])
def test_localstripe_off_session_card_needing_authentication_is_declined(
    stripe_client: stripe.StripeClient, separate_confirm: bool, card: str
) -> None:
    token = card if card.startswith("tok_") else _token(stripe_client, card)
    with pytest.raises(stripe.CardError) as caught:
        if separate_confirm:
            stripe_client.v1.payment_intents.confirm(_intent(stripe_client, token).id, {"off_session": True})
        else:
            _intent(stripe_client, token, confirm=True, off_session=True)

    body: Any = caught.value.json_body
    error = body["error"]
    assert (caught.value.http_status, error["code"], error["decline_code"]) == (
        402,
        "authentication_required",
        "authentication_required",
    )
    intent = stripe_client.v1.payment_intents.retrieve(error["payment_intent"]["id"])
    assert (intent.status, intent.payment_method) == ("requires_payment_method", None)
    assert intent.last_payment_error is not None
    assert (intent.last_payment_error.code, intent.last_payment_error.payment_method.id) == (
        "authentication_required",
        error["payment_intent"]["last_payment_error"]["payment_method"]["id"],
    )
    # On session the card holder can authenticate: requires_action, as stock localstripe answers.
    on_session = stripe_client.v1.payment_intents.confirm(_intent(stripe_client, token).id)
    assert on_session.status == "requires_action"


def test_localstripe_decline_cards_are_declined_when_charged(stripe_client: stripe.StripeClient) -> None:
    intent = _intent(stripe_client, "tok_chargeDeclinedInsufficientFunds", attach=False)

    with pytest.raises(stripe.CardError) as caught:
        stripe_client.v1.payment_intents.confirm(intent.id)

    body: Any = caught.value.json_body
    error = body["error"]
    assert (error["code"], error["decline_code"]) == ("card_declined", "insufficient_funds")
    assert error["payment_intent"]["id"] == intent.id  # the declined intent, as Stripe sends it
    assert error["payment_intent"]["status"] == "requires_payment_method"
    assert error["payment_intent"]["last_payment_error"]["decline_code"] == "insufficient_funds"


def test_localstripe_refunded_intent_shows_on_its_latest_charge(stripe_client: stripe.StripeClient) -> None:
    """Stock behaviour the adapter reads: latest_charge (expanded) says `refunded`, its refunds when."""
    intent = _intent(stripe_client, "tok_visa", confirm=True)
    stripe_client.v1.refunds.create({"payment_intent": intent.id})

    charge = stripe_client.v1.payment_intents.retrieve(intent.id, {"expand": ["latest_charge"]}).latest_charge
    assert (charge.refunded, charge.amount_refunded) == (True, 1000)
    listed = stripe_client.v1.payment_intents.list({"limit": 100, "expand": ["data.latest_charge.refunds"]})
    (mine,) = [pi for pi in listed.auto_paging_iter() if pi.id == intent.id]
    assert [(r.amount, r.status) for r in mine.latest_charge.refunds.data] == [(1000, "succeeded")]
    assert mine.latest_charge.refunds.data[0].created >= intent.created


# -- 3-D Secure: Stripe's test card names, the cardholder's answer, webhook registration ---------------
# (the webhooks localstripe delivers, and their signatures: test_stripe_sca_gateway.py)


def test_localstripe_sca_test_token_and_payment_method_are_the_3ds2_card(
    stripe_client: stripe.StripeClient,
) -> None:
    assert TEST_TOKENS["tok_threeDSecure2Required"] == "4000002760003184"
    assert TEST_PAYMENT_METHODS == {"pm_card_threeDSecure2Required": "tok_threeDSecure2Required"}
    from_token = stripe_client.v1.payment_methods.create(
        {"type": "card", "card": {"token": "tok_threeDSecure2Required"}}
    )
    customer = stripe_client.v1.customers.create({}).id
    attached = [
        stripe_client.v1.payment_methods.attach("pm_card_threeDSecure2Required", {"customer": customer})
        for _ in range(2)
    ]

    for method in (from_token, *attached):
        card = method.card
        assert card is not None and (card.last4, card.brand, card.exp_year) == ("3184", "visa", 2034)
    # Each use of the test PaymentMethod is a fresh copy, as Stripe (and stock pm_card_visa) make.
    assert len({m.id for m in attached} | {"pm_card_threeDSecure2Required"}) == 3
    assert all(m.customer == customer for m in attached)
    for method_id in (from_token.id, attached[0].id, "pm_card_threeDSecure2Required"):
        intent = stripe_client.v1.payment_intents.create(
            {"amount": 1000, "currency": "usd", "payment_method": method_id, "confirm": True}
        )
        assert intent.status == "requires_action", method_id
    visa = stripe_client.v1.payment_intents.create(  # stock test PaymentMethods still work
        {"amount": 1000, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}
    )
    assert visa.status == "succeeded"


def _waiting_intent(client: stripe.StripeClient) -> stripe.PaymentIntent:
    intent = client.v1.payment_intents.confirm(_intent(client, "tok_threeDSecure2Required").id)
    assert intent.status == "requires_action"
    return intent


def test_localstripe_sca_authenticate_helper(
    localstripe: LocalStripe, stripe_client: stripe.StripeClient
) -> None:
    succeeding, failing = _waiting_intent(stripe_client), _waiting_intent(stripe_client)

    succeeded = authenticate(localstripe.url, succeeding.id, success=True)
    failed = localstripe.authenticate(failing.id, success=False)

    assert (succeeded["id"], succeeded["status"], succeeded["latest_charge"]["status"]) == (
        succeeding.id,
        "succeeded",
        "succeeded",
    )
    assert (failed["id"], failed["status"], failed["payment_method"]) == (
        failing.id,
        "requires_payment_method",
        None,
    )
    assert failed["last_payment_error"] == {
        "code": "payment_intent_authentication_failure",
        "message": "The provided PaymentMethod has failed authentication.",
        "payment_method": {"id": failing.payment_method},  # stock: the dropped card is not named
        "type": "invalid_request_error",
    }
    error = stripe_client.v1.payment_intents.retrieve(failing.id).last_payment_error
    assert error is not None and error.payment_method is not None
    assert error.payment_method.id == failing.payment_method


def test_localstripe_sca_authenticate_refusals(
    localstripe: LocalStripe, stripe_client: stripe.StripeClient
) -> None:
    waiting = _waiting_intent(stripe_client)
    secret = waiting.client_secret
    assert secret
    unconfirmed = _intent(stripe_client, "tok_threeDSecure2Required")

    refusals: list[LocalStripeHTTPError] = []
    for call in (
        lambda: authenticate(localstripe.url, unconfirmed.id, True),  # not waiting for authentication
        lambda: authenticate(localstripe.url, waiting.id, True, client_secret=f"{waiting.id}_secret_wrong"),
        lambda: authenticate(localstripe.url, waiting.id, True, client_secret=secret, api_key="pk_x"),
        lambda: authenticate(localstripe.url, "pi_doesNotExist", True),
    ):
        with pytest.raises(LocalStripeHTTPError) as caught:
            call()
        refusals.append(caught.value)

    assert [(e.status, e.code) for e in refusals] == [
        (400, "payment_intent_unexpected_state"),
        (401, None),  # the client_secret must be the intent's
        (401, None),  # an sk_ key, or a pk_ key in the form as Stripe.js sends it
        (404, "resource_missing"),
    ]
    assert "status of requires_confirmation" in str(refusals[0])
    assert secret not in "".join(str(e) for e in refusals)
    assert stripe_client.v1.payment_intents.retrieve(waiting.id).status == "requires_action"  # untouched
    with pytest.raises(ValueError):
        authenticate(localstripe.url, "../customers", True)  # never sent


def test_localstripe_webhook_registration_refusals(localstripe: LocalStripe) -> None:
    with pytest.raises(LocalStripeHTTPError) as caught:
        register_webhook(localstripe.url, "ftp://127.0.0.1/hook", "whsec_x")  # localstripe wants http(s)
    assert caught.value.status == 400
    with pytest.raises(LocalStripeHTTPError):
        localstripe.register_webhook("http://127.0.0.1:9/hook", "")  # a secret is required
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with pytest.raises(LocalStripeError, match="cannot reach localstripe") as unreachable:
        register_webhook(closed, "http://127.0.0.1:9/hook", "whsec_x")
    assert not isinstance(unreachable.value, LocalStripeHTTPError)
