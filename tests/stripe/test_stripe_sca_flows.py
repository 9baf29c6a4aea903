"""3-D Secure and Stripe's signed webhooks over HTTP on the local runtime with SEATS_PAYMENTS=stripe.

One stripe-mode runtime serves the module (per xdist worker): it starts its own localstripe and registers
its `/webhooks/stripe` there, so the events that settle a payment are localstripe's own, signed by
localstripe and sent in the background about a second after the request that made them: the tests poll.
The cardholder's answer goes through the runtime (`POST /_local/payments/{charge_id}/authenticate`, which
forwards it to localstripe's `_authenticate`), as a browser's Stripe.js would go to Stripe.

The tests also register a listener of their own with localstripe, signed with the runtime's endpoint secret,
so that they hold the very bytes and `Stripe-Signature` localstripe sent to the runtime: an event delivered
again is that captured delivery, sent again as is.

Cards: Stripe's 3-D Secure test card 4000002760003184, as the seed's `tok_threeDSecure2Required`, as a
token made by localstripe's tokens API (what Stripe.js does in the browser) and as
`pm_card_threeDSecure2Required`, each attached through the API. Every test works on its own contract.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import stripe

from infra.local.localstripe import authenticate as authenticate_at_localstripe
from infra.local.localstripe import register_webhook
from seats.adapters.payments.webhooks import signature_header
from seats.settings import LOCAL_WEBHOOK_SECRET
from tests.e2e.conftest import RunningStack, start_stack
from tests.stripe.conftest import intents_keyed, local_charge, payment_key, payments_of, runtime_dynamodb

pytestmark = [
    pytest.mark.stripe,
    pytest.mark.e2e,
    # Local tokens use docs/local-runtime.md's fixed 22-byte secret; PyJWT warns about its length on every token.
    pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning"),
]

# Neither set: the runtime starts localstripe itself (what `make run PAYMENTS=stripe` does), and signs
# with its default endpoint secret (seats.settings.LOCAL_WEBHOOK_SECRET) unless STRIPE_WEBHOOK_SECRET says.
STRIPE_MODE = {"SEATS_PAYMENTS": "stripe", "STRIPE_API_BASE": "", "STRIPE_API_KEY": ""}
BANNER_PAYMENTS = re.compile(r"payments\s+stripe at (http://127\.0\.0\.1:\d+)")
SCA_CARD = "4000002760003184"  # Stripe's 3-D Secure 2 test card: every payment needs the cardholder
USER = "u-eva"
ACCOUNT = "sca"
SETTLE_TIMEOUT = 20  # localstripe sends an event about a second after the request that made it


def contract_id(number: int) -> str:
    return f"88000000000{number}"


def _contract(number: int, **overrides: Any) -> dict[str, Any]:
    return {
        "contract_id": contract_id(number),
        "contract_manager": USER,
        "purchase_channel": "online",
        "auto_renew": True,
        "term": "annual",
        "term_start": "2026-03-01",
        "renewal_date": "2027-03-01",
        "billing_anchor_day": 1,
        "status": "active",
        "payment_method_id": "pm_eva_sca",
        "subscriptions": [
            {"subscription_id": f"sub-{number}", "product": "AutoCAD", "seats": 5, "unit_price": "1000.00"}
        ],
        **overrides,
    }


SEED: dict[str, Any] = {
    "accounts": [
        {
            "account_id": ACCOUNT,
            "name": "SCA Corp",
            "country": "US",
            "currency": "USD",
            "users": [{"user_id": USER, "email": "eva@sca.test", "role": "user"}],
            "payment_methods": [
                {"payment_method_id": "pm_eva_sca", "token": "tok_threeDSecure2Required"},
                {"payment_method_id": "pm_eva_visa", "token": "tok_visa"},
            ],
            # One contract per test; 9 is due today (the runtime's SEATS_NOW, 2026-11-29): renewed off session.
            "contracts": [_contract(n) for n in range(1, 7)]
            + [_contract(9, term_start="2025-11-29", renewal_date="2026-11-29", billing_anchor_day=29)],
        }
    ]
}


# -- the runtime, its localstripe and a listener of the tests' ---------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """One webhook request localstripe sent, as sent."""

    payload: bytes
    signature: str
    content_type: str

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.payload)
        return parsed


class Listener:
    """An HTTP endpoint localstripe posts its events to, next to the runtime's (same secret)."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self._lock = threading.Lock()
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with listener._lock:
                    listener.deliveries.append(
                        Delivery(
                            body,
                            self.headers.get("Stripe-Signature", ""),
                            self.headers.get("Content-Type", ""),
                        )
                    )
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/captured"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def about(self, intent_id: str, event_type: str) -> list[Delivery]:
        with self._lock:
            return [
                d
                for d in self.deliveries
                if d.event["type"] == event_type and d.event["data"]["object"]["id"] == intent_id
            ]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    running = start_stack(tmp_path_factory.mktemp("stripe-sca"), seed=SEED, env=STRIPE_MODE)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def localstripe_url(stack: RunningStack) -> str:
    """The runtime's own localstripe (its address is in the start-up banner)."""
    found = stack.wait_for(lambda: BANNER_PAYMENTS.search(stack.log()), what="the banner's payments line")
    return found.group(1)


