"""A model of the money rules (docs/payments.md) as a hypothesis state machine, for
tests/reliability/test_ledger_model.py: random sequences of what the contract manager, the renewal worker
and the reconciler do, with faults injected at the worst moments, run on any pair of ports (the in-memory
fakes of tests/fakes.py, or the DynamoDB adapter and the sandbox gateway on moto).

3-D Secure (docs/payments.md, "Authentication"): the "sca" card asks for the cardholder on session (a draft
given it, or created on it as the card on file, is answered payment_pending) and declines off session
(a renewal on it: authentication_required). The cardholder then passes or fails the bank's challenge of a
waiting order (`cardholder`), and the provider's webhook event about it is delivered 0 (lost), 1 or 2 times
(`services/webhooks.on_payment_event`, with the reconciler's faults); a delivery that answered an error is
delivered again later (`redeliver`) or given up. `expire` moves 23 h 11 min on and runs the reconciler,
which ends the authentications left waiting (or completes the order with a capture it finds).

Faults come from wrappers around the ports (nothing in shared/ or tests/fakes.py is touched):
- `FaultyGateway`: the provider times out before the capture (nothing taken) or after it (taken, no
  answer), a look-up or a refund times out, or the process dies around a create, confirm or refund; or
  another request lands between a capture and its answer (the draft cancelled, edited, given another card
  or submitted again; the renewal message delivered twice, the card on file changed);
- `FaultyRepository`: the commit that completes an order or renews a period (the one that settles a
  payment as succeeded) loses a race, is throttled, or is written but answered with an error; or the
  process dies before or after the n-th commit of the operation.
A dead process is `Crash`, a BaseException that no handler of the code under test catches; the rule
catches it: whatever was written stays, and the next operations (or the reconciler) carry on from there.

What must hold after every step (`money_holds`), faults or not:
- a completed order at or above the provider's minimum is paid by a kept charge (captured, not
  refunded) of exactly its total, its ledger payment settled `succeeded` with that charge; one below the
  minimum has no charge and is carried to the renewal; no two completed orders share a charge;
- a kept charge is the charge of exactly one completed order, or its ledger payment is still unsettled
  (pending, requires_action, or refunding) - never settled without it;
- a payment_pending order shows its challenge (`payment_action`), has no charge, and its payment
  `requires_action` (unsettled: a capture the cardholder made is still to be settled) for that charge, until
  the same expiry - or, only where a fault struck, its payment was settled by a step that failed before
  closing the order ("orphaned": a draft again when next touched); no other order shows a challenge; a
  provider payment still waiting for the cardholder (money could still be taken) has an unsettled ledger
  payment; the reconciler (+11 min) leaves a waiting order alone until its expiry; a DELETE that answered
  left its payment settled and nothing at the provider that could take or keep money;
- seats of each subscription = initial + Σ completed additions − Σ reductions applied by renewals; one
  seats_added history entry (and, in memory, one SeatsAdded event) per completed order, none for any other
  order; reductions applied only as scheduled;
- renewal orders chain period after period from the first renewal date, one per period, the contract
  on the last one's term; carried amounts charged at most once;
- the model's own knowledge: an order completes only if it was submitted (a submit answered
  payment_pending did not complete it; the webhook or the reconciler may later); a submit, or a webhook
  delivery, that answered completed completed it; a cancel that answered means it never completes.
After a settle step (the events whose delivery failed delivered, then the reconciler at +11 minutes, or
just past the last waiting authentication's expiry; no faults) also: no payment unsettled; every kept
charge is the charge of exactly one completed order; every refunded, failed or canceled charge's payment is
settled refunded or failed; no provider payment still waits for the cardholder; no order payment_pending
but the orphaned.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, ClassVar, Protocol

from botocore.exceptions import ClientError
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from seats import bootstrap, clock
from seats.adapters.payments.sandbox import NotAwaitingAuthentication
from seats.adapters.payments.webhooks import payment_event
from seats.domain.errors import ConcurrentUpdate, DomainError, PaymentProviderUnavailable
from seats.domain.history import HistoryEvent
from seats.domain.model import Contract, Order, RenewalOrder, SeatOrder
from seats.domain.payments import AUTHENTICATION_WINDOW, Payment, below_minimum
from seats.services import add_seats, reconcile, reduce_seats, renew, submit
from seats.services.payment_methods import set_contract_payment_method, set_order_payment_method
from seats.services.ports import (
    Charge,
    PaymentGateway,
    PaymentRequest,
    ProviderPayment,
    Repository,
    UnitOfWork,
)
from seats.services.webhooks import on_payment_event

START = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)  # tests/conftest.py NOW
CONTRACT, ACCOUNT, MANAGER = "330000000001", "acme", "u-mona"
MAIN, LITE = "sub-main", "sub-lite"  # 60.00 a seat a month; 0.90 (a seat for up to 16 days is below 0.50)
INITIAL_SEATS = {MAIN: 10, LITE: 3}
FIRST_RENEWAL = date(2026, 12, 3)
CARDS = {"good": "pm_good", "declines": "pm_declines", "times_out": "pm_times_out", "sca": "pm_sca"}
SCA_TOKEN = "tok_threeDSecure2Required"  # the "sca" card: 3-D Secure on session, authentication_required off
SUBMIT_KEYS = ("key-1", "key-2", "key-3")  # Idempotency-Keys of the caller: replays and new keys
RECONCILE_DELAY = timedelta(minutes=11)  # the reconciler settles what is 10 minutes old
EXPIRY_DELAY = AUTHENTICATION_WINDOW + RECONCILE_DELAY  # a reconciler run after every wait started so far expired
ANY_TIME = datetime(2100, 1, 1, tzinfo=UTC)


def seed_data() -> dict[str, Any]:
    """One monthly contract with two subscriptions, four cards (good, declining, timing out after the capture,
    asking for the cardholder's 3-D Secure authentication)."""
    return {"accounts": [{
        "account_id": ACCOUNT, "name": "Acme Corp", "country": "US", "currency": "USD",
        "users": [{"user_id": MANAGER, "email": "mona@acme.test", "role": "user"}],
        "payment_methods": [
            {"payment_method_id": CARDS["good"], "token": "tok_visa"},
            {"payment_method_id": CARDS["declines"], "token": "tok_chargeCustomerFail"},
            {"payment_method_id": CARDS["times_out"], "token": "tok_timeoutAfterCapture"},
            {"payment_method_id": CARDS["sca"], "token": SCA_TOKEN},
        ],
        "contracts": [{
            "contract_id": CONTRACT, "contract_manager": MANAGER, "purchase_channel": "online",
            "auto_renew": True, "term": "monthly", "term_start": "2026-11-03",
            "renewal_date": FIRST_RENEWAL.isoformat(), "billing_anchor_day": 3, "status": "active",
            "payment_method_id": CARDS["good"],
            "subscriptions": [
                {"subscription_id": MAIN, "product": "AutoCAD", "seats": INITIAL_SEATS[MAIN], "assigned_seats": 2,
                 "unit_price": "60.00"},
                {"subscription_id": LITE, "product": "Viewer", "seats": INITIAL_SEATS[LITE], "unit_price": "0.90"},
            ]}],
    }]}


def set_clock(at: datetime) -> None:
    """The services' clock, as every suite moves it: SEATS_NOW, then bootstrap.reset()."""
    os.environ["SEATS_NOW"] = clock.iso(at)
    bootstrap.reset()


# -- faults ------------------------------------------------------------------------------------------------

class Crash(BaseException):
    """The process died here (a Lambda timed out or ran out of memory): no handler of the code under test runs."""


@dataclass(frozen=True)
class Fault:
    kind: str
    at: int = 0  # for the commit faults: which commit of the operation (0: its first)


CAPTURE_FAULTS = (  # at the provider, while money is taken
    "timeout_before_capture",  # confirm_payment raises PaymentProviderUnavailable; the sandbox never hears of it
    "timeout_after_capture",  # the sandbox captures, then the answer is lost
    "crash_after_create",  # the provider's payment exists, its id was never recorded
    "crash_before_confirm",
    "crash_after_confirm",  # the money is taken and the process dies
)
MEANWHILE_SUBMIT = (  # another request lands between the capture and its answer (run on the ports as they are)
    "meanwhile_cancel",  # the manager cancels the draft being paid
    "meanwhile_edit",  # ... changes its seats
    "meanwhile_card",  # ... chooses another card for it
    "meanwhile_submit",  # ... submits it again with another key
)
MEANWHILE_RENEWAL = (
    "meanwhile_renew",  # the renewal message delivered twice, the second worker running now
    "meanwhile_card_on_file",  # the manager changes the card on file
    "meanwhile_cancel",  # the manager cancels an open draft
)
LOOKUP_FAULTS = ("timeout_lookup",)  # get_payment does not answer
REFUND_FAULTS = (  # at the provider, while money is given back
    "timeout_refund",  # refund does not reach the provider
    "crash_before_refund",
    "crash_after_refund",  # refunded at the provider, the ledger not told
)
COMPLETION_FAULTS = (  # the commit that settles a payment as succeeded (an order completed, a period renewed)
    "completion_conflict",  # ConcurrentUpdate, nothing written
    "completion_throttled",  # ProvisionedThroughputExceededException, nothing written
    "completion_lost_answer",  # written, then InternalServerError
    "crash_before_completion",
    "crash_after_completion",
)
COMMIT_FAULTS = (  # the n-th commit of the operation, whatever it writes
    "crash_before_commit", "crash_after_commit", "throttled_commit", "lost_answer_commit",
)


def _faults(*kinds: tuple[str, ...]) -> st.SearchStrategy[Fault | None]:
    """No fault, or one of `kinds`, or one of the commit faults at one of the operation's first 3 commits."""
    planned = [Fault(kind) for group in kinds for kind in group]
    planned += [Fault(kind, at) for kind in COMMIT_FAULTS for at in range(3)]
    return st.one_of(st.none(), st.sampled_from(planned))  # shrinks to no fault


submit_faults = _faults(CAPTURE_FAULTS, MEANWHILE_SUBMIT, LOOKUP_FAULTS, COMPLETION_FAULTS)
change_faults = _faults(LOOKUP_FAULTS, REFUND_FAULTS)  # a draft changed or cancelled: its payment settled
renewal_faults = _faults(CAPTURE_FAULTS, MEANWHILE_RENEWAL, LOOKUP_FAULTS, COMPLETION_FAULTS, REFUND_FAULTS)
reconcile_faults = _faults(LOOKUP_FAULTS, COMPLETION_FAULTS, REFUND_FAULTS)
webhook_faults = reconcile_faults  # a delivery settles through the reconciler's code (services/settlement.py)
subscriptions = st.sampled_from([MAIN, LITE])
cards_on_file = st.sampled_from(["good", "good", "times_out", "declines", "good", "sca"])  # 1 in 3 fail renewals


def _client_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "injected by the ledger model"},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "TransactWriteItems")


