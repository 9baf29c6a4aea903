"""Many writers on one subscription at once: drafts, submits, reductions, a renewal, and a reader.

Each thread runs what one Lambda invocation would run (the services, and for submits the route's
idempotent path `submit_once`: a Powertools resolver keeps its current event on the class, so one
resolver cannot serve two threads, which no Lambda container asks of it). moto is made atomic per
request (DynamoDB applies each request atomically); the threads interleave freely between requests.

The threads share one calendar, as Lambdas share the clock: the writers start the day before the
renewal date; the renewal turns the page to its own run (02:00 on the renewal date), which, as
midnight does, waits for the requests in flight, then renews while the writers go on (refused
with renewal_due until the renewal is written, then adding and reducing on the new term).

What must hold afterwards (docs/api.md: Adding seats, Renewal, Concurrency):
- seats = initial + Σ completed additions − Σ reductions the renewal applied;
- the money kept (succeeded, not refunded charges) is exactly the completed orders' and the
  renewal's: the same charge ids, the same amounts; no order completed twice;
- history agrees: one seats_added event per completed order, whose seats add up; one renewal;
- one SeatsAdded domain event per completed order;
- at no instant did the subscription have both an open draft and a pending reduction;
- every answer a thread got is one docs/api.md allows (never 5xx, never an unexpected exception).
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from seats import bootstrap
from seats.api.routes import submit as submit_route
from seats.clock import parse_instant
from seats.domain.errors import DomainError, DraftExists
from seats.services import add_seats, reduce_seats, renew
from seats.settings import get_settings
from tests.conftest import LambdaContext
from tests.reliability.conftest import CONTRACT_A, MANAGER_A, SUBSCRIPTION_A

SUBMITTERS = 14  # each: create (or find) the open draft, then submit it; ROUNDS times
SHARED_KEYS = 4  # the first submitters share their key with a partner (same key, same moment)
REDUCERS = 2  # each: schedule a reduction, then cancel it; ROUNDS times
READERS = 1  # reads the contract over and over, checking the one-pending-change rule
RENEWERS = 1  # renews the contract once, after the first order completed
ROUNDS = 5
PAUSE = 0.02  # at most, between a thread's steps (seconds): leaves windows without a draft
THREADS = SUBMITTERS + REDUCERS + READERS + RENEWERS
RENEWAL_RUN = "2027-03-01T02:00:00Z"  # the contract renews on 2027-03-01
ALLOWED = {  # what a thread may be answered, besides success
    "draft": {"draft_exists", "reduction_pending", "concurrent_update", "renewal_due"},
    "submit": {"order_not_draft", "request_in_progress", "concurrent_update", "idempotency_key_reused",
               "reduction_pending", "renewal_due"},
    "reduce": {"draft_exists", "concurrent_update", "renewal_due", "invalid_reduction"},
    "cancel reduction": {"no_pending_reduction", "concurrent_update", "renewal_due"},
}


class Calendar:
    """One day for every thread. Requests run within a day; turning the page (as midnight does for
    Lambdas, which never run across it for hours) waits for the requests in flight."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._running = 0
        self._turning = False

    @contextmanager
    def day(self) -> Iterator[None]:
        with self._changed:
            self._changed.wait_for(lambda: not self._turning)
            self._running += 1
        try:
            yield
        finally:
            with self._changed:
                self._running -= 1
                self._changed.notify_all()

    def turn(self, instant: str) -> None:
        with self._changed:
            self._turning = True
            self._changed.wait_for(lambda: self._running == 0)
            os.environ["SEATS_NOW"] = instant  # restored by the `aws_env` fixture's monkeypatch
            get_settings.cache_clear()  # the clock reads SEATS_NOW through the settings, read once
            self._turning = False
            self._changed.notify_all()


@dataclass
class Outcomes:
    lock: threading.Lock
    seen: Counter[tuple[str, str]]
    unexpected: list[str]

    def add(self, action: str, result: str) -> None:
        with self.lock:
            self.seen[(action, result)] += 1
            if result not in ("ok", *ALLOWED[action]):
                self.unexpected.append(f"{action}: {result}")

    def crash(self, action: str, error: BaseException) -> None:
        with self.lock:
            self.unexpected.append(f"{action} raised {error!r}")


