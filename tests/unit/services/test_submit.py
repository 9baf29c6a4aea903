"""services/submit.py on the in-memory repository and the in-memory sandbox provider: an add-seats order
paid exactly once, seats added only if paid, and the races that matter made to happen at the worst moment."""

from __future__ import annotations

from typing import Any

import pytest

from seats.domain.charge_keys import order_charge_key, refund_key
from seats.domain.codes import ErrorCode
from seats.domain.errors import (
    ConcurrentUpdate,
    NotContractManager,
    NotEligible,
    OrderNotDraft,
    OrderNotFound,
    PaymentDeclined,
    PaymentMethodExpired,
    PaymentMethodNotFound,
    PaymentProviderUnavailable,
    QuoteExpired,
)
from seats.domain.money import Money
from seats.services import add_seats, submit
from seats.services.payment_methods import set_order_payment_method
from tests.fakes import CompetingWrites, Meanwhile
from tests.unit.services.support import (
    ACME,
    MANAGER,
    OUTSIDER,
    PRIMARY_ADMIN,
    SUBSCRIPTION,
    change_contract,
    contract,
    history_types,
    seat_order,
    seats,
    store_card,
)

OTHER_SUBSCRIPTION = "sub-inv"


@pytest.fixture
def repo(load, seed_data):
    """BASE_SEED, Acme's contract with a second subscription (5 Inventor seats)."""
    seed_data["accounts"][0]["contracts"][0]["subscriptions"].append(
        {"subscription_id": OTHER_SUBSCRIPTION, "product": "Inventor", "seats": 5, "unit_price": "2400.00"})
    return load(seed_data)


def draft(repo: Any, seats_to_add: int = 3, subscription_id: str = SUBSCRIPTION, token: str | None = None):
    """A draft, paid by default with the card on file (tok_visa), else with a new card made from `token`."""
    order = add_seats.create_draft(repo, ACME, subscription_id, seats_to_add, MANAGER)
    if token is None:
        return order
    card = store_card(repo, f"pm_{token}", token)
    return set_order_payment_method(repo, order.order_id, card.payment_method_id, MANAGER)


def seats_added(repo: Any) -> list[tuple[str, int, int]]:
    return [(d["order_id"], d["seats_before"], d["seats_after"]) for t, d in repo.events() if t == "SeatsAdded"]


# -- exactly once -------------------------------------------------------------------------------------

def test_submitting_a_draft_charges_it_once_and_adds_its_seats(repo, gateway):
    order = draft(repo)

    completed = submit.submit(repo, gateway, order.order_id, MANAGER)

    [charge] = gateway.kept_charges()
    assert (completed.status, completed.charge_id, completed.seats_after) == ("completed", charge.charge_id, 13)
    assert (charge.amount, charge.idempotency_key) == (order.total, f"seats:order:{order.order_id}:attempt:0")
    assert (charge.payment_method_ref, charge.payment_method_id) == ("tok_visa", "pm_acme_visa")
    assert seat_order(repo, order.order_id) == completed and completed.submitted_at is not None
    assert seats(repo) == 13 and contract(repo).subscription(SUBSCRIPTION).open_order_id is None
    assert history_types(repo) == ["seats_added"]
    [(detail_type, detail)] = repo.events()
    assert detail_type == "SeatsAdded"
    assert {k: detail[k] for k in ("order_id", "seats_before", "seats_after", "seats_added", "total", "charge_id")} == {
        "order_id": order.order_id, "seats_before": 10, "seats_after": 13, "seats_added": 3, "total": "1493.42",
        "charge_id": charge.charge_id}


def test_a_completed_order_is_no_longer_a_draft_but_its_own_request_gets_it_again(repo, gateway):
    order = draft(repo)
    completed = submit.submit(repo, gateway, order.order_id, MANAGER, submit_key="request-1")

    assert submit.submit(repo, gateway, order.order_id, MANAGER, submit_key="request-1") == completed
    for other_request in ("request-2", None):
        with pytest.raises(OrderNotDraft):
            submit.submit(repo, gateway, order.order_id, MANAGER, submit_key=other_request)
    assert len(gateway.list_charges()) == 1 and seats(repo) == 13 and len(repo.events()) == 1


def test_only_the_manager_submits_and_others_cannot_see_the_order(repo, gateway):
    order = draft(repo)
    with pytest.raises(NotContractManager):
        submit.submit(repo, gateway, order.order_id, PRIMARY_ADMIN)
    with pytest.raises(OrderNotFound):
        submit.submit(repo, gateway, order.order_id, OUTSIDER)
    assert gateway.list_charges() == []


