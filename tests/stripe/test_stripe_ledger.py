"""The defects the payment ledger closes, in stripe mode: the local runtime on localstripe, over HTTP.

Each test is the scenario that, before the ledger, kept money without the change it paid for or charged
twice (its docstring says what used to happen), and checks the money at localstripe itself.

How Stripe and DynamoDB are made to fail:

- The runtime talks to localstripe through `StripeProxy`, a loopback proxy of this module (its
  STRIPE_API_BASE). `time_out_after(...)` lets the next matching request reach localstripe, which
  acts on it (a confirmation captures the money), then holds the answer back until the runtime's
  Stripe client has given up (STRIPE_TIMEOUT_S) and closes the connection unanswered: a time-out after
  the capture. `forget_keys()` stands for Stripe having pruned its idempotency keys (it keeps them
  24 hours): from then on every key is sent under a new name, so none of the answers localstripe saved
  before is ever replayed.
- A DynamoDB write that fails after the capture: the runtime's functions cannot be reached from here,
  so that one submit runs in this process, through `seats.services.submit` on the runtime's own
  DynamoDB (its moto server) and Stripe, with a botocore hook that refuses the write completing the
  order (ProvisionedThroughputExceededException, before the write: it never happens). Everything
  after it (the edit, the next submit) goes through the runtime's HTTP API again.

The payments are found through the ledger (the runtime's table, read on its moto server): an order's
payments, each created at Stripe under `seats:payment:<payment_id>`, which its PaymentIntent carries
as metadata.
"""

from __future__ import annotations

import copy
import http.client
import json
import re
import secrets
import threading
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
import stripe
from botocore.exceptions import ClientError

from infra.local.localstripe import LocalStripe, LocalStripeError, start_localstripe
from seats import bootstrap
from seats.adapters.dynamodb.repository import Repository as DynamoDbRepository
from seats.adapters.payments.stripe_gateway import StripeGateway
from seats.clock import utc_now
from seats.services.submit import submit as submit_service
from tests.conftest import BASE_SEED, NOW, ROOT
from tests.e2e.conftest import RunningStack, start_stack
from tests.stripe.conftest import (
    BANNER_MOTO,
    SEATS_TABLE,
    intents_keyed,
    local_charge,
    payment_key,
    payments_of,
    runtime_dynamodb,
)

pytestmark = [
    pytest.mark.stripe,
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning"),
]

CONTRACT = "110000000001"  # acme, USD, annual, renewal 2027-03-01: seats can be added on SEATS_NOW
RENEWING = "110000000020"  # acme, USD, annual, renewal 2026-12-15: a draft today, renewed on the 15th
RENEWAL_AS_OF = "2026-12-15T02:00:00.000Z"
API_KEY = f"sk_test_seats_{secrets.token_hex(8)}"
STRIPE_TIMEOUT_S = 3  # the runtime's Stripe client gives up after this long
HOLD_S = STRIPE_TIMEOUT_S + 2  # a timed-out answer is held this long, then dropped
CONFIRM = r"^/v1/payment_intents/(pi_\w+)/confirm$"
WORKER_EVENT = json.loads((ROOT / "events" / "renewal_sqs_batch.json").read_text())["Records"][0]


# -- Stripe between the runtime and localstripe ---------------------------------------------------------------

_HOP_HEADERS = frozenset(
    {
        "host",
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "upgrade",
        "accept-encoding",
        "content-length",
        "server",
        "date",
    }
)


@dataclass(frozen=True)
class Forwarded:
    method: str
    path: str  # without the query
    idempotency_key: str | None  # as the runtime sent it
    status: int  # localstripe's answer
    timed_out: bool  # its answer was held back and dropped


