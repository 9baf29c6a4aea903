"""The reconciler (docs/payments.md): every payment still unsettled 10 minutes after it started is settled
with the provider. A capture the order (or the renewal) can still use completes it exactly as the submit
(or the worker) would have; a capture it cannot use is refunded; a payment never captured is canceled and
marked failed; an authentication not completed within 23 hours is canceled and its order reopened
(services/settlement.py). It reads only the unsettled payments (a sparse index), never scans.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from seats.clock import iso
from seats.domain.errors import ConcurrentUpdate, PaymentProviderUnavailable
from seats.domain.payments import Payment
from seats.services.ports import PaymentGateway, Repository
from seats.services.settlement import settle

SETTLE_AFTER = timedelta(minutes=10)  # a submit or a worker still running settles its own payment


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
        if payment is None or not payment.unsettled or _awaits_cardholder(payment, as_of):
            continue
        outcome.examined += 1
        try:
            settled = settle(repo, gateway, payment, as_of, final=True)
        except (PaymentProviderUnavailable, ConcurrentUpdate):  # the next run looks again
            settled = None
        if settled == "waiting":  # the cardholder has until its expires_at: not overdue
            continue
        if settled is None:
            oldest = outcome.oldest_unsettled
            outcome.oldest_unsettled = payment.created_at if oldest is None else min(oldest, payment.created_at)
        else:
            setattr(outcome, settled, getattr(outcome, settled) + 1)
    return outcome


def _awaits_cardholder(payment: Payment, as_of: datetime) -> bool:
    """Waiting for the cardholder's authentication, not yet expired: left alone (its webhook settles it)."""
    return payment.status == "requires_action" and payment.expires_at is not None and as_of < payment.expires_at
