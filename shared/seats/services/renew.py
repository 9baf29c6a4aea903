"""Renew one contract (docs/api.md, Renewal): charge each due period once, or move it along the overdue timeline.

Per period: one charge with an idempotency key per contract, period and attempt, then one
TransactWriteItems conditioned on the contract version read. A message delivered twice, a worker
that crashed between charge and write, or two workers on one contract all charge with the same
key, so the provider answers with the same charge; only one write wins, and the loser finds the
period already recorded and stops. A provider that does not answer raises: nothing is written
and the message is retried.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import UTC, date, datetime

from seats.clock import utc_now
from seats.domain import events, history, renewal
from seats.domain.charge_keys import refund_key, renewal_charge_key
from seats.domain.errors import ConcurrentUpdate, InvalidPaymentToken, PaymentDeclined, PaymentMethodExpired
from seats.domain.history import SYSTEM, HistoryEvent
from seats.domain.model import Contract, PaymentMethod
from seats.domain.money import Money
from seats.services.ports import PaymentGateway, Repository
from seats.services.retry import WRITE_ATTEMPTS

MAX_STEPS = 8  # periods renewed or attempts retired in one run; more waits for the next delivery


class _UnusableCharge(Exception):
    """A charge under this attempt's key that no longer fits the contract (its total changed
    between the charge and the write, e.g. a submit landed in between)."""

    def __init__(self, charge_id: str) -> None:
        super().__init__(charge_id)
        self.charge_id = charge_id


@dataclass
class RenewalOutcome:
    contract_id: str
    renewed: int = 0  # periods renewed, each with its own charge
    declines: int = 0
    status: str | None = None  # the contract's status at the end; None if there is no such contract


@dataclass
class _Run:
    repo: Repository
    gateway: PaymentGateway
    today: date
    outcome: RenewalOutcome


def renew_contract(contract_id: str, as_of: datetime, repo: Repository, gateway: PaymentGateway) -> RenewalOutcome:
    """Renew every period of the contract due on `as_of`'s date; reseller contracts are untouched."""
    run = _Run(repo, gateway, as_of.astimezone(UTC).date(), RenewalOutcome(contract_id))
    contract: Contract | None = repo.get_contract(contract_id)
    run.outcome.status = contract.status if contract else None
    steps = 0
    while contract is not None and renewal.is_due(contract, run.today) and steps < MAX_STEPS:
        steps += 1
        if not renewal.is_charged(contract):
            _lapse(run, contract)
            break
        contract = _renew_period(run, contract)
    return run.outcome


def _charge(run: _Run, contract: Contract, amount: Money) -> tuple[str | None, str | None]:
    """(charge_id, None) when paid, (None, decline_code) when not. No card or an expired one is a decline."""
    card = contract.payment_method
    if amount.amount == 0:
        return None, None
    if card is None:
        return None, "no_payment_method"
    if card.expired_on(run.today):
        return None, "expired_card"
    try:
        charge = run.gateway.charge(
            customer_ref=card.customer_ref, payment_method_ref=card.provider_ref,
            payment_method_id=card.payment_method_id,
            amount=amount, idempotency_key=renewal_charge_key(contract),
            description=f"Renewal of contract {contract.contract_id} from {contract.renewal_date.isoformat()}",
        )
    except PaymentDeclined as declined:
        return None, declined.extra.get("decline_code") or "card_declined"
    except PaymentMethodExpired:
        return None, "expired_card"
    except InvalidPaymentToken:
        return None, "invalid_payment_method"
    if charge.amount != amount:  # the key was charged before, for other terms
        raise _UnusableCharge(charge.charge_id)
    return charge.charge_id, None


