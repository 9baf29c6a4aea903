"""ReconcilePaymentsFunction on moto (docs/payments.md): a payment a crash left unsettled is settled by the
run that finds it 10 minutes or more after it started, from the Scheduled Event's `time`: a capture completes
its draft (seats added once, one SeatsAdded) or, when the draft is gone, is refunded; a payment never confirmed
is failed; a younger one is left to its request. The counts are the answer and EMF metrics."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from functions.reconcile_payments.app import lambda_handler as reconcile
from seats import bootstrap, clock
from seats.adapters.payments.sandbox import Sandbox
from seats.domain.errors import PaymentProviderUnavailable
from seats.domain.payments import Payment
from seats.observability import logger
from seats.services import add_seats, submit
from tests.conftest import EVENTS, NOW, LambdaContext
from tests.integration.add_seats_support import CONTRACT, MANAGER, SUBSCRIPTION, new_draft
from tests.integration.add_seats_support import submit as submit_request

SCHEDULED_EVENT = json.loads((EVENTS / "reconcile_schedule.json").read_text())
COUNTS = {"examined": "PaymentsExamined", "completed": "PaymentsCompleted", "refunded": "PaymentsRefunded",
          "failed": "PaymentsFailed"}


def minutes_after_start(minutes: int) -> str:
    return clock.iso(clock.parse_instant(NOW) + timedelta(minutes=minutes))


def run_at(at: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """One scheduled run: its `time` is `at`, and so is the clock of what it writes."""
    monkeypatch.setenv("SEATS_NOW", at)
    bootstrap.reset()
    return reconcile({**SCHEDULED_EVENT, "time": at}, LambdaContext())


def crash_once(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> None:
    """`owner.name` raises the first time it is called (the process dies there), then works again."""
    real = getattr(owner, name)
    calls = []

    def crashing(*args: Any, **kwargs: Any) -> Any:
        calls.append(name)
        if len(calls) == 1:
            raise RuntimeError(f"the process crashed in {name}")
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, crashing)


def submit_crashing_in(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> str:
    """A draft for 3 seats whose submit dies in `owner.name`; its order id."""
    order_id = new_draft(3)["order_id"]
    crash_once(monkeypatch, owner, name)
    status, body, _ = submit_request(order_id)
    assert status == 500, body
    return order_id


def payment_of(order_id: str) -> Payment:
    repo = bootstrap.repository()
    order = repo.get_order(order_id)
    assert order is not None and order.payment_id is not None
    payment = repo.get_payment(order.payment_id)
    assert payment is not None
    return payment


def seats() -> int:
    contract = bootstrap.repository().get_contract(CONTRACT)
    assert contract is not None
    return contract.subscription(SUBSCRIPTION).seats


def charges() -> list[tuple[str, str]]:
    return [(str(c.amount), c.status) for c in bootstrap.payment_gateway().list_charges()]


def emf(stdout: str) -> dict[str, Any]:
    """The metrics of the last EMF blob printed: {name: (values, unit)}."""
    blobs = [json.loads(line) for line in stdout.splitlines() if line.startswith("{") and '"_aws"' in line]
    assert blobs, "no EMF blob was printed"
    last = blobs[-1]
    (directive,) = last["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "Seats" and last["service"] == "seats"
    return {m["Name"]: (last[m["Name"]], m["Unit"]) for m in directive["Metrics"]}


def test_a_capture_left_pending_by_a_crash_completes_the_draft_once_ten_minutes_later(
        seeded, outbox: Callable[[], list[tuple[str, dict[str, Any]]]], monkeypatch):
    order_id = submit_crashing_in(monkeypatch, submit, "complete")
    payment = payment_of(order_id)
    assert (payment.status, seats(), charges()) == ("pending", 10, [("1493.42", "succeeded")])

    too_soon = run_at(minutes_after_start(9), monkeypatch)
    assert too_soon == {"as_of": "2026-11-29T10:09:00.000Z", "examined": 0, "completed": 0, "refunded": 0,
                        "failed": 0}
    assert (payment_of(order_id).status, seats(), outbox()) == ("pending", 10, [])

    answer = run_at(minutes_after_start(11), monkeypatch)
    assert answer == {"as_of": "2026-11-29T10:11:00.000Z", "examined": 1, "completed": 1, "refunded": 0,
                      "failed": 0}
    order = bootstrap.repository().get_order(order_id)
    assert order is not None and order.status == "completed" and order.charge_id == payment.provider_ref
    assert (payment_of(order_id).status, seats(), charges()) == ("succeeded", 13, [("1493.42", "succeeded")])
    assert [(kind, e["order_id"], e["seats_added"]) for kind, e in outbox()] == [("SeatsAdded", order_id, 3)]

    again = run_at(minutes_after_start(26), monkeypatch)
    assert (again["examined"], seats(), len(outbox())) == (0, 13, 1)


def test_a_capture_whose_draft_was_cancelled_meanwhile_is_refunded(seeded, outbox, monkeypatch):
    order_id = submit_crashing_in(monkeypatch, submit, "complete")
    # The cancellation raced the submit: it read the draft before the payment was recorded on it.
    monkeypatch.setattr(add_seats, "settle_open_payment", lambda *args, **kwargs: None)
    add_seats.cancel_draft(bootstrap.repository(), bootstrap.payment_gateway(), order_id, MANAGER)

    answer = run_at(minutes_after_start(15), monkeypatch)

    assert (answer["examined"], answer["completed"], answer["refunded"], answer["failed"]) == (1, 0, 1, 0)
    assert payment_of(order_id).status == "refunded"
    assert (charges(), seats()) == ([("1493.42", "refunded")], 10)
    assert [kind for kind, _ in outbox()] == []


def test_a_payment_never_confirmed_is_failed_and_the_draft_can_be_submitted_again(seeded, monkeypatch):
    order_id = submit_crashing_in(monkeypatch, Sandbox, "confirm_payment")
    assert (payment_of(order_id).status, charges()) == ("pending", [])

    answer = run_at(minutes_after_start(12), monkeypatch)

    assert (answer["examined"], answer["completed"], answer["refunded"], answer["failed"]) == (1, 0, 0, 1)
    assert (payment_of(order_id).status, seats(), charges()) == ("failed", 10, [("1493.42", "canceled")])
    status, body, _ = submit_request(order_id, "key-2")
    assert (status, body["status"], seats()) == (200, "completed", 13), body


def test_the_counts_and_the_age_of_the_oldest_unsettled_payment_are_emitted_in_emf(seeded, monkeypatch, capsys):
    submit_crashing_in(monkeypatch, submit, "complete")
    capsys.readouterr()

    def provider_down(*args: Any, **kwargs: Any) -> None:
        raise PaymentProviderUnavailable()

    with monkeypatch.context() as down:
        down.setattr(Sandbox, "get_payment", provider_down)
        stuck = run_at(minutes_after_start(70), monkeypatch)
    stuck_metrics = emf(capsys.readouterr().out)
    settled = run_at(minutes_after_start(85), monkeypatch)
    settled_metrics = emf(capsys.readouterr().out)

    assert (stuck["examined"], stuck["completed"], settled["completed"]) == (1, 0, 1)
    assert stuck_metrics == {"PaymentsExamined": ([1.0], "Count"), "PaymentsCompleted": ([0.0], "Count"),
                             "PaymentsRefunded": ([0.0], "Count"), "PaymentsFailed": ([0.0], "Count"),
                             "OldestUnsettledPaymentAgeSeconds": ([4200.0], "Seconds")}  # 70 minutes: > 3600
    assert settled_metrics["PaymentsCompleted"] == ([1.0], "Count")
    assert settled_metrics["OldestUnsettledPaymentAgeSeconds"] == ([0.0], "Seconds")

def test_the_run_logs_its_answer_with_the_scheduled_event_id_as_correlation_id(seeded, monkeypatch):
    log = io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", log)

    answer = run_at(minutes_after_start(15), monkeypatch)

    lines = [json.loads(line) for line in log.getvalue().splitlines() if line.strip()]
    (line,) = [entry for entry in lines if entry["message"] == "Payments reconciled"]
    assert line["correlation_id"] == SCHEDULED_EVENT["id"] and line["examined"] == answer["examined"] == 0