class Injector:
    """The fault planned for the current operation (fired at most once), and what fired."""

    def __init__(self, fired: Counter[str]) -> None:
        self.plan: Fault | None = None
        self.fired = fired  # by kind, across the run
        self.fired_now: list[str] = []  # during the current operation
        self.commits = 0  # commits of the current operation so far
        self.changes = 0  # commits and provider calls that may change something, ever: the checks' clock
        self.meanwhile: Callable[[str], None] = lambda kind: None  # runs the request of a meanwhile_* fault

    def arm(self, fault: Fault | None) -> None:
        self.plan, self.fired_now, self.commits = fault, [], 0

    def disarm(self) -> None:
        self.plan = None

    def fires(self, kind: str, at: int | None = None) -> bool:
        plan = self.plan
        if plan is None or plan.kind != kind or (at is not None and plan.at != at):
            return False
        self.plan = None
        self.fired[kind] += 1
        self.fired_now.append(kind)
        return True


class FaultyGateway:
    """The payment provider with the planned fault at its calls."""

    def __init__(self, gateway: PaymentGateway, injector: Injector) -> None:
        self.gateway = gateway
        self.injector = injector

    def create_payment(self, request: PaymentRequest) -> str:
        self.injector.changes += 1
        provider_ref = self.gateway.create_payment(request)
        if self.injector.fires("crash_after_create"):
            raise Crash("after create_payment")
        return provider_ref

    def confirm_payment(self, provider_ref: str, request: PaymentRequest) -> ProviderPayment:
        self.injector.changes += 1
        fires = self.injector.fires
        if fires("timeout_before_capture"):
            raise PaymentProviderUnavailable("injected: a time-out before the capture")
        if fires("crash_before_confirm"):
            raise Crash("before confirm_payment")
        state = self.gateway.confirm_payment(provider_ref, request)
        plan = self.injector.plan
        if plan is not None and plan.kind.startswith("meanwhile_") and fires(plan.kind):
            self.injector.meanwhile(plan.kind)
        if fires("timeout_after_capture"):
            raise PaymentProviderUnavailable("injected: a time-out after the capture")
        if fires("crash_after_confirm"):
            raise Crash("after confirm_payment")
        return state

    def get_payment(self, provider_ref: str) -> ProviderPayment | None:
        if self.injector.fires("timeout_lookup"):
            raise PaymentProviderUnavailable("injected: the look-up timed out")
        return self.gateway.get_payment(provider_ref)

    def cancel_payment(self, provider_ref: str) -> ProviderPayment:
        self.injector.changes += 1
        return self.gateway.cancel_payment(provider_ref)

    def refund(self, provider_ref: str, idempotency_key: str) -> None:
        self.injector.changes += 1
        fires = self.injector.fires
        if fires("timeout_refund"):
            raise PaymentProviderUnavailable("injected: the refund timed out")
        if fires("crash_before_refund"):
            raise Crash("before refund")
        self.gateway.refund(provider_ref, idempotency_key)
        if fires("crash_after_refund"):
            raise Crash("after refund")

    def __getattr__(self, name: str) -> Any:  # attach, list_charges
        return getattr(self.gateway, name)


