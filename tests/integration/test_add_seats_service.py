"""The add-seats services on moto, paid through the ledger (a payment recorded in the table before the
provider is called), with the races that matter made to happen at the worst moment."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from infra import seed as seed_loader
from seats import bootstrap
from seats.domain import seat_orders
from seats.domain.errors import (
    ConcurrentUpdate,
    NotEligible,
    OrderNotDraft,
    PaymentDeclined,
    PaymentMethodNotFound,
    PaymentProviderUnavailable,
)
from seats.domain.model import Order
from seats.domain.payments import Payment
from seats.services import add_seats, submit
from seats.services.payment_methods import add_payment_method, set_order_payment_method
from seats.services.reconcile import reconcile_payments
from seats.services.retry import retrying
from tests.fakes import Meanwhile

CONTRACT, SUBSCRIPTION, OTHER_SUBSCRIPTION, MANAGER = "110000000001", "sub-acad", "sub-inv", "u-alice"


@pytest.fixture
def repo(aws: None, seed_data: dict[str, Any]) -> Any:
    seed_data["accounts"][0]["contracts"][0]["subscriptions"].append(
        {"subscription_id": OTHER_SUBSCRIPTION, "product": "Inventor", "seats": 5, "unit_price": "2400.00"})
    seed_loader.load(bootstrap.repository(), seed_data)
    return bootstrap.repository()


def meanwhile(**hooks: Any) -> Meanwhile:
    """The table's sandbox gateway with tests.fakes.Meanwhile's hooks (during_confirm, refund_fails...)."""
    return Meanwhile(bootstrap.payment_gateway(), **hooks)


def draft(repo: Any, seats: int = 3, subscription_id: str = SUBSCRIPTION) -> Order:
    return add_seats.create_draft(repo, CONTRACT, subscription_id, seats, MANAGER)


def paid_with(repo: Any, token: str, seats: int = 3) -> Order:
    card = add_payment_method(repo, bootstrap.payment_gateway(), "acme", token, MANAGER)
    order = draft(repo, seats)
    return set_order_payment_method(repo, bootstrap.payment_gateway(), order.order_id, card.payment_method_id,
                                    MANAGER)


def seats(repo: Any, subscription_id: str = SUBSCRIPTION) -> int:
    return repo.get_contract(CONTRACT).subscription(subscription_id).seats


def charges(status: str | None = None) -> list[Any]:
    return [c for c in bootstrap.payment_gateway().list_charges() if status is None or c.status == status]


def kept_charges() -> list[Any]:
    """Charges that took money and were not refunded."""
    return charges("succeeded")


def payment_of(charge: Any) -> Payment:
    """The ledger payment a charge was made for: its idempotency key is the payment's."""
    found = bootstrap.repository().get_payment(charge.idempotency_key.removeprefix("seats:payment:"))
    assert found is not None
    return found


def set_status(repo: Any, status: str) -> None:
    contract = repo.get_contract(CONTRACT)
    contract.status = status
    work = repo.unit_of_work()
    work.save_contract(contract)
    work.commit()


# -- small rules ----------------------------------------------------------------------------------

def test_a_quote_holds_until_the_next_midnight_utc():
    assert seat_orders.quote_expiry(date(2026, 12, 31)) == datetime(2027, 1, 1, tzinfo=UTC)


def test_a_use_case_that_lost_a_race_is_run_again_from_a_fresh_read():
    outcomes = iter([ConcurrentUpdate(), ConcurrentUpdate(), "done"])

    def use_case() -> str:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert retrying(use_case) == "done"


def test_a_use_case_that_keeps_losing_answers_concurrent_update():
    def use_case() -> None:
        raise ConcurrentUpdate()

    with pytest.raises(ConcurrentUpdate):
        retrying(use_case)


def test_each_payment_is_asked_for_under_its_own_key_and_settled_in_the_table(repo):
    order = draft(repo)

    completed = submit.submit(repo, bootstrap.payment_gateway(), order.order_id, MANAGER)

    [charge] = charges()
    payment = payment_of(charge)
    assert charge.idempotency_key == payment.key == f"seats:payment:{payment.payment_id}"
    assert (payment.status, payment.order_id, payment.provider_ref) == ("succeeded", order.order_id, charge.charge_id)
    assert (completed.payment_id, completed.charge_id) == (payment.payment_id, charge.charge_id)
    assert list(repo.unsettled_payment_ids(datetime(2027, 1, 1, tzinfo=UTC))) == []  # settled: out of the index