class StripeProxy:
    """A loopback HTTP proxy to localstripe that can time out after the fact and forget idempotency keys.

    `requests` lists every request forwarded, in order.
    """

    def __init__(self, upstream: str, hold_s: float) -> None:
        parts = urllib.parse.urlsplit(upstream)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._hold_s = hold_s
        self._lock = threading.Lock()
        self._time_outs: list[tuple[str, re.Pattern[str]]] = []
        self._amnesia = 0
        self._released = threading.Event()
        self.requests: list[Forwarded] = []
        forward = self._forward

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                forward(self)

            do_POST = do_DELETE = do_GET

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="stripe-proxy", daemon=True)
        self._thread.start()

    def time_out_after(self, method: str, path: str) -> None:
        """The next `method` request whose path matches the regex `path` takes effect at localstripe, but
        its answer never comes: held until the client has timed out, then the connection is closed."""
        with self._lock:
            self._time_outs.append((method, re.compile(path)))

    def forget_keys(self) -> None:
        """From now on, Stripe knows none of the idempotency keys it was sent before."""
        with self._lock:
            self._amnesia += 1

    def posts_since(self, start: int) -> list[tuple[str, str]]:
        return [(r.method, r.path) for r in self.requests[start:] if r.method == "POST"]

    def stop(self) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()

    def _take_time_out(self, method: str, path: str) -> bool:
        for armed in self._time_outs:
            if armed[0] == method and armed[1].match(path):
                self._time_outs.remove(armed)
                return True
        return False

    def _forward(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else None
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in _HOP_HEADERS}
        path = urllib.parse.urlsplit(handler.path).path
        key = handler.headers.get("Idempotency-Key")
        with self._lock:
            if key and self._amnesia:
                headers = {k: v for k, v in headers.items() if k.lower() != "idempotency-key"}
                headers["Idempotency-Key"] = f"{key}~after-amnesia-{self._amnesia}"
            timed_out = self._take_time_out(handler.command, path)
        upstream = http.client.HTTPConnection(*self._upstream, timeout=30)
        try:
            upstream.request(handler.command, handler.path, body=body, headers=headers)
            answer = upstream.getresponse()
            payload, status, answer_headers = answer.read(), answer.status, answer.getheaders()
        finally:
            upstream.close()
        self.requests.append(Forwarded(handler.command, path, key, status, timed_out))
        if timed_out:
            self._released.wait(self._hold_s)  # the client timed out meanwhile
            handler.close_connection = True
            return  # closed unanswered
        handler.send_response(status)
        for name, value in answer_headers:
            if name.lower() not in _HOP_HEADERS:
                handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)


# -- The runtime -----------------------------------------------------------------------------------------------


def ledger_seed() -> dict[str, Any]:
    """The tests' seed: a subscription per add-seats scenario, and a contract renewed on 2026-12-15."""
    seed = copy.deepcopy(BASE_SEED)
    acme = seed["accounts"][0]
    [contract] = acme["contracts"]
    contract["subscriptions"] += [
        {"subscription_id": sub, "product": product, "seats": 5, "unit_price": "1200.00"}
        for sub, product in (
            ("sub-cancel", "Revit"),
            ("sub-edit", "Fusion"),
            ("sub-card", "Maya"),
            ("sub-forgot", "3ds Max"),
            ("sub-refund", "Navisworks"),
        )
    ]
    acme["contracts"].append(
        {
            "contract_id": RENEWING,
            "contract_manager": "u-alice",
            "purchase_channel": "online",
            "auto_renew": True,
            "term": "annual",
            "term_start": "2025-12-15",
            "renewal_date": "2026-12-15",
            "billing_anchor_day": 15,
            "status": "active",
            "payment_method_id": "pm_acme_visa",
            "subscriptions": [
                {"subscription_id": "sub-inv", "product": "Inventor", "seats": 4, "unit_price": "250.00"}
            ],
        }
    )
    return seed


@pytest.fixture(scope="module")
def upstream() -> Iterator[LocalStripe]:
    """This module's own localstripe (the adapter tests reset theirs)."""
    try:
        server = start_localstripe()
    except LocalStripeError as err:
        pytest.fail(f"cannot start localstripe: {err}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def proxy(upstream: LocalStripe) -> Iterator[StripeProxy]:
    running = StripeProxy(upstream.url, HOLD_S)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, proxy: StripeProxy) -> Iterator[RunningStack]:
    env = {
        "SEATS_PAYMENTS": "stripe",
        "STRIPE_API_BASE": proxy.url,
        "STRIPE_API_KEY": API_KEY,
        "STRIPE_TIMEOUT_S": str(STRIPE_TIMEOUT_S),
    }
    running = start_stack(tmp_path_factory.mktemp("stripe-ledger"), seed=ledger_seed(), env=env)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def inspector(upstream: LocalStripe) -> stripe.StripeClient:
    """A plain SDK client on localstripe itself (not through the proxy)."""
    return stripe.StripeClient(
        "sk_test_seats_inspector", base_addresses={"api": upstream.url}, max_network_retries=0
    )


