"""Add-seats drafts (SPEC §4.2 steps 1-3): create, edit and cancel a priced draft order.

Every use case reads, checks and writes one unit of work; a write that lost a race is retried
from a fresh read (so the loser sees the winner's state: `draft_exists`, `order_not_draft`...),
and only after a few lost races does the caller get 409 `concurrent_update`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

from seats import clock
from seats.domain.eligibility import MAX_SEATS, Change, ineligibility
from seats.domain.errors import (
    ConcurrentUpdate,
    DraftExists,
    NotContractManager,
    NotEligible,
    OrderNotDraft,
    SeatLimitExceeded,
)
from seats.domain.model import Contract, HistoryEvent, Order, Subscription, new_id
from seats.domain.money import Money
from seats.domain.proration import prorated_total, proration
from seats.services.access import managed_order, visible_contract

WRITE_ATTEMPTS = 3
T = TypeVar("T")


def retrying(use_case: Callable[[], T], attempts: int = WRITE_ATTEMPTS) -> T:
    """Run read-check-write `use_case` again from a fresh read when its write lost a race."""
    for attempt in range(attempts):
        try:
            return use_case()
        except ConcurrentUpdate:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def require_add_allowed(contract: Contract, subscription: Subscription, caller_id: str, today: date) -> None:
    """§4.1 in order: 403 for rule 1, 409 with the reason for the others."""
    reason = ineligibility(Change.ADD, contract, subscription, caller_id, today)
    if reason == "not_contract_manager":
        raise NotContractManager()
    if reason is not None:
        raise NotEligible(reason)


def require_seats_in_range(subscription: Subscription, seats_to_add: int) -> None:
    if seats_to_add < 1 or subscription.seats + seats_to_add > MAX_SEATS:
        raise SeatLimitExceeded(
            f"seats_to_add must be at least 1 and bring the subscription to at most {MAX_SEATS} seats "
            f"(it has {subscription.seats})"
        )


def quote_expiry(today: date) -> datetime:
    """A quote holds until the next midnight UTC."""
    return datetime.combine(today + timedelta(days=1), time(0), tzinfo=UTC)


def price(order: Order, contract: Contract, subscription: Subscription, seats_to_add: int, today: date) -> None:
    """(Re-)price `order` for `seats_to_add` seats co-termed to the renewal date, quoted today."""
    period = proration(today, contract.term_start, contract.renewal_date)
    order.seats_before = subscription.seats
    order.seats_to_add = seats_to_add
    order.seats_after = subscription.seats + seats_to_add
    order.unit_price = subscription.unit_price
    order.days_remaining = period.days_remaining
    order.term_days = period.term_days
    order.total = prorated_total(subscription.unit_price, seats_to_add, period)
    order.quoted_on = today
    order.quote_expires_at = quote_expiry(today)


def draft_of(repo: Any, order_id: str, caller_id: str) -> tuple[Order, Contract, Subscription]:
    """The caller's draft with its contract and subscription: 404, then 403, then 409 order_not_draft."""
    order, contract, _ = managed_order(repo, order_id, caller_id)
    if order.status != "draft" or order.type != "add_seats" or order.subscription_id is None:
        raise OrderNotDraft(f"Order {order_id} is {order.status}")
    return order, contract, contract.subscription(order.subscription_id)


def create_draft(repo: Any, contract_id: str, subscription_id: str, seats_to_add: int, caller_id: str) -> Order:
    def attempt() -> Order:
        contract, _ = visible_contract(repo, contract_id, caller_id)
        subscription = contract.subscription(subscription_id)
        today = clock.today()
        require_add_allowed(contract, subscription, caller_id, today)
        if subscription.open_order_id is not None:
            raise DraftExists(order_id=subscription.open_order_id)
        require_seats_in_range(subscription, seats_to_add)
        order = Order(
            order_id=new_id("ord"), type="add_seats", status="draft", contract_id=contract.contract_id,
            account_id=contract.account_id, currency=contract.currency, total=Money.zero(contract.currency),
            created_by=caller_id, created_at=clock.utc_now(), subscription_id=subscription.subscription_id,
            product=subscription.product, payment_method=contract.payment_method,
        )
        price(order, contract, subscription, seats_to_add, today)
        subscription.open_order_id = order.order_id
        work = repo.unit_of_work()
        work.save_order(order)
        work.save_contract(contract)
        work.commit()
        return order

    return retrying(attempt)


def update_draft(repo: Any, order_id: str, seats_to_add: int, caller_id: str) -> Order:
    def attempt() -> Order:
        order, contract, subscription = draft_of(repo, order_id, caller_id)
        today = clock.today()
        require_add_allowed(contract, subscription, caller_id, today)
        require_seats_in_range(subscription, seats_to_add)
        price(order, contract, subscription, seats_to_add, today)
        work = repo.unit_of_work()
        work.save_order(order)
        work.require_contract_version(contract)  # priced against this contract: it must not have moved
        work.commit()
        return order

    return retrying(attempt)


def cancel_draft(repo: Any, order_id: str, caller_id: str) -> Order:
    """Cancelling needs only the manager: a draft can be dropped even when the contract is not eligible."""

    def attempt() -> Order:
        order, contract, subscription = draft_of(repo, order_id, caller_id)
        order.status = "cancelled"
        if subscription.open_order_id == order.order_id:
            subscription.open_order_id = None
        work = repo.unit_of_work()
        work.save_order(order)
        work.save_contract(contract)
        work.add_history(HistoryEvent(
            new_id("evt"), contract.contract_id, "order_cancelled", clock.utc_now(), caller_id,
            subscription.subscription_id,
            {"order_id": order.order_id, "seats_to_add": order.seats_to_add, "total": str(order.total),
             "currency": order.currency},
        ))
        work.commit()
        return order

    return retrying(attempt)
