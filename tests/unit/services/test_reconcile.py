"""services/reconcile.py on the in-memory repository and sandbox provider: every payment still unsettled ten
minutes after it started is settled with the provider; a capture completes what it was for, if that can still
be done, exactly as the submit or the worker would have, else it is refunded; anything else fails."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from seats.domain.errors import OrderNotDraft, PaymentProviderUnavailable
from seats.domain.model import RenewalOrder, SeatOrder
from seats.domain.money import Money
from seats.services import add_seats, submit
from seats.services.reconcile import SETTLE_AFTER, reconcile_payments
from seats.services.renew import renew_contract
from tests.conftest import NOW
from tests.fakes import Meanwhile, kept_charges, refunded_charges
from tests.unit.services.support import (
    ACME,
    GLOBEX,
    GLOBEX_SUBSCRIPTION,
    MANAGER,
    OUTSIDER,
    SUBSCRIPTION,
    change_contract,
    contract,
    die,
    history_types,
    pay_with,
    payment,
    payment_of,
    payments,
    seat_order,
    seats,
    store_card,
)

STARTED = datetime.fromisoformat(NOW.replace("Z", "+00:00"))  # when the tests' payments start
SETTLED = STARTED + SETTLE_AFTER + timedelta(minutes=1)  # the reconciler's run, once they are old enough
OTHER, THIRD = "sub-inv", "sub-rev"


@pytest.fixture
def repo(load, seed_data):
    """BASE_SEED, Acme's contract with three subscriptions (10 AutoCAD, 5 Inventor, 2 Revit seats)."""
    seed_data["accounts"][0]["contracts"][0]["subscriptions"] += [
        {"subscription_id": OTHER, "product": "Inventor", "seats": 5, "unit_price": "2400.00"},
        {"subscription_id": THIRD, "product": "Revit", "seats": 2, "unit_price": "3000.00"}]
    return load(seed_data)


def captured(repo: Any, gateway: Any, subscription_id: str = SUBSCRIPTION) -> SeatOrder:
    """A draft whose payment took the money while its submit timed out: pending, captured."""
    order = add_seats.create_draft(repo, ACME, subscription_id, 3, MANAGER)
    pay_with(repo, gateway, order.order_id, "tok_timeoutAfterCapture")
    with pytest.raises(PaymentProviderUnavailable):
        submit.submit(repo, gateway, order.order_id, MANAGER)
    return seat_order(repo, order.order_id)


def never_confirmed(repo: Any, gateway: Any, subscription_id: str = OTHER, contract_id: str = ACME,
                    manager: str = MANAGER) -> SeatOrder:
    """A draft whose submit recorded its payment at the provider, then died before confirming it."""
    order = add_seats.create_draft(repo, contract_id, subscription_id, 1, manager)
    with pytest.raises(RuntimeError):
        submit.submit(repo, Meanwhile(gateway, before_confirm=die), order.order_id, manager)
    return seat_order(repo, order.order_id)


def cancelled_behind_its_back(repo: Any, order: SeatOrder) -> None:
    """The draft cancelled by a write that did not settle its payment (a renewal racing the submit)."""
    owner = contract(repo)
    owner.subscription(order.subscription_id).open_order_id = None
    work = repo.unit_of_work()
    work.save_contract(owner)
    work.cancel_draft(order.order_id)
    work.commit()


def seats_added(repo: Any) -> list[str]:
    return [d["order_id"] for t, d in repo.events() if t == "SeatsAdded"]


# -- add-seats payments ------------------------------------------------------------------------------------------

def test_a_captured_payment_whose_draft_still_points_to_it_completes_the_order_once(repo, gateway, clock_at):
    order = captured(repo, gateway)
    clock_at("2026-11-29T10:11:00Z")

    outcome = reconcile_payments(SETTLED, repo, gateway)

    assert (outcome.examined, outcome.completed, outcome.refunded, outcome.failed) == (1, 1, 0, 0)
    completed = seat_order(repo, order.order_id)
    [charge] = kept_charges(gateway)
    assert (completed.status, completed.charge_id, completed.payment_id) == (
        "completed", charge.charge_id, order.payment_id)
    assert payment_of(repo, order.order_id).status == "succeeded"
    assert seats(repo) == 13 and seats_added(repo) == [order.order_id] and history_types(repo)[0] == "seats_added"
    [entry] = [e for e in repo.list_history(ACME) if e.type == "seats_added"]
    assert entry.actor == MANAGER  # completed on behalf of the one who submitted it

    assert reconcile_payments(SETTLED + timedelta(hours=1), repo, gateway).examined == 0  # settled: not again
    with pytest.raises(OrderNotDraft):
        submit.submit(repo, gateway, order.order_id, MANAGER)
    assert seats(repo) == 13 and seats_added(repo) == [order.order_id] and len(gateway.list_charges()) == 1