@pytest.fixture(scope="module")
def inspector(localstripe_url: str) -> stripe.StripeClient:
    return stripe.StripeClient(
        "sk_test_seats_inspector", base_addresses={"api": localstripe_url}, max_network_retries=0
    )


@pytest.fixture(scope="module")
def ledger(stack: RunningStack) -> Any:
    return runtime_dynamodb(stack)


@pytest.fixture(scope="module")
def listener(localstripe_url: str) -> Iterator[Listener]:
    listening = Listener()
    register_webhook(localstripe_url, listening.url, LOCAL_WEBHOOK_SECRET, name="tests")
    try:
        yield listening
    finally:
        register_webhook(localstripe_url, listening.url, LOCAL_WEBHOOK_SECRET, name="tests", events=[])
        listening.stop()


# -- steps ----------------------------------------------------------------------------------------------------


def new_draft(stack: RunningStack, number: int, seats_to_add: int = 2) -> dict[str, Any]:
    draft = stack.request(
        "POST",
        f"/contracts/{contract_id(number)}/subscriptions/sub-{number}/seat-orders",
        user=USER,
        body={"seats_to_add": seats_to_add},
    )
    assert draft.status == 201, draft.body
    return draft.body


def submit_pending(stack: RunningStack, order_id: str) -> dict[str, Any]:
    """Submit the draft: 202 payment_pending with its action; a replay and a new key answer the same."""
    key = str(uuid.uuid4())
    answer = stack.request("POST", f"/orders/{order_id}/submit", user=USER, headers={"Idempotency-Key": key})
    assert answer.status == 202, answer.body
    replay = stack.request("POST", f"/orders/{order_id}/submit", user=USER, headers={"Idempotency-Key": key})
    assert (replay.status, replay.body) == (202, answer.body)
    other = stack.request(
        "POST", f"/orders/{order_id}/submit", user=USER, headers={"Idempotency-Key": str(uuid.uuid4())}
    )
    assert (other.status, other.body["payment_action"]) == (202, answer.body["payment_action"])
    return answer.body


def pending_order(stack: RunningStack, number: int) -> dict[str, Any]:
    return submit_pending(stack, new_draft(stack, number)["order_id"])


def authenticate(stack: RunningStack, charge_id: str, success: bool) -> Any:
    return stack.request("POST", f"/_local/payments/{charge_id}/authenticate", body={"success": success})


def order_of(stack: RunningStack, order_id: str) -> dict[str, Any]:
    answer = stack.request("GET", f"/orders/{order_id}", user=USER)
    assert answer.status == 200, answer.body
    body: dict[str, Any] = answer.body
    return body


def order_in(stack: RunningStack, order_id: str, status: str) -> dict[str, Any]:
    """Poll until the order is in `status` (localstripe's event is handled in the background)."""
    return stack.wait_for(
        lambda: (lambda o: o if o["status"] == status else None)(order_of(stack, order_id)),
        timeout=SETTLE_TIMEOUT,
        what=f"order {order_id} {status}",
    )


def seats_of(stack: RunningStack, number: int) -> int:
    contract = stack.request("GET", f"/contracts/{contract_id(number)}", user=USER).body
    return int(contract["subscriptions"][0]["seats"])


