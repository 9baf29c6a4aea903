"""services/renew.py on the in-memory repository and sandbox provider: each due period charged once, or
the contract moved along the overdue timeline."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from seats.domain.errors import PaymentProviderUnavailable
from seats.domain.model import RenewalOrder
from seats.domain.money import Money
from seats.services import add_seats
from seats.services.reduce_seats import schedule_reduction
from seats.services.renew import MAX_STEPS, renew_contract
from tests.fakes import Meanwhile
from tests.unit.services.support import (
    ACME,
    GLOBEX,
    MANAGER,
    SUBSCRIPTION,
    change_contract,
    contract,
    history_types,
    order,
    store_card,
)


def on(day: str) -> datetime:
    """The scheduler's as-of instant: 02:00 UTC on `day`."""
    return datetime.fromisoformat(f"{day}T02:00:00+00:00")


def renew(repo: Any, gateway: Any, day: str, contract_id: str = ACME):
    return renew_contract(contract_id, on(day), repo, gateway)


def renewal_orders(repo: Any, contract_id: str = ACME) -> list[RenewalOrder]:
    return sorted((o for o in repo.list_orders(contract_id) if isinstance(o, RenewalOrder)),
                  key=lambda o: o.period.term_start)


def card_on_file(repo: Any, token: str) -> None:
    change_contract(repo, payment_method=store_card(repo, f"pm_{token}", token))


def event_types(repo: Any) -> list[str]:
    return [detail_type for detail_type, _ in repo.events()]


# -- a renewal ----------------------------------------------------------------------------------------------

def test_an_auto_renewing_contract_is_charged_and_moves_one_term_on(repo, gateway):
    outcome = renew(repo, gateway, "2027-03-01")

    assert (outcome.renewed, outcome.declines, outcome.status) == (1, 0, "active")
    renewed = contract(repo)
    assert (renewed.term_start, renewed.renewal_date, renewed.failed_renewal_attempts) == (
        date(2027, 3, 1), date(2028, 3, 1), 0)
    [charge] = gateway.kept_charges()
    assert (charge.amount, charge.idempotency_key) == (Money.parse("19750.00", "USD"),
                                                       f"seats:renewal:{ACME}:2027-03-01:attempt:0")
    [renewal] = renewal_orders(repo)
    assert (renewal.status, renewal.charge_id, renewal.total, renewal.created_by) == (
        "completed", charge.charge_id, charge.amount, "system")
    assert [(line.subscription_id, line.seats, str(line.amount)) for line in renewal.lines] == [
        (SUBSCRIPTION, 10, "19750.00")]
    assert history_types(repo) == ["renewed"]
    [(detail_type, detail)] = repo.events()
    assert detail_type == "SubscriptionRenewed"
    assert (detail["amount"], detail["renewal_date"], detail["charge_id"]) == ("19750.00", "2028-03-01", charge.charge_id)


def test_nothing_happens_before_the_renewal_date(repo, gateway):
    outcome = renew(repo, gateway, "2027-02-28")
    assert (outcome.renewed, outcome.status) == (0, "active")
    assert gateway.list_charges() == [] and contract(repo).version == 1 and repo.events() == []


def test_pending_reductions_are_applied_and_charged_at_the_lower_price(repo, gateway, clock_at):
    schedule_reduction(repo, ACME, SUBSCRIPTION, MANAGER, 8)
    clock_at("2027-03-01T02:00:05Z")

    renew(repo, gateway, "2027-03-01")

    renewed = contract(repo).subscription(SUBSCRIPTION)
    assert (renewed.seats, renewed.pending_reduction) == (8, None)
    assert [c.amount for c in gateway.kept_charges()] == [Money.parse("15800.00", "USD")]
    assert history_types(repo) == ["renewed", "seats_reduced", "reduction_scheduled"]


def test_open_add_seats_drafts_are_cancelled_by_the_renewal(repo, gateway):
    draft = add_seats.create_draft(repo, ACME, SUBSCRIPTION, 3, MANAGER)

    renew(repo, gateway, "2027-03-01")

    cancelled = order(repo, draft.order_id)
    assert (cancelled.status, cancelled.version) == ("cancelled", 2)
    assert contract(repo).subscription(SUBSCRIPTION).open_order_id is None
    assert history_types(repo) == ["renewed", "order_cancelled"]
    assert repo.list_history(ACME)[1].details == {"order_id": draft.order_id, "reason": "renewal"}


