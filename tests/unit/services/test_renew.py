"""services/renew.py on the in-memory repository and sandbox provider: each due period paid once through its
ledger payment, or the contract moved along the overdue timeline."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from seats.domain.errors import PaymentProviderUnavailable
from seats.domain.model import CarriedAmount, RenewalOrder
from seats.domain.money import Money
from seats.services import add_seats, submit
from seats.services.messages import RenewalMessage
from seats.services.reduce_seats import schedule_reduction
from seats.services.renew import PERIODS_PER_DELIVERY, renew_contract
from tests.fakes import Meanwhile, MemoryQueue, kept_charges, refunded_charges
from tests.unit.services.support import (
    ACME,
    GLOBEX,
    MANAGER,
    SUBSCRIPTION,
    change_contract,
    contract,
    history_types,
    order,
    pay_with,
    payment,
    payments,
    store_card,
)


def on(day: str) -> datetime:
    """The scheduler's as-of instant: 02:00 UTC on `day`."""
    return datetime.fromisoformat(f"{day}T02:00:00+00:00")


def renew(repo: Any, gateway: Any, day: str, contract_id: str = ACME, queue: Any = None):
    return renew_contract(contract_id, on(day), repo, gateway, queue)


def renewal_orders(repo: Any, contract_id: str = ACME) -> list[RenewalOrder]:
    return sorted((o for o in repo.list_orders(contract_id) if isinstance(o, RenewalOrder)),
                  key=lambda o: o.period.term_start)


def card_on_file(repo: Any, token: str) -> None:
    change_contract(repo, payment_method=store_card(repo, f"pm_{token}", token))


def event_types(repo: Any) -> list[str]:
    return [detail_type for detail_type, _ in repo.events()]


def grow(repo: Any, seats: int = 12) -> None:
    """Another writer's change to the renewal's total (the first subscription's seats)."""
    change_contract(repo, change=lambda c: setattr(c.subscriptions[0], "seats", seats))


# -- a renewal ----------------------------------------------------------------------------------------------

def test_an_auto_renewing_contract_is_paid_through_its_ledger_payment_and_moves_one_term_on(repo, gateway):
    outcome = renew(repo, gateway, "2027-03-01")

    assert (outcome.renewed, outcome.declines, outcome.status, outcome.handed_on) == (1, 0, "active", False)
    renewed = contract(repo)
    assert (renewed.term_start, renewed.renewal_date, renewed.failed_renewal_attempts) == (
        date(2027, 3, 1), date(2028, 3, 1), 0)
    assert (renewed.renewal_payment_id, renewed.renewal_attempted_on) == (None, None)
    [charge] = kept_charges(gateway)
    [paid] = payments(repo)
    assert (paid.status, paid.purpose, paid.period, paid.off_session, paid.amount) == (
        "succeeded", "renewal", date(2027, 3, 1), True, Money.parse("19750.00", "USD"))
    assert (charge.amount, charge.idempotency_key, paid.provider_ref) == (paid.amount, paid.key, charge.charge_id)
    [renewal] = renewal_orders(repo)
    assert (renewal.status, renewal.charge_id, renewal.payment_id, renewal.total, renewal.created_by) == (
        "completed", charge.charge_id, paid.payment_id, charge.amount, "system")
    assert paid.order_id == renewal.order_id
    assert [(line.subscription_id, line.seats, str(line.amount)) for line in renewal.lines] == [
        (SUBSCRIPTION, 10, "19750.00")]
    assert history_types(repo) == ["renewed"]
    [(detail_type, detail)] = repo.events()
    assert detail_type == "SubscriptionRenewed"
    assert (detail["amount"], detail["renewal_date"], detail["charge_id"]) == ("19750.00", "2028-03-01", charge.charge_id)


def test_nothing_happens_before_the_renewal_date(repo, gateway):
    outcome = renew(repo, gateway, "2027-02-28")
    assert (outcome.renewed, outcome.status) == (0, "active")
    assert gateway.list_charges() == [] and payments(repo) == [] and contract(repo).version == 1
    assert repo.events() == []


