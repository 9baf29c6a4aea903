"""Submitting an add-seats order: paid exactly once, seats added only if paid (docs/api.md, Adding seats;
docs/payments.md).

- A draft being paid points to its ledger payment (`payment_id`), recorded before the provider is
  called. A retry after a time-out or a crash, with the same HTTP key or a new one, resumes that
  payment: the provider is asked by the id recorded, and confirms it at most once.
- Seats, the completed order and the settled payment are one conditional transaction
  (services/completion.py). A payment that cannot be used is refunded, never kept.
- A card that asks for the cardholder's authentication (3-D Secure) leaves the order `payment_pending`
  with its `payment_action` (services/authentication.py): the route answers 202, and the provider's
  webhook completes it, or returns it to draft. Submitting it again answers it as it is, charging nothing.
- A total below the provider's minimum is not charged now: the order completes and the amount is
  carried to the next renewal. A total of zero completes with nothing to charge.
"""

from __future__ import annotations

from seats import clock
from seats.domain.eligibility import Change, require_eligible
from seats.domain.errors import (
    ConcurrentUpdate,
    InvalidPaymentToken,
    OrderNotDraft,
    PaymentDeclined,
    PaymentMethodExpired,
    PaymentMethodNotFound,
    PaymentProviderUnavailable,
    QuoteExpired,
)
from seats.domain.model import Contract, PaymentError, PaymentMethod, SeatOrder
from seats.domain.payments import Payment, below_minimum, new_payment
from seats.domain.seat_orders import reprice, require_seats_in_range
from seats.services import ledger
from seats.services.authentication import await_authentication
from seats.services.completion import complete, give_back
from seats.services.drafts import draft_of
from seats.services.ports import PaymentGateway, Repository

ROUNDS = 3  # another round only after a payment was given back, or a lost race on the draft


def submit(repo: Repository, gateway: PaymentGateway, order_id: str, caller_id: str,
           submit_key: str | None = None) -> SeatOrder:
    """`submit_key` names the request (a digest of the caller and its Idempotency-Key): the order
    completed by a request with the same name is its answer again, even when that request's first
    answer was lost after the write (a time-out, or the idempotency record not saved)."""
    for _ in range(ROUNDS):
        try:
            order, contract, subscription = draft_of(repo, order_id, caller_id)
        except OrderNotDraft:
            done = repo.get_order(order_id)
            if isinstance(done, SeatOrder) and done.status == "payment_pending":
                return done  # waiting for the cardholder: the same action again, no new charge
            if submit_key is None or not isinstance(done, SeatOrder) or done.submitted_with != submit_key:
                raise
            return done  # its SeatsAdded was committed with it
        require_eligible(Change.ADD, contract, subscription, caller_id, clock.today())
        require_seats_in_range(subscription, order.seats_to_add)
        try:
            payment = ledger.open_payment(repo, order.payment_id) or _start(repo, order, contract)
        except ConcurrentUpdate:
            continue  # the draft changed (another submit started its payment): read it again
        if payment is None:  # nothing to charge now
            return complete(repo, gateway, order, contract, None, caller_id, submit_key)
        done = _pay(repo, gateway, order, contract, payment, caller_id, submit_key)
        if done is not None:
            return done
    raise ConcurrentUpdate()


def _start(repo: Repository, order: SeatOrder, contract: Contract) -> Payment | None:
    """The draft's new payment, recorded with the draft's pointer to it before the provider hears of it;
    None when there is nothing to charge now (zero, or below the provider's minimum)."""
    _requote_if_expired(repo, order, contract)
    if order.total.amount == 0 or below_minimum(order.total):
        return None
    method = _chargeable_method(order)
    payment = new_payment("add_seats", order_id=order.order_id, contract=contract, amount=order.total,
                          payment_method=method, at=clock.utc_now())
    order.payment_id = payment.payment_id
    work = repo.unit_of_work()
    work.save_payment(payment)
    work.save_order(order)  # conditioned on the draft read: an edit or another submit meanwhile fails this
    work.commit()
    return payment


def _pay(repo: Repository, gateway: PaymentGateway, order: SeatOrder, contract: Contract, payment: Payment,
         caller_id: str, submit_key: str | None) -> SeatOrder | None:
    """Take the payment's money and complete the order with it; None when it was given back (next round)."""
    if payment.status == "refunding":
        give_back(repo, gateway, order, payment)
        return None
    try:
        state = ledger.take(repo, gateway, payment)
    except InvalidPaymentToken:  # the card cannot be charged at all: nothing was taken
        _decline(repo, order, payment, "invalid_payment_method", InvalidPaymentToken())
        raise
    if state.captured:
        return complete(repo, gateway, order, contract, payment, caller_id, submit_key)
    if state.status == "requires_action":  # the bank asks for the cardholder: 202, the webhook tells the rest
        try:
            await_authentication(repo, order, payment, state, clock.utc_now())
        except ConcurrentUpdate:
            return None  # the draft changed meanwhile (cancelled, say): read it again
        return order
    if state.status == "failed":
        code = state.decline_code or "card_declined"
        refusal = PaymentMethodExpired() if code == "expired_card" else \
            PaymentDeclined(f"The card was declined ({code})", decline_code=code)
        _decline(repo, order, payment, code, refusal)
        raise refusal
    raise PaymentProviderUnavailable()  # not settled yet: the same request again, or the reconciler, will tell


def _decline(repo: Repository, order: SeatOrder, payment: Payment, code: str,
             refusal: PaymentDeclined | PaymentMethodExpired | InvalidPaymentToken) -> None:
    """Settled with no money: the payment failed, and the draft told why, with its attempt counted."""
    now = clock.utc_now()
    payment.decline_code = code
    payment.settle("failed", now)
    order.payment_attempt, order.payment_id = order.payment_attempt + 1, None
    order.last_payment_error = PaymentError(refusal.code, refusal.extra.get("decline_code"), refusal.detail)
    work = repo.unit_of_work()
    work.save_order(order)
    work.save_payment(payment)
    try:
        work.commit()
    except ConcurrentUpdate:  # the draft changed meanwhile: settle the payment alone, if no one did
        fresh = repo.get_payment(payment.payment_id)
        if fresh is not None and fresh.unsettled:
            fresh.decline_code = code
            fresh.settle("failed", now)
            ledger.save(repo, fresh)


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
