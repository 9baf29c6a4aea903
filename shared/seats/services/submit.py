"""Submitting an add-seats order: charged exactly once, seats added only if paid (docs/api.md,
Adding seats and Concurrency).

- The charge's idempotency key comes from the order, `seats:order:<id>:attempt:<n>`: a retry after a
  time-out or a crash, with the same HTTP key or a new one, finds the charge already made.
  `payment_attempt` moves on only when attempt n is settled without seats: declined, or refunded.
- Seats, the completed order and the history event are one conditional transaction. A lost race
  is re-read: the order completed with this very charge is an idempotent replay; a draft that can
  still take the change is written again; anything else gets the charge refunded and a 409.
- A charge that cannot be used is first recorded on the draft (`charge_id` of a draft = a refund
  due, attempt retired) and then refunded, so a crash in between is repaired by the next submit.
"""

from __future__ import annotations

from collections.abc import Callable

from seats import clock
from seats.domain import events, history
from seats.domain.charge_keys import order_charge_key, refund_key
from seats.domain.eligibility import Change, require_eligible
from seats.domain.errors import (
    ConcurrentUpdate,
    ContractNotFound,
    DomainError,
    OrderNotDraft,
    OrderNotFound,
    PaymentDeclined,
    PaymentMethodExpired,
    PaymentMethodNotFound,
    QuoteExpired,
)
from seats.domain.history import HistoryEvent
from seats.domain.model import Contract, PaymentError, PaymentMethod, SeatOrder
from seats.domain.money import Money
from seats.domain.seat_orders import reprice, require_seats_in_range
from seats.services.drafts import draft_of
from seats.services.ports import Charge, PaymentGateway, Repository
from seats.services.retry import WRITE_ATTEMPTS

COMPLETE_ATTEMPTS = 5  # lost races on the contract (other subscriptions' orders) before giving up


def submit(repo: Repository, gateway: PaymentGateway, order_id: str, caller_id: str,
           submit_key: str | None = None) -> SeatOrder:
    """`submit_key` names the request (a digest of the caller and its Idempotency-Key): the order
    completed by a request with the same name is its answer again, even when that request's first
    answer was lost after the write (a time-out, or the idempotency record not saved)."""
    for _ in range(2):  # a second round only after a stale charge was refunded
        try:
            order, contract, subscription = draft_of(repo, order_id, caller_id)
        except OrderNotDraft:
            done = repo.get_order(order_id)
            if submit_key is None or not isinstance(done, SeatOrder) or done.submitted_with != submit_key:
                raise
            return done  # its SeatsAdded was committed with it
        require_eligible(Change.ADD, contract, subscription, caller_id, clock.today())
        require_seats_in_range(subscription, order.seats_to_add)
        if order.charge_id:  # a refund recorded as due by an earlier submit that stopped short
            gateway.refund(order.charge_id, refund_key(order.charge_id))
        _requote_if_expired(repo, order, contract)
        if order.total.amount == 0:  # a few days of a cheap seat can round to nothing: nothing to charge
            return _complete(repo, gateway, order, contract, None, caller_id, submit_key)
        method = _chargeable_method(order)
        attempt = order.payment_attempt
        charge = _charge(repo, gateway, order, method)
        if charge.amount == order.total and charge.payment_method_ref == method.provider_ref:
            return _complete(repo, gateway, order, contract, charge, caller_id, submit_key)
        # This attempt's key was charged before with other terms (the draft changed after a
        # time-out or a crash): give that money back and charge the current terms anew.
        replayed = _release(repo, gateway, order, attempt, charge)
        if replayed is not None:
            return replayed
    raise ConcurrentUpdate()


def _requote_if_expired(repo: Repository, order: SeatOrder, contract: Contract) -> None:
    if clock.utc_now() < order.quote_expires_at:
        return
    quoted = order.total
    reprice(order, contract, contract.subscription(order.subscription_id), order.seats_to_add, clock.today())
    work = repo.unit_of_work()
    work.save_order(order)
    work.commit()
    if order.total != quoted:
        raise QuoteExpired(f"The quote expired; the new total is {order.total} {order.currency}", order=order)


def _chargeable_method(order: SeatOrder) -> PaymentMethod:
    method = order.payment_method
    if method is None:
        raise PaymentMethodNotFound("The order has no payment method; choose one before submitting")
    if method.expired_on(clock.today()):
        raise PaymentMethodExpired(f"The card ending {method.last4} expired {method.exp_month:02d}/{method.exp_year}")
    return method


def _charge(repo: Repository, gateway: PaymentGateway, order: SeatOrder, method: PaymentMethod) -> Charge:
    try:
        return gateway.charge(
            customer_ref=method.customer_ref,
            payment_method_ref=method.provider_ref, payment_method_id=method.payment_method_id,
            amount=order.total, idempotency_key=order_charge_key(order),
            description=f"{order.seats_to_add} {order.product} seat(s), contract {order.contract_id}",
        )
    except (PaymentDeclined, PaymentMethodExpired) as failure:  # settled, no money: the next try is a new charge
        error = PaymentError(failure.code, failure.extra.get("decline_code"), failure.detail)
        _update_draft(repo, order, order.payment_attempt, lambda draft: _decline(draft, error))
        raise


def _decline(draft: SeatOrder, error: PaymentError) -> None:
    draft.payment_attempt += 1
    draft.last_payment_error = error