def test_pending_reductions_are_applied_and_charged_at_the_lower_price(repo, gateway, clock_at):
    schedule_reduction(repo, ACME, SUBSCRIPTION, MANAGER, 8)
    clock_at("2027-03-01T02:00:05Z")

    renew(repo, gateway, "2027-03-01")

    renewed = contract(repo).subscription(SUBSCRIPTION)
    assert (renewed.seats, renewed.pending_reduction) == (8, None)
    assert [c.amount for c in kept_charges(gateway)] == [Money.parse("15800.00", "USD")]
    assert history_types(repo) == ["renewed", "seats_reduced", "reduction_scheduled"]


def test_open_add_seats_drafts_are_cancelled_by_the_renewal(repo, gateway):
    draft = add_seats.create_draft(repo, ACME, SUBSCRIPTION, 3, MANAGER)

    renew(repo, gateway, "2027-03-01")

    cancelled = order(repo, draft.order_id)
    assert (cancelled.status, cancelled.version) == ("cancelled", 2)
    assert contract(repo).subscription(SUBSCRIPTION).open_order_id is None
    assert history_types(repo) == ["renewed", "order_cancelled"]
    assert repo.list_history(ACME)[1].details == {"order_id": draft.order_id, "reason": "renewal"}


def test_a_drafts_captured_payment_is_refunded_before_the_renewal_cancels_the_draft(repo, gateway, clock_at):
    draft = add_seats.create_draft(repo, ACME, SUBSCRIPTION, 3, MANAGER)
    pay_with(repo, gateway, draft.order_id, "tok_timeoutAfterCapture")
    with pytest.raises(PaymentProviderUnavailable):
        submit.submit(repo, gateway, draft.order_id, MANAGER)  # captured, outcome unknown: still pending
    clock_at("2027-03-01T02:00:00Z")

    assert renew(repo, gateway, "2027-03-01").renewed == 1

    drafts_payment, renewal_payment = payments(repo)
    assert (drafts_payment.status, renewal_payment.status) == ("refunded", "succeeded")
    assert [c.charge_id for c in refunded_charges(gateway)] == [drafts_payment.provider_ref]
    assert order(repo, draft.order_id).status == "cancelled" and contract(repo).subscription(SUBSCRIPTION).seats == 10
    [entry] = [e for e in repo.list_history(ACME) if e.type == "payment_refunded"]
    assert (entry.details["reason"], entry.details["order_id"]) == ("order_cancelled_by_renewal", draft.order_id)


def test_missed_runs_renew_every_due_period_each_with_its_own_payment(repo, gateway):
    outcome = renew(repo, gateway, "2027-03-01", GLOBEX)  # monthly, due since 2026-12-15

    assert outcome.renewed == 3 and contract(repo, GLOBEX).renewal_date == date(2027, 3, 15)
    paid = payments(repo, GLOBEX)
    assert [p.period for p in paid] == [date(2026, 12, 15), date(2027, 1, 15), date(2027, 2, 15)]
    assert sorted(c.idempotency_key for c in kept_charges(gateway)) == sorted(p.key for p in paid)
    assert len({p.key for p in paid}) == 3 and {p.status for p in paid} == {"succeeded"}
    assert [o.period.term_start for o in renewal_orders(repo, GLOBEX)] == [
        date(2026, 12, 15), date(2027, 1, 15), date(2027, 2, 15)]
    assert [o.payment_id for o in renewal_orders(repo, GLOBEX)] == [p.payment_id for p in paid]
    assert event_types(repo) == ["SubscriptionRenewed"] * 3


def test_a_contract_further_behind_than_one_delivery_renews_is_handed_on_to_the_queue(repo, gateway):
    queue = MemoryQueue()  # 25 monthly periods due: 2026-12-15 to 2028-12-15

    first = renew(repo, gateway, "2029-01-01", GLOBEX, queue)

    assert (first.renewed, first.handed_on) == (PERIODS_PER_DELIVERY, True)
    assert queue.messages == [RenewalMessage(GLOBEX, on("2029-01-01"))]
    assert contract(repo, GLOBEX).renewal_date == date(2028, 12, 15)

    [handed_on] = queue.messages
    second = renew_contract(handed_on.contract_id, handed_on.as_of, repo, gateway, queue)

    assert (second.renewed, second.handed_on) == (1, False) and len(queue.messages) == 1
    assert contract(repo, GLOBEX).renewal_date == date(2029, 1, 15) and len(kept_charges(gateway)) == 25