@pytest.mark.parametrize("status", ["past_due", "suspended"])
def test_eligibility_is_checked_again_at_submit(repo, gateway, status):
    order = draft(repo)
    change_contract(repo, status=status)

    with pytest.raises(NotEligible) as refused:
        submit.submit(repo, gateway, order.order_id, MANAGER)

    assert refused.value.code == ErrorCode.CONTRACT_NOT_ACTIVE and gateway.list_charges() == []


def test_a_cancelled_order_cannot_be_submitted(repo, gateway):
    order = draft(repo)
    add_seats.cancel_draft(repo, order.order_id, MANAGER)
    with pytest.raises(OrderNotDraft):
        submit.submit(repo, gateway, order.order_id, MANAGER)


# -- declines and cards ------------------------------------------------------------------------------------

def test_a_decline_keeps_the_draft_with_the_error_and_the_next_submit_is_a_new_charge(repo, gateway):
    order = draft(repo, token="tok_chargeDeclinedInsufficientFunds")

    with pytest.raises(PaymentDeclined) as declined:
        submit.submit(repo, gateway, order.order_id, MANAGER)

    assert declined.value.extra == {"decline_code": "insufficient_funds"}
    stored = seat_order(repo, order.order_id)
    assert (stored.status, stored.payment_attempt) == ("draft", 1)
    assert stored.last_payment_error is not None and stored.last_payment_error.decline_code == "insufficient_funds"
    [failed] = gateway.list_charges()
    assert (failed.status, failed.idempotency_key) == ("failed", f"seats:order:{order.order_id}:attempt:0")
    assert seats(repo) == 10 and repo.events() == [] and history_types(repo) == ["payment_method_changed"]

    set_order_payment_method(repo, order.order_id, "pm_acme_mc", MANAGER)
    completed = submit.submit(repo, gateway, order.order_id, MANAGER)

    [paid] = gateway.kept_charges()
    assert paid.idempotency_key.endswith(":attempt:1") and completed.charge_id == paid.charge_id
    assert completed.last_payment_error is None and seats(repo) == 13


def test_a_draft_without_a_card_cannot_be_submitted(load, seed_data, gateway):
    del seed_data["accounts"][0]["contracts"][0]["payment_method_id"]
    repo = load(seed_data)
    order = draft(repo)

    with pytest.raises(PaymentMethodNotFound):
        submit.submit(repo, gateway, order.order_id, MANAGER)
    assert gateway.list_charges() == []


def test_an_expired_card_is_not_charged(repo, gateway):
    order = draft(repo)
    store_card(repo, "pm_expired", exp_year=2025)
    set_order_payment_method(repo, order.order_id, "pm_expired", MANAGER)

    with pytest.raises(PaymentMethodExpired):
        submit.submit(repo, gateway, order.order_id, MANAGER)
    assert gateway.list_charges() == [] and seat_order(repo, order.order_id).payment_attempt == 0


def test_a_time_out_after_capture_is_completed_by_the_retry_with_the_same_charge(repo, gateway):
    order = draft(repo, token="tok_timeoutAfterCapture")

    with pytest.raises(PaymentProviderUnavailable):
        submit.submit(repo, gateway, order.order_id, MANAGER)
    assert seat_order(repo, order.order_id).status == "draft" and seats(repo) == 10
    [taken] = gateway.list_charges()

    completed = submit.submit(repo, gateway, order.order_id, MANAGER)

    assert gateway.list_charges() == [taken] and completed.charge_id == taken.charge_id
    assert seats(repo) == 13 and len(repo.events()) == 1


def test_a_draft_changed_after_a_time_out_is_charged_anew_and_the_first_charge_refunded(repo, gateway):
    order = draft(repo, token="tok_timeoutAfterCapture")
    with pytest.raises(PaymentProviderUnavailable):
        submit.submit(repo, gateway, order.order_id, MANAGER)
    [stale] = gateway.list_charges()
    add_seats.update_draft(repo, order.order_id, 5, MANAGER)

    with pytest.raises(PaymentProviderUnavailable):  # the same card times out again, after taking the money
        submit.submit(repo, gateway, order.order_id, MANAGER)
    completed = submit.submit(repo, gateway, order.order_id, MANAGER)

    assert gateway.is_refunded(stale.idempotency_key)
    [kept] = gateway.kept_charges()
    assert (kept.amount, kept.charge_id, kept.idempotency_key) == (
        completed.total, completed.charge_id, f"seats:order:{order.order_id}:attempt:1")
    assert seats(repo) == 15