# -- declines --------------------------------------------------------------------------------------

def test_a_decline_settles_the_payment_so_the_next_submit_is_a_new_payment_with_a_new_key(repo):
    order = paid_with(repo, "tok_chargeDeclinedInsufficientFunds")

    with pytest.raises(PaymentDeclined) as declined:
        submit.submit(repo, bootstrap.payment_gateway(), order.order_id, MANAGER)

    assert declined.value.extra == {"decline_code": "insufficient_funds"}
    stored = repo.get_order(order.order_id)
    assert (stored.status, stored.payment_attempt, stored.payment_id) == ("draft", 1, None)
    assert stored.last_payment_error.decline_code == "insufficient_funds"
    [failed] = charges()
    assert failed.status == "failed" and payment_of(failed).status == "failed"

    set_order_payment_method(repo, bootstrap.payment_gateway(), order.order_id, "pm_acme_visa", MANAGER)
    completed = submit.submit(repo, bootstrap.payment_gateway(), order.order_id, MANAGER)

    [paid] = kept_charges()
    assert paid.idempotency_key != failed.idempotency_key and completed.charge_id == paid.charge_id


def test_a_draft_without_a_card_cannot_be_submitted(aws, seed_data):
    del seed_data["accounts"][0]["contracts"][0]["payment_method_id"]
    seed_loader.load(bootstrap.repository(), seed_data)
    repo = bootstrap.repository()
    order = draft(repo)

    with pytest.raises(PaymentMethodNotFound):
        submit.submit(repo, bootstrap.payment_gateway(), order.order_id, MANAGER)

    assert charges() == [] and repo.get_order(order.order_id).payment_id is None


# -- races during the payment ---------------------------------------------------------------------------

def test_a_draft_cancelled_while_it_is_being_paid_gets_the_money_back(repo):
    order = draft(repo)
    gateway = meanwhile(during_confirm=lambda: add_seats.cancel_draft(repo, bootstrap.payment_gateway(),
                                                                      order.order_id, MANAGER))

    with pytest.raises(OrderNotDraft):
        submit.submit(repo, gateway, order.order_id, MANAGER)

    [charge] = charges()
    assert (charge.status, payment_of(charge).status) == ("refunded", "refunded") and charge.refunded_at is not None
    assert seats(repo) == 10 and repo.get_order(order.order_id).status == "cancelled"


def test_a_contract_that_stops_being_eligible_while_paid_refunds_and_gives_the_reason(repo):
    order = draft(repo)
    gateway = meanwhile(during_confirm=lambda: set_status(repo, "past_due"))

    with pytest.raises(NotEligible) as refused:
        submit.submit(repo, gateway, order.order_id, MANAGER)

    assert refused.value.code == "contract_not_active"
    assert kept_charges() == [] and len(charges("refunded")) == 1 and seats(repo) == 10
    stored = repo.get_order(order.order_id)
    assert (stored.status, stored.payment_attempt, stored.last_payment_error.code) == ("draft", 1, "charge_refunded")


def test_a_draft_edited_while_paid_refunds_then_the_next_submit_pays_the_new_terms(repo):
    order = draft(repo, 3)
    gateway = meanwhile(during_confirm=lambda: add_seats.update_draft(repo, bootstrap.payment_gateway(),
                                                                      order.order_id, 5, MANAGER))

    with pytest.raises(ConcurrentUpdate):
        submit.submit(repo, gateway, order.order_id, MANAGER)
    assert kept_charges() == [] and seats(repo) == 10

    completed = submit.submit(repo, bootstrap.payment_gateway(), order.order_id, MANAGER)

    [charge] = kept_charges()
    [stale] = charges("refunded")
    assert (completed.charge_id, charge.amount, completed.seats_after) == (charge.charge_id, completed.total, 15)
    assert (payment_of(stale).status, payment_of(charge).status) == ("refunded", "succeeded")
    assert completed.last_payment_error is None