def test_without_a_queue_a_contract_further_behind_is_left_for_the_next_run(repo, gateway):
    first = renew(repo, gateway, "2029-01-01", GLOBEX)
    second = renew(repo, gateway, "2029-01-01", GLOBEX)

    assert (first.renewed, first.handed_on, second.renewed) == (PERIODS_PER_DELIVERY, False, 1)
    assert contract(repo, GLOBEX).renewal_date == date(2029, 1, 15)


def test_a_total_below_the_providers_minimum_is_renewed_without_a_charge_and_carried_to_the_next(
        load, seed_data, gateway):
    seed_data["accounts"][0]["contracts"][0]["subscriptions"][0]["unit_price"] = "0.04"
    repo = load(seed_data)  # 10 seats × 0.04 = 0.40 USD a year: below Stripe's 0.50

    assert renew(repo, gateway, "2027-03-01").renewed == 1

    [first] = renewal_orders(repo)
    assert (first.total, first.charge_id, first.payment_id) == (Money.parse("0.40", "USD"), None, None)
    assert contract(repo).carried_over == [CarriedAmount(first.order_id, Money.parse("0.40", "USD"))]
    assert gateway.list_charges() == [] and payments(repo) == []

    assert renew(repo, gateway, "2028-03-01").renewed == 1

    [charge] = kept_charges(gateway)
    second = renewal_orders(repo)[1]
    assert (second.total, charge.amount, second.charge_id) == (Money.parse("0.80", "USD"),) * 2 + (charge.charge_id,)
    assert second.carried_over == [CarriedAmount(first.order_id, Money.parse("0.40", "USD"))]
    assert contract(repo).carried_over == []


# -- declines and lapses ------------------------------------------------------------------------------------

def test_a_declined_renewal_is_tried_once_a_day_and_cancelled_from_day_45_without_a_charge(repo, gateway):
    card_on_file(repo, "tok_chargeCustomerFail")
    timeline = []
    for day in ("2027-03-01", "2027-03-01", "2027-03-02", "2027-03-16", "2027-04-15", "2027-04-16"):
        outcome = renew(repo, gateway, day)
        timeline.append((outcome.declines, contract(repo).status, contract(repo).failed_renewal_attempts))

    assert timeline == [(1, "past_due", 1), (0, "past_due", 1), (1, "past_due", 2), (1, "suspended", 3),
                        (0, "cancelled", 3), (0, "cancelled", 3)]
    assert [c.status for c in gateway.list_charges()] == ["failed"] * 3
    assert [(p.status, p.decline_code) for p in payments(repo)] == [("failed", "card_declined")] * 3
    failed = [d for t, d in repo.events() if t == "RenewalPaymentFailed"]
    assert [(d["attempt"], d["status"], d["decline_code"]) for d in failed] == [
        (1, "past_due", "card_declined"), (2, "past_due", "card_declined"), (3, "suspended", "card_declined")]
    changes = [(d["status_before"], d["status_after"], d["reason"]) for t, d in repo.events()
               if t == "ContractStatusChanged"]
    assert changes == [("active", "past_due", "renewal_payment_failed"),
                       ("past_due", "suspended", "renewal_payment_failed"), ("suspended", "cancelled", "not_renewed")]


def test_a_decline_is_recorded_with_the_day_of_the_attempt_and_the_payment_settled(repo, gateway):
    card_on_file(repo, "tok_chargeDeclinedInsufficientFunds")

    renew(repo, gateway, "2027-03-01")

    declined = contract(repo)
    assert (declined.renewal_attempted_on, declined.renewal_payment_id) == (date(2027, 3, 1), None)
    [failed] = payments(repo)
    assert (failed.status, failed.decline_code, failed.settled_at is not None) == ("failed", "insufficient_funds", True)