def test_a_charge_recorded_as_due_for_refund_is_refunded_before_the_next_charge(repo, gateway):
    order = draft(repo)
    stale = gateway.charge(customer_ref=None, payment_method_ref="tok_visa", amount=Money.parse("1.00", "USD"),
                           idempotency_key="seats:order:earlier", description="an earlier attempt")
    recorded = seat_order(repo, order.order_id)
    recorded.charge_id, recorded.payment_attempt = stale.charge_id, 1
    work = repo.unit_of_work()
    work.save_order(recorded)
    work.commit()

    completed = submit.submit(repo, gateway, order.order_id, MANAGER)

    assert gateway.is_refunded("seats:order:earlier")
    assert completed.charge_id != stale.charge_id and [c.charge_id for c in gateway.kept_charges()] == [
        completed.charge_id]


# -- quotes and totals -------------------------------------------------------------------------------------

def test_an_expired_quote_is_priced_again_and_answers_quote_expired_with_the_new_order(repo, gateway, clock_at):
    order = draft(repo)
    clock_at("2026-11-30T09:00:00Z")

    with pytest.raises(QuoteExpired) as expired:
        submit.submit(repo, gateway, order.order_id, MANAGER)

    requoted = seat_order(repo, order.order_id)
    assert expired.value.extra["order"] == requoted
    assert (requoted.proration.days_remaining, requoted.total) == (91, Money.parse("1477.19", "USD"))
    assert gateway.list_charges() == []
    assert submit.submit(repo, gateway, order.order_id, MANAGER).total == Money.parse("1477.19", "USD")


def test_seats_whose_price_rounds_to_nothing_are_added_without_a_charge(load, seed_data, gateway, clock_at):
    seed_data["accounts"][0]["contracts"][0]["subscriptions"][0]["unit_price"] = "0.01"
    repo = load(seed_data)
    order = draft(repo, 1)
    clock_at("2026-11-30T09:00:00Z")  # an expired quote whose total did not change is simply submitted

    completed = submit.submit(repo, gateway, order.order_id, MANAGER)

    assert (completed.status, completed.total, completed.charge_id) == ("completed", Money.zero("USD"), None)
    assert gateway.list_charges() == [] and seats(repo) == 11
    [(_, detail)] = repo.events()
    assert (detail["total"], detail["charge_id"]) == ("0.00", None)


# -- races while the money is taken --------------------------------------------------------------------------

def test_a_draft_cancelled_while_it_is_being_paid_gets_the_money_back(repo):
    order = draft(repo)
    gateway = Meanwhile(during_charge=lambda: add_seats.cancel_draft(repo, order.order_id, MANAGER))

    with pytest.raises(OrderNotDraft):
        submit.submit(repo, gateway, order.order_id, MANAGER)

    [charge] = gateway.list_charges()
    assert gateway.is_refunded(charge.idempotency_key)
    assert seats(repo) == 10 and seat_order(repo, order.order_id).status == "cancelled" and repo.events() == []


def test_a_contract_that_stops_being_eligible_while_paid_refunds_and_gives_the_reason(repo):
    order = draft(repo)
    gateway = Meanwhile(during_charge=lambda: change_contract(repo, status="past_due"))

    with pytest.raises(NotEligible) as refused:
        submit.submit(repo, gateway, order.order_id, MANAGER)

    assert refused.value.code == ErrorCode.CONTRACT_NOT_ACTIVE
    assert gateway.kept_charges() == [] and seats(repo) == 10
    stored = seat_order(repo, order.order_id)
    assert (stored.status, stored.payment_attempt) == ("draft", 1)
    assert stored.last_payment_error is not None and stored.last_payment_error.code == "charge_refunded"


def test_a_draft_edited_while_paid_refunds_then_the_next_submit_pays_the_new_terms(repo):
    order = draft(repo, 3)
    gateway = Meanwhile(during_charge=lambda: add_seats.update_draft(repo, order.order_id, 5, MANAGER))

    with pytest.raises(ConcurrentUpdate):
        submit.submit(repo, gateway, order.order_id, MANAGER)
    assert gateway.kept_charges() == [] and seats(repo) == 10

    completed = submit.submit(repo, gateway, order.order_id, MANAGER)

    [charge] = gateway.kept_charges()
    assert (completed.charge_id, charge.amount, completed.seats_after) == (charge.charge_id, completed.total, 15)
    assert charge.idempotency_key.endswith(":attempt:1") and completed.last_payment_error is None


