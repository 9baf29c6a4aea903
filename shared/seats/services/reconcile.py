"""The reconciler (docs/payments.md): every payment still unsettled 10 minutes after it started is settled
with the provider. A capture the order (or the renewal) can still use completes it exactly as the submit
(or the worker) would have; a capture it cannot use is refunded; a payment never captured is canceled and
marked failed. It reads only the unsettled payments (a sparse index), never scans.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from seats.clock import iso
from seats.domain.errors import ConcurrentUpdate, DomainError, PaymentProviderUnavailable
from seats.domain.model import SeatOrder
from seats.domain.payments import Payment
from seats.services import completion, ledger
from seats.services.ports import PaymentGateway, Repository
from seats.services.renew import applicable, settle_drafts
from seats.services.renewal_records import RenewalOutcome, record_renewal

SETTLE_AFTER = timedelta(minutes=10)  # a submit or a worker still running settles its own payment
Settled = Literal["completed", "refunded", "failed"]


@dataclass
class ReconcileOutcome:
    as_of: datetime
    examined: int = 0
    completed: int = 0
    refunded: int = 0
    failed: int = 0
    oldest_unsettled: datetime | None = None  # the oldest payment still unsettled after this run

    def answer(self) -> dict[str, object]:
        return {"as_of": iso(self.as_of), "examined": self.examined, "completed": self.completed,
                "refunded": self.refunded, "failed": self.failed}


def reconcile_payments(as_of: datetime, repo: Repository, gateway: PaymentGateway) -> ReconcileOutcome:
    outcome = ReconcileOutcome(as_of.astimezone(UTC))
    for payment_id in repo.unsettled_payment_ids(as_of - SETTLE_AFTER):
        payment = repo.get_payment(payment_id)
        if payment is None or not payment.unsettled:
            continue
        outcome.examined += 1
        try:
            settled = _settle(repo, gateway, payment, as_of)
        except (PaymentProviderUnavailable, ConcurrentUpdate):  # the next run looks again
            settled = None
        if settled is None:
            oldest = outcome.oldest_unsettled
            outcome.oldest_unsettled = payment.created_at if oldest is None else min(oldest, payment.created_at)
        else:
            setattr(outcome, settled, getattr(outcome, settled) + 1)
    return outcome


def _settle(repo: Repository, gateway: PaymentGateway, payment: Payment, at: datetime) -> Settled | None:
    if payment.status == "refunding":
        ledger.give_back(repo, gateway, payment, "not_applicable", at)
        return "refunded"
    state = ledger.look_up(repo, gateway, payment)
    if state is not None and state.captured:
        return _apply_or_refund(repo, gateway, payment, at)
    if state is not None and state.status in ("processing", "requires_action"):
        return None  # still moving at the provider: the next run looks again
    ledger.fail(repo, gateway, payment, at, state.decline_code if state else None)
    return "failed"


def _apply_or_refund(repo: Repository, gateway: PaymentGateway, payment: Payment, at: datetime) -> Settled:
    """A capture: it completes what it was for if that can still be done, else it is refunded."""
    if payment.purpose == "renewal":
        contract = repo.get_contract(payment.contract_id)
        if contract is not None and applicable(contract, payment):
            settle_drafts(repo, gateway, contract)
            record_renewal(repo, contract, payment, RenewalOutcome(contract.contract_id))
            return "completed"
    else:
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
        if isinstance(order, SeatOrder) and order.status == "draft" and order.payment_id == payment.payment_id:
            completion.give_back(repo, gateway, order, payment)  # the draft told why, its attempt counted
            return "refunded"
    ledger.give_back(repo, gateway, payment, "not_applicable", at)
    return "refunded"
