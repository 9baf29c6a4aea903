"""Renewal rules (docs/api.md, Renewal): which contracts are due, the overdue timeline, and a renewed period.

Pure: every function takes the contract and the as-of date and returns new records; nothing here
reads a clock, a table or a payment provider.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass
from datetime import date, datetime

from seats.domain.model import (
    CarriedAmount,
    Contract,
    ContractStatus,
    OrderLine,
    PaymentMethod,
    Period,
    RenewalOrder,
)
from seats.domain.money import Money
from seats.domain.payments import below_minimum
from seats.domain.terms import Term, next_renewal_date

SUSPENDED_FROM_DAY = 15
CANCELLED_FROM_DAY = 45
CANCELLED_FROM_DAY_MONTHLY = 30
CHARGEABLE: frozenset[ContractStatus] = frozenset({"active", "past_due", "suspended"})


def cancelled_from_day(term: Term) -> int:
    return CANCELLED_FROM_DAY_MONTHLY if term is Term.MONTHLY else CANCELLED_FROM_DAY


def overdue_status(term: Term, renewal_date: date, today: date, *, auto_renew: bool) -> ContractStatus:
    """The status of a contract whose renewal at `renewal_date` is still unpaid on `today`.

    Auto-renewing (payment declined): past_due for the first 15 days, then suspended, then
    cancelled from day 45 (30 for monthly terms). Not auto-renewing: expired at the renewal date,
    then the same suspended and cancelled days.
    """
    days = (today - renewal_date).days
    if days >= cancelled_from_day(term):
        return "cancelled"
    if days >= SUSPENDED_FROM_DAY:
        return "suspended"
    return "past_due" if auto_renew else "expired"


def is_due(contract: Contract, today: date) -> bool:
    """The renewal function has work for this contract: online, not cancelled, renewal date reached."""
    return (
        contract.purchase_channel == "online"
        and contract.status != "cancelled"
        and contract.renewal_date <= today
    )


def is_charged(contract: Contract, today: date) -> bool:
    """A due contract that renewal charges. The others only move along the lapse timeline: not
    auto-renewing, or declined before and now at the cancellation day (no charge from that day on)."""
    if not contract.auto_renew or contract.status not in CHARGEABLE:
        return False
    declined_before = contract.status != "active"
    return not (declined_before and (today - contract.renewal_date).days >= cancelled_from_day(contract.term))


def ended(status: ContractStatus) -> bool:
    return status in ("expired", "cancelled")


def renewal_order_id(contract_id: str, period_start: date) -> str:
    """Deterministic per period, so a period's order can only ever be created once."""
    digest = hashlib.sha256(f"renewal:{contract_id}:{period_start.isoformat()}".encode()).hexdigest()
    return f"ord_{digest[:20]}"


@dataclass(frozen=True)
class RenewalCharge:
    """What the next renewal charges, computed once for the charge and for the preview: they cannot drift."""

    period: Period  # the term it pays for
    lines: list[OrderLine]
    carried_over: list[CarriedAmount]
    total: Money


def renewal_charge(contract: Contract) -> RenewalCharge:
    period = Period(contract.renewal_date,
                    next_renewal_date(contract.renewal_date, contract.term, contract.billing_anchor_day))
    return RenewalCharge(period, renewal_lines(contract), list(contract.carried_over), contract.renewal_total)


def renewal_lines(contract: Contract) -> list[OrderLine]:
    return [
        OrderLine(subscription_id=s.subscription_id, seats=s.renewal_seats, unit_price=s.unit_price,
                  amount=s.renewal_price)
        for s in contract.subscriptions
    ]


@dataclass(frozen=True)
class SeatsReduced:
    subscription_id: str
    seats_before: int
    seats_after: int


@dataclass(frozen=True)
class RenewedPeriod:
    before: Contract
    contract: Contract  # the renewed contract, same version as `before` until written
    order: RenewalOrder
    reductions: list[SeatsReduced]
    cancelled_drafts: list[tuple[str, str]]  # (subscription_id, order_id)


