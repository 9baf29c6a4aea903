"""What the next renewal will charge, on which card and when, and what may stop it (docs/api.md,
Renewal preview). Built from `renewal.renewal_charge`, the very computation the renewal charges: with
nothing changed in between, the renewal charges exactly the preview's total."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from seats.domain.model import CarriedAmount, Contract, OrderLine, PaymentMethod, Period
from seats.domain.money import Money
from seats.domain.renewal import renewal_charge


@dataclass(frozen=True)
class PreviewLine:
    line: OrderLine
    product: str
    reduction_applied: bool  # the seats are a pending reduction's, at the lower price


@dataclass(frozen=True)
class RenewalPreview:
    contract_id: str
    currency: str
    renewal_date: date
    next_period: Period
    lines: list[PreviewLine]
    carried_over: list[CarriedAmount]
    total: Money
    payment_method: PaymentMethod | None
    warnings: list[str]


def renewal_warnings(contract: Contract) -> list[str]:
    """Why the renewal may not go through as shown: for the manager, and for the notices' emails."""
    warnings = []
    card = contract.payment_method
    if card is None:
        warnings.append("no_payment_method")
    elif (card.exp_year, card.exp_month) < (contract.renewal_date.year, contract.renewal_date.month):
        warnings.append("card_expires_before_renewal")
    if not contract.auto_renew:
        warnings.append("auto_renew_off")
    if contract.status in ("past_due", "suspended"):
        warnings.append("payment_past_due")
    return warnings


def renewal_preview(contract: Contract) -> RenewalPreview:
    charge = renewal_charge(contract)
    lines = [
        PreviewLine(line, subscription.product, subscription.pending_reduction is not None)
        for line, subscription in zip(charge.lines, contract.subscriptions, strict=True)
    ]
    return RenewalPreview(
        contract_id=contract.contract_id, currency=contract.currency, renewal_date=contract.renewal_date,
        next_period=charge.period, lines=lines, carried_over=charge.carried_over, total=charge.total,
        payment_method=contract.payment_method, warnings=renewal_warnings(contract),
    )