def test_a_later_success_renews_from_the_unpaid_date(repo, gateway):
    card_on_file(repo, "tok_chargeCustomerFail")
    renew(repo, gateway, "2027-03-01")
    card_on_file(repo, "tok_visa")

    assert renew(repo, gateway, "2027-03-01").renewed == 0  # today's attempt was made: the new card waits
    outcome = renew(repo, gateway, "2027-03-05")

    renewed = contract(repo)
    assert (outcome.renewed, renewed.status, renewed.term_start, renewed.failed_renewal_attempts) == (
        1, "active", date(2027, 3, 1), 0)
    [kept] = kept_charges(gateway)
    assert [p.status for p in payments(repo)] == ["failed", "succeeded"] and kept.idempotency_key == payments(repo)[1].key
    assert ("ContractStatusChanged", "active") in [(t, d.get("status_after")) for t, d in repo.events()]


@pytest.mark.parametrize(("setup", "decline_code"), [
    (lambda repo: change_contract(repo, payment_method=None), "no_payment_method"),
    (lambda repo: change_contract(repo, payment_method=store_card(repo, "pm_old", exp_year=2026)), "expired_card"),
])
def test_no_card_or_an_expired_one_is_a_decline_without_a_payment(repo, gateway, setup, decline_code):
    setup(repo)

    outcome = renew(repo, gateway, "2027-03-01")

    assert (outcome.declines, outcome.status) == (1, "past_due")
    assert gateway.list_charges() == [] and payments(repo) == []
    assert [d["decline_code"] for t, d in repo.events() if t == "RenewalPaymentFailed"] == [decline_code]


def test_a_card_the_provider_does_not_know_is_a_decline_with_its_payment_failed(repo, gateway):
    card_on_file(repo, "tok_forgotten")

    assert renew(repo, gateway, "2027-03-01").declines == 1

    [failed] = payments(repo)
    assert (failed.status, failed.decline_code) == ("failed", "invalid_payment_method")
    assert [d["decline_code"] for t, d in repo.events() if t == "RenewalPaymentFailed"] == ["invalid_payment_method"]


def test_a_contract_that_does_not_auto_renew_expires_then_is_suspended_then_cancelled(repo, gateway):
    change_contract(repo, auto_renew=False)
    statuses = []
    for day in ("2027-02-28", "2027-03-01", "2027-03-15", "2027-03-16", "2027-04-15"):
        statuses.append(renew(repo, gateway, day).status)

    assert statuses == ["active", "expired", "expired", "suspended", "cancelled"]
    assert gateway.list_charges() == [] and renewal_orders(repo) == []
    assert [d["reason"] for t, d in repo.events()] == ["not_renewed"] * 3
    assert history_types(repo) == ["status_changed"] * 3


def test_a_reseller_contract_is_never_touched_and_an_unknown_one_is_done_with(repo, gateway):
    change_contract(repo, purchase_channel="reseller")
    assert renew(repo, gateway, "2027-03-10").renewed == 0 and contract(repo).version == 2
    assert renew(repo, gateway, "2027-03-10", "990000000009").status is None
    assert gateway.list_charges() == []


# -- exactly once ---------------------------------------------------------------------------------------------

def test_the_same_message_delivered_twice_charges_once(repo, gateway):
    renew(repo, gateway, "2027-03-01")
    assert renew(repo, gateway, "2027-03-01").renewed == 0
    assert len(gateway.list_charges()) == 1 and len(payments(repo)) == 1 and len(renewal_orders(repo)) == 1


def test_a_provider_time_out_leaves_the_payment_pending_and_the_retry_completes_it(repo, gateway):
    card_on_file(repo, "tok_timeoutAfterCapture")
    counting = Meanwhile(gateway)

    with pytest.raises(PaymentProviderUnavailable):
        renew(repo, counting, "2027-03-01")
    pending = contract(repo)
    [in_progress] = payments(repo)
    assert (pending.renewal_payment_id, in_progress.status) == (in_progress.payment_id, "pending")
    assert pending.renewal_date == date(2027, 3, 1) and renewal_orders(repo) == [] and repo.events() == []

    assert renew(repo, counting, "2027-03-01").renewed == 1
    [charge] = gateway.list_charges()
    assert len(counting.confirmed) == 1 and renewal_orders(repo)[0].charge_id == charge.charge_id
    assert payment(repo, in_progress.payment_id).status == "succeeded"


