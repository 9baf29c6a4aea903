"""The ledger's moves (docs/payments.md): a payment is recorded before the provider is called, its
provider id before any money moves, and it is settled after. Recovery always starts from the record:
the provider is asked by the id recorded, never by an idempotency key alone.
"""

from __future__ import annotations

from datetime import datetime

from seats.domain import history
from seats.domain.errors import ConcurrentUpdate, PaymentProviderUnavailable
from seats.domain.history import SYSTEM, HistoryEvent
from seats.domain.payments import Payment
from seats.services.ports import PaymentGateway, PaymentRequest, ProviderPayment, Repository


def request_of(payment: Payment) -> PaymentRequest:
    card = payment.payment_method
    return PaymentRequest(
        key=payment.key, amount=payment.amount, customer_ref=card.customer_ref,
        payment_method_ref=card.provider_ref, payment_method_id=card.payment_method_id,
        description=payment.description, off_session=payment.off_session,
    )


def save(repo: Repository, payment: Payment) -> None:
    work = repo.unit_of_work()
    work.save_payment(payment)
    work.commit()


def _provider_ref(repo: Repository, gateway: PaymentGateway, payment: Payment) -> str:
    """The provider's id of the payment, recorded before it is confirmed. Created again under its key when
    a crash lost it: the same payment while the provider remembers the key, else a new one that holds no
    money (only a confirmed payment takes money, and only a recorded one is ever confirmed)."""
    if payment.provider_ref is None:
        provider_ref = gateway.create_payment(request_of(payment))
        payment.provider_ref = provider_ref
        try:
            save(repo, payment)
        except ConcurrentUpdate:  # another request recorded it meanwhile: carry on from its record
            fresh = repo.get_payment(payment.payment_id)
            if fresh is None or fresh.provider_ref != provider_ref:
                raise
            payment.version, payment.status = fresh.version, fresh.status
    return payment.provider_ref


def take(repo: Repository, gateway: PaymentGateway, payment: Payment) -> ProviderPayment:
    """Take the money of a pending payment, or learn that it was taken: confirmed once, asked after that.
    PaymentProviderUnavailable: the outcome is unknown and the payment stays pending."""
    created_now = payment.provider_ref is None
    provider_ref = _provider_ref(repo, gateway, payment)
    if created_now:  # nothing to ask: only a recorded payment is ever confirmed, and this one just was
        return gateway.confirm_payment(provider_ref, request_of(payment))
    state = gateway.get_payment(provider_ref)
    if state is None:
        raise PaymentProviderUnavailable()
    if state.status == "requires_confirmation":
        state = gateway.confirm_payment(provider_ref, request_of(payment))
    return state


def look_up(repo: Repository, gateway: PaymentGateway, payment: Payment) -> ProviderPayment | None:
    """The provider's state of a payment; None when it knows none (nothing was ever taken)."""
    return gateway.get_payment(_provider_ref(repo, gateway, payment))


def give_back(repo: Repository, gateway: PaymentGateway, payment: Payment, reason: str, at: datetime) -> None:
    """Refund a captured payment that pays for nothing. Marked `refunding` first, so that nothing completes
    with it any more, then refunded at the provider, then recorded with its history entry."""
    if payment.status != "refunding":
        payment.status = "refunding"
        save(repo, payment)
    if payment.provider_ref is None:
        raise PaymentProviderUnavailable()
    gateway.refund(payment.provider_ref, payment.refund_key)
    payment.settle("refunded", at)
    work = repo.unit_of_work()
    work.save_payment(payment)
    work.add_history(HistoryEvent.of(
        history.PaymentRefunded(charge_id=payment.provider_ref, amount=payment.amount, order_id=payment.order_id,
                                reason=reason),
        contract_id=payment.contract_id, at=at, actor=SYSTEM,
    ))
    work.commit()


def fail(repo: Repository, gateway: PaymentGateway, payment: Payment, at: datetime,
         decline_code: str | None = None) -> None:
    """Settle a payment that took no money: canceled at the provider, recorded failed."""
    if payment.provider_ref is not None:
        state = gateway.cancel_payment(payment.provider_ref)
        if state.captured:  # it was taken after all (a confirmation that answered late)
            raise PaymentProviderUnavailable()
    payment.decline_code = decline_code or payment.decline_code
    payment.settle("failed", at)
    save(repo, payment)


def settle_unused(repo: Repository, gateway: PaymentGateway, payment: Payment, reason: str,
                  at: datetime) -> None:
    """Before the change a payment was for is dropped or altered: a capture refunded, anything else
    canceled. PaymentProviderUnavailable when the provider does not answer: then nothing changes."""
    if payment.status == "refunding":
        give_back(repo, gateway, payment, reason, at)
        return
    if not payment.unsettled:
        return
    state = look_up(repo, gateway, payment)
    if state is not None and state.captured:
        give_back(repo, gateway, payment, reason, at)
    elif state is not None and state.status == "processing":
        raise PaymentProviderUnavailable()
    else:
        fail(repo, gateway, payment, at)


def open_payment(repo: Repository, payment_id: str | None) -> Payment | None:
    """The unsettled payment a record points to, if any."""
    if payment_id is None:
        return None
    payment = repo.get_payment(payment_id)
    return payment if payment is not None and payment.unsettled else None
