"""Co-termed price of added seats (docs/api.md, Adding seats)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from seats.domain.money import Money


@dataclass(frozen=True)
class Proration:
    days_remaining: int
    term_days: int


def proration(today: date, term_start: date, renewal_date: date) -> Proration:
    return Proration(days_remaining=(renewal_date - today).days, term_days=(renewal_date - term_start).days)


def prorated_total(unit_price: Money, seats_to_add: int, period: Proration) -> Money:
    """unit_price × seats × days_remaining ÷ term_days, exact, then rounded half-up once."""
    if period.term_days <= 0:
        raise ValueError("term_days must be positive")
    exact = unit_price.amount * seats_to_add * Decimal(period.days_remaining) / Decimal(period.term_days)
    return Money.round(exact, unit_price.currency)
