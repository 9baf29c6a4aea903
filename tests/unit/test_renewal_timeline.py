"""The overdue timeline (docs/api.md, Renewal), and the renewed period, as pure functions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from seats.domain import renewal
from seats.domain.model import CarriedAmount, Contract, PendingReduction, Subscription
from seats.domain.money import Money
from seats.domain.terms import Term

UNPAID = date(2027, 3, 1)


def day(n: int) -> date:
    return UNPAID + timedelta(days=n)


def contract(**changes) -> Contract:
    values = dict(
        contract_id="c1", account_id="acme", account_name="Acme", country="US", currency="USD",
        contract_manager="u-alice", manager_email="alice@acme.test", purchase_channel="online", auto_renew=True,
        term=Term.ANNUAL, term_start=date(2026, 3, 1), renewal_date=UNPAID, billing_anchor_day=1,
        status="active", payment_method=None,
        subscriptions=[Subscription("s1", "AutoCAD", "subscription", 10, 7, Money.parse("1975.00", "USD"))],
        version=3,
    )
    values.update(changes)
    return Contract(**values)


@pytest.mark.parametrize(("days_after", "status"), [
    (0, "past_due"), (14, "past_due"), (15, "suspended"), (44, "suspended"), (45, "cancelled"), (400, "cancelled"),
])
def test_an_unpaid_annual_renewal_is_past_due_then_suspended_then_cancelled_from_day_45(days_after, status):
    assert renewal.overdue_status(Term.ANNUAL, UNPAID, day(days_after), auto_renew=True) == status


@pytest.mark.parametrize(("days_after", "status"), [
    (0, "past_due"), (14, "past_due"), (15, "suspended"), (29, "suspended"), (30, "cancelled"),
])
def test_an_unpaid_monthly_renewal_is_cancelled_from_day_30(days_after, status):
    assert renewal.overdue_status(Term.MONTHLY, UNPAID, day(days_after), auto_renew=True) == status


def test_a_three_year_term_is_cancelled_from_day_45_like_an_annual_one():
    assert renewal.overdue_status(Term.THREE_YEAR, UNPAID, day(44), auto_renew=True) == "suspended"
    assert renewal.overdue_status(Term.THREE_YEAR, UNPAID, day(45), auto_renew=True) == "cancelled"


@pytest.mark.parametrize(("term", "days_after", "status"), [
    (Term.ANNUAL, 0, "expired"), (Term.ANNUAL, 14, "expired"), (Term.ANNUAL, 15, "suspended"),
    (Term.ANNUAL, 44, "suspended"), (Term.ANNUAL, 45, "cancelled"),
    (Term.MONTHLY, 29, "suspended"), (Term.MONTHLY, 30, "cancelled"),
])
def test_a_contract_that_does_not_auto_renew_expires_at_its_renewal_date(term, days_after, status):
    assert renewal.overdue_status(term, UNPAID, day(days_after), auto_renew=False) == status


def test_only_online_contracts_not_cancelled_and_at_their_renewal_date_are_due():
    assert renewal.is_due(contract(), UNPAID)
    assert renewal.is_due(contract(), day(30))
    assert not renewal.is_due(contract(), day(-1))
    assert not renewal.is_due(contract(purchase_channel="reseller"), UNPAID)
    assert not renewal.is_due(contract(status="cancelled"), UNPAID)


def test_only_auto_renewing_active_past_due_or_suspended_contracts_are_charged():
    assert all(renewal.is_charged(contract(status=s), day(1)) for s in ("active", "past_due", "suspended"))
    assert not renewal.is_charged(contract(status="expired"), day(1))
    assert not renewal.is_charged(contract(auto_renew=False), day(1))


@pytest.mark.parametrize(("term", "last_charged_day"), [(Term.ANNUAL, 44), (Term.MONTHLY, 29)])
def test_a_declined_contract_is_not_charged_from_its_cancellation_day_on(term, last_charged_day):
    for status in ("past_due", "suspended"):
        assert renewal.is_charged(contract(status=status, term=term), day(last_charged_day))
        assert not renewal.is_charged(contract(status=status, term=term), day(last_charged_day + 1))
    assert renewal.is_charged(contract(status="active", term=term), day(400))  # never declined: charged


def test_a_decline_counts_the_days_attempt_and_changes_nothing_but_the_status():
    before = contract(renewal_payment_id="pay_1")
    after = renewal.decline(before, day(16))
    assert (after.status, after.failed_renewal_attempts) == ("suspended", 1)
    assert (after.renewal_attempted_on, after.renewal_payment_id) == (day(16), None)
    assert (after.term_start, after.renewal_date, after.version) == (before.term_start, before.renewal_date, 3)
    assert (before.status, before.renewal_payment_id) == ("active", "pay_1")  # the contract read is left as it was


def test_amounts_carried_over_are_kept_while_the_contract_lives_and_forgiven_when_it_ends():
    carried = [CarriedAmount("ord_small", Money.parse("0.25", "USD"))]
    assert renewal.decline(contract(carried_over=carried), day(16)).carried_over == carried
    assert renewal.decline(contract(carried_over=carried, status="suspended"), day(45)).carried_over == []
    assert renewal.lapse(contract(carried_over=carried, auto_renew=False), day(45)).carried_over == []


def test_a_lapse_keeps_a_declined_auto_renewing_contract_overdue_until_it_is_cancelled():
    declined = contract(status="past_due", failed_renewal_attempts=1)
    assert renewal.lapse(declined, day(3)).status == "past_due"  # not "expired": it still renews if paid
    assert renewal.lapse(declined, day(45)).status == "cancelled"


def test_a_renewed_period_applies_reductions_closes_drafts_and_moves_the_term_on():
    sub = Subscription("s1", "AutoCAD", "subscription", 10, 7, Money.parse("1975.00", "USD"),
                       pending_reduction=PendingReduction(8, "u-alice", datetime(2026, 12, 1, tzinfo=UTC)),
                       open_order_id="ord_draft")
    before = contract(subscriptions=[sub], status="past_due", failed_renewal_attempts=2)
    period = renewal.renew(before, charge_id="ch_1", at=datetime(2027, 3, 5, tzinfo=UTC))
    after = period.contract
    assert (after.term_start, after.renewal_date) == (date(2027, 3, 1), date(2028, 3, 1))
    assert (after.status, after.failed_renewal_attempts) == ("active", 0)
    assert (after.subscriptions[0].seats, after.subscriptions[0].pending_reduction) == (8, None)
    assert after.subscriptions[0].open_order_id is None
    assert [(r.seats_before, r.seats_after) for r in period.reductions] == [(10, 8)]
    assert period.cancelled_drafts == [("s1", "ord_draft")]
    order = period.order
    assert (order.type, order.status, str(order.total), order.charge_id) == ("renewal", "completed", "15800.00", "ch_1")
    assert [(line.seats, str(line.amount)) for line in order.lines] == [(8, "15800.00")]
    assert (order.period.term_start, order.period.renewal_date) == (date(2027, 3, 1), date(2028, 3, 1))
    assert before.subscriptions[0].seats == 10


def test_a_renewed_period_charges_the_amounts_carried_over_and_clears_the_attempt():
    carried = [CarriedAmount("ord_small", Money.parse("0.25", "USD"))]
    before = contract(carried_over=carried, renewal_attempted_on=day(0), renewal_payment_id="pay_1",
                      failed_renewal_attempts=1, status="past_due")
    period = renewal.renew(before, charge_id="ch_1", at=datetime(2027, 3, 2, tzinfo=UTC), payment_id="pay_1")
    after, order = period.contract, period.order
    assert (after.carried_over, after.renewal_attempted_on, after.renewal_payment_id) == ([], None, None)
    assert (str(order.total), order.carried_over, order.payment_id) == ("19750.25", carried, "pay_1")


def test_a_renewed_period_below_the_providers_minimum_is_not_charged_but_carried_to_the_next():
    tiny = Subscription("s1", "AutoCAD", "subscription", 10, 7, Money.parse("0.04", "USD"))
    period = renewal.renew(contract(subscriptions=[tiny]), charge_id=None, at=datetime(2027, 3, 1, tzinfo=UTC))
    assert (str(period.order.total), period.order.charge_id) == ("0.40", None)
    assert period.contract.carried_over == [CarriedAmount(period.order.order_id, Money.parse("0.40", "USD"))]
    assert str(period.contract.renewal_total) == "0.80"


def test_a_period_has_one_order_id_whoever_renews_it():
    assert renewal.renewal_order_id("c1", UNPAID) == renewal.renewal_order_id("c1", UNPAID)
    assert renewal.renewal_order_id("c1", UNPAID) != renewal.renewal_order_id("c1", day(365))