def test_a_captured_payment_whose_order_was_cancelled_is_refunded(repo, gateway):
    order = captured(repo, gateway)
    cancelled_behind_its_back(repo, order)

    outcome = reconcile_payments(SETTLED, repo, gateway)

    assert (outcome.examined, outcome.refunded, outcome.completed) == (1, 1, 0)
    assert payment_of(repo, order.order_id).status == "refunded"
    assert kept_charges(gateway) == []
    assert [c.charge_id for c in refunded_charges(gateway)] == [payment_of(repo, order.order_id).provider_ref]
    assert seats(repo) == 10 and seats_added(repo) == []
    [entry] = [e for e in repo.list_history(ACME) if e.type == "payment_refunded"]
    assert (entry.details["reason"], entry.details["order_id"]) == ("not_applicable", order.order_id)


def test_a_captured_payment_the_draft_no_longer_points_to_is_refunded(repo, gateway):
    order = captured(repo, gateway)
    moved_on = seat_order(repo, order.order_id)
    moved_on.payment_id = None  # e.g. an edit that recorded the change but died before settling the payment
    work = repo.unit_of_work()
    work.save_order(moved_on)
    work.commit()

    assert reconcile_payments(SETTLED, repo, gateway).refunded == 1

    assert payments(repo)[0].status == "refunded" and kept_charges(gateway) == []
    assert seat_order(repo, order.order_id).status == "draft" and seats(repo) == 10


def test_a_captured_payment_whose_contract_is_no_longer_eligible_is_refunded_not_completed(repo, gateway):
    order = captured(repo, gateway)
    change_contract(repo, status="past_due")  # a renewal declined meanwhile

    outcome = reconcile_payments(SETTLED, repo, gateway)

    assert seats(repo) == 10 and seats_added(repo) == []
    assert (outcome.refunded, outcome.completed) == (1, 0)
    assert [p.status for p in payments(repo)] == ["refunded"] and kept_charges(gateway) == []
    assert seat_order(repo, order.order_id).last_payment_error.code == "charge_refunded"  # the draft is told


def test_a_payment_never_confirmed_is_cancelled_at_the_provider_and_fails(repo, gateway):
    order = never_confirmed(repo, gateway)
    assert payment_of(repo, order.order_id).provider_ref is not None

    outcome = reconcile_payments(SETTLED, repo, gateway)

    assert (outcome.examined, outcome.failed) == (1, 1)
    failed = payment_of(repo, order.order_id)
    assert (failed.status, failed.settled_at) == ("failed", SETTLED)
    assert [c.status for c in gateway.list_charges()] == ["canceled"]
    assert seat_order(repo, order.order_id).status == "draft" and seats(repo, OTHER) == 5

    completed = submit.submit(repo, gateway, order.order_id, MANAGER)  # the next submit is a new payment

    assert completed.status == "completed" and [p.status for p in payments(repo)] == ["failed", "succeeded"]


def test_a_payment_whose_provider_id_was_lost_is_created_again_never_confirmed_and_fails(repo, gateway):
    order = add_seats.create_draft(repo, ACME, SUBSCRIPTION, 3, MANAGER)

    class DiesBeforeTheProviderAnswers:
        def create_payment(self, request: Any) -> str:
            raise RuntimeError("the Lambda died")

        def __getattr__(self, name: str) -> Any:
            return getattr(gateway, name)

    with pytest.raises(RuntimeError):
        submit.submit(repo, DiesBeforeTheProviderAnswers(), order.order_id, MANAGER)
    assert payment_of(repo, order.order_id).provider_ref is None

    assert reconcile_payments(SETTLED, repo, gateway).failed == 1

    failed = payment_of(repo, order.order_id)
    assert (failed.status, failed.provider_ref is not None) == ("failed", True)
    assert [c.status for c in gateway.list_charges()] == ["canceled"] and kept_charges(gateway) == []


def test_a_payment_younger_than_ten_minutes_is_left_alone(repo, gateway):
    order = captured(repo, gateway)

    outcome = reconcile_payments(STARTED + SETTLE_AFTER - timedelta(seconds=1), repo, gateway)

    assert (outcome.examined, outcome.completed, outcome.oldest_unsettled) == (0, 0, None)
    assert payment_of(repo, order.order_id).status == "pending" and seat_order(repo, order.order_id).status == "draft"
    assert reconcile_payments(SETTLED, repo, gateway).completed == 1


def test_a_payment_the_provider_is_still_processing_is_left_for_the_next_run(repo, gateway):
    order = captured(repo, gateway)

    class StillProcessing:
        def get_payment(self, provider_ref: str) -> Any:
            return replace(gateway.get_payment(provider_ref), status="processing")

        def __getattr__(self, name: str) -> Any:
            return getattr(gateway, name)

    outcome = reconcile_payments(SETTLED, repo, StillProcessing())

    assert (outcome.examined, outcome.completed, outcome.failed, outcome.oldest_unsettled) == (1, 0, 0, STARTED)
    assert payment_of(repo, order.order_id).status == "pending"
    assert reconcile_payments(SETTLED, repo, gateway).completed == 1