def test_many_writers_on_one_subscription_keep_money_seats_and_history_in_agreement(
        world, atomic_aws, outbox, figures):
    repo, gateway = bootstrap.repository(), bootstrap.payment_gateway()
    initial_seats = repo.get_contract(CONTRACT_A).subscription(SUBSCRIPTION_A).seats
    outcomes = Outcomes(threading.Lock(), Counter(), [])
    start = threading.Barrier(THREADS, timeout=30)
    first_order_completed = threading.Event()
    writers_done = threading.Event()
    both_pending: list[str] = []
    calendar = Calendar()

    def submitter(n: int) -> None:
        start.wait()
        for round_ in range(ROUNDS):
            time.sleep(random.uniform(0, PAUSE))
            try:
                with calendar.day():
                    order_id = add_seats.create_draft(repo, CONTRACT_A, SUBSCRIPTION_A, 1 + (n + round_) % 3,
                                                      MANAGER_A).order_id
                outcomes.add("draft", "ok")
            except DraftExists as exists:
                order_id = exists.extra["order_id"]
                outcomes.add("draft", exists.code)
            except DomainError as refused:
                outcomes.add("draft", refused.code)
                continue
            key = f"pair-{n // 2}-round-{round_}" if n < SHARED_KEYS else f"thread-{n}-round-{round_}"
            try:
                with calendar.day():
                    answer = submit_route.submit_once(order_id=order_id, key=key, caller_id=MANAGER_A,
                                                      context=LambdaContext())
            except DomainError as refused:
                outcomes.add("submit", refused.code)
                continue
            outcomes.add("submit", "ok" if answer["status"] == 200 else answer["body"]["code"])
            if answer["status"] == 200:
                first_order_completed.set()

    def reducer(_: int) -> None:
        start.wait()
        for _round in range(ROUNDS * 2):
            time.sleep(random.uniform(0, PAUSE))
            for action, run in (
                ("reduce", lambda: reduce_seats.schedule_reduction(repo, CONTRACT_A, SUBSCRIPTION_A,
                                                                   MANAGER_A, 8)),
                ("cancel reduction", lambda: reduce_seats.cancel_reduction(repo, CONTRACT_A,
                                                                           SUBSCRIPTION_A, MANAGER_A)),
            ):
                try:
                    with calendar.day():
                        run()
                    outcomes.add(action, "ok")
                except DomainError as refused:
                    outcomes.add(action, refused.code)

    def renewer(_: int) -> None:
        start.wait()
        first_order_completed.wait(timeout=20)
        calendar.turn(RENEWAL_RUN)
        with calendar.day():
            renew.renew_contract(CONTRACT_A, parse_instant(RENEWAL_RUN), repo, gateway)

    def reader(_: int) -> None:
        start.wait()
        while not writers_done.is_set():
            subscription = repo.get_contract(CONTRACT_A).subscription(SUBSCRIPTION_A)
            if subscription.open_order_id and subscription.pending_reduction:
                both_pending.append(subscription.open_order_id)
            time.sleep(0.001)

    roles = ([submitter] * SUBMITTERS + [reducer] * REDUCERS + [renewer] * RENEWERS)
    writers = [threading.Thread(target=guarded(role, n, outcomes)) for n, role in enumerate(roles)]
    readers = [threading.Thread(target=guarded(reader, n, outcomes)) for n in range(READERS)]
    for thread in writers + readers:
        thread.start()
    for thread in writers:
        thread.join(120)
    writers_done.set()
    for thread in readers:
        thread.join(30)

    assert not any(thread.is_alive() for thread in writers + readers), "a thread hung"
    assert not outcomes.unexpected, outcomes.unexpected
    assert not both_pending, f"a draft and a reduction were pending together: {both_pending}"

    contract = repo.get_contract(CONTRACT_A)
    orders = repo.list_orders(CONTRACT_A)
    history = repo.list_history(CONTRACT_A)
    completed = [o for o in orders if o.type == "add_seats" and o.status == "completed"]
    renewals = [o for o in orders if o.type == "renewal" and o.status == "completed"]
    added = [e for e in history if e.type == "seats_added"]
    reduced = [e for e in history if e.type == "seats_reduced"]
    kept = [c for c in gateway.list_charges() if c.status == "succeeded"]  # refunded ones say so

    # Seats: every seat added was paid for, every reduction came from the renewal.
    reduction = sum(e.details["seats_before"] - e.details["seats_after"] for e in reduced)
    assert contract.subscription(SUBSCRIPTION_A).seats == \
        initial_seats + sum(o.seats_to_add for o in completed) - reduction
    # Money: exactly the completed orders' and the renewal's charges are kept, at their totals.
    assert len(renewals) == 1 and len(completed) >= 1
    paid = {o.charge_id: o.total for o in completed + renewals if o.charge_id}
    assert len(paid) == len(completed) + len(renewals), "two orders share a charge, or one has none"
    assert sorted(c.charge_id for c in kept) == sorted(paid)
    assert all(c.amount == paid[c.charge_id] for c in kept)
    # History and events: one seats_added per completed order, and its seats add up.
    assert Counter(e.details["order_id"] for e in added) == Counter(o.order_id for o in completed)
    assert sum(e.details["seats_after"] - e.details["seats_before"] for e in added) == \
        sum(o.seats_to_add for o in completed)
    assert [e.type for e in history].count("renewed") == 1
    # Domain events are committed with their change: exactly one per change that happened, none for a loser.
    events = outbox()
    seats_added_events = [d for kind, d in events if kind == "SeatsAdded"]
    assert Counter(d["order_id"] for d in seats_added_events) == Counter(o.order_id for o in completed)
    kinds = Counter(kind for kind, _ in events)
    assert kinds["SeatReductionScheduled"] == outcomes.seen[("reduce", "ok")]
    assert kinds["SeatReductionCancelled"] == outcomes.seen[("cancel reduction", "ok")]
    assert kinds["SubscriptionRenewed"] == 1

    tried = sum(outcomes.seen.values()) + RENEWERS
    figures.row(
        f"{THREADS} threads on one subscription: {SUBMITTERS} create-or-find-draft-then-submit ×{ROUNDS} "
        f"({SHARED_KEYS // 2} pairs sharing a key), {REDUCERS} schedule-then-cancel a reduction ×{ROUNDS * 2}, "
        "a renewal mid-way (the day turns for every thread, as midnight does), a reader",
        tried,
        f"{len(completed)} orders completed, {len(kept)} charges kept = {len(completed)} orders + 1 renewal, "
        f"same ids and amounts; seats {initial_seats} → {contract.subscription(SUBSCRIPTION_A).seats} "
        f"(+{sum(o.seats_to_add for o in completed)} added, −{reduction} reduced at renewal); "
        f"{len(added)} seats_added events; never a draft and a reduction together; answers: "
        + ", ".join(f"{a} {r}×{n}" for (a, r), n in sorted(outcomes.seen.items())),
    )


def guarded(role: Any, n: int, outcomes: Outcomes) -> Any:
    def run() -> None:
        try:
            role(n)
        except BaseException as error:  # noqa: BLE001 - any escape fails the test, never a silent thread death
            outcomes.crash(role.__name__, error)

    return run

