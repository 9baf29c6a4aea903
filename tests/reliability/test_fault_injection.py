"""Faults at every write of a submit and of a renewal, provider time-outs, and a worker killed mid-way.

- DynamoDB: ProvisionedThroughputExceededException and ThrottlingException at each write, and
  TransactionCanceledException at each TransactWriteItems, raised either before the write (it never
  happened) or after it (it happened, but the caller saw the error: a lost answer). Injected with
  botocore event hooks on the process's DynamoDB client (`before-parameter-build` / `after-call`),
  so the code under test sees exactly what boto3 raises. The sandbox provider's own bookkeeping in
  the table is the provider's, not ours: its writes are never faulted here (provider faults below).
- The payment provider: a time-out before the capture, and after it (money taken, no answer).
- A worker killed between the charge and the write: the process dies (a BaseException that no
  handler catches), leaving whatever it left, and the request is retried / the message redelivered.

After each fault the request is retried as a client would (the same Idempotency-Key; once the
in-progress window of a dead request has passed; a new key as a last resort) or the SQS message is
redelivered, and then: the order is completed once, paid by exactly one kept charge of its total,
its seats added once with one seats_added event; the renewal is recorded once with one charge.
Faulted answers are 503 (a dependency did not answer) or 409 — never 500.
"""

from __future__ import annotations

import copy
import datetime as real_datetime
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from functions.renewal_worker.app import lambda_handler as renewal_worker
from infra import seed as seed_loader
from seats import bootstrap
from seats.adapters.dynamodb import keys
from seats.domain.errors import PaymentProviderUnavailable
from tests.conftest import EVENTS, LambdaContext
from tests.reliability.conftest import (
    CONTRACT_A,
    MANAGER_A,
    SUBSCRIPTION_A,
    Answer,
    Api,
    Scene,
    reliability_seed,
)

WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
THROTTLES = ("ProvisionedThroughputExceededException", "ThrottlingException")
CANCELLED = "TransactionCanceledException"
RENEWAL_CONTRACTS = 40  # one fresh contract per renewal scenario
RENEWAL_AS_OF = "2027-03-01T02:00:00Z"
SQS_RECORD = json.loads((EVENTS / "renewal_sqs_batch.json").read_text())["Records"][0]


class WorkerKilled(BaseException):
    """The Lambda process died (timeout, out of memory): no handler of the code under test runs."""


# -- DynamoDB faults ---------------------------------------------------------------------------------

def _is_provider_bookkeeping(operation: str, params: dict[str, Any]) -> bool:
    key = params.get("Item") or params.get("Key") or {}
    return key.get("PK", {}).get("S") == keys.SANDBOX_CHARGES


def _tables(operation: str, params: dict[str, Any]) -> str:
    if operation == "TransactWriteItems":
        found = {next(iter(item.values()))["TableName"] for item in params.get("TransactItems", [])}
        return "+".join(sorted(found))
    if operation == "BatchWriteItem":
        return "+".join(sorted(params.get("RequestItems", {})))
    return str(params.get("TableName"))


@dataclass
class Plan:
    index: int
    code: str
    when: str  # "before": the write never happens; "after": it happens, the caller sees the error


