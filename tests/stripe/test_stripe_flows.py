"""The add-seats and renewal flows over HTTP on the local runtime with SEATS_PAYMENTS=stripe.

One runtime in stripe mode serves the module (per xdist worker): it starts its own localstripe, as
`make run PAYMENTS=stripe` does, and the tests read that server's address from the banner to make
card tokens the way Stripe.js would and to look at the PaymentIntents behind `/_local/charges`, and the
address of its moto server to read the payment ledger. A payment is found by the order's `charge_id`
(its PaymentIntent) or through the ledger: the order's payments, each created at Stripe under the key
`seats:payment:<payment_id>`, which its PaymentIntent carries as metadata. Every test works on its own
subscription or contract, so the order they run in does not matter.
A second runtime, whose localstripe is stopped once the seed is loaded, shows a provider that
does not answer.
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import socket
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import stripe

from infra.local.localstripe import LocalStripe, LocalStripeError, start_localstripe
from tests.conftest import BASE_SEED
from tests.e2e.conftest import RunningStack, start_stack
from tests.stripe.conftest import intents_keyed, local_charge, payment_key, payments_of, runtime_dynamodb

pytestmark = [
    pytest.mark.stripe,
    pytest.mark.e2e,
    # Local tokens use docs/local-runtime.md's fixed 22-byte secret; PyJWT warns about its length on every token.
    pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning"),
]

CONTRACT = "110000000001"  # acme, USD, annual 2026-03-01 -> 2027-03-01: eligible on 2026-11-29
RENEWING = "110000000010"  # acme, USD, renewal date 2026-11-29: due on the runtime's SEATS_NOW
# Neither set: the runtime starts localstripe itself (what `make run PAYMENTS=stripe` does).
STRIPE_MODE = {"SEATS_PAYMENTS": "stripe", "STRIPE_API_BASE": "", "STRIPE_API_KEY": ""}
BANNER_PAYMENTS = re.compile(r"payments\s+stripe at (http://127\.0\.0\.1:\d+)")


def stripe_seed() -> dict[str, Any]:
    """The tests' seed, with a subscription per add-seats test and a contract due for renewal."""
    seed = copy.deepcopy(BASE_SEED)
    acme = seed["accounts"][0]
    [contract] = acme["contracts"]
    contract["subscriptions"] += [
        {"subscription_id": "sub-rvt", "product": "Revit", "seats": 5, "unit_price": "2545.00"},
        {"subscription_id": "sub-fusion", "product": "Fusion", "seats": 2, "unit_price": "680.00"},
    ]
    acme["contracts"].append(
        {
            "contract_id": RENEWING,
            "contract_manager": "u-alice",
            "purchase_channel": "online",
            "auto_renew": True,
            "term": "annual",
            "term_start": "2025-11-29",
            "renewal_date": "2026-11-29",
            "billing_anchor_day": 29,
            "status": "active",
            "payment_method_id": "pm_acme_visa",
            "subscriptions": [
                {"subscription_id": "sub-inv", "product": "Inventor", "seats": 3, "unit_price": "199.99"}
            ],
        }
    )
    return seed


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    running = start_stack(tmp_path_factory.mktemp("stripe-flows"), seed=stripe_seed(), env=STRIPE_MODE)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def inspector(stack: RunningStack) -> stripe.StripeClient:
    """A plain SDK client on the runtime's own localstripe (its address is in the start-up banner)."""
    found = stack.wait_for(lambda: BANNER_PAYMENTS.search(stack.log()), what="the banner's payments line")
    return stripe.StripeClient(
        "sk_test_seats_inspector", base_addresses={"api": found.group(1)}, max_network_retries=0
    )


@pytest.fixture(scope="module")
def ledger(stack: RunningStack) -> Any:
    """A DynamoDB client on the runtime's moto server (its address is in the start-up banner)."""
    return runtime_dynamodb(stack)


def card_token(inspector: stripe.StripeClient, number: str) -> str:
    """A card token from localstripe's tokens API, as Stripe.js makes it in the browser."""
    card: Any = {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}
    return inspector.v1.tokens.create({"card": card}).id