def test_a_provider_that_does_not_answer_leaves_the_payment_for_the_next_run(repo, gateway):
    order = captured(repo, gateway)

    class Silent:
        def get_payment(self, provider_ref: str) -> Any:
            raise PaymentProviderUnavailable()

        def __getattr__(self, name: str) -> Any:
            return getattr(gateway, name)

    outcome = reconcile_payments(SETTLED, repo, Silent())

    assert (outcome.examined, outcome.completed, outcome.oldest_unsettled) == (1, 0, STARTED)
    assert payment_of(repo, order.order_id).status == "pending"
    assert reconcile_payments(SETTLED, repo, gateway).completed == 1 and seats(repo) == 13


def test_a_payment_left_refunding_is_refunded(repo, gateway):
    order = captured(repo, gateway)
    owed = payment_of(repo, order.order_id)
    owed.status = "refunding"
    work = repo.unit_of_work()
    work.save_payment(owed)
    work.commit()

    assert reconcile_payments(SETTLED, repo, gateway).refunded == 1

    assert payment_of(repo, order.order_id).status == "refunded" and kept_charges(gateway) == []


def test_a_run_answers_what_it_examined_and_how_each_was_settled(repo, gateway, clock_at):
    completes = captured(repo, gateway, SUBSCRIPTION)
    fails = never_confirmed(repo, gateway, OTHER)
    refunds = captured(repo, gateway, THIRD)
    cancelled_behind_its_back(repo, refunds)
    clock_at("2026-11-29T10:05:00Z")
    young = never_confirmed(repo, gateway, GLOBEX_SUBSCRIPTION, GLOBEX, OUTSIDER)

    outcome = reconcile_payments(SETTLED, repo, gateway)

    assert outcome.answer() == {"as_of": "2026-11-29T10:11:00.000Z", "examined": 3, "completed": 1,
                                "refunded": 1, "failed": 1}
    assert outcome.oldest_unsettled is None
    assert [payment_of(repo, o.order_id).status for o in (completes, fails, refunds, young)] == [
        "succeeded", "failed", "refunded", "pending"]


def test_the_as_of_instant_is_answered_in_utc(repo, gateway):
    evening = datetime.fromisoformat("2026-11-29T05:11:00-05:00")
    assert reconcile_payments(evening, repo, gateway).answer()["as_of"] == "2026-11-29T10:11:00.000Z"


# -- renewal payments -----------------------------------------------------------------------------------------------

@pytest.fixture
def renewal_captured(repo, gateway, clock_at):
    """Acme's renewal on 2027-03-01 paid by a card whose confirmation timed out after the capture."""
    change_contract(repo, payment_method=store_card(repo, "pm_slow", "tok_timeoutAfterCapture"))
    clock_at("2027-03-01T02:00:00Z")
    with pytest.raises(PaymentProviderUnavailable):
        renew_contract(ACME, datetime(2027, 3, 1, 2, tzinfo=UTC), repo, gateway)
    [pending] = payments(repo)
    assert (pending.status, contract(repo).renewal_payment_id) == ("pending", pending.payment_id)
    return pending


RENEWAL_SETTLED = datetime(2027, 3, 1, 2, 11, tzinfo=UTC)


def test_a_captured_renewal_payment_renews_the_period_it_pays(repo, gateway, renewal_captured):
    outcome = reconcile_payments(RENEWAL_SETTLED, repo, gateway)

    assert (outcome.examined, outcome.completed) == (1, 1)
    renewed = contract(repo)
    assert (renewed.term_start, renewed.renewal_date, renewed.renewal_payment_id) == (
        date(2027, 3, 1), date(2028, 3, 1), None)
    [renewal] = [o for o in repo.list_orders(ACME) if isinstance(o, RenewalOrder)]
    assert (renewal.charge_id, renewal.payment_id, renewal.total) == (
        renewal_captured.provider_ref, renewal_captured.payment_id, Money.parse("37750.00", "USD"))
    assert payment(repo, renewal_captured.payment_id).status == "succeeded"
    assert [t for t, _ in repo.events()] == ["SubscriptionRenewed"]

    assert renew_contract(ACME, datetime(2027, 3, 1, 3, tzinfo=UTC), repo, gateway).renewed == 0  # a redelivery
    assert len(gateway.list_charges()) == 1


def test_a_captured_renewal_payment_that_no_longer_fits_the_contract_is_refunded(repo, gateway, renewal_captured):
    change_contract(repo, change=lambda c: setattr(c.subscriptions[0], "seats", 12))

    outcome = reconcile_payments(RENEWAL_SETTLED, repo, gateway)

    assert (outcome.examined, outcome.refunded, outcome.completed) == (1, 1, 0)
    assert payment(repo, renewal_captured.payment_id).status == "refunded"
    assert [c.charge_id for c in refunded_charges(gateway)] == [renewal_captured.provider_ref]
    assert contract(repo).renewal_date == date(2027, 3, 1) and repo.events() == []
    [entry] = [e for e in repo.list_history(ACME) if e.type == "payment_refunded"]
    assert entry.details["reason"] == "not_applicable"