class FaultyRepository:
    """The repository whose units of work fail as planned."""

    def __init__(self, repo: Repository, injector: Injector) -> None:
        self.repo = repo
        self.injector = injector

    def unit_of_work(self) -> UnitOfWork:
        return FaultyUnit(self.repo.unit_of_work(), self.injector)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.repo, name)


class FaultyUnit:
    def __init__(self, work: UnitOfWork, injector: Injector) -> None:
        self.work = work
        self.injector = injector
        self.completion = False  # settles a payment as succeeded: an order completed, or a period renewed

    def save_payment(self, payment: Payment) -> None:
        self.completion = self.completion or payment.status == "succeeded"
        self.work.save_payment(payment)

    def commit(self) -> None:
        injector = self.injector
        injector.changes += 1
        index, injector.commits = injector.commits, injector.commits + 1
        fires = injector.fires
        if self.completion and fires("completion_conflict"):
            raise ConcurrentUpdate()
        if (self.completion and fires("completion_throttled")) or fires("throttled_commit", index):
            raise _client_error("ProvisionedThroughputExceededException", 400)
        if (self.completion and fires("crash_before_completion")) or fires("crash_before_commit", index):
            raise Crash("before a commit")
        lost = (self.completion and fires("completion_lost_answer")) or fires("lost_answer_commit", index)
        crash = (self.completion and fires("crash_after_completion")) or fires("crash_after_commit", index)
        self.work.commit()
        if lost:
            raise _client_error("InternalServerError", 500)
        if crash:
            raise Crash("after a commit")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.work, name)


# -- the run's figures -------------------------------------------------------------------------------------

@dataclass
class Stats:
    examples: int = 0
    steps: int = 0  # rules run (hypothesis steps)
    operations: int = 0  # service calls made by them
    settles: int = 0
    checks: int = 0  # invariants evaluated (each one, each time)
    charges_checked: int = 0  # charges examined by the invariants (each time)
    charges_made: int = 0  # provider payments that reached a final answer, over all examples
    kept_at_end: int = 0  # of those, kept (captured, not refunded) once settled
    faults: Counter[str] = field(default_factory=Counter)  # fired, by kind
    orphans: int = 0  # orders payment_pending after a settle, their payment settled (a draft when next touched)
    outcomes: Counter[str] = field(default_factory=Counter)  # "<operation> <outcome>"

    def faults_fired(self) -> int:
        return sum(self.faults.values())

    def summary(self) -> str:
        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(self.faults.items()))
        return (f"{self.examples} examples, {self.steps} steps ({self.operations} service calls), "
                f"{self.settles} settles; "
                f"{self.faults_fired()} faults fired ({kinds}); {self.charges_made} charges made, "
                f"{self.kept_at_end} kept at the end, {self.charges_checked} charge checks; "
                f"{self.checks} invariant checks; {self.orphans} orphaned challenges seen after a settle")


# -- the ports under test ----------------------------------------------------------------------------------

class World(Protocol):
    repo: Repository
    gateway: PaymentGateway

    def close(self) -> None: ...


# -- the state machine -------------------------------------------------------------------------------------

def _payment_id_of(charge: Charge) -> str:
    """The ledger payment a provider payment belongs to: its idempotency key is `seats:payment:<id>`."""
    prefix = "seats:payment:"
    assert charge.idempotency_key.startswith(prefix), charge
    return charge.idempotency_key.removeprefix(prefix)