def test_a_change_between_charge_and_write_is_written_over_with_the_same_payment(repo, gateway):
    meanwhile = Meanwhile(gateway, during_confirm=lambda: change_contract(repo, manager_email="new@acme.test"))

    assert renew(repo, meanwhile, "2027-03-01").renewed == 1

    renewed = contract(repo)
    assert (renewed.manager_email, renewed.renewal_date) == ("new@acme.test", date(2028, 3, 1))
    [charge] = kept_charges(gateway)
    assert renewal_orders(repo)[0].charge_id == charge.charge_id and len(repo.events()) == 1


def test_another_worker_that_recorded_the_period_first_leaves_one_charge_and_one_renewal(repo, gateway):
    meanwhile = Meanwhile(gateway, during_confirm=lambda: renew(repo, gateway, "2027-03-01"))

    assert renew(repo, meanwhile, "2027-03-01").renewed == 0  # the other worker did it

    assert len(gateway.list_charges()) == 1 and len(renewal_orders(repo)) == 1 and len(payments(repo)) == 1
    assert contract(repo).renewal_date == date(2028, 3, 1) and event_types(repo) == ["SubscriptionRenewed"]


def test_a_seat_change_between_charge_and_write_refunds_that_payment_and_charges_the_new_total(repo, gateway):
    meanwhile = Meanwhile(gateway, during_confirm=lambda: grow(repo))

    assert renew(repo, meanwhile, "2027-03-01").renewed == 1

    first, second = payments(repo)
    assert (first.amount, first.status) == (Money.parse("19750.00", "USD"), "refunded")
    assert (second.amount, second.status) == (Money.parse("23700.00", "USD"), "succeeded")
    [refunded] = refunded_charges(gateway)
    [kept] = kept_charges(gateway)
    assert (refunded.charge_id, kept.charge_id) == (first.provider_ref, second.provider_ref)
    assert renewal_orders(repo)[0].charge_id == second.provider_ref
    [entry] = [e for e in repo.list_history(ACME) if e.type == "payment_refunded"]
    assert entry.details["reason"] == "renewal_not_applicable"


def test_a_captured_payment_that_no_longer_fits_when_resumed_is_refunded_and_the_period_charged_anew(
        repo, gateway):
    card_on_file(repo, "tok_timeoutAfterCapture")
    with pytest.raises(PaymentProviderUnavailable):
        renew(repo, gateway, "2027-03-01")  # captured; the worker never learnt it
    grow(repo)  # the total changed before the next delivery
    card_on_file(repo, "tok_visa")

    assert renew(repo, gateway, "2027-03-01").renewed == 1

    first, second = payments(repo)
    assert (first.amount, first.status) == (Money.parse("19750.00", "USD"), "refunded")
    assert (second.amount, second.status) == (Money.parse("23700.00", "USD"), "succeeded")
    [renewal] = renewal_orders(repo)
    assert (renewal.total, renewal.charge_id) == (Money.parse("23700.00", "USD"), second.provider_ref)
    assert [c.charge_id for c in kept_charges(gateway)] == [second.provider_ref]


def test_a_refund_cut_short_by_a_crash_is_made_by_the_next_run(repo, gateway):
    meanwhile = Meanwhile(gateway, during_confirm=lambda: grow(repo), refund_fails=True)

    with pytest.raises(RuntimeError):
        renew(repo, meanwhile, "2027-03-01")
    [owed] = payments(repo)
    assert (owed.status, contract(repo).renewal_payment_id) == ("refunding", owed.payment_id)
    assert [c.status for c in gateway.list_charges()] == ["succeeded"]  # the money is still taken

    assert renew(repo, gateway, "2027-03-01").renewed == 1

    assert [p.status for p in payments(repo)] == ["refunded", "succeeded"]
    assert [c.charge_id for c in refunded_charges(gateway)] == [owed.provider_ref]
    assert contract(repo).renewal_date == date(2028, 3, 1)


def test_the_as_of_instant_is_read_in_utc(repo, gateway):
    assert renew_contract(ACME, datetime(2027, 2, 28, 23, tzinfo=UTC), repo, gateway).renewed == 0
    assert renew_contract(ACME, datetime.fromisoformat("2027-02-28T21:00:00-05:00"), repo, gateway).renewed == 1
