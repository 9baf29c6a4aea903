"""Completing an add-seats order with what paid for it (docs/payments.md): the seats, the completed order,
its payment settled, the history entry and SeatsAdded, in one conditional transaction. Used by the
submit and by the reconciler, so that an order completes the same way whoever finishes it.

A lost race is read again: the order completed with this very payment is an idempotent replay; a draft
that can still take the change is written again; anything else gets the money given back and an error.
"""

from __future__ import annotations

import copy

from seats import clock
from seats.domain import events, history
from seats.domain.eligibility import Change, require_eligible
from seats.domain.errors import (
    ConcurrentUpdate,
    ContractNotFound,
    DomainError,
    OrderNotDraft,
    OrderNotFound,
)
from seats.domain.history import HistoryEvent
from seats.domain.model import OPEN_ORDER, CarriedAmount, Contract, SeatOrder
from seats.domain.payments import Payment, below_minimum
from seats.domain.seat_orders import require_seats_in_range
from seats.services import authentication, ledger
from seats.services.ports import PaymentGateway, Repository
from seats.services.retry import WRITE_ATTEMPTS

COMPLETE_ATTEMPTS = 5  # lost races on the contract (other subscriptions' orders) before giving up


def complete(repo: Repository, gateway: PaymentGateway, order: SeatOrder, contract: Contract,
             payment: Payment | None, actor: str, submit_key: str | None = None) -> SeatOrder:
    """Complete `order`, paid by `payment` (None: nothing to charge now, or too little: carried over)."""
    for _ in range(COMPLETE_ATTEMPTS):
        try:
            _write_completion(repo, order, contract, payment, actor, submit_key)
        except ConcurrentUpdate:
            fresh = seat_order(repo, order.order_id)
            if fresh.status == "completed" and fresh.payment_id == (payment.payment_id if payment else None):
                return fresh  # our write (its answer lost) or another request's, event and all
            latest = contract_of(repo, fresh.contract_id)
            fresh_payment = repo.get_payment(payment.payment_id) if payment else None
            problem = not_completable(fresh, latest, fresh_payment, actor)
            if problem is not None:
                if fresh_payment is not None and fresh_payment.unsettled:
                    give_back(repo, gateway, fresh, fresh_payment)
                raise problem from None
            order, contract, payment = fresh, latest, fresh_payment
            continue
        return order
    raise ConcurrentUpdate()  # the payment stays pending: the next submit, or the reconciler, completes it


def _write_completion(repo: Repository, order: SeatOrder, contract: Contract, payment: Payment | None,
                      actor: str, submit_key: str | None) -> None:
    subscription = contract.subscription(order.subscription_id)
    now = clock.utc_now()
    order.status, order.submitted_at, order.submitted_with = "completed", now, submit_key
    order.charge_id = payment.provider_ref if payment else None
    order.payment_id = payment.payment_id if payment else None
    order.carried_to_renewal = payment is None and below_minimum(order.total)
    order.seats_before, order.seats_after = subscription.seats, subscription.seats + order.seats_to_add
    order.last_payment_error, order.payment_action = None, None
    subscription.seats, subscription.open_order_id = order.seats_after, None
    if order.carried_to_renewal:
        contract.carried_over = [*contract.carried_over, CarriedAmount(order.order_id, order.total)]
    work = repo.unit_of_work()
    work.save_order(order)
    work.save_contract(contract)
    if payment is not None:
        settled = copy.copy(payment)  # the caller's copy stays as read, should the write lose a race
        settled.settle("succeeded", now)
        work.save_payment(settled)
    work.add_history(HistoryEvent.of(
        history.SeatsAdded(order_id=order.order_id, seats_before=order.seats_before, seats_after=order.seats_after,
                           seats_added=order.seats_to_add, total=order.total, currency=order.currency,
                           charge_id=order.charge_id),
        contract_id=contract.contract_id, at=now, actor=actor, subscription_id=subscription.subscription_id,
    ))
    work.add_event(_seats_added(order))
    work.commit()


def _seats_added(order: SeatOrder) -> events.SeatsAdded:
    return events.SeatsAdded(
        contract_id=order.contract_id, account_id=order.account_id, subscription_id=order.subscription_id,
        product=order.product, order_id=order.order_id, seats_before=order.seats_before,
        seats_after=order.seats_after, seats_added=order.seats_to_add, total=order.total,
        currency=order.currency, charge_id=order.charge_id,
    )


def not_completable(order: SeatOrder, contract: Contract, payment: Payment | None,
                    actor: str) -> DomainError | None:
    """Why the order can no longer be completed with `payment` (as stored now), or None when the write may
    be tried again."""
    if order.status not in OPEN_ORDER:
        return OrderNotDraft(f"Order {order.order_id} is {order.status}")
    if payment is not None and (not payment.usable or order.payment_id != payment.payment_id):
        return ConcurrentUpdate("The order changed while it was being paid; read it again")
    subscription = contract.subscription(order.subscription_id)
    try:
        require_eligible(Change.ADD, contract, subscription, actor, clock.today())
        require_seats_in_range(subscription, order.seats_to_add)
    except DomainError as refused:
        return refused
    return None


def give_back(repo: Repository, gateway: PaymentGateway, order: SeatOrder, payment: Payment) -> None:
    """The order will not be completed with `payment`: its money refunded (or the payment canceled), and
    the draft told why, with the attempt counted."""
    ledger.settle_unused(repo, gateway, payment, "order_not_completable", clock.utc_now())
    if payment.status != "refunded":
        return
    error = authentication.REFUNDED
    for _ in range(WRITE_ATTEMPTS):
        if order.status not in OPEN_ORDER or order.payment_id != payment.payment_id:
            return
        order.payment_attempt, order.payment_id, order.last_payment_error = order.payment_attempt + 1, None, error
        order.status, order.payment_action = "draft", None
        work = repo.unit_of_work()
        work.save_order(order)
        try:
            work.commit()
            return
        except ConcurrentUpdate:
            order = seat_order(repo, order.order_id)


def seat_order(repo: Repository, order_id: str) -> SeatOrder:
    """The add-seats order read again (orders are never deleted)."""
    order = repo.get_order(order_id)
    if not isinstance(order, SeatOrder):
        raise OrderNotFound(f"No order {order_id}")
    return order


def contract_of(repo: Repository, contract_id: str) -> Contract:
    """The order's contract read again (contracts are never deleted)."""
    contract = repo.get_contract(contract_id)
    if contract is None:
        raise ContractNotFound(f"No contract {contract_id}")
    return contract