def all_intents(inspector: stripe.StripeClient) -> list[str]:
    return [pi.id for pi in inspector.v1.payment_intents.list({"limit": 100}).auto_paging_iter()]


def seats_of(stack: RunningStack, contract_id: str, subscription_id: str) -> int:
    contract = stack.request("GET", f"/contracts/{contract_id}", user="u-alice")
    assert contract.status == 200, contract.body
    return next(s["seats"] for s in contract.body["subscriptions"] if s["subscription_id"] == subscription_id)


def new_draft(stack: RunningStack, subscription_id: str, seats_to_add: int) -> dict[str, Any]:
    draft = stack.request(
        "POST",
        f"/contracts/{CONTRACT}/subscriptions/{subscription_id}/seat-orders",
        user="u-alice",
        body={"seats_to_add": seats_to_add},
    )
    assert draft.status == 201, draft.body
    return draft.body


def test_stripe_runtime_starts_its_own_localstripe_and_attaches_the_seed_cards(
    stack: RunningStack, inspector: stripe.StripeClient
) -> None:
    customers = inspector.v1.customers.list({"limit": 10}).data
    assert {c.metadata["account_id"] for c in customers} == {"acme", "globex"}  # the seed's cards attached


def test_stripe_add_seats_with_a_new_card_charges_one_payment_intent(
    stack: RunningStack, inspector: stripe.StripeClient, ledger: Any
) -> None:
    draft = new_draft(stack, "sub-acad", 3)
    order_id = draft["order_id"]
    assert draft["total"] == "1493.42"
    card = stack.request(
        "POST", "/accounts/acme/payment-methods", user="u-alice", body={"token": "tok_mastercard"}
    )
    assert card.status == 201, card.body
    assert (card.body["brand"], card.body["last4"]) == ("mastercard", "4444")
    chosen = stack.request(
        "PUT",
        f"/orders/{order_id}/payment-method",
        user="u-alice",
        body={"payment_method_id": card.body["payment_method_id"]},
    )
    assert chosen.status == 200, chosen.body

    submitted = stack.request(
        "POST", f"/orders/{order_id}/submit", user="u-alice", headers={"Idempotency-Key": str(uuid.uuid4())}
    )

    assert submitted.status == 200, submitted.body
    assert (submitted.body["status"], submitted.body["seats_before"], submitted.body["seats_after"]) == (
        "completed",
        10,
        13,
    )
    assert submitted.body["charge_id"].startswith("pi_")
    assert seats_of(stack, CONTRACT, "sub-acad") == 13
    [payment] = payments_of(ledger, order_id)  # one submit, one payment in the ledger
    assert (payment["status"], payment["provider_ref"], payment["amount"]) == (
        "succeeded",
        submitted.body["charge_id"],
        "1493.42",
    )
    charge = local_charge(stack, submitted.body["charge_id"])
    assert charge == {
        **charge,
        "amount": "1493.42",
        "currency": "USD",
        "status": "succeeded",
        "idempotency_key": payment_key(payment),
        "refunded_at": None,
    }
    [intent] = intents_keyed(inspector, payment_key(payment))  # and one PaymentIntent for it
    assert (intent["id"], intent["amount"], intent["currency"], intent["status"]) == (
        charge["charge_id"],
        149342,
        "usd",
        "succeeded",
    )
    paid_with = inspector.v1.payment_methods.retrieve(intent["payment_method"])
    assert paid_with.card.last4 == "4444"  # the new card, at Stripe
    assert charge["payment_method_id"] == card.body["payment_method_id"]  # and named by our id locally


