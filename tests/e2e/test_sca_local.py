"""3-D Secure and the signed webhook over HTTP on the local runtime, sandbox mode: submit answers 202, the
cardholder passes or fails the bank's challenge (POST /_local/payments/{charge_id}/authenticate), the
sandbox sends its signed event to POST /webhooks/stripe, and the order ends completed once, or a draft."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from seats.adapters.payments.webhooks import signature_header, signed
from seats.settings import LOCAL_WEBHOOK_SECRET
from tests.e2e.conftest import RunningStack, start_stack

pytestmark = pytest.mark.e2e

SCA_TOKEN = "tok_threeDSecure2Required"


def _contract(number: int, **overrides: Any) -> dict[str, Any]:
    return {
        "contract_id": f"77000000000{number}", "contract_manager": "u-eva", "purchase_channel": "online",
        "auto_renew": True, "term": "annual", "term_start": "2026-03-01", "renewal_date": "2027-03-01",
        "payment_method_id": "pm_eva_sca",
        "subscriptions": [{"subscription_id": f"sub-{number}", "product": "AutoCAD", "seats": 5,
                           "unit_price": "1000.00"}],
        **overrides,
    }


SEED: dict[str, Any] = {"accounts": [{
    "account_id": "euro", "name": "Euro GmbH", "country": "DE", "currency": "EUR",
    "users": [{"user_id": "u-eva", "email": "eva@euro.test", "role": "user"}],
    "payment_methods": [{"payment_method_id": "pm_eva_sca", "token": SCA_TOKEN}],
    # One contract per test: the tests share this runtime, and each changes its own contract only.
    "contracts": [_contract(n) for n in range(1, 7)] + [
        _contract(9, term_start="2025-11-29", renewal_date="2026-11-29", billing_anchor_day=29)],  # due today: renewed by the worker
}]}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    running = start_stack(tmp_path_factory.mktemp("sca"), seed=SEED)
    try:
        yield running
    finally:
        running.stop()


def submit_pending(stack: RunningStack, number: int) -> dict[str, Any]:
    """A draft for 2 seats of contract `number`, submitted: 202 payment_pending with its action."""
    draft = stack.request("POST", f"/contracts/77000000000{number}/subscriptions/sub-{number}/seat-orders",
                          user="u-eva", body={"seats_to_add": 2})
    assert draft.status == 201, draft.body
    key = str(uuid.uuid4())
    answer = stack.request("POST", f"/orders/{draft.body['order_id']}/submit", user="u-eva",
                           headers={"Idempotency-Key": key})
    assert answer.status == 202, answer.body
    replay = stack.request("POST", f"/orders/{draft.body['order_id']}/submit", user="u-eva",
                           headers={"Idempotency-Key": key})
    assert (replay.status, replay.body) == (202, answer.body)
    return answer.body


def authenticate(stack: RunningStack, charge_id: str, success: bool) -> Any:
    return stack.request("POST", f"/_local/payments/{charge_id}/authenticate", body={"success": success})


def charges_of(stack: RunningStack, charge_id: str) -> list[dict[str, Any]]:
    return [c for c in stack.request("GET", "/_local/charges").body["charges"] if c["charge_id"] == charge_id]


def seats_added(stack: RunningStack, order_id: str) -> list[dict[str, Any]]:
    events = stack.request("GET", "/_local/events").body["events"]
    return [e for e in events if e["detail-type"] == "SeatsAdded" and e["detail"]["order_id"] == order_id]


def deliver(stack: RunningStack, payload: bytes, signature: str | None) -> Any:
    headers = {"Stripe-Signature": signature} if signature is not None else {}
    return stack.request("POST", "/webhooks/stripe", raw_body=payload, headers=headers)


def test_pending_then_authenticated_completes_once_with_one_charge_and_seats_added(stack: RunningStack) -> None:
    order = submit_pending(stack, 1)
    action = order["payment_action"]
    assert (order["status"], order["seats_after"], order["charge_id"]) == ("payment_pending", 7, None)
    assert stack.request("GET", "/contracts/770000000001", user="u-eva").body["subscriptions"][0]["seats"] == 5
    assert (action["type"], action["redirect_url"]) == ("authenticate", None)
    assert action["client_secret"].startswith(action["charge_id"]) and action["expires_at"] == "2026-11-30T09:00:00.000Z"
    assert [c["status"] for c in charges_of(stack, action["charge_id"])] == ["requires_action"]
    edited = stack.request("PATCH", f"/orders/{order['order_id']}", user="u-eva", body={"seats_to_add": 3})
    assert (edited.status, edited.body["code"]) == (409, "order_not_draft")

    answer = authenticate(stack, action["charge_id"], True)

    assert (answer.status, answer.body["status"]) == (200, "succeeded")
    done = stack.request("GET", f"/orders/{order['order_id']}", user="u-eva").body
    assert (done["status"], done["charge_id"], done["seats_after"], done["payment_action"]) == (
        "completed", action["charge_id"], 7, None)
    contract = stack.request("GET", "/contracts/770000000001", user="u-eva").body
    assert contract["subscriptions"][0]["seats"] == 7
    assert [c["status"] for c in charges_of(stack, action["charge_id"])] == ["succeeded"]
    assert [e["detail"]["seats_after"] for e in seats_added(stack, order["order_id"])] == [7]
    again = stack.request("POST", f"/orders/{order['order_id']}/submit", user="u-eva",
                          headers={"Idempotency-Key": str(uuid.uuid4())})
    assert (again.status, again.body["code"]) == (409, "order_not_draft")


def test_a_failed_authentication_returns_the_order_to_draft_with_authentication_failed(stack: RunningStack) -> None:
    order = submit_pending(stack, 2)

    assert authenticate(stack, order["payment_action"]["charge_id"], False).status == 200

    draft = stack.request("GET", f"/orders/{order['order_id']}", user="u-eva").body
    assert (draft["status"], draft["payment_action"]) == ("draft", None)
    assert draft["last_payment_error"]["code"] == "payment_declined"
    assert draft["last_payment_error"]["decline_code"] == "authentication_failed"
    assert stack.request("GET", "/contracts/770000000002", user="u-eva").body["subscriptions"][0]["seats"] == 5
    again = authenticate(stack, order["payment_action"]["charge_id"], True)
    assert (again.status, again.body["code"]) == (409, "not_awaiting_authentication")


def test_cancelled_while_pending_keeps_no_money(stack: RunningStack) -> None:
    order = submit_pending(stack, 3)
    charge_id = order["payment_action"]["charge_id"]

    assert stack.request("DELETE", f"/orders/{order['order_id']}", user="u-eva").status == 204

    assert [c["status"] for c in charges_of(stack, charge_id)] == ["canceled"]
    assert stack.request("GET", f"/orders/{order['order_id']}", user="u-eva").body["status"] == "cancelled"
    assert authenticate(stack, charge_id, True).status == 409  # nothing left to authenticate


def test_an_event_delivered_twice_has_effect_once(stack: RunningStack) -> None:
    order = submit_pending(stack, 4)
    charge_id = order["payment_action"]["charge_id"]
    assert authenticate(stack, charge_id, True).status == 200
    event = {"id": "evt_again", "object": "event", "type": "payment_intent.succeeded", "created": int(time.time()),
             "data": {"object": {"id": charge_id, "object": "payment_intent", "status": "succeeded",
                                 "metadata": {"idempotency_key": charges_of(stack, charge_id)[0]["idempotency_key"]}}}}

    answers = [deliver(stack, *signed(event, LOCAL_WEBHOOK_SECRET)) for _ in range(2)]

    assert [(a.status, a.body["handled"]) for a in answers] == [(200, "already_settled")] * 2
    assert len(seats_added(stack, order["order_id"])) == 1
    assert stack.request("GET", "/contracts/770000000004", user="u-eva").body["subscriptions"][0]["seats"] == 7


@pytest.mark.parametrize("signature", [
    None,  # unsigned
    signature_header(b"{}", LOCAL_WEBHOOK_SECRET, int(time.time())),  # signed, but another body
    "t=1,v1=00",  # forged
    "stale",  # signed with the right secret 6 minutes ago (below)
    "other secret",  # signed now with another secret
])
def test_an_unsigned_forged_or_stale_webhook_is_400_and_changes_nothing(stack: RunningStack, waiting: dict[str, Any],
                                                                         signature: Any) -> None:
    charge_id = waiting["payment_action"]["charge_id"]
    key = charges_of(stack, charge_id)[0]["idempotency_key"]
    event = {"id": f"evt_{uuid.uuid4().hex}", "object": "event", "type": "payment_intent.payment_failed",
             "created": int(time.time()), "data": {"object": {
                 "id": charge_id, "object": "payment_intent", "metadata": {"idempotency_key": key}}}}
    payload = json.dumps(event).encode()
    if signature == "stale":
        signature = signature_header(payload, LOCAL_WEBHOOK_SECRET, int(time.time()) - 360)
    elif signature == "other secret":
        signature = signature_header(payload, "whsec_someone_else", int(time.time()))

    answer = deliver(stack, payload, signature)

    assert (answer.status, answer.body["code"]) == (400, "invalid_signature")
    assert _pending_of(stack, 5)["status"] == "payment_pending"
    assert [c["status"] for c in charges_of(stack, charge_id)] == ["requires_action"]


@pytest.fixture(scope="module")
def waiting(stack: RunningStack) -> dict[str, Any]:
    """Contract 5's order, waiting for the cardholder (made once per runtime)."""
    return submit_pending(stack, 5)


