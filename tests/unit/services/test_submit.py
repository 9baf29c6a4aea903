"""services/submit.py on the in-memory repository and the in-memory sandbox provider: an add-seats order
paid exactly once through its ledger payment, seats added only if paid, and the races that matter made to
happen at the worst moment."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from seats.domain.codes import ErrorCode
from seats.domain.errors import (
    ConcurrentUpdate,
    InvalidPaymentToken,
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
from seats.domain.model import CarriedAmount, RenewalOrder
from seats.domain.money import Money
from seats.domain.payments import new_payment
from seats.services import add_seats, completion, ledger, submit
from seats.services.payment_methods import set_order_payment_method
from seats.services.renew import renew_contract
from tests.fakes import CompetingWrites, Meanwhile, kept_charges, refunded_charges
from tests.unit.services.support import (
    ACME,
    MANAGER,
    OUTSIDER,
    PRIMARY_ADMIN,
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

OTHER_SUBSCRIPTION = "sub-inv"


@pytest.fixture
def repo(load, seed_data):
    """BASE_SEED, Acme's contract with a second subscription (5 Inventor seats)."""
    seed_data["accounts"][0]["contracts"][0]["subscriptions"].append(
        {"subscription_id": OTHER_SUBSCRIPTION, "product": "Inventor", "seats": 5, "unit_price": "2400.00"})
    return load(seed_data)


def draft(repo: Any, gateway: Any, seats_to_add: int = 3, subscription_id: str = SUBSCRIPTION,
          token: str | None = None):
    """A draft, paid by default with the card on file (tok_visa), else with a new card made from `token`."""
    order = add_seats.create_draft(repo, ACME, subscription_id, seats_to_add, MANAGER)
    return order if token is None else pay_with(repo, gateway, order.order_id, token)


def seats_added(repo: Any) -> list[tuple[str, int, int]]:
    return [(d["order_id"], d["seats_before"], d["seats_after"]) for t, d in repo.events() if t == "SeatsAdded"]


def at_the_completion(racing: CompetingWrites, change: Any) -> None:
    """`change` just before the completion's write: after the payment's record and its provider id's."""
    racing.before_next_commit(lambda: None)
    racing.before_next_commit(lambda: None)
    racing.before_next_commit(change)


# -- exactly once -------------------------------------------------------------------------------------

def test_submitting_a_draft_records_a_payment_takes_it_once_and_adds_the_seats_with_it(repo, gateway):
    order = draft(repo, gateway)

    completed = submit.submit(repo, gateway, order.order_id, MANAGER)

    [charge] = kept_charges(gateway)
    [paid] = payments(repo)
    assert (paid.status, paid.purpose, paid.order_id, paid.amount, paid.off_session) == (
        "succeeded", "add_seats", order.order_id, order.total, False)
    assert (paid.provider_ref, charge.idempotency_key) == (charge.charge_id, f"seats:payment:{paid.payment_id}")
    assert paid.settled_at is not None and paid.payment_method.payment_method_id == "pm_acme_visa"
    assert (completed.status, completed.charge_id, completed.payment_id, completed.seats_after) == (
        "completed", charge.charge_id, paid.payment_id, 13)
    assert (charge.amount, charge.payment_method_ref, charge.payment_method_id) == (order.total, "tok_visa",
                                                                                    "pm_acme_visa")
    assert seat_order(repo, order.order_id) == completed and completed.submitted_at is not None
    assert completed.carried_to_renewal is False and contract(repo).carried_over == []
    assert seats(repo) == 13 and contract(repo).subscription(SUBSCRIPTION).open_order_id is None
    assert history_types(repo) == ["seats_added"]
    [(detail_type, detail)] = repo.events()
    assert detail_type == "SeatsAdded"
    assert {k: detail[k] for k in ("order_id", "seats_before", "seats_after", "seats_added", "total", "charge_id")} == {
        "order_id": order.order_id, "seats_before": 10, "seats_after": 13, "seats_added": 3, "total": "1493.42",
        "charge_id": charge.charge_id}


