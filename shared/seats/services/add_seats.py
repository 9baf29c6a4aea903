"""Add-seats drafts (docs/api.md, Adding seats): create, edit and cancel a priced draft order.

Every use case reads, checks and writes one unit of work, under the one retry policy (services/retry.py).
"""

from __future__ import annotations

from seats import clock
from seats.domain import history
from seats.domain.eligibility import Change, require_eligible
from seats.domain.errors import DraftExists
from seats.domain.history import HistoryEvent
from seats.domain.model import SeatOrder
from seats.domain.seat_orders import new_draft, reprice, require_seats_in_range
from seats.services.access import visible_contract
from seats.services.drafts import draft_of, settle_open_payment
from seats.services.ports import PaymentGateway, Repository
from seats.services.retry import retrying


def create_draft(repo: Repository, contract_id: str, subscription_id: str, seats_to_add: int,
                 caller_id: str) -> SeatOrder:
    def attempt() -> SeatOrder:
        contract, _ = visible_contract(repo, contract_id, caller_id)
        subscription = contract.subscription(subscription_id)
        now = clock.utc_now()
        require_eligible(Change.ADD, contract, subscription, caller_id, now.date())
        if subscription.open_order_id is not None:
            raise DraftExists(order_id=subscription.open_order_id)
        require_seats_in_range(subscription, seats_to_add)
        order = new_draft(contract, subscription, seats_to_add, caller_id, now)
        subscription.open_order_id = order.order_id
        work = repo.unit_of_work()
        work.save_order(order)
        work.save_contract(contract)
        work.commit()
        return order

    return retrying(attempt)


def update_draft(repo: Repository, gateway: PaymentGateway, order_id: str, seats_to_add: int,
                 caller_id: str) -> SeatOrder:
    def attempt() -> SeatOrder:
        order, contract, subscription = draft_of(repo, order_id, caller_id)
        today = clock.today()
        require_eligible(Change.ADD, contract, subscription, caller_id, today)
        require_seats_in_range(subscription, seats_to_add)
        reprice(order, contract, subscription, seats_to_add, today)
        settle_open_payment(repo, gateway, order, "order_changed", keep_if=lambda p: p.amount == order.total)
        work = repo.unit_of_work()
        work.save_order(order)
        work.require_contract_version(contract)  # priced against this contract: it must not have moved
        work.commit()
        return order

    return retrying(attempt)


def cancel_draft(repo: Repository, gateway: PaymentGateway, order_id: str, caller_id: str) -> SeatOrder:
    """Cancelling needs only the manager: a draft can be dropped even when the contract is not eligible, and
    so can an order waiting for the cardholder's authentication. A payment it has in progress is settled
    first (a capture refunded, an authentication canceled): no money is kept for a cancelled order."""

    def attempt() -> SeatOrder:
        order, contract, subscription = draft_of(repo, order_id, caller_id, pending_too=True)
        settle_open_payment(repo, gateway, order, "order_cancelled")
        order.status, order.payment_action = "cancelled", None
        if subscription.open_order_id == order.order_id:
            subscription.open_order_id = None
        work = repo.unit_of_work()
        work.save_order(order)
        work.save_contract(contract)
        work.add_history(HistoryEvent.of(
            history.OrderCancelled(order_id=order.order_id, seats_to_add=order.seats_to_add, total=order.total,
                                   currency=order.currency),
            contract_id=contract.contract_id, at=clock.utc_now(), actor=caller_id,
            subscription_id=subscription.subscription_id,
        ))
        work.commit()
        return order

    return retrying(attempt)
