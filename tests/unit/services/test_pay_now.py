"""services/pay_now.py on the in-memory repository and sandbox provider: PAY NOW renews a declined contract
through the nightly run's own renewal, on-session, one charge per period whoever charges it."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest

from seats.domain.errors import (
    ContractNotFound,
    NotContractManager,
    NotEligible,
    NothingDue,
    PaymentDeclined,
    PaymentProviderUnavailable,
)
from seats.domain.model import RenewalOrder
from seats.services.pay_now import pay_renewal_now
from seats.services.renew import renew_contract
from tests.fakes import Meanwhile, kept_charges
from tests.unit.services.support import (
    ACME,
    MANAGER,
    OUTSIDER,
    PRIMARY_ADMIN,
    change_contract,
    contract,
    payments,
    store_card,
)


def on(instant: str) -> datetime:
    return datetime.fromisoformat(instant.replace("Z", "+00:00"))


def nightly(repo: Any, gateway: Any, day: str) -> Any:
    """The nightly run's message for ACME, as of 02:00 UTC on `day`."""
    return renew_contract(ACME, on(f"{day}T02:00:00Z"), repo, gateway)


def pay(repo: Any, gateway: Any, instant: str, caller: str = MANAGER, contract_id: str = ACME):
    return pay_renewal_now(repo, gateway, contract_id, caller, on(instant))


def card_on_file(repo: Any, token: str) -> None:
    change_contract(repo, payment_method=store_card(repo, f"pm_{token}", token))


@pytest.fixture
def declined(repo, gateway, clock_at):
    """ACME declined by the nightly run of 2027-03-01 (a card that always declines): past_due."""
    card_on_file(repo, "tok_chargeCustomerFail")
    clock_at("2027-03-01T02:00:00Z")
    assert nightly(repo, gateway, "2027-03-01").declines == 1
    clock_at("2027-03-01T10:00:00Z")
    return repo


def renewal_orders(repo: Any) -> list[RenewalOrder]:
    return [o for o in repo.list_orders(ACME) if isinstance(o, RenewalOrder)]


# -- paying ------------------------------------------------------------------------------------------------

def test_after_a_card_change_paying_the_same_day_renews_with_an_on_session_payment(declined, gateway):
    card_on_file(declined, "tok_visa")

    renewed = pay(declined, gateway, "2027-03-01T10:00:00Z")

    assert (renewed.status, renewed.term_start, renewed.renewal_date) == ("active", date(2027, 3, 1), date(2028, 3, 1))
    assert (renewed.failed_renewal_attempts, renewed.renewal_attempted_on) == (0, None)
    failed, paid = payments(declined)
    assert (failed.status, failed.off_session) == ("failed", True)  # the nightly run's
    assert (paid.status, paid.off_session, paid.period) == ("succeeded", False, date(2027, 3, 1))
    [charge] = kept_charges(gateway)
    [order] = renewal_orders(declined)
    assert (order.charge_id, order.payment_method.payment_method_id) == (charge.charge_id, "pm_tok_visa")


def test_a_renewed_contract_has_nothing_due_any_more(declined, gateway):
    card_on_file(declined, "tok_visa")
    pay(declined, gateway, "2027-03-01T10:00:00Z")

    with pytest.raises(NothingDue):
        pay(declined, gateway, "2027-03-01T10:01:00Z")
    assert len(kept_charges(gateway)) == 1


@pytest.mark.parametrize("change", [
    {},  # active, not due
    {"auto_renew": False, "status": "expired", "renewal_date": date(2026, 11, 1), "term_start": date(2025, 11, 1)},
    {"purchase_channel": "reseller", "status": "past_due", "renewal_date": date(2026, 11, 1),
     "term_start": date(2025, 11, 1)},
    {"status": "cancelled", "renewal_date": date(2026, 9, 1), "term_start": date(2025, 9, 1)},
])
def test_only_an_auto_renewing_past_due_or_suspended_due_contract_has_something_due(repo, gateway, change):
    if change:
        change_contract(repo, **change)
    before = contract(repo)

    with pytest.raises(NothingDue):
        pay(repo, gateway, "2026-11-29T10:00:00Z")

    assert contract(repo) == before and gateway.list_charges() == [] and payments(repo) == []


@pytest.mark.parametrize(("caller", "error"), [
    (PRIMARY_ADMIN, NotContractManager), (OUTSIDER, ContractNotFound), ("u-sam", ContractNotFound),
])
def test_only_the_contract_manager_may_pay(declined, gateway, caller, error):
    with pytest.raises(error):
        pay(declined, gateway, "2027-03-01T10:00:00Z", caller)
    assert len(payments(declined)) == 1 and contract(declined).status == "past_due"


def test_an_unknown_contract_is_not_found(repo, gateway):
    with pytest.raises(ContractNotFound):
        pay(repo, gateway, "2026-11-29T10:00:00Z", contract_id="990000000009")


# -- declines and the cancellation day -----------------------------------------------------------------------