def seats_added(stack: RunningStack, order_id: str) -> list[dict[str, Any]]:
    events = stack.request("GET", "/_local/events").body["events"]
    return [e for e in events if e["detail-type"] == "SeatsAdded" and e["detail"]["order_id"] == order_id]


def deliver(
    stack: RunningStack,
    payload: bytes,
    signature: str | None,
    content_type: str = "application/json; charset=utf-8",
    token: str | None = None,
) -> Any:
    headers = {
        "Content-Type": content_type,
        **({"Stripe-Signature": signature} if signature is not None else {}),
    }
    return stack.request("POST", "/webhooks/stripe", raw_body=payload, headers=headers, token=token)


def delivered(listener: Listener, intent_id: str, event_type: str) -> Delivery:
    """localstripe's one delivery of `event_type` about the intent (waited for)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while not (found := listener.about(intent_id, event_type)):
        if time.monotonic() > deadline:
            pytest.fail(f"localstripe sent no {event_type} about {intent_id}")
        time.sleep(0.1)
    [delivery] = found
    return delivery


def handled_by_the_runtime(stack: RunningStack, event_id: str) -> list[str]:
    """What the webhook function logged it did with the event (`handled`), from the runtime's log."""
    handled = []
    for line in stack.log().splitlines():
        if event_id in line and '"Webhook event handled"' in line:
            handled.append(json.loads(line[line.index("{") :])["handled"])
    return handled


# -- the tests -------------------------------------------------------------------------------------------------