def test_the_payment_and_its_provider_id_are_recorded_before_any_money_moves(repo, gateway):
    order = draft(repo, gateway)
    seen = []

    def look() -> None:
        recorded = payment_of(repo, order.order_id)
        seen.append((recorded.status, recorded.provider_ref, gateway.get_payment(recorded.provider_ref).status))

    submit.submit(repo, Meanwhile(gateway, before_confirm=look), order.order_id, MANAGER)

    [charge] = kept_charges(gateway)
    assert seen == [("pending", charge.charge_id, "requires_confirmation")]


def test_a_completed_order_is_no_longer_a_draft_but_its_own_request_gets_it_again(repo, gateway):
    order = draft(repo, gateway)
    completed = submit.submit(repo, gateway, order.order_id, MANAGER, submit_key="request-1")

    assert submit.submit(repo, gateway, order.order_id, MANAGER, submit_key="request-1") == completed
    for other_request in ("request-2", None):
        with pytest.raises(OrderNotDraft):
            submit.submit(repo, gateway, order.order_id, MANAGER, submit_key=other_request)
    assert len(gateway.list_charges()) == 1 and len(payments(repo)) == 1
    assert seats(repo) == 13 and len(repo.events()) == 1


def test_only_the_manager_submits_and_others_cannot_see_the_order(repo, gateway):
    order = draft(repo, gateway)
    with pytest.raises(NotContractManager):
        submit.submit(repo, gateway, order.order_id, PRIMARY_ADMIN)
    with pytest.raises(OrderNotFound):
        submit.submit(repo, gateway, order.order_id, OUTSIDER)
    assert gateway.list_charges() == [] and payments(repo) == []


@pytest.mark.parametrize("status", ["past_due", "suspended"])
def test_eligibility_is_checked_again_at_submit_before_any_payment(repo, gateway, status):
    order = draft(repo, gateway)
    change_contract(repo, status=status)

    with pytest.raises(NotEligible) as refused:
        submit.submit(repo, gateway, order.order_id, MANAGER)

    assert refused.value.code == ErrorCode.CONTRACT_NOT_ACTIVE
    assert gateway.list_charges() == [] and payments(repo) == []


def test_a_cancelled_order_cannot_be_submitted(repo, gateway):
    order = draft(repo, gateway)
    add_seats.cancel_draft(repo, gateway, order.order_id, MANAGER)
    with pytest.raises(OrderNotDraft):
        submit.submit(repo, gateway, order.order_id, MANAGER)
    assert payments(repo) == []


# -- declines and cards ------------------------------------------------------------------------------------

def test_a_decline_fails_the_payment_keeps_the_draft_and_the_next_submit_is_a_new_payment(repo, gateway):
    order = draft(repo, gateway, token="tok_chargeDeclinedInsufficientFunds")

    with pytest.raises(PaymentDeclined) as declined:
        submit.submit(repo, gateway, order.order_id, MANAGER)

    assert declined.value.extra == {"decline_code": "insufficient_funds"}
    stored = seat_order(repo, order.order_id)
    assert (stored.status, stored.payment_attempt, stored.payment_id) == ("draft", 1, None)
    assert stored.last_payment_error is not None and stored.last_payment_error.decline_code == "insufficient_funds"
    [failed] = payments(repo)
    assert (failed.status, failed.decline_code, failed.settled_at is not None) == ("failed", "insufficient_funds", True)
    [charge] = gateway.list_charges()
    assert (charge.status, charge.idempotency_key) == ("failed", failed.key)
    assert seats(repo) == 10 and repo.events() == [] and history_types(repo) == ["payment_method_changed"]

    set_order_payment_method(repo, gateway, order.order_id, "pm_acme_mc", MANAGER)
    completed = submit.submit(repo, gateway, order.order_id, MANAGER)

    first, second = payments(repo)
    [paid] = kept_charges(gateway)
    assert (first.status, second.status, second.key) == ("failed", "succeeded", paid.idempotency_key)
    assert (completed.charge_id, completed.payment_id) == (paid.charge_id, second.payment_id)
    assert completed.last_payment_error is None and seats(repo) == 13


def test_a_draft_without_a_card_cannot_be_submitted(load, seed_data, gateway):
    del seed_data["accounts"][0]["contracts"][0]["payment_method_id"]
    repo = load(seed_data)
    order = draft(repo, gateway)

    with pytest.raises(PaymentMethodNotFound):
        submit.submit(repo, gateway, order.order_id, MANAGER)
    assert gateway.list_charges() == [] and payments(repo) == []