@pytest.fixture(scope="module")
def ledger(stack: RunningStack) -> Any:
    return runtime_dynamodb(stack)


# -- Helpers ---------------------------------------------------------------------------------------------------


def new_draft(
    stack: RunningStack, subscription_id: str, seats_to_add: int, contract_id: str = CONTRACT
) -> dict[str, Any]:
    draft = stack.request(
        "POST",
        f"/contracts/{contract_id}/subscriptions/{subscription_id}/seat-orders",
        user="u-alice",
        body={"seats_to_add": seats_to_add},
    )
    assert draft.status == 201, draft.body
    return draft.body


def submit(stack: RunningStack, order_id: str, key: str | None = None) -> Any:
    return stack.request(
        "POST",
        f"/orders/{order_id}/submit",
        user="u-alice",
        headers={"Idempotency-Key": key or str(uuid.uuid4())},
    )


def order_of(stack: RunningStack, order_id: str) -> dict[str, Any]:
    answer = stack.request("GET", f"/orders/{order_id}", user="u-alice")
    assert answer.status == 200, answer.body
    return answer.body


def seats_of(stack: RunningStack, contract_id: str, subscription_id: str) -> int:
    contract = stack.request("GET", f"/contracts/{contract_id}", user="u-alice")
    assert contract.status == 200, contract.body
    return next(s["seats"] for s in contract.body["subscriptions"] if s["subscription_id"] == subscription_id)


def history(stack: RunningStack, contract_id: str) -> list[dict[str, Any]]:
    answer = stack.request("GET", f"/contracts/{contract_id}/history", user="u-alice")
    assert answer.status == 200, answer.body
    return list(answer.body["events"])


def intent(inspector: stripe.StripeClient, intent_id: str) -> dict[str, Any]:
    """A PaymentIntent at localstripe, its latest charge (with refunds) expanded."""
    return inspector.v1.payment_intents.retrieve(intent_id, {"expand": ["latest_charge"]}).to_dict()


def assert_refunded_in_full(inspector: stripe.StripeClient, intent_id: str) -> None:
    found = intent(inspector, intent_id)
    charge = found["latest_charge"]
    assert (found["status"], charge["refunded"], charge["amount_refunded"]) == (
        "succeeded",
        True,
        found["amount"],
    ), found


def submit_timing_out(
    stack: RunningStack,
    proxy: StripeProxy,
    inspector: stripe.StripeClient,
    order_id: str,
    key: str | None = None,
) -> str:
    """Submit the draft with Stripe's answer to the confirmation lost: 503. The PaymentIntent it confirmed
    (captured at localstripe all the same) is returned."""
    seen = len(proxy.requests)
    proxy.time_out_after("POST", CONFIRM)
    answer = submit(stack, order_id, key)
    assert (answer.status, answer.body["code"]) == (503, "payment_provider_unavailable"), answer.body
    [confirmed] = [r for r in proxy.requests[seen:] if r.timed_out]
    match = re.match(CONFIRM, confirmed.path)
    assert match is not None and confirmed.status == 200
    captured = match.group(1)
    assert (
        intent(inspector, captured)["status"] == "succeeded"
    )  # the money was taken: only the answer was lost
    return captured


# -- The proxy's faults are real ---------------------------------------------------------------------------------


def test_stripe_proxy_times_out_after_localstripe_acted_and_forgets_keys(
    proxy: StripeProxy, inspector: stripe.StripeClient
) -> None:
    def through_proxy(timeout_s: float) -> stripe.StripeClient:
        return stripe.StripeClient(
            "sk_test_seats_proxy",
            base_addresses={"api": proxy.url},
            max_network_retries=0,
            http_client=stripe.RequestsClient(timeout=timeout_s),
        )

    client = through_proxy(5)
    params: Any = {"email": "probe@proxy.test"}
    keyed: Any = {"idempotency_key": f"proxy-probe-{uuid.uuid4()}"}
    first = client.v1.customers.create(params, keyed)
    assert client.v1.customers.create(params, keyed).id == first.id  # replayed
    proxy.forget_keys()
    forgotten = client.v1.customers.create(params, keyed)
    assert forgotten.id != first.id  # Stripe no longer knew the key: a second customer
    assert client.v1.customers.create(params, keyed).id == forgotten.id  # a key first seen since is known

    card: Any = {"type": "card", "card": {"token": "tok_visa"}}
    method = inspector.v1.payment_methods.create(card)
    created = inspector.v1.payment_intents.create(
        {"amount": 1000, "currency": "usd", "payment_method": method.id, "payment_method_types": ["card"]}
    )
    proxy.time_out_after("POST", CONFIRM)
    with pytest.raises(stripe.APIConnectionError):
        through_proxy(1).v1.payment_intents.confirm(created.id)
    assert intent(inspector, created.id)["status"] == "succeeded"  # confirmed at localstripe all the same
    [held] = [
        r for r in proxy.requests if r.timed_out and r.path == f"/v1/payment_intents/{created.id}/confirm"
    ]
    assert held.status == 200