def test_stripe_retried_submit_replays_or_refuses_and_never_charges_twice(
    stack: RunningStack, inspector: stripe.StripeClient, ledger: Any
) -> None:
    order_id = new_draft(stack, "sub-rvt", 2)["order_id"]  # paid with the card on file
    key = str(uuid.uuid4())
    first = stack.request(
        "POST", f"/orders/{order_id}/submit", user="u-alice", headers={"Idempotency-Key": key}
    )
    assert first.status == 200, first.body

    again = stack.request(
        "POST", f"/orders/{order_id}/submit", user="u-alice", headers={"Idempotency-Key": key}
    )
    other = stack.request(
        "POST", f"/orders/{order_id}/submit", user="u-alice", headers={"Idempotency-Key": str(uuid.uuid4())}
    )

    assert (again.status, again.body, again.headers.get("idempotent-replayed")) == (200, first.body, "true")
    assert (other.status, other.body["code"]) == (409, "order_not_draft")
    assert seats_of(stack, CONTRACT, "sub-rvt") == 7
    [payment] = payments_of(ledger, order_id)
    assert (payment["status"], payment["provider_ref"]) == ("succeeded", first.body["charge_id"])
    charge = local_charge(stack, first.body["charge_id"])
    assert (charge["amount"], charge["status"]) == (first.body["total"], "succeeded")
    [intent] = intents_keyed(inspector, payment_key(payment))
    assert intent["id"] == first.body["charge_id"]


def test_stripe_decline_at_charge_answers_402_and_leaves_a_draft(
    stack: RunningStack, inspector: stripe.StripeClient, ledger: Any
) -> None:
    card = stack.request(
        "POST",
        "/accounts/acme/payment-methods",
        user="u-alice",
        body={"token": card_token(inspector, "4000000000000341")},
    )
    assert card.status == 201, card.body  # 0341 attaches; it is declined when charged
    order_id = new_draft(stack, "sub-fusion", 1)["order_id"]
    chosen = stack.request(
        "PUT",
        f"/orders/{order_id}/payment-method",
        user="u-alice",
        body={"payment_method_id": card.body["payment_method_id"]},
    )
    assert chosen.status == 200, chosen.body

    declined = stack.request(
        "POST", f"/orders/{order_id}/submit", user="u-alice", headers={"Idempotency-Key": str(uuid.uuid4())}
    )

    assert declined.status == 402, declined.body
    assert declined.headers["content-type"].startswith("application/problem+json")
    assert (declined.body["code"], declined.body["decline_code"]) == ("payment_declined", "card_declined")
    order = stack.request("GET", f"/orders/{order_id}", user="u-alice").body
    assert (order["status"], order["charge_id"]) == ("draft", None)
    assert order["last_payment_error"]["decline_code"] == "card_declined"
    assert seats_of(stack, CONTRACT, "sub-fusion") == 2
    [payment] = payments_of(ledger, order_id)  # settled failed: the draft no longer points to it
    assert (payment["status"], payment["decline_code"], payment["amount"]) == (
        "failed",
        "card_declined",
        order["total"],
    )
    [intent] = intents_keyed(inspector, payment_key(payment))  # Stripe keeps the declined PaymentIntent
    assert (intent["id"], intent["status"]) == (payment["provider_ref"], "requires_payment_method")
    charge = local_charge(stack, intent["id"])
    assert (charge["status"], charge["amount"]) == ("failed", order["total"])


def test_stripe_decline_at_attach_answers_402_and_adds_no_card(
    stack: RunningStack, inspector: stripe.StripeClient
) -> None:
    declined = stack.request(
        "POST",
        "/accounts/acme/payment-methods",
        user="u-alice",
        body={"token": card_token(inspector, "4000000000000002")},
    )

    assert declined.status == 402, declined.body
    assert (declined.body["code"], declined.body["decline_code"]) == ("payment_declined", "card_declined")
    cards = stack.request("GET", "/accounts/acme/payment-methods", user="u-alice").body["payment_methods"]
    assert "0002" not in {c["last4"] for c in cards}