def _pending_of(stack: RunningStack, number: int) -> dict[str, Any]:
    orders = stack.request("GET", f"/contracts/77000000000{number}/orders", user="u-eva").body["orders"]
    return orders[0]


def test_an_event_about_an_unknown_intent_is_200_and_changes_nothing(stack: RunningStack) -> None:
    event = {"id": "evt_unknown", "object": "event", "type": "payment_intent.succeeded", "created": int(time.time()),
             "data": {"object": {"id": "pi_not_ours", "object": "payment_intent", "metadata": {}}}}

    answer = deliver(stack, *signed(event, LOCAL_WEBHOOK_SECRET))

    assert (answer.status, answer.body) == (200, {"received": True, "handled": "unknown"})


def test_a_renewal_past_due_for_authentication_is_paid_now_with_authentication(stack: RunningStack) -> None:
    run = stack.lambda_client().invoke(FunctionName="RenewalSchedulerFunction", Payload=b"{}")
    assert json.loads(run["Payload"].read())["due"] == 1

    def declined() -> Any:
        contract = stack.request("GET", "/contracts/770000000009", user="u-eva").body
        return contract if contract["status"] == "past_due" else None

    stack.wait_for(declined, what="the nightly renewal declined authentication_required")
    history = stack.request("GET", "/contracts/770000000009/history", user="u-eva").body["events"]
    assert [e["details"]["decline_code"] for e in history if e["type"] == "renewal_payment_failed"] == [
        "authentication_required"]

    paid = stack.request("POST", "/contracts/770000000009/renewal-payment", user="u-eva",
                         headers={"Idempotency-Key": str(uuid.uuid4())})
    assert paid.status == 202, paid.body
    assert (paid.body["type"], paid.body["status"], paid.body["total"]) == ("renewal", "payment_pending", "5000.00")

    assert authenticate(stack, paid.body["payment_action"]["charge_id"], True).status == 200

    renewed = stack.request("GET", "/contracts/770000000009", user="u-eva").body
    assert (renewed["status"], renewed["renewal_date"]) == ("active", "2027-11-29")
    order = stack.request("GET", f"/orders/{paid.body['order_id']}", user="u-eva").body
    assert (order["status"], order["charge_id"]) == ("completed", paid.body["payment_action"]["charge_id"])


def test_an_empty_webhook_secret_variable_still_gets_the_local_secret(start_local_stack: Any) -> None:
    """STRIPE_WEBHOOK_SECRET exported empty is unset, as for any variable: the runtime uses its local secret."""
    empty: RunningStack = start_local_stack(seed=SEED, env={"STRIPE_WEBHOOK_SECRET": ""})
    event = {"id": "evt_x", "object": "event", "type": "payment_intent.succeeded", "created": int(time.time()),
             "data": {"object": {"id": "pi_not_ours", "object": "payment_intent", "metadata": {}}}}

    answer = deliver(empty, *signed(event, LOCAL_WEBHOOK_SECRET))

    assert (answer.status, answer.body) == (200, {"received": True, "handled": "unknown"})
