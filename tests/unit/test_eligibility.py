"""Eligibility (docs/api.md, Eligibility): the rules in their order; the first failure is the reason."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from seats.domain.eligibility import Change, ineligibility
from seats.domain.model import Contract, PendingReduction, Subscription
from seats.domain.money import Money
from seats.domain.terms import Term

TODAY = date(2026, 11, 29)
MANAGER = "u-alice"
EU_MEMBER_STATES = [
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
    "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
]


def a_contract(**changes) -> Contract:
    contract = Contract(
        contract_id="110000000001", account_id="acme", account_name="Acme Corp", country="US", currency="USD",
        contract_manager=MANAGER, manager_email="alice@acme.test", purchase_channel="online", auto_renew=True,
        term=Term.ANNUAL, term_start=date(2026, 3, 1), renewal_date=date(2027, 3, 1), billing_anchor_day=1,
        status="active", payment_method=None,
        subscriptions=[Subscription("sub-acad", "AutoCAD", "subscription", 10, 7, Money.parse("1975.00", "USD"))],
    )
    return replace(contract, **changes)


def a_reduction(seats: int = 8) -> PendingReduction:
    return PendingReduction(seats, MANAGER, datetime(2026, 11, 1, tzinfo=UTC))


def reason(change: Change, contract: Contract, caller: str = MANAGER, today: date = TODAY) -> str | None:
    return ineligibility(change, contract, contract.subscriptions[0], caller, today)


def with_subscription(contract: Contract, **changes) -> Contract:
    contract.subscriptions[0] = replace(contract.subscriptions[0], **changes)
    return contract


@pytest.mark.parametrize("change", list(Change))
def test_the_manager_of_an_active_online_auto_renewing_us_subscription_may_change_it(change):
    assert reason(change, a_contract()) is None


@pytest.mark.parametrize("change", list(Change))
def test_only_the_contract_manager_may_change_seats(change):
    assert reason(change, a_contract(), caller="u-paula") == "not_contract_manager"


@pytest.mark.parametrize("status", ["past_due", "suspended", "expired", "cancelled"])
@pytest.mark.parametrize("change", list(Change))
def test_a_contract_that_is_not_active_cannot_change(change, status):
    assert reason(change, a_contract(status=status)) == "contract_not_active"


@pytest.mark.parametrize("change", list(Change))
def test_a_reseller_contract_cannot_change_here(change):
    assert reason(change, a_contract(purchase_channel="reseller")) == "not_purchased_online"


@pytest.mark.parametrize("change", list(Change))
def test_a_contract_that_does_not_auto_renew_cannot_change(change):
    assert reason(change, a_contract(auto_renew=False)) == "not_auto_renewing"


@pytest.mark.parametrize("country", ["US", "CA", "AU", "GB", "CH", "NO", *EU_MEMBER_STATES])
def test_supported_regions_are_the_six_countries_and_the_eu(country):
    assert reason(Change.ADD, a_contract(country=country)) is None


@pytest.mark.parametrize("country", ["JP", "MX", "BR", "IN", "IS", "LI", "TR", "NZ", "EL", "UK", "us"])
def test_other_regions_are_not_supported(country):
    assert reason(Change.ADD, a_contract(country=country)) == "region_not_supported"
    assert reason(Change.REDUCE, a_contract(country=country)) == "region_not_supported"


@pytest.mark.parametrize("change", list(Change))
def test_a_maintenance_plan_cannot_change(change):
    assert reason(change, with_subscription(a_contract(), plan_type="maintenance")) == "maintenance_plan"


@pytest.mark.parametrize("change", list(Change))
def test_changes_stop_on_the_renewal_date(change):
    contract = a_contract()
    assert reason(change, contract, today=date(2027, 2, 28)) is None
    assert reason(change, contract, today=date(2027, 3, 1)) == "renewal_due"
    assert reason(change, contract, today=date(2027, 3, 2)) == "renewal_due"


def test_seats_cannot_be_added_while_a_reduction_is_pending():
    contract = with_subscription(a_contract(), pending_reduction=a_reduction())
    assert reason(Change.ADD, contract) == "reduction_pending"
    assert reason(Change.REDUCE, contract) is None  # saving again replaces the reduction


def test_seats_cannot_be_reduced_while_an_add_seats_draft_is_open():
    contract = with_subscription(a_contract(), open_order_id="ord_1")
    assert reason(Change.REDUCE, contract) == "draft_exists"
    assert reason(Change.ADD, contract) is None  # the add route answers draft_exists with the order id


def test_seats_cannot_be_added_beyond_10000():
    assert reason(Change.ADD, with_subscription(a_contract(), seats=9999)) is None
    assert reason(Change.ADD, with_subscription(a_contract(), seats=10000)) == "seat_limit_reached"
    assert reason(Change.REDUCE, with_subscription(a_contract(), seats=10000)) is None


def test_a_single_seat_cannot_be_reduced():
    assert reason(Change.REDUCE, with_subscription(a_contract(), seats=2)) is None
    assert reason(Change.REDUCE, with_subscription(a_contract(), seats=1, assigned_seats=1)) == "single_seat"
    assert reason(Change.ADD, with_subscription(a_contract(), seats=1, assigned_seats=1)) is None


# Each case breaks two rules; the earlier one (docs/api.md, Eligibility) is the reason.
@pytest.mark.parametrize(("change", "changes", "subscription_changes", "caller", "today", "expected"), [
    (Change.ADD, {"status": "suspended"}, {}, "u-paula", TODAY, "not_contract_manager"),
    (Change.REDUCE, {"status": "past_due", "purchase_channel": "reseller"}, {}, MANAGER, TODAY,
     "contract_not_active"),
    (Change.ADD, {"purchase_channel": "reseller", "auto_renew": False}, {}, MANAGER, TODAY, "not_purchased_online"),
    (Change.REDUCE, {"auto_renew": False, "country": "JP"}, {}, MANAGER, TODAY, "not_auto_renewing"),
    (Change.ADD, {"country": "JP"}, {"plan_type": "maintenance"}, MANAGER, TODAY, "region_not_supported"),
    (Change.REDUCE, {}, {"plan_type": "maintenance"}, MANAGER, date(2027, 3, 1), "maintenance_plan"),
    (Change.ADD, {}, {"pending_reduction": a_reduction()}, MANAGER, date(2027, 3, 1), "renewal_due"),
    (Change.REDUCE, {}, {"open_order_id": "ord_1"}, MANAGER, date(2027, 3, 1), "renewal_due"),
    (Change.ADD, {}, {"pending_reduction": a_reduction(), "seats": 10000}, MANAGER, TODAY, "reduction_pending"),
    (Change.REDUCE, {}, {"open_order_id": "ord_1", "seats": 1, "assigned_seats": 0}, MANAGER, TODAY,
     "draft_exists"),
])
def test_a_contract_failing_two_rules_reports_the_first(change, changes, subscription_changes, caller, today, expected):
    contract = with_subscription(a_contract(**changes), **subscription_changes)
    assert reason(change, contract, caller=caller, today=today) == expected