class DynamoFaults:
    """Counts our DynamoDB writes and raises `plan.code` at write number `plan.index`, once."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.writes: list[str] = []
        self.plan: Plan | None = None
        self.fired = 0
        client.meta.events.register("before-parameter-build.dynamodb", self._before)
        client.meta.events.register("after-call.dynamodb", self._after)

    def close(self) -> None:
        self.client.meta.events.unregister("before-parameter-build.dynamodb", self._before)
        self.client.meta.events.unregister("after-call.dynamodb", self._after)

    def arm(self, plan: Plan | None) -> None:
        self.writes, self.plan = [], plan

    def _before(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if model.name not in WRITES or _is_provider_bookkeeping(model.name, params):
            return
        context["seats_write"] = len(self.writes)
        self.writes.append(f"{model.name} {_tables(model.name, params)}")
        if self.plan and self.plan.when == "before" and self.plan.index == context["seats_write"]:
            self._fire(model.name)

    def _after(self, http_response: Any, model: Any, context: dict[str, Any], **_: Any) -> None:
        if self.plan and self.plan.when == "after" and context.get("seats_write") == self.plan.index \
                and http_response.status_code < 300:
            self._fire(model.name)

    def _fire(self, operation: str) -> None:
        code, self.plan = self.plan.code if self.plan else "", None
        self.fired += 1
        response: dict[str, Any] = {"Error": {"Code": code, "Message": "injected by the reliability suite"},
                                    "ResponseMetadata": {"HTTPStatusCode": 400}}
        if code == CANCELLED:
            response["CancellationReasons"] = [{"Code": "ThrottlingError"}]
        raise self.client.exceptions.from_code(code)(response, operation)


@pytest.fixture
def faults(world: Any) -> Iterator[DynamoFaults]:
    injector = DynamoFaults(bootstrap.aws_client("dynamodb"))
    yield injector
    injector.close()


def fault_plans(writes: list[str]) -> list[Plan]:
    plans = []
    for index, label in enumerate(writes):
        codes = THROTTLES + ((CANCELLED,) if label.startswith("TransactWriteItems") else ())
        plans += [Plan(index, code, when) for code in codes for when in ("before", "after")]
    return plans


# -- the provider and the process --------------------------------------------------------------------

class FaultyGateway:
    """The sandbox gateway, failing its next confirmation (the capture): `before` it, `after` it, or
    `killed` (the process dies right after the money is taken)."""

    def __init__(self, gateway: Any) -> None:
        self.gateway = gateway
        self.next_fault: str | None = None

    def confirm_payment(self, provider_ref: str, request: Any) -> Any:
        fault, self.next_fault = self.next_fault, None
        if fault == "before":
            raise PaymentProviderUnavailable("injected: the provider timed out before capturing")
        state = self.gateway.confirm_payment(provider_ref, request)
        if fault == "after":
            raise PaymentProviderUnavailable("injected: the provider timed out after capturing")
        if fault == "killed":
            raise WorkerKilled()
        return state

    def __getattr__(self, name: str) -> Any:
        return getattr(self.gateway, name)


@pytest.fixture
def provider(world: Any) -> Iterator[FaultyGateway]:
    """Undone before moto stops and `bootstrap.reset()` runs (the `aws` fixture's own monkeypatch is older)."""
    gateway = FaultyGateway(bootstrap.payment_gateway())
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bootstrap, "payment_gateway", lambda: gateway)
        yield gateway


class _ShiftedDatetime(real_datetime.datetime):
    shift = real_datetime.timedelta(0)

    @classmethod
    def now(cls, tz: Any = None) -> Any:  # type: ignore[override]
        return real_datetime.datetime.now(tz) + cls.shift


class _ShiftedModule:
    """`datetime` as Powertools idempotency imports it (`import datetime as dt`), its clock moved on."""

    datetime = _ShiftedDatetime

    def __getattr__(self, name: str) -> Any:
        return getattr(real_datetime, name)


@pytest.fixture
def later() -> Iterator[Callable[[int], None]]:
    """`later(seconds)`: Powertools idempotency sees its clock that much later (a dead request's
    in-progress window passes) — as a client retrying after a while."""
    from aws_lambda_powertools.utilities.idempotency import base
    from aws_lambda_powertools.utilities.idempotency.persistence import base as persistence_base
    from aws_lambda_powertools.utilities.idempotency.persistence import dynamodb

    with pytest.MonkeyPatch.context() as patch:
        for module in (base, persistence_base, dynamodb):
            patch.setattr(module, "dt", _ShiftedModule())

        def move(seconds: int) -> None:
            _ShiftedDatetime.shift += real_datetime.timedelta(seconds=seconds)

        yield move
        _ShiftedDatetime.shift = real_datetime.timedelta(0)


# -- a submit, faulted, then retried -------------------------------------------------------------------