def test_stripe_sca_pending_then_authenticated_completes_once_with_one_charge_and_seats_added(
    stack: RunningStack, inspector: stripe.StripeClient, ledger: Any, listener: Listener
) -> None:
    card = stack.request(
        "POST",
        f"/accounts/{ACCOUNT}/payment-methods",
        user=USER,
        body={"token": card_token(inspector, SCA_CARD)},
    )
    assert card.status == 201, card.body  # attaching asks nothing of the cardholder
    assert card.body["last4"] == "3184"
    draft = new_draft(stack, 1)
    chosen = stack.request(
        "PUT",
        f"/orders/{draft['order_id']}/payment-method",
        user=USER,
        body={"payment_method_id": card.body["payment_method_id"]},
    )
    assert chosen.status == 200, chosen.body

    order = submit_pending(stack, draft["order_id"])

    action = order["payment_action"]
    assert (order["status"], order["charge_id"], order["seats_after"]) == ("payment_pending", None, 7)
    assert action["type"] == "authenticate" and action["charge_id"].startswith("pi_")
    assert action["client_secret"].startswith(f"{action['charge_id']}_secret")
    assert action["expires_at"] == "2026-11-30T09:00:00.000Z"  # 23 hours after the runtime's now
    intent = inspector.v1.payment_intents.retrieve(action["charge_id"])
    assert (intent.status, intent.client_secret) == ("requires_action", action["client_secret"])
    assert seats_of(stack, 1) == 5
    for method, path, body in (
        ("PATCH", f"/orders/{order['order_id']}", {"seats_to_add": 3}),
        ("PUT", f"/orders/{order['order_id']}/payment-method", {"payment_method_id": "pm_eva_visa"}),
    ):
        refused = stack.request(method, path, user=USER, body=body)
        assert (refused.status, refused.body["code"]) == (409, "order_not_draft"), (method, refused.body)

    answer = authenticate(stack, action["charge_id"], True)

    assert answer.status == 200, answer.body
    done = order_in(stack, order["order_id"], "completed")
    assert (done["charge_id"], done["seats_after"], done["payment_action"]) == (action["charge_id"], 7, None)
    assert seats_of(stack, 1) == 7
    [payment] = payments_of(ledger, order["order_id"])  # one payment, succeeded
    assert (payment["status"], payment["provider_ref"], payment["amount"]) == (
        "succeeded",
        action["charge_id"],
        order["total"],
    )
    [paid] = intents_keyed(inspector, payment_key(payment))  # and one PaymentIntent, captured once
    assert (paid["id"], paid["status"], kept(paid)) == (action["charge_id"], "succeeded", paid["amount"])
    assert local_charge(stack, action["charge_id"])["status"] == "succeeded"
    stack.wait_for(lambda: seats_added(stack, order["order_id"]), what="SeatsAdded")
    event = delivered(listener, action["charge_id"], "payment_intent.succeeded")
    assert handled_by_the_runtime(stack, event.event["id"]) == ["completed"]  # localstripe's event did it
    assert [e["detail"]["seats_after"] for e in seats_added(stack, order["order_id"])] == [7]
    again = stack.request(
        "POST",
        f"/orders/{order['order_id']}/submit",
        user=USER,
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert (again.status, again.body["code"]) == (409, "order_not_draft")


def test_stripe_sca_failed_authentication_returns_the_order_to_draft_with_authentication_failed(
    stack: RunningStack, inspector: stripe.StripeClient, ledger: Any, listener: Listener
) -> None:
    order = pending_order(stack, 2)  # the seed's card: tok_threeDSecure2Required
    charge_id = order["payment_action"]["charge_id"]

    assert authenticate(stack, charge_id, False).status == 200

    draft = order_in(stack, order["order_id"], "draft")
    assert (draft["charge_id"], draft["payment_action"]) == (None, None)
    assert draft["last_payment_error"]["code"] == "payment_declined"
    assert draft["last_payment_error"]["decline_code"] == "authentication_failed"
    assert seats_of(stack, 2) == 5
    event = delivered(listener, charge_id, "payment_intent.payment_failed")
    assert (
        event.event["data"]["object"]["last_payment_error"]["code"] == "payment_intent_authentication_failure"
    )
    assert handled_by_the_runtime(stack, event.event["id"]) == ["failed"]
    [payment] = payments_of(ledger, order["order_id"])
    assert (payment["status"], payment["decline_code"]) == ("failed", "authentication_failed")
    [intent] = intents_keyed(inspector, payment_key(payment))  # no money moved
    assert (intent["status"], kept(intent)) == ("requires_payment_method", 0)
    again = authenticate(stack, charge_id, True)
    assert (again.status, again.body["code"]) == (409, "not_awaiting_authentication")
    assert seats_added(stack, order["order_id"]) == []


def test_stripe_sca_cancelled_while_pending_cancels_the_intent_and_keeps_no_money(
    stack: RunningStack, inspector: stripe.StripeClient, ledger: Any
) -> None:
    card = stack.request(
        "POST",
        f"/accounts/{ACCOUNT}/payment-methods",
        user=USER,
        body={"token": "pm_card_threeDSecure2Required"},
    )
    assert card.status == 201, card.body
    draft = new_draft(stack, 3)
    chosen = stack.request(
        "PUT",
        f"/orders/{draft['order_id']}/payment-method",
        user=USER,
        body={"payment_method_id": card.body["payment_method_id"]},
    )
    assert chosen.status == 200, chosen.body
    order = submit_pending(stack, draft["order_id"])
    charge_id = order["payment_action"]["charge_id"]

    cancelled = stack.request("DELETE", f"/orders/{order['order_id']}", user=USER)

    assert cancelled.status == 204, cancelled.body
    assert order_of(stack, order["order_id"])["status"] == "cancelled"
    intent = inspector.v1.payment_intents.retrieve(charge_id)
    assert (intent.status, kept(intent)) == ("canceled", 0)
    assert local_charge(stack, charge_id)["status"] == "canceled"
    [payment] = payments_of(ledger, order["order_id"])
    assert payment["status"] != "succeeded" and payment["provider_ref"] == charge_id
    late = authenticate(stack, charge_id, True)  # the cardholder answers too late: nothing to authenticate
    assert (late.status, late.body["code"]) == (409, "not_awaiting_authentication")
    assert inspector.v1.payment_intents.retrieve(charge_id).status == "canceled"
    assert seats_of(stack, 3) == 5


def test_stripe_webhook_delivered_twice_has_effect_once(
    stack: RunningStack, inspector: stripe.StripeClient, ledger: Any, listener: Listener
) -> None:
    order = pending_order(stack, 4)
    charge_id = order["payment_action"]["charge_id"]
    assert authenticate(stack, charge_id, True).status == 200
    order_in(stack, order["order_id"], "completed")
    first = delivered(listener, charge_id, "payment_intent.succeeded")
    assert first.content_type.startswith("application/json")

    answers = [deliver(stack, first.payload, first.signature, first.content_type) for _ in range(2)]

    assert [(a.status, a.body) for a in answers] == [
        (200, {"received": True, "handled": "already_settled"})
    ] * 2
    assert handled_by_the_runtime(stack, first.event["id"]) == [
        "completed",
        "already_settled",
        "already_settled",
    ]
    stack.wait_for(lambda: seats_added(stack, order["order_id"]), what="SeatsAdded")
    assert len(seats_added(stack, order["order_id"])) == 1
    assert seats_of(stack, 4) == 7
    [payment] = payments_of(ledger, order["order_id"])
    assert payment["status"] == "succeeded"
    assert [i["id"] for i in intents_keyed(inspector, payment_key(payment))] == [charge_id]
    history = stack.request("GET", f"/contracts/{contract_id(4)}/history", user=USER).body["events"]
    assert [e["type"] for e in history].count("seats_added") == 1


def test_stripe_webhook_forged_unsigned_or_stale_is_400_and_an_untrue_event_changes_nothing(
    stack: RunningStack, inspector: stripe.StripeClient
) -> None:
    order = pending_order(stack, 5)
    charge_id = order["payment_action"]["charge_id"]
    intent = inspector.v1.payment_intents.retrieve(charge_id).to_dict()
    # What localstripe would send once the cardholder authenticated: the intent, succeeded.
    event = {
        "id": f"evt_{uuid.uuid4().hex}",
        "object": "event",
        "type": "payment_intent.succeeded",
        "api_version": "2017-08-15",
        "created": int(time.time()),
        "data": {"object": {**intent, "status": "succeeded"}},
    }
    payload = json.dumps(event, indent=2, sort_keys=True).encode()
    now = int(time.time())
    signatures = {
        "unsigned": None,
        "empty": "",
        "forged": f"t={now},v1={'0' * 64}",
        "signed over another body": signature_header(b"{}", LOCAL_WEBHOOK_SECRET, now),
        "another secret": signature_header(payload, "whsec_someone_else", now),
        "stale (6 minutes)": signature_header(payload, LOCAL_WEBHOOK_SECRET, now - 360),
        "a scheme Stripe does not use": signature_header(payload, LOCAL_WEBHOOK_SECRET, now).replace(
            "v1=", "v0="
        ),
    }

    for name, signature in signatures.items():
        answer = deliver(stack, payload, signature)
        assert (answer.status, answer.body["code"]) == (400, "invalid_signature"), (name, answer.body)
        assert answer.headers["content-type"].startswith("application/problem+json")
    with_a_jwt = deliver(stack, payload, None, token=stack.token(USER))  # a user's JWT is no signature
    # Signed with the endpoint secret, but untrue: the event is a signal, localstripe's intent the fact.
    untrue = deliver(stack, payload, signature_header(payload, LOCAL_WEBHOOK_SECRET, now))

    assert (with_a_jwt.status, with_a_jwt.body["code"]) == (400, "invalid_signature")
    assert (untrue.status, untrue.body) == (200, {"received": True, "handled": "waiting"})
    assert order_of(stack, order["order_id"])["status"] == "payment_pending"
    assert inspector.v1.payment_intents.retrieve(charge_id).status == "requires_action"
    assert local_charge(stack, charge_id)["status"] == "requires_action"
    assert seats_of(stack, 5) == 5
    cancelled = stack.request("DELETE", f"/orders/{order['order_id']}", user=USER)  # leave nothing waiting
    assert cancelled.status == 204, cancelled.body


def test_stripe_webhook_about_an_intent_that_is_not_ours_is_200_and_changes_nothing(
    stack: RunningStack, inspector: stripe.StripeClient, listener: Listener, localstripe_url: str
) -> None:
    """An intent made at Stripe by someone else (no seats metadata), authenticated there: localstripe
    sends its payment_intent.succeeded to the runtime, which answers 200 unknown and changes nothing."""
    foreign = inspector.v1.payment_intents.create(
        {
            "amount": 4200,
            "currency": "usd",
            "payment_method": "pm_card_threeDSecure2Required",
            "confirm": True,
        }
    )
    assert foreign.status == "requires_action"
    orders_before = stack.request("GET", f"/contracts/{contract_id(6)}/orders", user=USER).body
    charges_before = stack.request("GET", "/_local/charges").body

    authenticate_at_localstripe(localstripe_url, foreign.id, True)

    sent = delivered(listener, foreign.id, "payment_intent.succeeded")
    stack.wait_for(lambda: handled_by_the_runtime(stack, sent.event["id"]), what="the runtime handling it")
    assert handled_by_the_runtime(stack, sent.event["id"]) == ["unknown"]
    again = deliver(stack, sent.payload, sent.signature, sent.content_type)
    assert (again.status, again.body) == (200, {"received": True, "handled": "unknown"})
    assert stack.request("GET", f"/contracts/{contract_id(6)}/orders", user=USER).body == orders_before
    assert stack.request("GET", "/_local/charges").body == charges_before


def test_stripe_sca_renewal_declined_off_session_is_paid_now_with_authentication(
    stack: RunningStack, inspector: stripe.StripeClient, ledger: Any
) -> None:
    run = stack.lambda_client().invoke(FunctionName="RenewalSchedulerFunction", Payload=b"{}")
    assert "FunctionError" not in run, run["Payload"].read()
    assert json.loads(run["Payload"].read())["due"] == 1

    def past_due() -> Any:
        contract = stack.request("GET", f"/contracts/{contract_id(9)}", user=USER).body
        return contract if contract["status"] == "past_due" else None

    stack.wait_for(past_due, timeout=SETTLE_TIMEOUT, what="the renewal declined authentication_required")
    history = stack.request("GET", f"/contracts/{contract_id(9)}/history", user=USER).body["events"]
    assert [e["details"]["decline_code"] for e in history if e["type"] == "renewal_payment_failed"] == [
        "authentication_required"
    ]
    renewal_payments = [
        i
        for i in inspector.v1.payment_intents.list({"limit": 100}).auto_paging_iter()
        if i.to_dict()["metadata"].get("idempotency_key") and i.amount == 500000
    ]
    assert [(i.status, kept(i)) for i in renewal_payments] == [("requires_payment_method", 0)]

    paid = stack.request(
        "POST",
        f"/contracts/{contract_id(9)}/renewal-payment",
        user=USER,
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )

    assert paid.status == 202, paid.body
    assert (paid.body["type"], paid.body["status"], paid.body["total"]) == (
        "renewal",
        "payment_pending",
        "5000.00",
    )
    charge_id = paid.body["payment_action"]["charge_id"]
    assert inspector.v1.payment_intents.retrieve(charge_id).status == "requires_action"
    assert authenticate(stack, charge_id, True).status == 200

    def renewed() -> Any:
        contract = stack.request("GET", f"/contracts/{contract_id(9)}", user=USER).body
        return contract if contract["renewal_date"] != "2026-11-29" else None

    contract = stack.wait_for(renewed, timeout=SETTLE_TIMEOUT, what="the renewal paid after authentication")
    assert (contract["status"], contract["term_start"], contract["renewal_date"]) == (
        "active",
        "2026-11-29",
        "2027-11-29",
    )
    order = order_of(stack, paid.body["order_id"])
    assert (order["status"], order["charge_id"]) == ("completed", charge_id)
    [payment] = [p for p in payments_of(ledger, paid.body["order_id"]) if p["status"] == "succeeded"]
    assert (payment["purpose"], payment["provider_ref"], payment["amount"]) == (
        "renewal",
        charge_id,
        "5000.00",
    )
    intent = inspector.v1.payment_intents.retrieve(charge_id)
    assert (intent.status, kept(intent)) == ("succeeded", 500000)
    history = stack.request("GET", f"/contracts/{contract_id(9)}/history", user=USER).body["events"]
    assert [e["type"] for e in history].count("renewed") == 1


def kept(intent: Any) -> int:
    """The money a PaymentIntent holds, in minor units: its captured charges, less what was refunded
    (localstripe's intents carry `charges`, not `amount_received`)."""
    data = intent if isinstance(intent, dict) else intent.to_dict()
    return sum(
        c["amount"] - c["amount_refunded"]
        for c in data["charges"]["data"]
        if c["status"] == "succeeded" and c["captured"]
    )


def card_token(inspector: stripe.StripeClient, number: str) -> str:
    """A card token from localstripe's tokens API, as Stripe.js makes it in the browser."""
    card: Any = {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}
    return inspector.v1.tokens.create({"card": card}).id