def test_missed_runs_renew_every_due_period_each_with_its_own_charge(repo, gateway):
    outcome = renew(repo, gateway, "2027-03-01", GLOBEX)  # monthly, due since 2026-12-15

    assert outcome.renewed == 3 and contract(repo, GLOBEX).renewal_date == date(2027, 3, 15)
    assert [c.idempotency_key for c in gateway.kept_charges()] == [
        f"seats:renewal:{GLOBEX}:{day}:attempt:0" for day in ("2026-12-15", "2027-01-15", "2027-02-15")]
    assert [o.period.term_start for o in renewal_orders(repo, GLOBEX)] == [
        date(2026, 12, 15), date(2027, 1, 15), date(2027, 2, 15)]
    assert event_types(repo) == ["SubscriptionRenewed"] * 3


def test_one_run_renews_at_most_max_steps_periods_and_the_next_run_carries_on(repo, gateway):
    first = renew(repo, gateway, "2027-12-31", GLOBEX)  # thirteen periods due: 2026-12-15 to 2027-12-15
    second = renew(repo, gateway, "2027-12-31", GLOBEX)

    assert (first.renewed, second.renewed) == (MAX_STEPS, 13 - MAX_STEPS)
    assert contract(repo, GLOBEX).renewal_date == date(2028, 1, 15)


# -- declines and lapses ------------------------------------------------------------------------------------

def test_a_declined_renewal_is_past_due_then_suspended_then_cancelled_from_day_45(repo, gateway):
    card_on_file(repo, "tok_chargeCustomerFail")
    timeline = []
    for day in ("2027-03-01", "2027-03-02", "2027-03-16", "2027-04-15", "2027-04-16"):
        outcome = renew(repo, gateway, day)
        timeline.append((outcome.declines, contract(repo).status, contract(repo).failed_renewal_attempts))

    assert timeline == [(1, "past_due", 1), (1, "past_due", 2), (1, "suspended", 3), (1, "cancelled", 4),
                        (0, "cancelled", 4)]
    assert [c.idempotency_key.rsplit(":", 1)[1] for c in gateway.list_charges()] == ["0", "1", "2", "3"]
    assert all(c.status == "failed" for c in gateway.list_charges())
    failed = [d for t, d in repo.events() if t == "RenewalPaymentFailed"]
    assert [(d["attempt"], d["status"], d["decline_code"]) for d in failed] == [
        (1, "past_due", "card_declined"), (2, "past_due", "card_declined"), (3, "suspended", "card_declined"),
        (4, "cancelled", "card_declined")]
    changes = [(d["status_before"], d["status_after"]) for t, d in repo.events() if t == "ContractStatusChanged"]
    assert changes == [("active", "past_due"), ("past_due", "suspended"), ("suspended", "cancelled")]


def test_a_later_success_renews_from_the_unpaid_date(repo, gateway):
    card_on_file(repo, "tok_chargeCustomerFail")
    renew(repo, gateway, "2027-03-01")
    card_on_file(repo, "tok_visa")

    outcome = renew(repo, gateway, "2027-03-05")

    renewed = contract(repo)
    assert (outcome.renewed, renewed.status, renewed.term_start, renewed.failed_renewal_attempts) == (
        1, "active", date(2027, 3, 1), 0)
    assert [c.idempotency_key for c in gateway.kept_charges()] == [f"seats:renewal:{ACME}:2027-03-01:attempt:1"]
    assert ("ContractStatusChanged", "active") in [(t, d.get("status_after")) for t, d in repo.events()]


@pytest.mark.parametrize(("setup", "decline_code"), [
    (lambda repo: change_contract(repo, payment_method=None), "no_payment_method"),
    (lambda repo: change_contract(repo, payment_method=store_card(repo, "pm_old", exp_year=2026)), "expired_card"),
])
def test_no_card_or_an_expired_one_is_a_decline_without_a_charge(repo, gateway, setup, decline_code):
    setup(repo)

    outcome = renew(repo, gateway, "2027-03-01")

    assert (outcome.declines, outcome.status) == (1, "past_due") and gateway.list_charges() == []
    assert [d["decline_code"] for t, d in repo.events() if t == "RenewalPaymentFailed"] == [decline_code]


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
    assert len(gateway.list_charges()) == 1 and len(renewal_orders(repo)) == 1