def test_an_expired_card_is_not_charged_and_no_payment_is_recorded(repo, gateway):
    order = draft(repo, gateway)
    store_card(repo, "pm_expired", exp_year=2025)
    set_order_payment_method(repo, gateway, order.order_id, "pm_expired", MANAGER)

    with pytest.raises(PaymentMethodExpired):
        submit.submit(repo, gateway, order.order_id, MANAGER)
    assert gateway.list_charges() == [] and payments(repo) == []
    assert seat_order(repo, order.order_id).payment_attempt == 0


def test_a_card_the_provider_does_not_know_fails_the_payment_and_tells_the_draft(repo, gateway):
    order = draft(repo, gateway, token="tok_forgotten")

    with pytest.raises(InvalidPaymentToken):
        submit.submit(repo, gateway, order.order_id, MANAGER)

    [failed] = payments(repo)
    assert (failed.status, failed.decline_code, failed.provider_ref) == ("failed", "invalid_payment_method", None)
    stored = seat_order(repo, order.order_id)
    assert (stored.payment_id, stored.payment_attempt, stored.last_payment_error.code) == (
        None, 1, "invalid_payment_token")
    assert gateway.list_charges() == [] and seats(repo) == 10


def test_a_time_out_after_capture_is_completed_by_the_retry_with_the_same_payment(repo, gateway):
    order = draft(repo, gateway, token="tok_timeoutAfterCapture")
    counting = Meanwhile(gateway)

    with pytest.raises(PaymentProviderUnavailable):
        submit.submit(repo, counting, order.order_id, MANAGER, submit_key="request-1")
    assert seat_order(repo, order.order_id).status == "draft" and seats(repo) == 10
    [taken] = gateway.list_charges()
    assert payment_of(repo, order.order_id).status == "pending"  # the outcome is not known yet

    completed = submit.submit(repo, counting, order.order_id, MANAGER, submit_key="request-2")  # a new key

    [paid] = payments(repo)
    assert gateway.list_charges() == [taken] and len(counting.confirmed) == 1  # asked, not confirmed again
    assert (completed.charge_id, completed.payment_id, paid.status) == (taken.charge_id, paid.payment_id, "succeeded")
    assert seats(repo) == 13 and len(repo.events()) == 1


def test_a_draft_edited_after_a_time_out_refunds_that_payment_and_the_next_submit_pays_the_new_terms(
        repo, gateway):
    order = draft(repo, gateway, token="tok_timeoutAfterCapture")
    with pytest.raises(PaymentProviderUnavailable):
        submit.submit(repo, gateway, order.order_id, MANAGER)
    [stale] = gateway.list_charges()

    edited = add_seats.update_draft(repo, gateway, order.order_id, 5, MANAGER)  # settles the captured payment

    assert edited.payment_id is None and refunded_charges(gateway) == [
        c for c in gateway.list_charges() if c.charge_id == stale.charge_id]
    assert payment(repo, payments(repo)[0].payment_id).status == "refunded"
    [entry] = [e for e in repo.list_history(ACME) if e.type == "payment_refunded"]
    assert (entry.details["reason"], entry.details["charge_id"]) == ("order_changed", stale.charge_id)
    with pytest.raises(PaymentProviderUnavailable):  # the same card times out again, after taking the money
        submit.submit(repo, gateway, order.order_id, MANAGER)
    completed = submit.submit(repo, gateway, order.order_id, MANAGER)

    [kept] = kept_charges(gateway)
    assert (kept.amount, kept.charge_id) == (completed.total, completed.charge_id) and kept.charge_id != stale.charge_id
    assert [p.status for p in payments(repo)] == ["refunded", "succeeded"] and seats(repo) == 15