class LedgerMachine(RuleBasedStateMachine):
    """Subclassed per pair of ports: `make_world` builds a fresh, seeded world for each example."""

    make_world: ClassVar[Callable[[], World]]
    stats: ClassVar[Stats]

    def __init__(self) -> None:
        super().__init__()
        self.now = START
        set_clock(self.now)
        self.world = type(self).make_world()
        self.injector = Injector(self.stats.faults)
        self.injector.meanwhile = self._meanwhile
        self.paying: str | None = None  # the order the current submit pays
        self.repo = FaultyRepository(self.world.repo, self.injector)
        self.gateway = FaultyGateway(self.world.gateway, self.injector)
        self.latest: dict[str, str] = {}  # the latest order created, by subscription
        self.submitted: set[str] = set()  # orders a submit was made for
        self.answered_completed: set[str] = set()  # a submit answered with the completed order
        self.answered_cancelled: set[str] = set()  # a cancel answered
        # 3-D Secure: the webhook events whose delivery answered an error (the provider delivers them again), as
        # (order, event); the orders payment_pending at the last check, as (order, the charge of its challenge),
        # with their expiry, and those whose charge the cardholder can still act on.
        self.undelivered: list[tuple[str, dict[str, Any]]] = []
        self.waiting: list[tuple[str, str]] = []
        self.expiries: dict[str, datetime] = {}
        self.awaited: list[tuple[str, str]] = []
        # The orders waiting for the cardholder when an operation failed by a fault: one may be left "orphaned",
        # payment_pending with its payment settled, until next touched (authentication.reopen_if_over).
        self.interrupted: set[str] = set()
        self.reductions: dict[str, set[int]] = {MAIN: set(), LITE: set()}  # seats scheduled at renewal
        self.settled = True
        self.stats.examples += 1
        self.invariant_runs = 0  # once before the first step, then after each step
        # What the last check read, kept while nothing changed (the injector counts every commit and every
        # provider call that may change something): a step that wrote nothing is not read again.
        self.checked: tuple[int, bool] | None = None  # (changes, settled) at the last check
        self.contract: Contract | None = None
        self.history_for: frozenset[str] | None = None  # the completed orders the history was last read for
        self.added: Counter[str] = Counter()  # seats_added entries by order
        self.announced: Counter[str] | None = None  # SeatsAdded events by order (the in-memory ports only)
        self.reduced: list[HistoryEvent] = []  # seats_reduced entries
        self.terminal: dict[str, Payment] = {}  # ledger payments read in a final status (they never change)

    # -- running one operation -----------------------------------------------------------------------
    def _run(self, operation: str, fault: Fault | None, call: Callable[[], Any]) -> Any:
        """Run `call` with `fault` planned; None when it failed as a client would see (the error, or no answer)."""
        self.stats.operations += 1
        self.settled = False
        self.injector.arm(fault)
        outcome, result = "ok", None
        try:
            result = call()
        except Crash:
            outcome = "crashed"
        except ClientError as error:
            assert self.injector.fired_now, f"{operation}: a DynamoDB error nobody injected: {error}"
            outcome = error.response["Error"]["Code"]
        except ConcurrentUpdate:
            assert self.injector.fired_now, f"{operation}: concurrent_update with no other writer and no fault"
            outcome = "concurrent_update"
        except DomainError as error:
            outcome = str(error.code)
        finally:
            self.injector.disarm()
        if self.injector.fired_now and outcome != "ok":
            self.interrupted.update(order_id for order_id, _ in self.waiting)
        self.stats.outcomes[f"{operation} {outcome}"] += 1
        return result

    def _meanwhile(self, kind: str) -> None:
        """Another request, on the ports as they are (no faults), while a capture's answer is on its way."""
        repo, gateway = self.world.repo, self.world.gateway
        contract = repo.get_contract(CONTRACT)
        assert contract is not None
        order_id = self.paying or next((s.open_order_id for s in contract.subscriptions if s.open_order_id), None)
        order = repo.get_order(order_id) if order_id else None
        if kind == "meanwhile_renew":
            self._attempt(kind, lambda: renew.renew_contract(CONTRACT, clock.utc_now(), repo, gateway))
        elif kind == "meanwhile_card_on_file":
            card = CARDS["times_out"] if contract.payment_method and \
                contract.payment_method.payment_method_id == CARDS["good"] else CARDS["good"]
            self._attempt(kind, lambda: set_contract_payment_method(repo, CONTRACT, card, MANAGER))
        elif not isinstance(order, SeatOrder):
            return
        elif kind == "meanwhile_cancel" and self._attempt(kind, lambda: add_seats.cancel_draft(
                repo, gateway, order.order_id, MANAGER)):
            self._cancel_answered(order)
        elif kind == "meanwhile_edit":
            self._attempt(kind, lambda: add_seats.update_draft(
                repo, gateway, order.order_id, order.seats_to_add % 3 + 1, MANAGER))
        elif kind == "meanwhile_card":
            card = CARDS["declines"] if order.payment_method and \
                order.payment_method.payment_method_id == CARDS["good"] else CARDS["good"]
            self._attempt(kind, lambda: set_order_payment_method(repo, gateway, order.order_id, card, MANAGER))
        elif kind == "meanwhile_submit":
            answers: list[SeatOrder] = []
            if self._attempt(kind, lambda: answers.append(submit.submit(
                    repo, gateway, order.order_id, MANAGER, f"{MANAGER}:other"))):
                self._submit_answered(order.order_id, answers[0])

    def _attempt(self, operation: str, call: Callable[[], Any]) -> bool:
        """A request with no fault planned: True if it answered, False for the error it answered with."""
        self.stats.operations += 1
        try:
            call()
        except ConcurrentUpdate:
            raise AssertionError(f"{operation}: concurrent_update with no other writer") from None
        except DomainError as error:
            self.stats.outcomes[f"{operation} {error.code}"] += 1
            return False
        self.stats.outcomes[f"{operation} ok"] += 1
        return True

    def _move_clock(self, by: timedelta) -> None:
        self.now += by
        set_clock(self.now)

    # -- the contract manager ----------------------------------------------------------------------------
    @initialize(main=st.integers(1, 3), lite=st.integers(1, 3), card=st.sampled_from(["good", "sca"]))
    def first_drafts(self, main: int, lite: int, card: str) -> None:
        """The first drafts, on the card on file (`card`: the seeded one, or the 3-D Secure card)."""
        if card != "good":
            self._run("card on file", None, lambda: set_contract_payment_method(
                self.repo, CONTRACT, CARDS[card], MANAGER))
        self.create_draft(MAIN, main)
        self.create_draft(LITE, lite)

    def _contract(self) -> Contract:
        """The contract as stored (as the last check read it, if nothing changed since)."""
        if self.contract is None or self.checked is None or self.checked[0] != self.injector.changes:
            self.contract = self.world.repo.get_contract(CONTRACT)
        assert self.contract is not None
        return self.contract

    def _order_of(self, subscription: str) -> str | None:
        """What the manager acts on: the subscription's open draft, else its latest order (a replay)."""
        return self._contract().subscription(subscription).open_order_id or self.latest.get(subscription)

    @rule(subscription=subscriptions, seats=st.integers(1, 3))
    def create_draft(self, subscription: str, seats: int) -> None:
        order = self._run("create draft", None, lambda: add_seats.create_draft(
            self.repo, CONTRACT, subscription, seats, MANAGER))
        if order is not None:
            self.latest[subscription] = order.order_id

    @rule(subscription=subscriptions, seats=st.integers(1, 3), fault=change_faults)
    def edit_draft(self, subscription: str, seats: int, fault: Fault | None) -> None:
        order = self._order_of(subscription)
        if order is not None:
            self._run("edit draft", fault, lambda: add_seats.update_draft(
                self.repo, self.gateway, order, seats, MANAGER))

    @rule(subscription=subscriptions, fault=change_faults)
    def cancel_draft(self, subscription: str, fault: Fault | None) -> None:
        order = self._order_of(subscription)
        if order is None:
            return
        before = self.world.repo.get_order(order)
        cancelled = self._run("cancel draft", fault, lambda: add_seats.cancel_draft(
            self.repo, self.gateway, order, MANAGER))
        if cancelled is not None:
            assert cancelled.status == "cancelled", cancelled
            self._cancel_answered(before)

    def _cancel_answered(self, before: Order | None) -> None:
        """A DELETE answered: the order never completes, and the payment it had in progress was settled first
        (canceled at the provider, a capture refunded): nothing left that could still take or keep money."""
        assert before is not None
        self.answered_cancelled.add(before.order_id)
        if isinstance(before, SeatOrder) and before.payment_id is not None:
            paid = self.world.repo.get_payment(before.payment_id)
            state = self.world.gateway.get_payment(paid.provider_ref) if paid and paid.provider_ref else None
            assert paid is not None and not paid.unsettled and (
                state is None or state.status in ("failed", "canceled") or state.refunded), \
                f"order {before.order_id} cancelled ({before.status}), its payment left {paid} at the provider {state}"

    @rule(subscription=subscriptions, card=st.sampled_from(sorted(CARDS)), fault=change_faults)
    def choose_card(self, subscription: str, card: str, fault: Fault | None) -> None:
        order = self._order_of(subscription)
        if order is not None:
            self._run("choose card", fault, lambda: set_order_payment_method(
                self.repo, self.gateway, order, CARDS[card], MANAGER))

    @rule(subscription=subscriptions, key=st.sampled_from(SUBMIT_KEYS), fault=submit_faults,
          seats=st.integers(0, 3))
    def submit(self, subscription: str, key: str, fault: Fault | None, seats: int) -> None:
        """Submit the open draft; with none open, first open one of `seats` seats, or (0) submit the latest
        order again (a replay, with the same key or another)."""
        if self._contract().subscription(subscription).open_order_id is None and seats:
            self.create_draft(subscription, seats)
        order = self._order_of(subscription)
        if order is None:
            return
        self.submitted.add(order)
        self.paying = order
        try:
            done = self._run("submit", fault, lambda: submit.submit(
                self.repo, self.gateway, order, MANAGER, f"{MANAGER}:{key}"))
        finally:
            self.paying = None
        if done is not None:
            self._submit_answered(order, done)

    def _submit_answered(self, order_id: str, done: SeatOrder) -> None:
        """A submit's answer: the order completed, or waiting for the cardholder (202) with its challenge."""
        assert done.order_id == order_id and done.status in ("completed", "payment_pending"), done
        self.stats.outcomes[f"submit answered {done.status}"] += 1
        if done.status == "completed":
            self.answered_completed.add(order_id)
        else:  # a live challenge: its payment still unsettled (an orphaned order is a draft again, submitted anew)
            waits = self.world.repo.get_payment(done.payment_id) if done.payment_id else None
            assert done.payment_action is not None and done.charge_id is None and waits is not None \
                and waits.unsettled and waits.provider_ref == done.payment_action.charge_id, (done, waits)

    @rule(subscription=subscriptions, seats=st.integers(0, 12))
    def change_reduction(self, subscription: str, seats: int) -> None:
        """Schedule (or replace) the seats at renewal; 0 cancels the pending reduction."""
        if seats == 0:
            self._run("cancel reduction", None, lambda: reduce_seats.cancel_reduction(
                self.repo, CONTRACT, subscription, MANAGER))
        elif self._run("reduce", None, lambda: reduce_seats.schedule_reduction(
                self.repo, CONTRACT, subscription, MANAGER, seats)) is not None:
            self.reductions[subscription].add(seats)

    # -- time, the renewal worker, the reconciler -------------------------------------------------------
    def _renew(self, card: str, fault: Fault | None) -> None:
        """The manager's card on file `card`, then the renewal worker's run for the contract, now."""
        self._run("card on file", None, lambda: set_contract_payment_method(self.repo, CONTRACT, CARDS[card], MANAGER))
        self._run("renew", fault, lambda: renew.renew_contract(CONTRACT, clock.utc_now(), self.repo, self.gateway))

    @rule(days=st.integers(1, 10), card=cards_on_file, fault=renewal_faults)
    def nights_pass(self, days: int, card: str, fault: Fault | None) -> None:
        """`days` days on, at 02:00: the scheduler's run renews the contract if it is due (missed days too),
        with `card` on file."""
        day = self.now.date() + timedelta(days=days)
        self._move_clock(datetime.combine(day, time(2, 0), tzinfo=UTC) - self.now)
        self._renew(card, fault)

    def _renewal_due(self) -> bool:
        contract = self._contract()
        return contract.status != "cancelled" and contract.renewal_date <= self.now.date()

    @precondition(_renewal_due)
    @rule(card=cards_on_file, fault=renewal_faults)
    def renew_again(self, card: str, fault: Fault | None) -> None:
        """The renewal message delivered again (after a failed run), or a run later the same day."""
        self._renew(card, fault)

    @rule(fault=reconcile_faults)
    def reconcile(self, fault: Fault | None) -> None:
        """The reconciler 11 minutes on; it leaves an order waiting for the cardholder alone until its expiry."""
        self._move_clock(RECONCILE_DELAY)
        alone = [order_id for order_id, _ in self.waiting if self.now < self.expiries[order_id]]
        self._run("reconcile", fault, lambda: reconcile.reconcile_payments(clock.utc_now(), self.repo, self.gateway))
        self.stats.outcomes["reconcile left a waiting order alone"] += len(alone)
        for order_id in alone:
            order = self.world.repo.get_order(order_id)
            assert order is not None and order.status == "payment_pending", \
                f"the reconciler ended order {order_id}'s wait before its expiry ({self.expiries[order_id]}): {order}"

    @precondition(lambda self: bool(self.waiting))
    @rule(fault=reconcile_faults)
    def expire(self, fault: Fault | None) -> None:
        """23 hours and 11 minutes on: the reconciler finds every authentication started so far expired."""
        self._move_clock(EXPIRY_DELAY)
        self._run("expiry reconcile", fault, lambda: reconcile.reconcile_payments(
            clock.utc_now(), self.repo, self.gateway))

    # -- 3-D Secure: the cardholder, the provider's webhook ------------------------------------------------
    @precondition(lambda self: bool(self.awaited))
    @rule(which=st.integers(0, 1), success=st.booleans(), deliveries=st.integers(0, 2), fault=webhook_faults,
          slow=st.booleans())
    def cardholder(self, which: int, success: bool, deliveries: int, fault: Fault | None, slow: bool) -> None:
        """The cardholder at the challenge of an order waiting for it, still open at the provider (`which`: when
        both subscriptions' orders wait, which one; `slow`: after the reconciler's next scheduled run) passes or
        fails it at the bank; the provider's event about it is then delivered `deliveries` times (0: lost, the
        reconciler settles it at expiry), `fault` planned at the first."""
        order_id, charge_id = self.awaited[-1 - which % len(self.awaited)]
        if slow:
            self.reconcile(None)
        self.settled = False
        self.stats.operations += 1
        self.injector.changes += 1
        try:
            self.world.gateway.authenticate(charge_id, success)  # type: ignore[attr-defined]
        except NotAwaitingAuthentication:  # ended by the reconciler's run (`slow`, past its expiry): the bank
            # says so, and no event is sent
            self.stats.outcomes["cardholder not awaited"] += 1
            return
        self.stats.outcomes[f"cardholder {'passed' if success else 'failed'}"] += 1
        event = self.world.gateway.notification(charge_id, int(self.now.timestamp()))  # type: ignore[attr-defined]
        for delivery in range(deliveries):
            self._deliver(order_id, event, fault if delivery == 0 else None)

    # Listed twice, so drawn twice as often (one swarm flag for both): a cardholder mostly answers the challenge
    # before the manager or the reconciler moves on, which is where the races are.
    cardholder_soon = cardholder

    @precondition(lambda self: bool(self.undelivered))
    @rule(lost=st.booleans(), fault=webhook_faults)
    def redeliver(self, lost: bool, fault: Fault | None) -> None:
        """The provider's next attempt at the oldest event whose delivery answered an error (`lost`: it gave up)."""
        order_id, event = self.undelivered.pop(0)
        if lost:
            self.stats.outcomes["webhook lost"] += 1
        else:
            self._deliver(order_id, event, fault)

    def _deliver(self, order_id: str, event: dict[str, Any], fault: Fault | None) -> None:
        """One delivery of the event to the webhook (at the model's now); an error answer: delivered again later."""
        handled = self._run("webhook", fault, lambda: on_payment_event(
            self.repo, self.gateway, payment_event(event), clock.utc_now()))
        if handled is None:
            self.undelivered.append((order_id, event))
            return
        self.stats.outcomes[f"webhook answered {handled}"] += 1
        if handled == "completed":
            self.answered_completed.add(order_id)

    @precondition(lambda self: not self.settled)
    @rule()
    def settle(self) -> None:
        """The provider answering: the events whose delivery failed get through, then the reconciler runs 11
        minutes on, or just past the expiry of the last authentication still waiting: everything started
        before is settled."""
        self.injector.arm(None)
        while self.undelivered:  # no fault now: each delivery must answer
            order_id, event = self.undelivered.pop(0)
            handled = on_payment_event(self.repo, self.gateway, payment_event(event), clock.utc_now())
            self.stats.operations += 1
            if handled == "completed":
                self.answered_completed.add(order_id)
        # A payment waits for the cardholder only with its order payment_pending (one transaction writes both),
        # and the last check saw every such order.
        waiting = [found.expires_at for found in map(self.world.repo.get_payment, self._unsettled())
                   if found is not None and found.status == "requires_action" and found.expires_at is not None] \
            if self.waiting else []
        self._move_clock(max([RECONCILE_DELAY, *(at - self.now + timedelta(minutes=1) for at in waiting)]))
        outcome = reconcile.reconcile_payments(clock.utc_now(), self.repo, self.gateway)  # nothing may escape
        assert outcome.oldest_unsettled is None, f"the reconciler left payments unsettled: {outcome}"
        self.stats.operations += 1
        self.stats.settles += 1
        self.settled = True

    # -- what must hold ------------------------------------------------------------------------------------
    @invariant()
    def money_holds(self) -> None:
        self.invariant_runs += 1
        self.check(settled=self.settled)

    def teardown(self) -> None:
        try:
            self.stats.steps += max(self.invariant_runs - 1, 0)
            if self.invariant_runs > 1:  # the example's end, settled, and checked from fresh reads
                self.settle()
                self.checked, self.history_for, self.terminal = None, None, {}
                self.check(settled=True)
                charges = self.world.gateway.list_charges()
                self.stats.charges_made += len(charges)
                self.stats.kept_at_end += sum(c.status == "succeeded" for c in charges)
        finally:
            self.world.close()

    def _unsettled(self) -> list[str]:
        return list(self.world.repo.unsettled_payment_ids(ANY_TIME))

    def _holds(self, condition: bool, message: str) -> None:
        self.stats.checks += 1
        assert condition, message

    def check(self, *, settled: bool) -> None:
        repo, gateway, holds = self.world.repo, self.world.gateway, self._holds
        changes = self.injector.changes
        if self.checked is not None and self.checked[0] == changes and (self.checked[1] or not settled):
            return  # nothing changed since a check at least as strict
        self.checked = (changes, settled)
        self.contract = contract = repo.get_contract(CONTRACT)
        assert contract is not None
        orders = repo.list_orders(CONTRACT)
        charges = {c.charge_id: c for c in gateway.list_charges()}
        self.stats.charges_checked += len(charges)
        kept = {cid: c for cid, c in charges.items() if c.status == "succeeded"}
        completed = [o for o in orders if o.status == "completed"]
        done_now = frozenset(o.order_id for o in completed)
        if settled or done_now != self.history_for:  # the entries that matter are written with the orders
            history = repo.list_history(CONTRACT)
            self.added = Counter(e.details["order_id"] for e in history if e.type == "seats_added")
            self.reduced = [e for e in history if e.type == "seats_reduced"]
            outbox = getattr(repo, "events", None)  # the in-memory repository's committed domain events
            self.announced = Counter(detail["order_id"] for kind, detail in outbox() if kind == "SeatsAdded") \
                if outbox is not None else None
            self.history_for = done_now
        payments: dict[str, Payment | None] = {}

        def payment(payment_id: str | None) -> Payment | None:
            if payment_id is None:
                return None
            if payment_id in self.terminal:
                return self.terminal[payment_id]
            if payment_id not in payments:
                payments[payment_id] = found = repo.get_payment(payment_id)
                if found is not None and not found.unsettled:
                    self.terminal[payment_id] = found
            return payments[payment_id]

        # Every completed order is paid exactly: a kept charge of its total, or carried (below the minimum).
        paid_by: dict[str, list[str]] = defaultdict(list)
        for order in completed:
            if order.charge_id is None:
                holds(order.total.amount == 0 or below_minimum(order.total),
                      f"seats without money: {order.type} order {order.order_id} of {order.total} completed uncharged")
                holds(order.payment_id is None, f"order {order.order_id} completed uncharged with a payment")
                if isinstance(order, SeatOrder):
                    holds(order.carried_to_renewal == (order.total.amount > 0),
                          f"order {order.order_id} below the minimum not carried to the renewal")
                continue
            paid_by[order.charge_id].append(order.order_id)
            charge = kept.get(order.charge_id)
            status = charges[order.charge_id].status if order.charge_id in charges else "missing"
            holds(charge is not None, f"seats without money: {order.type} order {order.order_id} completed with "
                                      f"charge {order.charge_id}, which is {status}")
            assert charge is not None
            holds(charge.amount == order.total,
                  f"order {order.order_id} of {order.total} paid by a charge of {charge.amount}")
            paid = payment(order.payment_id)
            holds(paid is not None and paid.status == "succeeded" and paid.provider_ref == order.charge_id,
                  f"order {order.order_id}: its ledger payment is {paid}")
        for charge_id, order_ids in paid_by.items():
            holds(len(order_ids) == 1, f"charge {charge_id} pays {len(order_ids)} orders: {order_ids}")

        # 3-D Secure: an order waiting for the cardholder shows its challenge, and its payment waits too
        # (requires_action: unsettled, so a capture the cardholder made is still to be settled, never kept
        # for nothing); no other order shows a challenge.
        self.waiting, self.awaited = [], []
        # In a stable order (ids are random, and the rules pick among these): at most one waits per subscription.
        for order in sorted(orders, key=lambda o: (o.status, getattr(o, "subscription_id", ""), o.created_at)):
            action = order.payment_action
            if order.status != "payment_pending":
                holds(action is None, f"{order.status} order {order.order_id} still shows a challenge: {action}")
                continue
            holds(isinstance(order, SeatOrder) and action is not None and order.charge_id is None,
                  f"payment_pending order {order.order_id}: {order}")
            assert action is not None
            waits = payment(order.payment_id)
            shown = waits is not None and waits.provider_ref == action.charge_id \
                and waits.expires_at == action.expires_at
            if shown and waits is not None and waits.status in ("failed", "refunding", "refunded"):
                # Orphaned: a step failed between settling the payment (canceled, or a capture given back) and
                # closing the order - a DELETE, the renewal run (its own payment, once reconciled, closes it), a
                # webhook or reconciler run whose capture the order could not take; the order is a draft again
                # when next touched (drafts.draft_of). Never without a fault; a settle leaves none refunding.
                shown = order.order_id in self.interrupted and not (settled and waits.status == "refunding")
                self.stats.orphans += settled
            else:
                shown = shown and waits is not None and waits.status == "requires_action"
            holds(shown, f"payment_pending order {order.order_id} (challenge {action}): its payment is {waits}")
            charge = charges.get(action.charge_id)
            holds(charge is not None and charge.payment_method_ref == SCA_TOKEN,
                  f"payment_pending order {order.order_id}: its challenge's charge is {charge}")
            self.waiting.append((order.order_id, action.charge_id))
            if charge is not None and charge.status == "requires_action":
                self.awaited.append((order.order_id, action.charge_id))
            self.expiries[order.order_id] = action.expires_at
        for charge_id, charge in charges.items():  # a payment the cardholder may still authenticate is open
            if charge.status == "requires_action":
                open_ = payment(_payment_id_of(charge))
                holds(not settled and open_ is not None and open_.unsettled,
                      f"charge {charge_id} still awaits the cardholder (money may be taken), its ledger "
                      f"payment is {open_.status if open_ else 'missing'}")

        # Every kept charge pays a completed order, or its payment is not settled yet.
        for charge_id, charge in kept.items():
            if charge_id in paid_by:
                continue
            left = payment(_payment_id_of(charge))
            holds(not settled and left is not None and left.unsettled,
                  f"money kept for nothing: charge {charge_id} of {charge.amount} pays no completed order; "
                  f"its ledger payment is {left.status if left else 'missing'}")

        # Seats: initial + completed additions − reductions applied at renewal; history agrees.
        renewal_orders = sorted((o for o in orders if isinstance(o, RenewalOrder)),
                                key=lambda o: o.period.term_start)
        renewal_ids = {o.order_id for o in renewal_orders}
        added, reduced = self.added, self.reduced
        for order in orders:
            expected = 1 if isinstance(order, SeatOrder) and order.status == "completed" else 0
            holds(added[order.order_id] == expected,
                  f"{added[order.order_id]} seats_added entries for order {order.order_id} ({order.status})")
            if self.announced is not None:
                holds(self.announced[order.order_id] == expected,
                      f"{self.announced[order.order_id]} SeatsAdded events for order {order.order_id} ({order.status})")
        for entry in reduced:
            holds(entry.details["order_id"] in renewal_ids and entry.subscription_id is not None
                  and entry.details["seats_after"] in self.reductions[entry.subscription_id],
                  f"a reduction nobody scheduled, or applied by no renewal: {entry}")
        holds(len({(e.details["order_id"], e.subscription_id) for e in reduced}) == len(reduced),
              "a reduction applied twice by one renewal")
        for subscription in contract.subscriptions:
            sid = subscription.subscription_id
            additions = sum(o.seats_to_add for o in completed if isinstance(o, SeatOrder) and o.subscription_id == sid)
            reductions = sum(e.details["seats_before"] - e.details["seats_after"]
                             for e in reduced if e.subscription_id == sid)
            holds(subscription.seats == INITIAL_SEATS[sid] + additions - reductions,
                  f"{sid} has {subscription.seats} seats, not {INITIAL_SEATS[sid]} + {additions} − {reductions}")

        # Renewals: one order per period, period after period; the contract on the last one's term.
        starts = [o.period.term_start for o in renewal_orders]
        holds(len(set(starts)) == len(starts), f"a period renewed twice: {starts}")
        expected_start = FIRST_RENEWAL
        for order in renewal_orders:
            holds(order.period.term_start == expected_start and order.status == "completed",
                  f"renewal order {order.order_id} for {order.period}, expected from {expected_start}")
            lines = sum((line.amount.amount for line in order.lines), start=0)
            carried = sum((c.amount.amount for c in order.carried_over), start=0)
            holds(order.total.amount == lines + carried, f"renewal order {order.order_id}: {order.total} ≠ lines")
            expected_start = order.period.renewal_date
        holds(contract.renewal_date == expected_start and
              (not renewal_orders or contract.term_start == renewal_orders[-1].period.term_start),
              f"contract on {contract.term_start}..{contract.renewal_date}, renewals up to {expected_start}")

        # Carried amounts: charged by at most one renewal; owed until then unless the contract ended.
        carried_ids = [c.order_id for o in renewal_orders for c in o.carried_over] + \
            [c.order_id for c in contract.carried_over]
        holds(len(set(carried_ids)) == len(carried_ids), f"an amount carried twice: {carried_ids}")
        for order in completed:
            if isinstance(order, SeatOrder) and order.carried_to_renewal:
                holds(order.order_id in carried_ids or contract.status == "cancelled",
                      f"carried order {order.order_id} is neither owed nor charged")

        # The model's own knowledge of what answered.
        done = {o.order_id for o in completed if isinstance(o, SeatOrder)}
        holds(done <= self.submitted, f"orders completed without a submit: {done - self.submitted}")
        holds(self.answered_completed <= done, f"answered completed, not completed: {self.answered_completed - done}")
        holds(not self.answered_cancelled & done, f"cancelled, then completed: {self.answered_cancelled & done}")

        if not settled:
            return
        unsettled = list(repo.unsettled_payment_ids(ANY_TIME))
        holds(not unsettled, f"payments left unsettled after the reconciler: {unsettled}")
        for charge_id, charge in charges.items():
            if charge.status == "succeeded":
                continue
            ledger = payment(_payment_id_of(charge))
            expected = "refunded" if charge.status == "refunded" else "failed"
            holds(ledger is not None and ledger.status == expected and charge_id not in paid_by,
                  f"charge {charge_id} is {charge.status}, its ledger payment {ledger}")