# -- 1. A capture behind a time-out is never kept for a cancelled draft --------------------------------------------


def test_stripe_capture_behind_a_time_out_is_refunded_when_the_draft_is_deleted(
    stack: RunningStack, proxy: StripeProxy, inspector: stripe.StripeClient, ledger: Any
) -> None:
    """Used to: the submit answered 503 while Stripe had captured the PaymentIntent (`charge`, one call
    under `seats:order:<id>:attempt:0`, its answer lost), and nothing recorded it; DELETE then answered 204
    and cancelled the draft, and the capture was kept: the customer paid for seats that never came."""
    draft = new_draft(stack, "sub-cancel", 3)
    order_id = draft["order_id"]
    captured = submit_timing_out(stack, proxy, inspector, order_id)
    [payment] = payments_of(ledger, order_id)  # recorded, with its PaymentIntent, before the confirmation
    assert (payment["status"], payment["provider_ref"]) == ("pending", captured)

    deleted = stack.request("DELETE", f"/orders/{order_id}", user="u-alice")

    assert deleted.status == 204, deleted.body
    assert_refunded_in_full(inspector, captured)
    assert intent(inspector, captured)["amount"] == int(draft["total"].replace(".", ""))
    charge = local_charge(stack, captured)
    assert (charge["status"], charge["amount"], charge["idempotency_key"]) == (
        "refunded",
        draft["total"],
        payment_key(payment),
    )
    assert charge["refunded_at"] is not None
    [payment] = payments_of(ledger, order_id)
    assert payment["status"] == "refunded"
    assert [pi["id"] for pi in intents_keyed(inspector, payment_key(payment))] == [captured]
    assert order_of(stack, order_id)["status"] == "cancelled"
    assert seats_of(stack, CONTRACT, "sub-cancel") == 5
    events = [e for e in history(stack, CONTRACT) if e["details"].get("order_id") == order_id]
    assert sorted(e["type"] for e in events) == ["order_cancelled", "payment_refunded"]
    [refund] = [e for e in events if e["type"] == "payment_refunded"]
    assert refund["details"]["charge_id"] == captured


def test_stripe_refund_whose_answer_was_lost_is_finished_by_the_next_delete_once(
    stack: RunningStack, proxy: StripeProxy, inspector: stripe.StripeClient, ledger: Any
) -> None:
    """The refund itself times out (after Stripe made it): DELETE answers 503 and the draft stays, its
    payment `refunding`; the next DELETE finishes it (204) under the same refund key: refunded once."""
    order_id = new_draft(stack, "sub-refund", 1)["order_id"]
    captured = submit_timing_out(stack, proxy, inspector, order_id)
    proxy.time_out_after("POST", r"^/v1/refunds$")

    first = stack.request("DELETE", f"/orders/{order_id}", user="u-alice")

    assert (first.status, first.body["code"]) == (503, "payment_provider_unavailable"), first.body
    assert order_of(stack, order_id)["status"] == "draft"
    assert [p["status"] for p in payments_of(ledger, order_id)] == ["refunding"]

    second = stack.request("DELETE", f"/orders/{order_id}", user="u-alice")

    assert second.status == 204, second.body
    assert_refunded_in_full(inspector, captured)
    refunds = intent(inspector, captured)["latest_charge"]["refunds"]["data"]
    assert len(refunds) == 1  # the second DELETE's refund was the first one, replayed
    [payment] = payments_of(ledger, order_id)
    assert refunds[0]["metadata"]["idempotency_key"] == f"seats:refund:{payment['payment_id']}"
    assert (payment["status"], order_of(stack, order_id)["status"]) == ("refunded", "cancelled")
    assert local_charge(stack, captured)["status"] == "refunded"