def test_a_refund_cut_short_by_a_crash_is_made_by_the_next_submit(repo):
    order = draft(repo, 3)
    gateway = Meanwhile(during_charge=lambda: add_seats.update_draft(repo, order.order_id, 5, MANAGER),
                        refund_fails=True)

    with pytest.raises(RuntimeError):
        submit.submit(repo, gateway, order.order_id, MANAGER)
    [due] = gateway.kept_charges()  # the money of the retired attempt is still taken ...
    assert seat_order(repo, order.order_id).charge_id == due.charge_id  # ... and recorded as owed back

    completed = submit.submit(repo, gateway, order.order_id, MANAGER)

    assert gateway.is_refunded(due.idempotency_key)
    [charge] = gateway.kept_charges()
    assert charge.charge_id == completed.charge_id and charge.amount == completed.total and seats(repo) == 15


def test_another_subscription_changing_while_paid_does_not_stop_the_order(repo, gateway):
    other = draft(repo, 2, OTHER_SUBSCRIPTION)
    order = draft(repo, 3)
    meanwhile = Meanwhile(gateway, during_charge=lambda: submit.submit(repo, gateway, other.order_id, MANAGER))

    completed = submit.submit(repo, meanwhile, order.order_id, MANAGER)

    assert completed.status == "completed"
    assert (seats(repo), seats(repo, OTHER_SUBSCRIPTION)) == (13, 7) and len(gateway.kept_charges()) == 2
    assert sorted(seats_added(repo)) == sorted([(order.order_id, 10, 13), (other.order_id, 5, 7)])


def test_a_concurrent_submit_that_recorded_the_same_charge_is_replayed_not_refunded(repo, gateway):
    order = draft(repo, 3)
    meanwhile = Meanwhile(gateway, during_charge=lambda: submit.submit(repo, gateway, order.order_id, MANAGER))

    replayed = submit.submit(repo, meanwhile, order.order_id, MANAGER)

    [charge] = gateway.kept_charges()
    assert (replayed.status, replayed.charge_id) == ("completed", charge.charge_id)
    assert seats(repo) == 13 and seats_added(repo) == [(order.order_id, 10, 13)]


def test_a_renewal_that_cancelled_the_draft_while_paid_refunds_the_charge(repo):
    order = draft(repo, 3)

    def renewal_cancels_the_draft() -> None:
        renewed = contract(repo)
        renewed.subscription(SUBSCRIPTION).open_order_id = None
        work = repo.unit_of_work()
        work.save_contract(renewed)
        work.cancel_draft(order.order_id)
        work.commit()

    gateway = Meanwhile(during_charge=renewal_cancels_the_draft)
    with pytest.raises(OrderNotDraft):
        submit.submit(repo, gateway, order.order_id, MANAGER)

    assert gateway.kept_charges() == [] and seats(repo) == 10


# -- races on the write ----------------------------------------------------------------------------------

def test_a_contract_change_just_before_the_write_is_absorbed_by_writing_again(repo, gateway):
    order = draft(repo)
    racing = CompetingWrites(repo)

    def card_on_file_changes() -> None:
        change_contract(repo, payment_method=store_card(repo, "pm_new"))

    racing.before_next_commit(card_on_file_changes)

    completed = submit.submit(racing, gateway, order.order_id, MANAGER)

    assert racing.interleaved == 1 and completed.status == "completed"
    assert contract(repo).payment_method.payment_method_id == "pm_new"  # the other change is kept
    assert seats(repo) == 13 and len(gateway.kept_charges()) == 1 and len(seats_added(repo)) == 1


def test_a_submit_that_keeps_losing_the_contract_leaves_the_charge_for_the_next_submit(repo, gateway):
    order = draft(repo)
    racing = CompetingWrites(repo)
    for _ in range(submit.COMPLETE_ATTEMPTS):
        racing.before_next_commit(lambda: change_contract(repo))

    with pytest.raises(ConcurrentUpdate):
        submit.submit(racing, gateway, order.order_id, MANAGER)
    [taken] = gateway.kept_charges()
    assert seat_order(repo, order.order_id).status == "draft" and seats(repo) == 10

    completed = submit.submit(repo, gateway, order.order_id, MANAGER)

    assert completed.charge_id == taken.charge_id and gateway.kept_charges() == [taken]
    assert len(seats_added(repo)) == 1


def test_the_charge_key_belongs_to_the_order_and_its_attempt(repo):
    order = draft(repo)
    order.payment_attempt = 2
    assert order_charge_key(order) == f"seats:order:{order.order_id}:attempt:2"
    assert refund_key("ch_1") == "seats:refund:ch_1"