def test_stripe_renewal_charges_the_period_once_and_moves_the_renewal_date(
    stack: RunningStack, inspector: stripe.StripeClient, ledger: Any
) -> None:
    lambdas = stack.lambda_client()

    scheduled = lambdas.invoke(FunctionName="RenewalSchedulerFunction", Payload=b"{}")
    assert "FunctionError" not in scheduled, scheduled["Payload"].read()
    assert runs(json.loads(scheduled["Payload"].read())) == {
        "as_of": "2026-11-29T10:00:00.000Z",
        "due": 1,
        "enqueued": 1,
    }

    def renewed() -> dict[str, Any] | None:
        contract = stack.request("GET", f"/contracts/{RENEWING}", user="u-alice").body
        return contract if contract["renewal_date"] != "2026-11-29" else None

    contract = stack.wait_for(renewed, what="the queued renewal")
    assert (contract["status"], contract["term_start"], contract["renewal_date"]) == (
        "active",
        "2026-11-29",
        "2027-11-29",
    )
    [order] = [o for o in renewal_orders(stack) if o["status"] == "completed"]
    [payment] = payments_of(ledger, order["order_id"])
    assert (payment["purpose"], payment["status"], payment["provider_ref"], payment["period"]) == (
        "renewal",
        "succeeded",
        order["charge_id"],
        "2026-11-29",
    )
    charge = local_charge(stack, order["charge_id"])
    assert (charge["idempotency_key"], charge["amount"], charge["status"]) == (
        payment_key(payment),
        "599.97",
        "succeeded",
    )
    assert Decimal(charge["amount"]) == Decimal(contract["renewal_total"]) == Decimal(order["total"])
    [intent] = intents_keyed(inspector, payment_key(payment))
    assert (intent["id"], intent["amount"], intent["currency"]) == (charge["charge_id"], 59997, "usd")
    intents_before = all_intents(inspector)

    again = lambdas.invoke(FunctionName="RenewalSchedulerFunction", Payload=b"{}")

    assert runs(json.loads(again["Payload"].read())) == {
        "as_of": "2026-11-29T10:00:00.000Z",
        "due": 0,
        "enqueued": 0,
    }
    assert all_intents(inspector) == intents_before  # nothing charged, nothing even created
    assert [o["order_id"] for o in renewal_orders(stack)] == [order["order_id"]]
    history = stack.request("GET", f"/contracts/{RENEWING}/history", user="u-alice").body["events"]
    assert [e["type"] for e in history].count("renewed") == 1


def runs(answer: dict[str, Any]) -> dict[str, Any]:
    """The scheduler's answer about renewals (it may report other work, such as notices, alongside)."""
    return {name: answer.get(name) for name in ("as_of", "due", "enqueued")}


def renewal_orders(stack: RunningStack) -> list[dict[str, Any]]:
    answer = stack.request("GET", f"/contracts/{RENEWING}/orders", user="u-alice")
    assert answer.status == 200, answer.body
    return [o for o in answer.body["orders"] if o["type"] == "renewal"]


@pytest.fixture
def provider_down(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningStack, LocalStripe]]:
    """A stripe-mode runtime on a localstripe of this fixture's, which the test stops after the seed."""
    try:
        server = start_localstripe()
    except LocalStripeError as err:
        pytest.fail(f"cannot start localstripe: {err}", pytrace=False)
    env = {
        "SEATS_PAYMENTS": "stripe",
        "STRIPE_API_BASE": server.url,
        "STRIPE_API_KEY": f"sk_test_seats_{secrets.token_hex(8)}",
        "STRIPE_TIMEOUT_S": "5",
    }
    try:
        running = start_stack(tmp_path_factory.mktemp("stripe-down"), seed=copy.deepcopy(BASE_SEED), env=env)
    except BaseException:
        server.stop()
        raise
    try:
        yield running, server
    finally:
        running.stop()
        server.stop()


def test_stripe_provider_down_answers_503_and_leaves_the_draft(
    provider_down: tuple[RunningStack, LocalStripe],
) -> None:
    stack, server = provider_down
    order_id = new_draft(stack, "sub-acad", 2)["order_id"]
    server.stop()  # STRIPE_API_BASE is now a closed loopback port: connections are refused
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1).close()

    answer = stack.request(
        "POST", f"/orders/{order_id}/submit", user="u-alice", headers={"Idempotency-Key": str(uuid.uuid4())}
    )

    assert answer.status == 503, answer.body
    assert answer.body["code"] == "payment_provider_unavailable"
    order = stack.request("GET", f"/orders/{order_id}", user="u-alice").body
    assert (order["status"], order["charge_id"]) == ("draft", None)
    assert seats_of(stack, CONTRACT, "sub-acad") == 10