def _complete(repo: Repository, gateway: PaymentGateway, order: SeatOrder, contract: Contract,
              charge: Charge | None, caller_id: str, submit_key: str | None = None) -> SeatOrder:
    attempt = order.payment_attempt
    for _ in range(COMPLETE_ATTEMPTS):
        try:
            _write_completion(repo, order, contract, charge, caller_id, submit_key)
        except ConcurrentUpdate:
            fresh = _seat_order(repo, order.order_id)
            if fresh.status == "completed" and fresh.charge_id == order.charge_id:
                return fresh  # our write (its answer lost) or another request's, event and all
            latest = _contract(repo, fresh.contract_id)
            problem = _not_completable(fresh, latest, charge, attempt, caller_id)
            if problem is not None:
                replayed = _release(repo, gateway, fresh, attempt, charge)
                if replayed is not None:
                    return replayed
                raise problem from None
            order, contract = fresh, latest
            continue
        return order
    raise ConcurrentUpdate()  # the charge stays under this attempt's key: the next submit completes it


def _write_completion(repo: Repository, order: SeatOrder, contract: Contract, charge: Charge | None,
                      caller_id: str, submit_key: str | None) -> None:
    """The order completed with `charge`, the seats added, its history entry and SeatsAdded: one commit."""
    subscription = contract.subscription(order.subscription_id)
    now = clock.utc_now()
    order.status, order.charge_id, order.submitted_at = "completed", charge.charge_id if charge else None, now
    order.seats_before, order.seats_after = subscription.seats, subscription.seats + order.seats_to_add
    order.last_payment_error, order.submitted_with = None, submit_key
    subscription.seats, subscription.open_order_id = order.seats_after, None
    work = repo.unit_of_work()
    work.save_order(order)
    work.save_contract(contract)
    work.add_history(HistoryEvent.of(
        history.SeatsAdded(order_id=order.order_id, seats_before=order.seats_before, seats_after=order.seats_after,
                           seats_added=order.seats_to_add, total=order.total, currency=order.currency,
                           charge_id=order.charge_id),
        contract_id=contract.contract_id, at=now, actor=caller_id, subscription_id=subscription.subscription_id,
    ))
    work.add_event(events.SeatsAdded(
        contract_id=order.contract_id, account_id=order.account_id, subscription_id=order.subscription_id,
        product=order.product, order_id=order.order_id, seats_before=order.seats_before,
        seats_after=order.seats_after, seats_added=order.seats_to_add, total=order.total,
        currency=order.currency, charge_id=order.charge_id,
    ))
    work.commit()


def _seat_order(repo: Repository, order_id: str) -> SeatOrder:
    """The add-seats order read again (orders are never deleted)."""
    order = repo.get_order(order_id)
    if not isinstance(order, SeatOrder):
        raise OrderNotFound(f"No order {order_id}")
    return order


def _contract(repo: Repository, contract_id: str) -> Contract:
    """The order's contract read again (contracts are never deleted)."""
    contract = repo.get_contract(contract_id)
    if contract is None:
        raise ContractNotFound(f"No contract {contract_id}")
    return contract


def _not_completable(order: SeatOrder, contract: Contract, charge: Charge | None, attempt: int,
                     caller_id: str) -> DomainError | None:
    """Why `charge` can no longer pay for `order`, or None when the write may be tried again."""
    if order.status != "draft":
        return OrderNotDraft(f"Order {order.order_id} is {order.status}")
    paid = charge.amount if charge else Money.zero(order.currency)
    card = charge.payment_method_ref if charge else None
    if order.payment_attempt != attempt or order.total != paid or (
            card is not None and (order.payment_method is None or order.payment_method.provider_ref != card)):
        return ConcurrentUpdate("The order changed while it was being paid; read it again")
    subscription = contract.subscription(order.subscription_id)
    try:
        require_eligible(Change.ADD, contract, subscription, caller_id, clock.today())
        require_seats_in_range(subscription, order.seats_to_add)
    except DomainError as refused:
        return refused
    return None


def _release(repo: Repository, gateway: PaymentGateway, order: SeatOrder, attempt: int,
             charge: Charge | None) -> SeatOrder | None:
    """Refund `charge`, which `order` will not be completed with, unless it was completed with it
    meanwhile (then that completed order is returned). The refund is first recorded on a draft that
    could still use the charge (its attempt retired), so that no later submit completes with it."""
    if charge is None:
        return None
    error = PaymentError("charge_refunded", None, "The order changed while it was being paid; the payment was refunded")

    def retire(draft: SeatOrder) -> None:
        draft.payment_attempt += 1
        draft.charge_id = charge.charge_id
        draft.last_payment_error = error

    settled = _update_draft(repo, order, attempt, retire)
    if settled.status == "completed" and settled.charge_id == charge.charge_id:
        return settled
    gateway.refund(charge.charge_id, refund_key(charge.charge_id))
    return None


def _update_draft(repo: Repository, order: SeatOrder, attempt: int,
                  change: Callable[[SeatOrder], None]) -> SeatOrder:
    """Apply `change` to the order if it is still a draft at `attempt`; re-read after a lost race.
    Returns the order as last seen (changed, or as someone else left it)."""
    current = order
    for _ in range(WRITE_ATTEMPTS):
        if current.status != "draft" or current.payment_attempt != attempt:
            return current
        change(current)
        work = repo.unit_of_work()
        work.save_order(current)
        try:
            work.commit()
            return current
        except ConcurrentUpdate:
            current = _seat_order(repo, order.order_id)
    raise ConcurrentUpdate()
