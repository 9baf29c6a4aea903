"""The add-seats services on moto, with the races that matter made to happen at the worst moment."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest

from infra import seed as seed_loader
from seats import bootstrap
from seats.domain import seat_orders
from seats.domain.charge_keys import order_charge_key
from seats.domain.errors import (
    ConcurrentUpdate,
    NotEligible,
    OrderNotDraft,
    PaymentDeclined,
    PaymentMethodNotFound,
)
from seats.domain.model import Order
from seats.services import add_seats, submit
from seats.services.payment_methods import add_payment_method, set_order_payment_method
from seats.services.retry import retrying

CONTRACT, SUBSCRIPTION, OTHER_SUBSCRIPTION, MANAGER = "110000000001", "sub-acad", "sub-inv", "u-alice"


class Meanwhile:
    """The sandbox gateway, except that `during_charge` runs once after the money is taken and
    before the answer; and `refund` can be made to fail once, as a crash would."""

    def __init__(self, during_charge: Callable[[], None] | None = None, refund_fails: bool = False) -> None:
        self.gateway = bootstrap.payment_gateway()
        self.during_charge = during_charge
        self.refund_fails = refund_fails

    def charge(self, **kwargs: Any) -> Any:
        charge = self.gateway.charge(**kwargs)
        hook, self.during_charge = self.during_charge, None
        if hook is not None:
            hook()
        return charge

    def refund(self, charge_id: str, idempotency_key: str) -> None:
        if self.refund_fails:
            self.refund_fails = False
            raise RuntimeError("the Lambda died before the refund")
        self.gateway.refund(charge_id, idempotency_key)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.gateway, name)


@pytest.fixture
def repo(aws: None, seed_data: dict[str, Any]) -> Any:
    seed_data["accounts"][0]["contracts"][0]["subscriptions"].append(
        {"subscription_id": OTHER_SUBSCRIPTION, "product": "Inventor", "seats": 5, "unit_price": "2400.00"})
    seed_loader.load(bootstrap.repository(), seed_data)
    return bootstrap.repository()


def draft(repo: Any, seats: int = 3, subscription_id: str = SUBSCRIPTION) -> Order:
    return add_seats.create_draft(repo, CONTRACT, subscription_id, seats, MANAGER)


def seats(repo: Any, subscription_id: str = SUBSCRIPTION) -> int:
    return repo.get_contract(CONTRACT).subscription(subscription_id).seats


def kept_charges() -> list[Any]:
    gateway = bootstrap.payment_gateway()
    return [c for c in gateway.list_charges() if c.status == "succeeded" and not gateway.is_refunded(c.idempotency_key)]


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


def test_the_charge_key_belongs_to_the_order_and_its_attempt(repo):
    order = draft(repo)
    order.payment_attempt = 2

    assert order_charge_key(order) == f"seats:order:{order.order_id}:attempt:2"


# -- declines --------------------------------------------------------------------------------------

def test_a_decline_settles_the_attempt_so_the_next_submit_is_a_new_charge(repo):
    card = add_payment_method(repo, bootstrap.payment_gateway(), "acme", "tok_chargeDeclinedInsufficientFunds", MANAGER)
    order = draft(repo)
    set_order_payment_method(repo, order.order_id, card.payment_method_id, MANAGER)

    with pytest.raises(PaymentDeclined) as declined:
        submit.submit(repo, bootstrap.payment_gateway(), order.order_id, MANAGER)

    assert declined.value.extra == {"decline_code": "insufficient_funds"}
    stored = repo.get_order(order.order_id)
    assert (stored.status, stored.payment_attempt) == ("draft", 1)
    assert stored.last_payment_error.decline_code == "insufficient_funds"
    [charge] = bootstrap.payment_gateway().list_charges()
    assert (charge.status, charge.idempotency_key) == ("failed", f"seats:order:{order.order_id}:attempt:0")


def test_a_draft_without_a_card_cannot_be_submitted(aws, seed_data):
    del seed_data["accounts"][0]["contracts"][0]["payment_method_id"]
    seed_loader.load(bootstrap.repository(), seed_data)
    repo = bootstrap.repository()
    order = draft(repo)

    with pytest.raises(PaymentMethodNotFound):
        submit.submit(repo, bootstrap.payment_gateway(), order.order_id, MANAGER)

    assert bootstrap.payment_gateway().list_charges() == []


# -- races during the charge ---------------------------------------------------------------------------

def test_a_draft_cancelled_while_it_is_being_paid_gets_the_money_back(repo):
    order = draft(repo)
    gateway = Meanwhile(lambda: add_seats.cancel_draft(repo, order.order_id, MANAGER))

    with pytest.raises(OrderNotDraft):
        submit.submit(repo, gateway, order.order_id, MANAGER)

    [charge] = bootstrap.payment_gateway().list_charges()
    assert bootstrap.payment_gateway().is_refunded(charge.idempotency_key)
    assert seats(repo) == 10 and repo.get_order(order.order_id).status == "cancelled"


def test_a_contract_that_stops_being_eligible_while_paid_refunds_and_gives_the_reason(repo):
    order = draft(repo)
    gateway = Meanwhile(lambda: set_status(repo, "past_due"))

    with pytest.raises(NotEligible) as refused:
        submit.submit(repo, gateway, order.order_id, MANAGER)

    assert refused.value.code == "contract_not_active"
    assert kept_charges() == [] and seats(repo) == 10
    stored = repo.get_order(order.order_id)
    assert (stored.status, stored.payment_attempt, stored.last_payment_error.code) == ("draft", 1, "charge_refunded")


def test_a_draft_edited_while_paid_refunds_then_the_next_submit_pays_the_new_terms(repo):
    order = draft(repo, 3)
    gateway = Meanwhile(lambda: add_seats.update_draft(repo, order.order_id, 5, MANAGER))

    with pytest.raises(ConcurrentUpdate):
        submit.submit(repo, gateway, order.order_id, MANAGER)
    assert kept_charges() == [] and seats(repo) == 10

    completed = submit.submit(repo, bootstrap.payment_gateway(), order.order_id, MANAGER)

    [charge] = kept_charges()
    assert (completed.charge_id, charge.amount, completed.seats_after) == (charge.charge_id, completed.total, 15)
    assert charge.idempotency_key.endswith(":attempt:1") and completed.last_payment_error is None


def test_a_refund_cut_short_by_a_crash_is_made_by_the_next_submit(repo):
    order = draft(repo, 3)
    gateway = Meanwhile(lambda: add_seats.update_draft(repo, order.order_id, 5, MANAGER), refund_fails=True)

    with pytest.raises(RuntimeError):
        submit.submit(repo, gateway, order.order_id, MANAGER)
    assert len(kept_charges()) == 1  # the money of the retired attempt is still taken ...
    assert repo.get_order(order.order_id).charge_id == kept_charges()[0].charge_id  # ... and recorded as due

    completed = submit.submit(repo, bootstrap.payment_gateway(), order.order_id, MANAGER)

    [charge] = kept_charges()
    assert charge.charge_id == completed.charge_id and charge.amount == completed.total
    assert seats(repo) == 15


def test_another_subscription_changing_while_paid_does_not_stop_the_order(repo, outbox):
    other = draft(repo, 2, OTHER_SUBSCRIPTION)
    order = draft(repo, 3)
    gateway = Meanwhile(lambda: submit.submit(repo, bootstrap.payment_gateway(), other.order_id, MANAGER))

    completed = submit.submit(repo, gateway, order.order_id, MANAGER)

    assert completed.status == "completed"
    assert (seats(repo), seats(repo, OTHER_SUBSCRIPTION)) == (13, 7)
    assert len(kept_charges()) == 2
    assert sorted((t, d["order_id"]) for t, d in outbox()) == sorted(
        [("SeatsAdded", order.order_id), ("SeatsAdded", other.order_id)])


def test_a_concurrent_submit_that_recorded_the_same_charge_is_replayed_not_refunded(repo, outbox):
    order = draft(repo, 3)
    gateway = Meanwhile(lambda: submit.submit(repo, bootstrap.payment_gateway(), order.order_id, MANAGER))

    replayed = submit.submit(repo, gateway, order.order_id, MANAGER)

    [charge] = kept_charges()
    assert (replayed.status, replayed.charge_id) == ("completed", charge.charge_id)
    assert seats(repo) == 13
    assert [(t, d["order_id"], d["charge_id"]) for t, d in outbox()] == [("SeatsAdded", order.order_id, charge.charge_id)]


def test_a_renewal_that_cancelled_the_draft_while_paid_refunds_the_charge(repo):
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
        submit.submit(repo, Meanwhile(renewal_cancels_the_draft), order.order_id, MANAGER)

    assert kept_charges() == [] and seats(repo) == 10