@dataclass
class Recovery:
    first: Answer | None  # None: the process died
    final: Answer
    path: str  # how the client got there


def submit(api: Api, order_id: str, key: str) -> Answer:
    return api.call("POST", f"/orders/{order_id}/submit", user=MANAGER_A, headers={"Idempotency-Key": key})


def submit_and_recover(api: Api, order_id: str, key: str, later: Callable[[int], None],
                       fault: Callable[[], None]) -> Recovery:
    """The faulted submit, then a client's retries: the same key; after the in-progress window of a
    dead request (60 s later) the same key again; a new key last."""
    fault()
    try:
        first: Answer | None = submit(api, order_id, key)
    except WorkerKilled:
        first = None
    if first is not None and first.status == 200:
        return Recovery(first, first, "no retry needed")
    answer = submit(api, order_id, key)
    if answer.code == "request_in_progress":
        later(60)
        answer = submit(api, order_id, key)
        path = "same key after the in-progress window"
    else:
        path = "same key"
    if answer.status != 200 and answer.code not in ("order_not_draft",):
        answer = submit(api, order_id, key + "-new")
        path += ", then a new key"
    return Recovery(first, answer, path)


def kept_charges(*, order_id: str | None = None, contract_id: str | None = None) -> list[Any]:
    """Captured, unrefunded charges of an order (or of a contract's renewals), found through the ledger."""
    repo = bootstrap.repository()

    def pays_for(charge: Any) -> bool:
        payment = repo.get_payment(charge.idempotency_key.removeprefix("seats:payment:"))
        if payment is None:
            return False
        if order_id is not None:
            return payment.order_id == order_id
        return payment.purpose == "renewal" and payment.contract_id == contract_id

    return [c for c in bootstrap.payment_gateway().list_charges() if c.status == "succeeded" and pays_for(c)]


def assert_submitted_once(order_id: str, recovery: Recovery) -> None:
    repo = bootstrap.repository()
    order = repo.get_order(order_id)
    assert order is not None and order.status == "completed", (order, recovery)
    assert recovery.final.status == 200 or (recovery.final.status, recovery.final.code) == (409, "order_not_draft"), \
        recovery
    [charge] = kept_charges(order_id=order_id)
    assert (charge.charge_id, charge.amount) == (order.charge_id, order.total)
    seats = repo.get_contract(CONTRACT_A).subscription(SUBSCRIPTION_A).seats
    assert seats == 10 + order.seats_to_add == order.seats_after
    added = [e for e in repo.list_history(CONTRACT_A)
             if e.type == "seats_added" and e.details["order_id"] == order_id]
    assert len(added) == 1
    if recovery.first is not None:
        assert recovery.first.status < 500 or recovery.first.status == 503, recovery.first
        assert recovery.first.status != 503 or recovery.first.content_type == "application/problem+json"