def test_stripe_capture_behind_a_time_out_is_refunded_when_the_renewal_cancels_the_draft(
    stack: RunningStack, proxy: StripeProxy, inspector: stripe.StripeClient, ledger: Any
) -> None:
    """Used to: the renewal cancelled the open draft (its seats never added) and kept the capture its
    timed-out submit had made: the draft's money kept on top of the renewal's."""
    draft = new_draft(stack, "sub-inv", 2, contract_id=RENEWING)
    order_id = draft["order_id"]
    captured = submit_timing_out(stack, proxy, inspector, order_id)
    record = {**WORKER_EVENT, "body": json.dumps({"contract_id": RENEWING, "as_of": RENEWAL_AS_OF})}

    worked = stack.lambda_client().invoke(
        FunctionName="RenewalWorkerFunction", Payload=json.dumps({"Records": [record]}).encode()
    )

    assert "FunctionError" not in worked, worked["Payload"].read()
    assert json.loads(worked["Payload"].read()) == {"batchItemFailures": []}
    assert order_of(stack, order_id)["status"] == "cancelled"
    assert_refunded_in_full(inspector, captured)
    assert local_charge(stack, captured)["status"] == "refunded"
    [payment] = payments_of(ledger, order_id)
    assert (payment["status"], payment["provider_ref"]) == ("refunded", captured)
    contract = stack.request("GET", f"/contracts/{RENEWING}", user="u-alice").body
    assert (contract["renewal_date"], seats_of(stack, RENEWING, "sub-inv")) == ("2027-12-15", 4)
    orders = stack.request("GET", f"/contracts/{RENEWING}/orders", user="u-alice").body["orders"]
    [renewal] = [o for o in orders if o["type"] == "renewal"]
    assert (renewal["status"], renewal["total"]) == ("completed", "1000.00")
    renewal_charge = local_charge(stack, renewal["charge_id"])  # the renewal's own payment, kept
    assert (renewal_charge["status"], renewal_charge["amount"]) == ("succeeded", "1000.00")
    events = history(stack, RENEWING)
    [cancelled] = [e for e in events if e["type"] == "order_cancelled"]
    assert (cancelled["details"]["order_id"], cancelled["details"]["reason"]) == (order_id, "renewal")
    [refund] = [e for e in events if e["type"] == "payment_refunded"]
    assert (refund["details"]["charge_id"], refund["details"]["order_id"]) == (captured, order_id)


# -- 2. A draft changed after a capture whose write failed is paid once, anew ----------------------------------------


@pytest.fixture
def submit_whose_write_fails(
    stack: RunningStack, proxy: StripeProxy, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[str], None]]:
    """Submit an order in this process, on the runtime's DynamoDB and Stripe, with the write that completes
    it refused by DynamoDB (after the capture: the money is taken, the seats are not added)."""
    monkeypatch.setenv("SEATS_NOW", NOW)  # the services' clock: the runtime's
    bootstrap.reset()
    found = stack.wait_for(lambda: BANNER_MOTO.search(stack.log()), what="the banner's moto line")
    client = boto3.client(
        "dynamodb",
        endpoint_url=found.group(1),
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    refused: list[str] = []

    def run(order_id: str) -> None:
        def refuse(params: dict[str, Any], **_: Any) -> None:
            for write in params.get("TransactItems", []):
                item = write.get("Put", {}).get("Item", {})
                if item.get("PK") == {"S": f"ORDER#{order_id}"} and item.get("status") == {"S": "completed"}:
                    refused.append(order_id)
                    raise ClientError(
                        {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "injected"}},
                        "TransactWriteItems",
                    )

        client.meta.events.register("before-parameter-build.dynamodb.TransactWriteItems", refuse)
        repo = DynamoDbRepository(client, SEATS_TABLE, utc_now)
        gateway = StripeGateway(API_KEY, api_base=proxy.url, timeout_s=5)
        try:
            with pytest.raises(ClientError, match="ProvisionedThroughputExceeded"):
                submit_service(repo, gateway, order_id, "u-alice", submit_key=f"in-process-{uuid.uuid4()}")
        finally:
            client.meta.events.unregister("before-parameter-build.dynamodb.TransactWriteItems", refuse)
        assert refused == [order_id]

    yield run
    bootstrap.reset()