def _renew_period(run: _Run, contract: Contract) -> Contract | None:
    """Charge the due period and record the answer: the renewed contract to carry on with, or None."""
    _refund_due(run, contract)
    period, attempt, card = contract.renewal_date, contract.failed_renewal_attempts, contract.payment_method
    amount = contract.renewal_total
    try:
        charge_id, decline_code = _charge(run, contract, amount)
    except _UnusableCharge as unusable:
        return _retire_attempt(run, contract, unusable.charge_id)
    for _ in range(WRITE_ATTEMPTS):
        try:
            if decline_code is None:
                return _record_renewal(run, contract, charge_id, card)
            _record_decline(run, contract, decline_code)
            return None
        except ConcurrentUpdate:
            fresh = run.repo.get_contract(contract.contract_id)
            if fresh is None or fresh.renewal_date != period or not renewal.is_due(fresh, run.today):
                return None  # another worker recorded this period
            if decline_code is not None and fresh.failed_renewal_attempts != attempt:
                return None  # another worker recorded this attempt
            if decline_code is None and fresh.failed_renewal_attempts != attempt:
                return fresh  # another worker settled this attempt (same key, same charge)
            if decline_code is None and fresh.renewal_total != amount:
                return _retire_attempt(run, fresh, charge_id) if charge_id else fresh
            contract = fresh
    raise ConcurrentUpdate()


def _refund_due(run: _Run, contract: Contract) -> None:
    """Give back the charges an earlier run retired; the next write of the contract forgets them."""
    for charge_id in contract.refunds_due:
        run.gateway.refund(charge_id, refund_key(charge_id))
    contract.refunds_due = []


def _retire_attempt(run: _Run, contract: Contract, charge_id: str) -> Contract | None:
    """A charge the contract can no longer use: record it as owed back and move to a new attempt
    (a new charge key) in one conditional write, then refund it. A crash after the write leaves the
    refund recorded on the contract, and the next run makes it before charging."""
    retired = copy.deepcopy(contract)
    retired.failed_renewal_attempts += 1
    retired.refunds_due = [*contract.refunds_due, charge_id]
    uow = run.repo.unit_of_work()
    uow.save_contract(retired)
    try:
        uow.commit()
    except ConcurrentUpdate:
        return run.repo.get_contract(contract.contract_id)  # someone moved it on: look again
    _refund_due(run, retired)
    return retired


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


def _record_renewal(run: _Run, contract: Contract, charge_id: str | None, card: PaymentMethod | None) -> Contract:
    now = utc_now()
    period = renewal.renew(contract, charge_id=charge_id, at=now, paid_with=card)
    renewed, order = period.contract, period.order
    work = run.repo.unit_of_work()
    work.save_contract(renewed)
    work.save_order(order)
    for reduced in period.reductions:
        work.add_history(_entry(renewed, history.SeatsReduced(
            seats_before=reduced.seats_before, seats_after=reduced.seats_after, order_id=order.order_id,
        ), now, reduced.subscription_id))
    for subscription_id, draft_id in period.cancelled_drafts:
        work.cancel_draft(draft_id)
        work.add_history(_entry(renewed, history.OrderCancelledByRenewal(order_id=draft_id), now, subscription_id))
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
    run.outcome.renewed += 1
    run.outcome.status = renewed.status
    return renewed


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


def _record_decline(run: _Run, contract: Contract, decline_code: str) -> None:
    now = utc_now()
    declined = renewal.decline(contract, run.today)
    failed = history.RenewalPaymentFailed(
        renewal_date=contract.renewal_date, amount=contract.renewal_total, currency=contract.currency,
        decline_code=decline_code, attempt=declined.failed_renewal_attempts,
    )
    work = run.repo.unit_of_work()
    work.save_contract(declined)
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
    run.outcome.declines += 1
    run.outcome.status = declined.status


def _lapse(run: _Run, contract: Contract) -> None:
    """Not charged: expired at the renewal date, suspended from day 15, cancelled from day 45 (30 monthly)."""
    lapsed = renewal.lapse(contract, run.today)
    if lapsed.status == contract.status:
        return
    work = run.repo.unit_of_work()
    work.save_contract(lapsed)
    status_change = _status_change(contract, lapsed, utc_now(), "not_renewed")
    if status_change:
        work.add_history(status_change[0])
        work.add_event(status_change[1])
    try:
        work.commit()
    except ConcurrentUpdate:
        return  # changed meanwhile (another worker): the next run looks again
    run.outcome.status = lapsed.status
