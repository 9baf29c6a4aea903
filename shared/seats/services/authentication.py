"""Payments that wait for the cardholder's authentication (3-D Secure; docs/payments.md, "Authentication").

A card that asks for the cardholder when the customer is present leaves its payment `requires_action`:
the payment is recorded so, with the time its authentication expires (23 hours), and its order becomes
`payment_pending` with what the client must do (`payment_action`), in one transaction. The provider's
webhook, or the reconciler, then learns the outcome: captured, the order completes as the submit would
have (services/settlement.py); failed or expired, the payment fails and the order goes back to `draft`
(a renewal paid now: its order is `cancelled`, the contract keeps its status and timeline).
"""

from __future__ import annotations

from datetime import datetime

from seats.domain.model import Order, PaymentAction, PaymentError, RenewalOrder, SeatOrder
from seats.domain.payments import AUTHENTICATION_WINDOW, Payment
from seats.services.ports import ProviderPayment, Repository

EXPIRED = PaymentError("authentication_expired", None,
                       "The cardholder did not complete the bank's authentication within 23 hours")


CANCELED = PaymentError("payment_canceled", None, "The payment was canceled before it completed; submit again to pay")
REFUNDED = PaymentError("charge_refunded", None, "The order changed while it was being paid; the payment was refunded")


def declined(decline_code: str | None) -> PaymentError:
    """The order's error after the provider declined a payment that waited for the cardholder."""
    code = decline_code or "authentication_failed"
    message = "The cardholder failed the bank's authentication" if code == "authentication_failed" \
        else f"The card was declined ({code})"
    return PaymentError("payment_declined", code, message)


def await_authentication(repo: Repository, order: Order, payment: Payment, state: ProviderPayment,
                         at: datetime) -> Order:
    """The payment recorded as waiting for the cardholder until `at` + 23 h, and its order payment_pending
    with the action, in one transaction conditioned on both as read (ConcurrentUpdate otherwise)."""
    action = PaymentAction(charge_id=state.provider_ref, client_secret=state.client_secret,
                           redirect_url=state.redirect_url, expires_at=at + AUTHENTICATION_WINDOW)
    payment.status, payment.expires_at = "requires_action", action.expires_at
    order.status, order.payment_action = "payment_pending", action
    work = repo.unit_of_work()
    work.save_payment(payment)
    work.save_order(order)
    work.commit()
    return order


def end_authentication(repo: Repository, payment: Payment, error: PaymentError, at: datetime) -> None:
    """The cardholder failed the challenge or never came (the provider holds no money for it): the payment
    failed and its order reopened (`reopen`), in one transaction. ConcurrentUpdate when either changed
    meanwhile: the next event or reconciler run looks again."""
    order = repo.get_order(payment.order_id)
    payment.decline_code = error.decline_code or error.code
    payment.settle("failed", at)
    work = repo.unit_of_work()
    work.save_payment(payment)
    if order is not None and order.status == "payment_pending" and order.payment_id == payment.payment_id:
        reopen(order, error)
        work.save_order(order)
    work.commit()


def drop_pending_renewal(repo: Repository, payment: Payment) -> None:
    """A renewal paid now whose capture was refunded (the period could no longer take it: the contract was
    cancelled, or its total changed): its order, if it still waits, is cancelled too."""
    order = repo.get_order(payment.order_id)
    if isinstance(order, RenewalOrder) and order.status == "payment_pending" and order.payment_id == payment.payment_id:
        reopen(order, REFUNDED)
        work = repo.unit_of_work()
        work.save_order(order)
        work.commit()


def reopen_if_over(repo: Repository, order: SeatOrder) -> SeatOrder:
    """An order still payment_pending whose payment no longer waits for the cardholder (a step settled the payment,
    then died before closing the order: a DELETE, or a webhook or reconciler run that refunded a capture the
    order could not take) is reopened as that step would have: a draft again, told why. Written at once
    (ConcurrentUpdate if the order changed meanwhile); any other order is returned as it is."""
    if order.status != "payment_pending":
        return order
    payment = repo.get_payment(order.payment_id) if order.payment_id else None
    if payment is not None and payment.unsettled:
        return order
    reopen(order, _why_over(payment))
    work = repo.unit_of_work()
    work.save_order(order)
    work.commit()
    return order


def _why_over(payment: Payment | None) -> PaymentError:
    if payment is None or (payment.status == "failed" and payment.decline_code is None):
        return CANCELED
    if payment.status == "refunded":
        return REFUNDED
    return EXPIRED if payment.decline_code == EXPIRED.code else declined(payment.decline_code)


def reopen(order: Order, error: PaymentError) -> None:
    """An order whose payment waited for the cardholder in vain: an add-seats order back to draft, told why
    and its attempt counted; a renewal paid now cancelled (the contract keeps its status and timeline)."""
    order.payment_action = None
    if isinstance(order, SeatOrder):
        order.status, order.payment_id, order.last_payment_error = "draft", None, error
        order.payment_attempt += 1
    else:
        order.status = "cancelled"