def test_a_refund_cut_short_by_a_crash_is_made_by_the_next_submit(repo):
    order = draft(repo, 3)
    gateway = meanwhile(during_confirm=lambda: set_status(repo, "past_due"), refund_fails=True)

    with pytest.raises(RuntimeError):
        submit.submit(repo, gateway, order.order_id, MANAGER)
    [due] = kept_charges()  # the money is still taken ...
    assert payment_of(due).status == "refunding"  # ... and recorded as owed back
    assert repo.get_order(order.order_id).payment_id == payment_of(due).payment_id
    set_status(repo, "active")

    completed = submit.submit(repo, bootstrap.payment_gateway(), order.order_id, MANAGER)

    [charge] = kept_charges()
    assert charge.charge_id == completed.charge_id and charge.amount == completed.total
    assert [c.charge_id for c in charges("refunded")] == [due.charge_id] and payment_of(due).status == "refunded"
    assert seats(repo) == 13


def test_another_subscription_changing_while_paid_does_not_stop_the_order(repo, outbox):
    other = draft(repo, 2, OTHER_SUBSCRIPTION)
    order = draft(repo, 3)
    gateway = meanwhile(during_confirm=lambda: submit.submit(repo, bootstrap.payment_gateway(), other.order_id,
                                                             MANAGER))

    completed = submit.submit(repo, gateway, order.order_id, MANAGER)

    assert completed.status == "completed"
    assert (seats(repo), seats(repo, OTHER_SUBSCRIPTION)) == (13, 7)
    assert len(kept_charges()) == 2
    assert sorted((t, d["order_id"]) for t, d in outbox()) == sorted(
        [("SeatsAdded", order.order_id), ("SeatsAdded", other.order_id)])


def test_a_concurrent_submit_that_completed_with_the_same_payment_is_replayed_not_refunded(repo, outbox):
    order = draft(repo, 3)
    gateway = meanwhile(during_confirm=lambda: submit.submit(repo, bootstrap.payment_gateway(), order.order_id,
                                                             MANAGER))

    replayed = submit.submit(repo, gateway, order.order_id, MANAGER)

    [charge] = kept_charges()
    assert (replayed.status, replayed.charge_id) == ("completed", charge.charge_id)
    assert seats(repo) == 13 and charges() == [charge]
    assert [(t, d["order_id"], d["charge_id"]) for t, d in outbox()] == [("SeatsAdded", order.order_id, charge.charge_id)]


def test_a_renewal_that_cancelled_the_draft_while_paid_refunds_the_payment(repo):
    order = draft(repo, 3)

    def renewal_cancels_the_draft() -> None:
        contract = repo.get_contract(CONTRACT)
        contract.subscription(SUBSCRIPTION).open_order_id = None
        cancelled = repo.get_order(order.order_id)
        cancelled.status = "cancelled"
        work = repo.unit_of_work()
        work.save_contract(contract)
        work.save_order(cancelled)
        work.commit()

    with pytest.raises(OrderNotDraft):
        submit.submit(repo, meanwhile(during_confirm=renewal_cancels_the_draft), order.order_id, MANAGER)

    assert kept_charges() == [] and seats(repo) == 10
    [refunded] = charges("refunded")
    assert payment_of(refunded).status == "refunded"


# -- what the submit left behind ---------------------------------------------------------------------------

def test_the_reconciler_finds_a_captured_payment_through_the_tables_index_and_completes_the_order(repo, outbox):
    order = paid_with(repo, "tok_timeoutAfterCapture")
    with pytest.raises(PaymentProviderUnavailable):
        submit.submit(repo, bootstrap.payment_gateway(), order.order_id, MANAGER)
    pending = repo.get_order(order.order_id).payment_id
    started = repo.get_payment(pending).created_at
    assert list(repo.unsettled_payment_ids(started)) == []  # started at that instant: not before it
    assert list(repo.unsettled_payment_ids(datetime(2026, 11, 29, 10, 11, tzinfo=UTC))) == [pending]

    outcome = reconcile_payments(datetime(2026, 11, 29, 10, 11, tzinfo=UTC), repo, bootstrap.payment_gateway())

    assert outcome.answer() == {"as_of": "2026-11-29T10:11:00.000Z", "examined": 1, "completed": 1,
                                "refunded": 0, "failed": 0}
    completed = repo.get_order(order.order_id)
    [charge] = kept_charges()
    assert (completed.status, completed.charge_id, seats(repo)) == ("completed", charge.charge_id, 13)
    assert [t for t, _ in outbox()] == ["SeatsAdded"]
    assert list(repo.unsettled_payment_ids(datetime(2026, 11, 29, 11, tzinfo=UTC))) == []