def test_a_payment_left_refunding_is_refunded_before_the_draft_is_paid_anew(repo, gateway):
    order = draft(repo, gateway)
    owed = new_payment("add_seats", order_id=order.order_id, contract=contract(repo), amount=order.total,
                       payment_method=order.payment_method, at=order.created_at)
    recorded = seat_order(repo, order.order_id)
    recorded.payment_id = owed.payment_id
    work = repo.unit_of_work()
    work.save_payment(owed)
    work.save_order(recorded)
    work.commit()
    ledger.take(repo, gateway, owed)  # captured ...
    owed.status = "refunding"  # ... then due back, when the Lambda died before the refund
    ledger.save(repo, owed)

    completed = submit.submit(repo, gateway, order.order_id, MANAGER)

    assert payment(repo, owed.payment_id).status == "refunded"
    [refunded] = refunded_charges(gateway)
    [kept] = kept_charges(gateway)
    assert (refunded.charge_id, kept.charge_id) == (owed.provider_ref, completed.charge_id)
    assert completed.payment_attempt == 1 and seats(repo) == 13


# -- quotes and totals -------------------------------------------------------------------------------------

def test_an_expired_quote_is_priced_again_and_answers_quote_expired_with_the_new_order(repo, gateway, clock_at):
    order = draft(repo, gateway)
    clock_at("2026-11-30T09:00:00Z")

    with pytest.raises(QuoteExpired) as expired:
        submit.submit(repo, gateway, order.order_id, MANAGER)

    requoted = seat_order(repo, order.order_id)
    assert expired.value.extra["order"] == requoted
    assert (requoted.proration.days_remaining, requoted.total) == (91, Money.parse("1477.19", "USD"))
    assert gateway.list_charges() == [] and payments(repo) == []
    assert submit.submit(repo, gateway, order.order_id, MANAGER).total == Money.parse("1477.19", "USD")
    assert [p.amount for p in payments(repo)] == [Money.parse("1477.19", "USD")]


def test_seats_whose_price_rounds_to_nothing_are_added_without_a_charge(load, seed_data, gateway, clock_at):
    seed_data["accounts"][0]["contracts"][0]["subscriptions"][0]["unit_price"] = "0.01"
    repo = load(seed_data)
    order = draft(repo, gateway, 1)
    clock_at("2026-11-30T09:00:00Z")  # an expired quote whose total did not change is simply submitted

    completed = submit.submit(repo, gateway, order.order_id, MANAGER)

    assert (completed.status, completed.total, completed.charge_id, completed.payment_id) == (
        "completed", Money.zero("USD"), None, None)
    assert completed.carried_to_renewal is False and contract(repo).carried_over == []
    assert gateway.list_charges() == [] and payments(repo) == [] and seats(repo) == 11
    [(_, detail)] = repo.events()
    assert (detail["total"], detail["charge_id"]) == ("0.00", None)


def test_a_total_below_the_providers_minimum_is_carried_to_the_next_renewal_which_charges_it(
        load, seed_data, gateway, clock_at):
    seed_data["accounts"][0]["contracts"][0]["subscriptions"][0]["unit_price"] = "1.00"
    repo = load(seed_data)
    order = draft(repo, gateway, 1)
    assert order.total == Money.parse("0.25", "USD")  # 1.00 × 92 / 365: below Stripe's 0.50

    completed = submit.submit(repo, gateway, order.order_id, MANAGER)

    assert (completed.status, completed.charge_id, completed.payment_id, completed.carried_to_renewal) == (
        "completed", None, None, True)
    assert contract(repo).carried_over == [CarriedAmount(order.order_id, Money.parse("0.25", "USD"))]
    assert contract(repo).renewal_total == Money.parse("11.25", "USD")  # 11 seats × 1.00, and what was carried
    assert gateway.list_charges() == [] and payments(repo) == [] and seats(repo) == 11
    [(_, detail)] = repo.events()
    assert (detail["total"], detail["charge_id"]) == ("0.25", None)

    clock_at("2027-03-01T02:00:00Z")
    assert renew_contract(ACME, datetime(2027, 3, 1, 2, tzinfo=UTC), repo, gateway).renewed == 1

    [charge] = kept_charges(gateway)
    [renewal] = [o for o in repo.list_orders(ACME) if isinstance(o, RenewalOrder)]
    assert (renewal.total, charge.amount, renewal.charge_id) == (
        Money.parse("11.25", "USD"), Money.parse("11.25", "USD"), charge.charge_id)
    assert renewal.carried_over == [CarriedAmount(order.order_id, Money.parse("0.25", "USD"))]
    assert contract(repo).carried_over == [] and contract(repo).renewal_total == Money.parse("11.00", "USD")


# -- races while the money is taken --------------------------------------------------------------------------