@pytest.mark.parametrize("change", ["edit the seats", "pick another card"])
def test_stripe_draft_changed_after_a_capture_whose_write_failed_is_paid_once_for_its_new_terms(
    stack: RunningStack,
    inspector: stripe.StripeClient,
    ledger: Any,
    submit_whose_write_fails: Callable[[str], None],
    change: str,
) -> None:
    """Used to: the capture (key `seats:order:<id>:attempt:0`) stayed with Stripe, unrecorded; after the
    edit or the card change, every submit charged the same key with another amount or card, which
    Stripe refuses (IdempotencyError: 422 idempotency_key_reused, later 503), so the order could never
    be paid, and the first capture was never refunded."""
    subscription = "sub-edit" if change == "edit the seats" else "sub-card"
    order_id = new_draft(stack, subscription, 3)["order_id"]
    submit_whose_write_fails(order_id)
    [first] = payments_of(ledger, order_id)
    assert first["status"] == "pending"
    assert intent(inspector, first["provider_ref"])["status"] == "succeeded"  # captured
    assert order_of(stack, order_id)["status"] == "draft"  # but the seats were never added
    if change == "edit the seats":
        changed = stack.request("PATCH", f"/orders/{order_id}", user="u-alice", body={"seats_to_add": 4})
    else:
        changed = stack.request(
            "PUT",
            f"/orders/{order_id}/payment-method",
            user="u-alice",
            body={"payment_method_id": "pm_acme_mc"},
        )
    assert changed.status == 200, changed.body
    assert_refunded_in_full(inspector, first["provider_ref"])  # settled before the draft changed

    submitted = submit(stack, order_id)

    assert submitted.status == 200, submitted.body  # not 422 idempotency_key_reused
    order = submitted.body
    assert (order["status"], order["seats_before"], order["seats_after"]) == (
        "completed",
        5,
        5 + order["seats_to_add"],
    )
    assert order["total"] == changed.body["total"]
    payments = {p["status"]: p for p in payments_of(ledger, order_id)}
    assert sorted(payments) == ["refunded", "succeeded"]
    assert payments["refunded"]["payment_id"] == first["payment_id"]
    kept = payments["succeeded"]
    assert kept["provider_ref"] == order["charge_id"] != first["provider_ref"]
    [paid] = intents_keyed(inspector, payment_key(kept))  # a new payment under its own key
    assert (paid["id"], paid["status"], paid["amount"]) == (
        order["charge_id"],
        "succeeded",
        int(order["total"].replace(".", "")),
    )
    charges = [local_charge(stack, p["provider_ref"]) for p in payments.values()]
    assert sorted((c["status"], c["amount"]) for c in charges) == sorted(
        [("refunded", first["amount"]), ("succeeded", order["total"])]
    )
    if change == "pick another card":
        assert inspector.v1.payment_methods.retrieve(paid["payment_method"]).card.last4 == "4444"
    assert seats_of(stack, CONTRACT, subscription) == 5 + order["seats_to_add"]


# -- 3. Recovery asks Stripe by the PaymentIntent recorded, not by the key ---------------------------------------------


def test_stripe_retry_completes_with_the_recorded_intent_after_stripe_forgot_the_keys(
    stack: RunningStack, proxy: StripeProxy, inspector: stripe.StripeClient, ledger: Any
) -> None:
    """Used to: the charge's only handle was its idempotency key (`seats:order:<id>:attempt:0`): the retry
    charged again under that key and counted on Stripe to replay the first PaymentIntent. Once Stripe had
    forgotten the key, the retry created and confirmed a second PaymentIntent: the order paid twice."""
    order_id = new_draft(stack, "sub-forgot", 2)["order_id"]
    key = str(uuid.uuid4())
    captured = submit_timing_out(stack, proxy, inspector, order_id, key)
    proxy.forget_keys()
    seen = len(proxy.requests)

    retried = submit(stack, order_id, key)  # the client's retry, same Idempotency-Key

    assert retried.status == 200, retried.body
    assert (retried.body["status"], retried.body["charge_id"]) == ("completed", captured)
    assert proxy.posts_since(seen) == []  # Stripe was only asked (GET): nothing created, nothing confirmed
    [payment] = payments_of(ledger, order_id)
    assert (payment["status"], payment["provider_ref"]) == ("succeeded", captured)
    [paid] = intents_keyed(inspector, payment_key(payment))
    assert (paid["id"], paid["status"]) == (captured, "succeeded")
    assert local_charge(stack, captured)["status"] == "succeeded"  # kept, not refunded
    assert seats_of(stack, CONTRACT, "sub-forgot") == 7
