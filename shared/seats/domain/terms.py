"""Terms and renewal dates: 1, 12 or 36 months, keeping the billing anchor day."""

from __future__ import annotations

import calendar
from datetime import date
from enum import StrEnum


class Term(StrEnum):
    MONTHLY = "monthly"
    ANNUAL = "annual"
    THREE_YEAR = "three_year"

    @property
    def months(self) -> int:
        return {"monthly": 1, "annual": 12, "three_year": 36}[self.value]


def add_months(start: date, months: int, anchor_day: int) -> date:
    """The date `months` after `start`, on `anchor_day` clamped to the month's length."""
    index = start.year * 12 + (start.month - 1) + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(anchor_day, last))


def next_renewal_date(renewal_date: date, term: Term, anchor_day: int) -> date:
    """The renewal date one term after `renewal_date`: 2027-01-31 → 2027-02-28 → 2027-03-31 monthly."""
    return add_months(renewal_date, term.months, anchor_day)