def test_a_decline_is_402_with_its_code_counted_as_the_days_attempt(declined, gateway, clock_at):
    card_on_file(declined, "tok_chargeDeclinedInsufficientFunds")
    clock_at("2027-03-02T01:00:00Z")

    with pytest.raises(PaymentDeclined) as raised:
        pay(declined, gateway, "2027-03-02T01:00:00Z")

    assert raised.value.extra == {"decline_code": "insufficient_funds"}
    unpaid = contract(declined)
    assert (unpaid.status, unpaid.failed_renewal_attempts, unpaid.renewal_attempted_on) == (
        "past_due", 2, date(2027, 3, 2))
    assert nightly(declined, gateway, "2027-03-02").declines == 0  # no automatic attempt after it that day
    assert [p.status for p in payments(declined)] == ["failed", "failed"]


def test_a_second_attempt_the_same_day_is_made_the_customer_is_present(declined, gateway):
    with pytest.raises(PaymentDeclined):
        pay(declined, gateway, "2027-03-01T10:00:00Z")
    with pytest.raises(PaymentDeclined):
        pay(declined, gateway, "2027-03-01T10:05:00Z")
    assert [p.status for p in payments(declined)] == ["failed"] * 3


@pytest.mark.parametrize(("setup", "decline_code"), [
    (lambda repo: change_contract(repo, payment_method=None), "no_payment_method"),
    (lambda repo: change_contract(repo, payment_method=store_card(repo, "pm_old", exp_year=2026)), "expired_card"),
])
def test_no_card_or_an_expired_one_is_a_decline_without_a_payment(declined, gateway, setup, decline_code):
    setup(declined)

    with pytest.raises(PaymentDeclined) as raised:
        pay(declined, gateway, "2027-03-01T10:00:00Z")

    assert raised.value.extra == {"decline_code": decline_code} and len(payments(declined)) == 1


@pytest.mark.parametrize(("day", "status"), [("2027-04-14", "active"), ("2027-04-15", "cancelled")])
def test_from_the_cancellation_day_nothing_is_charged_and_the_contract_is_cancelled(
        declined, gateway, clock_at, day, status):
    card_on_file(declined, "tok_visa")
    clock_at(f"{day}T10:00:00Z")

    if status == "cancelled":
        with pytest.raises(NotEligible) as raised:
            pay(declined, gateway, f"{day}T10:00:00Z")
        assert raised.value.code == "contract_not_active"
        assert kept_charges(gateway) == []
        assert [(t, d["reason"]) for t, d in declined.events() if t == "ContractStatusChanged"][-1] == (
            "ContractStatusChanged", "not_renewed")
    else:
        pay(declined, gateway, f"{day}T10:00:00Z")
        assert len(kept_charges(gateway)) == 1
    assert contract(declined).status == status


# -- exactly once ---------------------------------------------------------------------------------------------

def test_the_nightly_run_recording_the_period_meanwhile_leaves_one_charge(declined, gateway, clock_at):
    card_on_file(declined, "tok_visa")
    clock_at("2027-03-02T02:00:00Z")
    meanwhile = Meanwhile(gateway, during_confirm=lambda: nightly(declined, gateway, "2027-03-02"))

    renewed = pay(declined, meanwhile, "2027-03-02T02:00:00Z")

    assert (renewed.status, renewed.renewal_date) == ("active", date(2028, 3, 1))
    assert len(kept_charges(gateway)) == 1 and len(renewal_orders(declined)) == 1
    assert [p.status for p in payments(declined)] == ["failed", "succeeded"]


def test_paying_while_the_nightly_run_charges_resumes_its_payment(declined, gateway, clock_at):
    card_on_file(declined, "tok_visa")
    clock_at("2027-03-02T02:00:00Z")
    answers = []
    meanwhile = Meanwhile(gateway, during_confirm=lambda: answers.append(
        pay(declined, gateway, "2027-03-02T02:00:00Z")))

    assert nightly(declined, meanwhile, "2027-03-02").renewed == 0  # PAY NOW recorded it first

    [renewed] = answers
    assert renewed.status == "active" and len(kept_charges(gateway)) == 1
    assert [(p.status, p.off_session) for p in payments(declined)] == [("failed", True), ("succeeded", True)]


def test_a_provider_time_out_leaves_the_payment_pending_and_paying_again_completes_it(declined, gateway):
    card_on_file(declined, "tok_timeoutAfterCapture")

    with pytest.raises(PaymentProviderUnavailable):
        pay(declined, gateway, "2027-03-01T10:00:00Z")
    assert contract(declined).status == "past_due" and payments(declined)[-1].status == "pending"

    assert pay(declined, gateway, "2027-03-01T10:01:00Z").status == "active"
    assert len(kept_charges(gateway)) == 1 and len(payments(declined)) == 2


def test_a_decline_whose_write_loses_a_race_is_answered_when_paying_again(declined, gateway):
    meanwhile = Meanwhile(gateway, during_confirm=lambda: change_contract(declined, manager_email="new@acme.test"))

    with pytest.raises(PaymentProviderUnavailable):  # declined, not recorded: the payment is still open
        pay(declined, meanwhile, "2027-03-01T10:00:00Z")

    with pytest.raises(PaymentDeclined) as raised:
        pay(declined, gateway, "2027-03-01T10:01:00Z")  # resumes that payment: asks, does not charge again
    assert raised.value.extra == {"decline_code": "card_declined"}
    assert [p.status for p in payments(declined)] == ["failed", "failed"] and len(gateway.list_charges()) == 2
