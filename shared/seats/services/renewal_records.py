"""What a renewal run writes (docs/api.md, Renewal): a renewed period, a declined charge, or a lapse, each
with its history entries and domain events, in one conditional transaction. Shared by the renewal
worker and the reconciler, so that a period is recorded the same way whoever settles its payment."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import date, datetime

from seats.clock import utc_now
from seats.domain import events, history, renewal
from seats.domain.errors import ConcurrentUpdate
from seats.domain.history import SYSTEM, HistoryEvent
from seats.domain.model import Contract, RenewalOrder
from seats.domain.money import Money
from seats.domain.payments import Payment, PaymentStatus
from seats.services.ports import Repository, UnitOfWork


@dataclass
class RenewalOutcome:
    contract_id: str
    renewed: int = 0  # periods renewed, each with its own charge
    declines: int = 0
    decline_code: str | None = None  # the last decline's (PAY NOW answers 402 with it)
    status: str | None = None  # the contract's status at the end; None if there is no such contract
    handed_on: bool = False  # more periods were due than one delivery renews: a new message carries on
    pending: RenewalOrder | None = None  # paid now, the period's order waiting for the cardholder (202)


def _entry(contract: Contract, entry: history.Entry, at: datetime, subscription_id: str | None = None) -> HistoryEvent:
    return HistoryEvent.of(entry, contract_id=contract.contract_id, at=at, actor=SYSTEM,
                           subscription_id=subscription_id)


def _status_change(before: Contract, after: Contract, at: datetime,
                   reason: str) -> tuple[HistoryEvent, events.ContractStatusChanged] | None:
    """History status_changed and the ContractStatusChanged event, when the status changed."""
    if before.status == after.status:
        return None
    return (
        _entry(after, history.StatusChanged(from_=before.status, to=after.status, reason=reason), at),
        events.ContractStatusChanged(
            contract_id=after.contract_id, account_id=after.account_id, status_before=before.status,
            status_after=after.status, reason=reason, renewal_date=before.renewal_date,
        ),
    )


def record_renewal(repo: Repository, contract: Contract, payment: Payment | None,
                   outcome: RenewalOutcome, submitted_with: str | None = None) -> Contract:
    """The period renewed, paid by `payment` (None: nothing to charge now), with the card it was paid with;
    `submitted_with` names the manager's request that paid it now, if one did."""
    now = utc_now()
    charge_id = payment.provider_ref if payment else None
    period = renewal.renew(contract, charge_id=charge_id, at=now, payment_id=payment.payment_id if payment else None,
                           paid_with=payment.payment_method if payment else None,
                           order_id=payment.order_id if payment else None)
    renewed, order = period.contract, period.order
    order.submitted_with = submitted_with
    if payment is not None and payment.status == "requires_action":
        _completes_pending(repo, order)
    work = repo.unit_of_work()
    work.save_contract(renewed)
    work.save_order(order)
    if payment is not None:
        work.save_payment(_settled(payment, "succeeded", now))
    _add_period_history(work, period, now)
    status_change = _status_change(contract, renewed, now, "renewed")
    if status_change:
        work.add_history(status_change[0])
    work.add_history(_entry(renewed, history.Renewed(
        order_id=order.order_id, charge_id=charge_id, amount=order.total, currency=order.currency,
        term_start=renewed.term_start, renewal_date=renewed.renewal_date,
    ), now))
    work.add_event(_renewed_event(contract, renewed, order.order_id, charge_id, order.total))
    if status_change:
        work.add_event(status_change[1])
    work.commit()
    outcome.renewed += 1
    outcome.status = renewed.status
    return renewed


def _completes_pending(repo: Repository, order: RenewalOrder) -> None:
    """The period's order was written waiting for the cardholder: this write completes that very order."""
    pending = repo.get_order(order.order_id)
    if isinstance(pending, RenewalOrder):
        order.version, order.created_at, order.created_by = pending.version, pending.created_at, pending.created_by
        order.submitted_with = order.submitted_with or pending.submitted_with


def _add_period_history(work: UnitOfWork, period: renewal.RenewedPeriod, now: datetime) -> None:
    """The reductions applied and the drafts the renewal closes."""
    renewed, order = period.contract, period.order
    for reduced in period.reductions:
        work.add_history(_entry(renewed, history.SeatsReduced(
            seats_before=reduced.seats_before, seats_after=reduced.seats_after, order_id=order.order_id,
        ), now, reduced.subscription_id))
    for subscription_id, draft_id in period.cancelled_drafts:
        work.cancel_draft(draft_id)
        work.add_history(_entry(renewed, history.OrderCancelledByRenewal(order_id=draft_id), now, subscription_id))


def _renewed_event(before: Contract, renewed: Contract, order_id: str, charge_id: str | None,
                   amount: Money) -> events.SubscriptionRenewed:
    return events.SubscriptionRenewed(
        contract_id=renewed.contract_id, account_id=renewed.account_id, order_id=order_id, charge_id=charge_id,
        amount=amount, currency=renewed.currency, term_start=renewed.term_start,
        renewal_date=renewed.renewal_date,
        subscriptions=[
            events.SubscriptionSeats(after.subscription_id, old.seats, after.seats)
            for old, after in zip(before.subscriptions, renewed.subscriptions, strict=True)
        ],
    )


def record_decline(repo: Repository, contract: Contract, decline_code: str, payment: Payment | None,
                   today: date, outcome: RenewalOutcome) -> None:
    """The day's attempt declined: the overdue status, its history and events, the payment settled failed."""
    now = utc_now()
    declined = renewal.decline(contract, today)
    failed = history.RenewalPaymentFailed(
        renewal_date=contract.renewal_date, amount=contract.renewal_total, currency=contract.currency,
        decline_code=decline_code, attempt=declined.failed_renewal_attempts,
    )
    work = repo.unit_of_work()
    work.save_contract(declined)
    if payment is not None:
        work.save_payment(_settled(payment, "failed", now, decline_code))
    work.add_history(_entry(declined, failed, now))
    status_change = _status_change(contract, declined, now, "renewal_payment_failed")
    if status_change:
        work.add_history(status_change[0])
    work.add_event(events.RenewalPaymentFailed(
        contract_id=contract.contract_id, account_id=contract.account_id, renewal_date=failed.renewal_date,
        amount=failed.amount, currency=failed.currency, decline_code=decline_code, attempt=failed.attempt,
        status=declined.status,
    ))
    if status_change:
        work.add_event(status_change[1])
    work.commit()
    outcome.declines += 1
    outcome.decline_code = decline_code
    outcome.status = declined.status


def _settled(payment: Payment, status: PaymentStatus, at: datetime, decline_code: str | None = None) -> Payment:
    """The payment as this write settles it; the caller's copy is left as read, should the write lose a race."""
    settled = copy.copy(payment)
    settled.decline_code = decline_code or payment.decline_code
    settled.settle(status, at)
    return settled


def record_lapse(repo: Repository, contract: Contract, today: date, outcome: RenewalOutcome) -> None:
    """Not charged: expired at the renewal date, suspended from day 15, cancelled from day 45 (30 monthly)."""
    lapsed = renewal.lapse(contract, today)
    if lapsed.status == contract.status:
        return
    work = repo.unit_of_work()
    work.save_contract(lapsed)
    status_change = _status_change(contract, lapsed, utc_now(), "not_renewed")
    if status_change:
        work.add_history(status_change[0])
        work.add_event(status_change[1])
    try:
        work.commit()
    except ConcurrentUpdate:
        return  # changed meanwhile (another worker): the next run looks again
    outcome.status = lapsed.status