def test_a_submit_faulted_at_any_write_recovers_with_one_charge_and_its_seats_added_once(
        api, faults, later, outbox, figures):
    scene = Scene()
    order_id = scene.reset(drafts=(CONTRACT_A,))[CONTRACT_A]
    faults.arm(None)
    assert submit(api, order_id, "dry-run").status == 200
    writes = list(faults.writes)
    assert any(w.startswith("TransactWriteItems") for w in writes), writes

    first_statuses: Counter[str] = Counter()
    final_statuses: Counter[str] = Counter()
    paths: Counter[str] = Counter()
    events_wrong = []
    plans = fault_plans(writes)
    for n, plan in enumerate(plans):
        order_id = scene.reset(drafts=(CONTRACT_A,))[CONTRACT_A]
        fired_before = faults.fired
        recovery = submit_and_recover(api, order_id, f"fault-{n}", later, lambda plan=plan: faults.arm(plan))
        faults.arm(None)
        assert faults.fired == fired_before + 1, f"{plan} never fired: writes were {faults.writes}"
        assert_submitted_once(order_id, recovery)
        assert recovery.first is not None
        first_statuses[f"{recovery.first.status} {recovery.first.code or ''}".strip()] += 1
        final_statuses[f"{recovery.final.status} {recovery.final.code or ''}".strip()] += 1
        paths[recovery.path] += 1
        committed = sum(1 for kind, d in outbox() if kind == "SeatsAdded" and d.get("order_id") == order_id)
        if committed != 1:
            events_wrong.append(f"{plan.code} {plan.when} write {plan.index} ({writes[plan.index]}): {committed}")

    assert events_wrong == [], f"SeatsAdded not committed exactly once after: {events_wrong}"
    figures.row(
        f"Submit: each of its {len(writes)} writes ({'; '.join(writes)}) fails with "
        f"{' / '.join(THROTTLES)} (and {CANCELLED} on the transaction), before or after the write "
        "takes effect; then the client retries",
        len(plans),
        "order completed once, one kept charge of its total, seats added once, one seats_added event; "
        f"faulted answers: {dict(sorted(first_statuses.items()))}; recovered by: {dict(sorted(paths.items()))}, "
        f"final answers: {dict(sorted(final_statuses.items()))}; SeatsAdded committed (outbox) exactly once "
        f"in all {len(plans)} cases",
    )


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_provider_time_out_is_503_and_the_retry_charges_once(api, provider, later, figures, when):
    scene = Scene()
    results = []
    for retry_key in ("same", "new"):
        order_id = scene.reset(drafts=(CONTRACT_A,))[CONTRACT_A]

        def time_out() -> None:
            provider.next_fault = when

        recovery = submit_and_recover(api, order_id, f"timeout-{when}-{retry_key}", later, time_out) \
            if retry_key == "same" else _new_key_recovery(api, order_id, provider, when)
        assert recovery.first is not None
        assert (recovery.first.status, recovery.first.code) == (503, "payment_provider_unavailable")
        assert_submitted_once(order_id, recovery)
        results.append(recovery.path)
    figures.row(f"Submit: the provider times out {when} capturing; the client retries with the same key, "
                "and (another order) with a new key", 2,
                "503 payment_provider_unavailable, then completed with exactly one kept charge, seats once")


def _new_key_recovery(api: Api, order_id: str, provider: FaultyGateway, when: str) -> Recovery:
    provider.next_fault = when
    first = submit(api, order_id, f"timeout-{when}-first")
    final = submit(api, order_id, f"timeout-{when}-second")
    return Recovery(first, final, "a new key")


@pytest.mark.parametrize("retry", ["same key after the in-progress window", "new key at once"])
def test_a_submit_whose_process_dies_between_charge_and_write_is_completed_by_the_retry(
        api, provider, later, figures, retry):
    order_id = Scene().reset(drafts=(CONTRACT_A,))[CONTRACT_A]
    provider.next_fault = "killed"
    with pytest.raises(WorkerKilled):
        submit(api, order_id, "killed")
    assert len(kept_charges(order_id=order_id)) == 1  # the money was taken, nothing written
    assert bootstrap.repository().get_order(order_id).status == "draft"
    if retry == "new key at once":
        final = submit(api, order_id, "killed-retry")
    else:
        assert submit(api, order_id, "killed").code == "request_in_progress"  # its first request may still run
        later(60)
        final = submit(api, order_id, "killed")
    assert_submitted_once(order_id, Recovery(None, final, retry))
    assert final.status == 200
    figures.row(f"Submit: the process dies between the charge and the write; retried with the {retry}", 1,
                "200 completed with the charge already taken (no second charge), seats once")


# -- a renewal, faulted, then redelivered --------------------------------------------------------------

def renewal_seed() -> dict[str, Any]:
    seed = reliability_seed()
    template = seed["accounts"][0]["contracts"][0]
    for n in range(RENEWAL_CONTRACTS):
        contract = copy.deepcopy(template)
        contract["contract_id"] = f"77{n:010d}"
        contract["subscriptions"][0]["subscription_id"] = f"sub-77-{n}"
        seed["accounts"][0]["contracts"].append(contract)
    return seed