def test_a_provider_time_out_writes_nothing_and_the_retry_finds_the_captured_charge(repo, gateway):
    card_on_file(repo, "tok_timeoutAfterCapture")
    before = contract(repo)

    with pytest.raises(PaymentProviderUnavailable):
        renew(repo, gateway, "2027-03-01")
    assert contract(repo) == before and renewal_orders(repo) == [] and repo.events() == []

    assert renew(repo, gateway, "2027-03-01").renewed == 1
    [charge] = gateway.list_charges()
    assert renewal_orders(repo)[0].charge_id == charge.charge_id


def test_a_change_between_charge_and_write_is_written_over_with_the_same_charge(repo, gateway):
    meanwhile = Meanwhile(gateway, during_charge=lambda: change_contract(repo, manager_email="new@acme.test"))

    assert renew(repo, meanwhile, "2027-03-01").renewed == 1

    renewed = contract(repo)
    assert (renewed.manager_email, renewed.renewal_date) == ("new@acme.test", date(2028, 3, 1))
    [charge] = gateway.kept_charges()
    assert renewal_orders(repo)[0].charge_id == charge.charge_id and len(repo.events()) == 1


def test_another_worker_that_recorded_the_period_first_leaves_one_charge_and_one_renewal(repo, gateway):
    meanwhile = Meanwhile(gateway, during_charge=lambda: renew(repo, gateway, "2027-03-01"))

    assert renew(repo, meanwhile, "2027-03-01").renewed == 0  # the other worker did it

    assert len(gateway.list_charges()) == 1 and len(renewal_orders(repo)) == 1
    assert contract(repo).renewal_date == date(2028, 3, 1) and event_types(repo) == ["SubscriptionRenewed"]


def test_a_seat_change_between_charge_and_write_refunds_that_charge_and_charges_the_new_total(repo, gateway):
    grow = lambda: change_contract(repo, change=lambda c: setattr(c.subscriptions[0], "seats", 12))  # noqa: E731
    meanwhile = Meanwhile(gateway, during_charge=grow)

    assert renew(repo, meanwhile, "2027-03-01").renewed == 1

    first, second = gateway.list_charges()
    assert (first.amount, gateway.is_refunded(first.idempotency_key)) == (Money.parse("19750.00", "USD"), True)
    assert (second.amount, gateway.is_refunded(second.idempotency_key)) == (Money.parse("23700.00", "USD"), False)
    assert renewal_orders(repo)[0].charge_id == second.charge_id and contract(repo).refunds_due == []


def test_a_charge_key_already_used_for_another_amount_is_refunded_and_the_period_charged_anew(repo, gateway):
    stale_key = f"seats:renewal:{ACME}:2027-03-01:attempt:0"
    gateway.charge(customer_ref=None, payment_method_ref="tok_visa", amount=Money.parse("1.00", "USD"),
                   idempotency_key=stale_key, description="an earlier run, other terms")

    assert renew(repo, gateway, "2027-03-01").renewed == 1

    assert gateway.is_refunded(stale_key)
    [kept] = gateway.kept_charges()
    assert (kept.amount, kept.idempotency_key) == (Money.parse("19750.00", "USD"), stale_key.replace(":0", ":1"))


def test_a_refund_cut_short_by_a_crash_is_made_by_the_next_run(repo, gateway):
    stale_key = f"seats:renewal:{ACME}:2027-03-01:attempt:0"
    stale = gateway.charge(customer_ref=None, payment_method_ref="tok_visa", amount=Money.parse("1.00", "USD"),
                           idempotency_key=stale_key, description="an earlier run, other terms")

    with pytest.raises(RuntimeError):
        renew(repo, Meanwhile(gateway, refund_fails=True), "2027-03-01")
    owed = contract(repo)
    assert (owed.refunds_due, owed.failed_renewal_attempts) == ([stale.charge_id], 1)
    assert not gateway.is_refunded(stale_key)

    assert renew(repo, gateway, "2027-03-01").renewed == 1
    assert gateway.is_refunded(stale_key) and contract(repo).refunds_due == []


def test_the_as_of_instant_is_read_in_utc(repo, gateway):
    assert renew_contract(ACME, datetime(2027, 2, 28, 23, tzinfo=UTC), repo, gateway).renewed == 0
    assert renew_contract(ACME, datetime.fromisoformat("2027-02-28T21:00:00-05:00"), repo, gateway).renewed == 1