def test_a_draft_cancelled_while_it_is_being_paid_gets_the_money_back(repo, gateway):
    order = draft(repo, gateway)
    meanwhile = Meanwhile(gateway, during_confirm=lambda: add_seats.cancel_draft(repo, gateway, order.order_id,
                                                                                MANAGER))

    with pytest.raises(OrderNotDraft):
        submit.submit(repo, meanwhile, order.order_id, MANAGER)

    [charge] = gateway.list_charges()
    assert (charge.status, payments(repo)[0].status) == ("refunded", "refunded")
    assert seats(repo) == 10 and seat_order(repo, order.order_id).status == "cancelled" and repo.events() == []
    assert sorted(history_types(repo)) == ["order_cancelled", "payment_refunded"]  # one instant: either order


def test_a_contract_that_stops_being_eligible_while_paid_refunds_and_gives_the_reason(repo, gateway):
    order = draft(repo, gateway)
    meanwhile = Meanwhile(gateway, during_confirm=lambda: change_contract(repo, status="past_due"))

    with pytest.raises(NotEligible) as refused:
        submit.submit(repo, meanwhile, order.order_id, MANAGER)

    assert refused.value.code == ErrorCode.CONTRACT_NOT_ACTIVE
    assert kept_charges(gateway) == [] and len(refunded_charges(gateway)) == 1 and seats(repo) == 10
    stored = seat_order(repo, order.order_id)
    assert (stored.status, stored.payment_attempt, stored.payment_id) == ("draft", 1, None)
    assert stored.last_payment_error is not None and stored.last_payment_error.code == "charge_refunded"
    [refunded] = payments(repo)
    assert refunded.status == "refunded"
    [entry] = [e for e in repo.list_history(ACME) if e.type == "payment_refunded"]
    assert entry.details["reason"] == "order_not_completable" and entry.details["order_id"] == order.order_id


def test_a_draft_edited_while_paid_refunds_then_the_next_submit_pays_the_new_terms(repo, gateway):
    order = draft(repo, gateway, 3)
    meanwhile = Meanwhile(gateway, during_confirm=lambda: add_seats.update_draft(repo, gateway, order.order_id, 5,
                                                                                MANAGER))

    with pytest.raises(ConcurrentUpdate):
        submit.submit(repo, meanwhile, order.order_id, MANAGER)
    assert kept_charges(gateway) == [] and seats(repo) == 10
    assert [p.status for p in payments(repo)] == ["refunded"]

    completed = submit.submit(repo, gateway, order.order_id, MANAGER)

    [charge] = kept_charges(gateway)
    assert (completed.charge_id, charge.amount, completed.seats_after) == (charge.charge_id, completed.total, 15)
    assert [p.status for p in payments(repo)] == ["refunded", "succeeded"] and completed.last_payment_error is None


def test_a_refund_cut_short_by_a_crash_is_made_by_the_next_submit_before_it_pays_anew(repo, gateway):
    order = draft(repo, gateway, 3)
    meanwhile = Meanwhile(gateway, during_confirm=lambda: change_contract(repo, status="past_due"),
                          refund_fails=True)

    with pytest.raises(RuntimeError):
        submit.submit(repo, meanwhile, order.order_id, MANAGER)
    [due] = kept_charges(gateway)  # the money is still taken ...
    owed = payment_of(repo, order.order_id)
    assert (owed.status, owed.provider_ref) == ("refunding", due.charge_id)  # ... and recorded as owed back

    change_contract(repo, status="active")
    completed = submit.submit(repo, gateway, order.order_id, MANAGER)

    assert [c.charge_id for c in refunded_charges(gateway)] == [due.charge_id]
    [charge] = kept_charges(gateway)
    assert charge.charge_id == completed.charge_id and charge.amount == completed.total and seats(repo) == 13
    assert [p.status for p in payments(repo)] == ["refunded", "succeeded"]


def test_another_subscription_changing_while_paid_does_not_stop_the_order(repo, gateway):
    other = draft(repo, gateway, 2, OTHER_SUBSCRIPTION)
    order = draft(repo, gateway, 3)
    meanwhile = Meanwhile(gateway, during_confirm=lambda: submit.submit(repo, gateway, other.order_id, MANAGER))

    completed = submit.submit(repo, meanwhile, order.order_id, MANAGER)

    assert completed.status == "completed"
    assert (seats(repo), seats(repo, OTHER_SUBSCRIPTION)) == (13, 7) and len(kept_charges(gateway)) == 2
    assert sorted(seats_added(repo)) == sorted([(order.order_id, 10, 13), (other.order_id, 5, 7)])