@pytest.fixture
def renewal_contracts(world: Any) -> Iterator[str]:
    """Fresh contracts like CONTRACT_A (renewing 2027-03-01, 10 × 1975.00 USD), one per scenario."""
    seed_loader.load(bootstrap.repository(), renewal_seed())
    return iter(f"77{n:010d}" for n in range(RENEWAL_CONTRACTS))


def deliver(contract_id: str) -> bool:
    """One delivery of the contract's message, alone in its batch: True when the worker is done with it
    (a batch whose every record failed makes the whole invocation fail, as Powertools does)."""
    record = copy.deepcopy(SQS_RECORD)
    record["messageId"] = f"msg-{contract_id}"
    record["body"] = json.dumps({"contract_id": contract_id, "as_of": RENEWAL_AS_OF})
    try:
        answer = renewal_worker({"Records": [record]}, LambdaContext())
    except BatchProcessingError:
        return False
    return answer == {"batchItemFailures": []}


def deliver_until_done(contract_id: str, fault: Callable[[], None]) -> tuple[str, int]:
    """The faulted delivery, then redeliveries as SQS would (a failed or lost message comes back)."""
    fault()
    try:
        first = "ok" if deliver(contract_id) else "reported failed"
    except WorkerKilled:
        first = "worker died"
    deliveries = 1
    while deliveries < 4:
        deliveries += 1
        if deliver(contract_id):
            break
    return first, deliveries


def assert_renewed_once(contract_id: str) -> None:
    repo = bootstrap.repository()
    contract = repo.get_contract(contract_id)
    assert contract.renewal_date.isoformat() == "2028-03-01" and contract.status == "active"
    renewals = [o for o in repo.list_orders(contract_id) if o.type == "renewal"]
    [charge] = kept_charges(contract_id=contract_id)
    assert [(o.status, o.charge_id, o.total) for o in renewals] == [("completed", charge.charge_id, charge.amount)]
    assert [e.type for e in repo.list_history(contract_id)].count("renewed") == 1
    assert contract.subscriptions[0].seats == 10


def test_a_renewal_faulted_at_any_write_is_recorded_once_after_redelivery(renewal_contracts, faults, figures):
    dry = next(renewal_contracts)
    faults.arm(None)
    assert deliver(dry)
    writes = list(faults.writes)
    assert writes, "the renewal wrote nothing"
    assert_renewed_once(dry)

    firsts: Counter[str] = Counter()
    plans = fault_plans(writes)
    for plan in plans:
        contract_id = next(renewal_contracts)
        fired_before = faults.fired
        first, _ = deliver_until_done(contract_id, lambda plan=plan: faults.arm(plan))
        faults.arm(None)
        assert faults.fired == fired_before + 1, f"{plan} never fired"
        assert_renewed_once(contract_id)
        firsts[first] += 1
    figures.row(
        f"Renewal: each of its {len(writes)} writes ({'; '.join(writes)}) fails with {' / '.join(THROTTLES)} "
        f"or {CANCELLED}, before or after taking effect; SQS redelivers",
        len(plans),
        f"renewed once (one renewal order, one kept charge, one renewed event); first delivery: {dict(firsts)}",
    )


@pytest.mark.parametrize("fault", ["before", "after", "killed"])
def test_a_renewal_whose_provider_times_out_or_whose_worker_dies_charges_once(
        renewal_contracts, provider, figures, fault):
    contract_id = next(renewal_contracts)

    def arm() -> None:
        provider.next_fault = fault

    first, deliveries = deliver_until_done(contract_id, arm)
    assert first == ("worker died" if fault == "killed" else "reported failed")
    assert deliveries == 2
    assert_renewed_once(contract_id)
    what = {"before": "the provider times out before capturing", "after": "the provider times out after capturing",
            "killed": "the worker dies between the charge and the write"}[fault]
    figures.row(f"Renewal: {what}; the message is delivered again", 1,
                "the redelivery renews once with one kept charge (the captured one when there was one)")
