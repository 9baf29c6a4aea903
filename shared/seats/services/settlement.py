"""Settling an unsettled payment with what the provider says of it (docs/payments.md): shared by the
reconciler (services/reconcile.py) and the provider's webhook (services/webhooks.py), so that a payment
ends the same way whoever learns its outcome.

- captured: it completes what it was for if that can still be done (exactly as the submit or the worker
  would have), else it is refunded;
- waiting for the cardholder (`requires_action`): declined or canceled at the provider, the payment fails
  and its order reopens; still waiting, it is left alone until it expires (the reconciler then cancels it);
- anything else never captured: failed, by the reconciler only (the request that started it may still be
  on it; the reconciler waits 10 minutes), a challenge nobody was told of (requires_action at the provider,
  still `pending` in the ledger: its request died before recording it) canceled with it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from seats.domain.errors import ConcurrentUpdate, DomainError
from seats.domain.model import OPEN_ORDER, SeatOrder
from seats.domain.payments import Payment
from seats.services import authentication, completion, ledger
from seats.services.ports import PaymentGateway, ProviderPayment, Repository
from seats.services.renew import applicable, settle_drafts
from seats.services.renewal_records import RenewalOutcome, record_renewal

# What became of the payment; "waiting": the cardholder may still authenticate it (not overdue).
Settled = Literal["completed", "refunded", "failed", "waiting"]


def settle(repo: Repository, gateway: PaymentGateway, payment: Payment, at: datetime, *,
           final: bool) -> Settled | None:
    """Settle `payment` as the provider has it; None when it is still moving (the next run looks again).
    `final`: the reconciler, which also fails payments never captured and cancels expired authentications."""
    if payment.status == "refunding":
        ledger.give_back(repo, gateway, payment, "not_applicable", at)
        return "refunded"
    state = ledger.look_up(repo, gateway, payment)
    if state is not None and state.captured:
        return apply_or_refund(repo, gateway, payment, at)
    if payment.status == "requires_action":
        return _authentication(repo, gateway, payment, state, at, final=final)
    if not final or (state is not None and state.status == "processing"):
        return None  # still moving at the provider, or its own request is still on it
    # Never captured, and 10 minutes on; one the provider holds for a cardholder nobody told (its request died
    # before recording requires_action, so no client has the action) is canceled too.
    ledger.fail(repo, gateway, payment, at, state.decline_code if state else None)
    return "failed"


def _authentication(repo: Repository, gateway: PaymentGateway, payment: Payment, state: ProviderPayment | None,
                    at: datetime, *, final: bool) -> Settled | None:
    """A payment that waited for the cardholder, not captured: declined, or expired, or still waiting."""
    if state is not None and state.status == "failed":
        authentication.end_authentication(repo, payment, authentication.declined(state.decline_code), at)
        return "failed"
    expired = payment.expires_at is None or at >= payment.expires_at
    if not final or (state is not None and state.status == "requires_action" and not expired):
        return "waiting"
    if state is not None and state.status != "canceled":  # expired: the provider must not take it later
        state = gateway.cancel_payment(state.provider_ref)
        if state.captured:  # the cardholder authenticated at the last moment
            return apply_or_refund(repo, gateway, payment, at)
        if state.status == "processing":
            return None
    authentication.end_authentication(repo, payment, authentication.EXPIRED, at)
    return "failed"


def apply_or_refund(repo: Repository, gateway: PaymentGateway, payment: Payment, at: datetime) -> Settled:
    """A capture: it completes what it was for if that can still be done, else it is refunded."""
    if payment.purpose == "renewal":
        contract = repo.get_contract(payment.contract_id)
        if contract is not None and applicable(contract, payment):
            settle_drafts(repo, gateway, contract)
            record_renewal(repo, contract, payment, RenewalOutcome(contract.contract_id))
            return "completed"
        ledger.give_back(repo, gateway, payment, "not_applicable", at)
        authentication.drop_pending_renewal(repo, payment)
        return "refunded"
    return _add_seats(repo, gateway, payment, at)


def _add_seats(repo: Repository, gateway: PaymentGateway, payment: Payment, at: datetime) -> Settled:
    order = repo.get_order(payment.order_id)
    contract = repo.get_contract(payment.contract_id)
    if isinstance(order, SeatOrder) and contract is not None \
            and completion.not_completable(order, contract, payment, order.created_by) is None:
        try:
            completion.complete(repo, gateway, order, contract, payment, order.created_by)
            return "completed"
        except ConcurrentUpdate:
            raise
        except DomainError:  # not completable any more: the money was given back
            return "refunded"
    if isinstance(order, SeatOrder) and order.status in OPEN_ORDER and order.payment_id == payment.payment_id:
        completion.give_back(repo, gateway, order, payment)  # the draft told why, its attempt counted
        return "refunded"
    ledger.give_back(repo, gateway, payment, "not_applicable", at)
    return "refunded"