def renew(contract: Contract, *, charge_id: str | None, at: datetime, paid_with: PaymentMethod | None = None,
          payment_id: str | None = None, order_id: str | None = None) -> RenewedPeriod:
    """The contract one term on, paid (with `paid_with`, by default the card on file): reductions
    applied, drafts closed, status active, the carried amounts charged. A total above zero but below
    the provider's minimum is renewed without a charge and carried to the next renewal."""
    renewed = copy.deepcopy(contract)
    charge = renewal_charge(contract)
    period_start, period_end = charge.period.term_start, charge.period.renewal_date
    reductions: list[SeatsReduced] = []
    drafts: list[tuple[str, str]] = []
    for sub in renewed.subscriptions:
        if sub.pending_reduction is not None:
            reductions.append(SeatsReduced(sub.subscription_id, sub.seats, sub.pending_reduction.seats))
            sub.seats = sub.pending_reduction.seats
            sub.pending_reduction = None
        if sub.open_order_id is not None:
            drafts.append((sub.subscription_id, sub.open_order_id))
            sub.open_order_id = None
    renewed.term_start = period_start
    renewed.renewal_date = period_end
    renewed.status = "active"
    renewed.failed_renewal_attempts, renewed.renewal_attempted_on, renewed.renewal_payment_id = 0, None, None
    renewed.notices_sent = []  # the new period's renewal notices are still to come
    order_id = order_id or renewal_order_id(contract.contract_id, period_start)
    carried = charge_id is None and below_minimum(charge.total)
    renewed.carried_over = [CarriedAmount(order_id, charge.total)] if carried else []
    order = _order(contract, charge, order_id=order_id, at=at, paid_with=paid_with, payment_id=payment_id)
    order.charge_id = charge_id
    return RenewedPeriod(contract, renewed, order, reductions, drafts)


def pending_order(contract: Contract, *, order_id: str, at: datetime, paid_with: PaymentMethod,
                  payment_id: str) -> RenewalOrder:
    """The renewal order of the unpaid period while its payment waits for the cardholder's authentication."""
    order = _order(contract, renewal_charge(contract), order_id=order_id, at=at, paid_with=paid_with,
                   payment_id=payment_id)
    order.status = "payment_pending"
    return order


def _order(contract: Contract, charge: RenewalCharge, *, order_id: str, at: datetime,
           paid_with: PaymentMethod | None, payment_id: str | None) -> RenewalOrder:
    return RenewalOrder(
        order_id=order_id, status="completed",
        contract_id=contract.contract_id, account_id=contract.account_id, currency=contract.currency,
        total=charge.total, created_by="system", created_at=at,
        payment_method=paid_with or contract.payment_method, submitted_at=at,
        lines=charge.lines, period=charge.period, carried_over=charge.carried_over, payment_id=payment_id,
    )


def decline(contract: Contract, today: date) -> Contract:
    """The contract after a declined renewal charge: one more failed attempt (the day's one), the
    overdue status; carried amounts are forgiven if that ends it."""
    declined = copy.deepcopy(contract)
    declined.failed_renewal_attempts += 1
    declined.renewal_attempted_on, declined.renewal_payment_id = today, None
    declined.status = overdue_status(contract.term, contract.renewal_date, today, auto_renew=True)
    if ended(declined.status):
        declined.carried_over = []
    return declined


def lapse(contract: Contract, today: date) -> Contract:
    """A due contract that is not charged (not auto-renewing, or expired): expired, suspended, cancelled."""
    lapsed = copy.deepcopy(contract)
    lapsed.status = overdue_status(contract.term, contract.renewal_date, today, auto_renew=False)
    if contract.auto_renew and lapsed.status == "expired":  # declined before, not yet at the cancellation day
        lapsed.status = contract.status
    if ended(lapsed.status):
        lapsed.carried_over = []  # forgiven when the contract ends
    return lapsed