def test_a_concurrent_submit_that_completed_with_the_same_payment_is_replayed_not_refunded(repo, gateway):
    order = draft(repo, gateway, 3)
    meanwhile = Meanwhile(gateway, during_confirm=lambda: submit.submit(repo, gateway, order.order_id, MANAGER))

    replayed = submit.submit(repo, meanwhile, order.order_id, MANAGER)

    [charge] = kept_charges(gateway)
    assert (replayed.status, replayed.charge_id) == ("completed", charge.charge_id)
    assert [p.status for p in payments(repo)] == ["succeeded"]
    assert seats(repo) == 13 and seats_added(repo) == [(order.order_id, 10, 13)]


def test_two_submits_that_start_at_once_share_the_payment_the_first_recorded(repo, gateway):
    order = draft(repo, gateway, 3)
    racing = CompetingWrites(repo)

    def another_submit_records_its_payment_then_dies() -> None:
        with pytest.raises(RuntimeError):
            submit.submit(repo, Meanwhile(gateway, before_confirm=die), order.order_id, MANAGER)

    racing.before_next_commit(another_submit_records_its_payment_then_dies)

    completed = submit.submit(racing, gateway, order.order_id, MANAGER)

    [paid] = payments(repo)
    [charge] = gateway.list_charges()
    assert (paid.status, completed.payment_id, completed.charge_id) == ("succeeded", paid.payment_id, charge.charge_id)
    assert seats(repo) == 13 and len(seats_added(repo)) == 1


def test_a_renewal_that_cancelled_the_draft_while_paid_refunds_the_payment(repo, gateway):
    order = draft(repo, gateway, 3)

    def renewal_cancels_the_draft() -> None:
        renewed = contract(repo)
        renewed.subscription(SUBSCRIPTION).open_order_id = None
        work = repo.unit_of_work()
        work.save_contract(renewed)
        work.cancel_draft(order.order_id)
        work.commit()

    with pytest.raises(OrderNotDraft):
        submit.submit(repo, Meanwhile(gateway, during_confirm=renewal_cancels_the_draft), order.order_id, MANAGER)

    assert kept_charges(gateway) == [] and len(refunded_charges(gateway)) == 1 and seats(repo) == 10
    assert [p.status for p in payments(repo)] == ["refunded"]


# -- races on the write ----------------------------------------------------------------------------------

def test_a_contract_change_just_before_the_write_is_absorbed_by_writing_again(repo, gateway):
    order = draft(repo, gateway)
    racing = CompetingWrites(repo)
    at_the_completion(racing, lambda: change_contract(repo, payment_method=store_card(repo, "pm_new")))

    completed = submit.submit(racing, gateway, order.order_id, MANAGER)

    assert racing.interleaved == 3 and completed.status == "completed"
    assert contract(repo).payment_method.payment_method_id == "pm_new"  # the other change is kept
    assert seats(repo) == 13 and len(kept_charges(gateway)) == 1 and len(seats_added(repo)) == 1


def test_a_submit_that_keeps_losing_the_contract_leaves_the_payment_for_the_next_submit(repo, gateway):
    order = draft(repo, gateway)
    racing = CompetingWrites(repo)
    at_the_completion(racing, lambda: change_contract(repo))
    for _ in range(completion.COMPLETE_ATTEMPTS - 1):
        racing.before_next_commit(lambda: change_contract(repo))

    with pytest.raises(ConcurrentUpdate):
        submit.submit(racing, gateway, order.order_id, MANAGER)
    [taken] = kept_charges(gateway)
    assert seat_order(repo, order.order_id).status == "draft" and seats(repo) == 10
    assert payment_of(repo, order.order_id).status == "pending"

    completed = submit.submit(repo, gateway, order.order_id, MANAGER)

    assert completed.charge_id == taken.charge_id and kept_charges(gateway) == [taken]
    assert len(seats_added(repo)) == 1 and [p.status for p in payments(repo)] == ["succeeded"]
