"""Access to an add-seats draft: the caller's draft with its contract and subscription."""

from __future__ import annotations

from seats.domain.errors import OrderNotDraft
from seats.domain.model import Contract, SeatOrder, Subscription
from seats.services.access import managed_order
from seats.services.ports import Repository


def draft_of(repo: Repository, order_id: str, caller_id: str) -> tuple[SeatOrder, Contract, Subscription]:
    """404 for an order the caller cannot see, then 403 for one they cannot manage, then 409 order_not_draft."""
    order, contract, _ = managed_order(repo, order_id, caller_id)
    if order.status != "draft" or not isinstance(order, SeatOrder):
        raise OrderNotDraft(f"Order {order_id} is {order.status}")
    return order, contract, contract.subscription(order.subscription_id)
