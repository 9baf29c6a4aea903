"""Add-seats orders (docs/api.md, Adding seats): a draft priced for seats co-termed to the renewal date."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from seats.domain.eligibility import MAX_SEATS
from seats.domain.errors import SeatLimitExceeded
from seats.domain.model import Contract, SeatOrder, Subscription, new_id
from seats.domain.proration import prorated_total, proration


def quote_expiry(today: date) -> datetime:
    """A quote holds until the next midnight UTC."""
    return datetime.combine(today + timedelta(days=1), time(0), tzinfo=UTC)


def require_seats_in_range(subscription: Subscription, seats_to_add: int) -> None:
    if seats_to_add < 1 or subscription.seats + seats_to_add > MAX_SEATS:
        raise SeatLimitExceeded(
            f"seats_to_add must be at least 1 and bring the subscription to at most {MAX_SEATS} seats "
            f"(it has {subscription.seats})"
        )


def new_draft(contract: Contract, subscription: Subscription, seats_to_add: int, caller_id: str,
              now: datetime) -> SeatOrder:
    """A draft for `seats_to_add` more seats, paid by default with the contract's card on file."""
    period = proration(now.date(), contract.term_start, contract.renewal_date)
    return SeatOrder(
        order_id=new_id("ord"), status="draft", contract_id=contract.contract_id, account_id=contract.account_id,
        currency=contract.currency, created_by=caller_id, created_at=now,
        subscription_id=subscription.subscription_id, product=subscription.product,
        payment_method=contract.payment_method, seats_before=subscription.seats, seats_to_add=seats_to_add,
        seats_after=subscription.seats + seats_to_add, unit_price=subscription.unit_price, proration=period,
        total=prorated_total(subscription.unit_price, seats_to_add, period),
        quoted_on=now.date(), quote_expires_at=quote_expiry(now.date()),
    )


def reprice(order: SeatOrder, contract: Contract, subscription: Subscription, seats_to_add: int,
            today: date) -> None:
    """Price `order` again for `seats_to_add` seats, quoted today."""
    period = proration(today, contract.term_start, contract.renewal_date)
    order.seats_before = subscription.seats
    order.seats_to_add = seats_to_add
    order.seats_after = subscription.seats + seats_to_add
    order.unit_price = subscription.unit_price
    order.proration = period
    order.total = prorated_total(subscription.unit_price, seats_to_add, period)
    order.quoted_on = today
    order.quote_expires_at = quote_expiry(today)
