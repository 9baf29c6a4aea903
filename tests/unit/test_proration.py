"""Proration: unit_price × seats × days_remaining ÷ term_days, rounded half-up once.

The expected totals below were worked out by hand from the formula (docs/api.md, Adding seats).
"""

from __future__ import annotations

from datetime import date

import pytest

from seats.domain.money import Money
from seats.domain.proration import Proration, prorated_total, proration


def usd(text: str) -> Money:
    return Money.parse(text, "USD")


def test_days_are_counted_from_today_and_from_the_term_start_to_the_renewal_date():
    # 2026-11-29 -> 2027-03-01: 2 days to Dec 1, then 31 + 31 + 28 = 92; 2026-03-01 -> 2027-03-01 = 365.
    assert proration(date(2026, 11, 29), date(2026, 3, 1), date(2027, 3, 1)) == Proration(92, 365)


def test_a_leap_term_has_366_days():
    assert proration(date(2028, 12, 1), date(2028, 2, 1), date(2029, 2, 1)) == Proration(62, 366)


@pytest.mark.parametrize(("seats", "total"), [
    (1, "497.81"),   # 1975 × 92 / 365 = 181700 / 365 = 497.8082…
    (2, "995.62"),   # 363400 / 365 = 995.6164…
    (3, "1493.42"),  # 545100 / 365 = 1493.4246… (rounding each seat first would give 3 × 497.81 = 1493.43)
])
def test_added_seats_are_charged_for_the_days_left_in_an_annual_term(seats, total):
    assert str(prorated_total(usd("1975.00"), seats, Proration(92, 365))) == total


def test_a_leap_year_term_divides_by_366():
    # 1200 × 62 / 366 = 74400 / 366 = 203.2786…
    assert str(prorated_total(usd("1200.00"), 1, Proration(62, 366))) == "203.28"


def test_a_monthly_term_after_a_clamped_february_has_31_days():
    # term 2027-02-28 -> 2027-03-31 (anchor 31), today 2027-03-15: 300 × 3 × 16 / 31 = 464.5161…
    period = proration(date(2027, 3, 15), date(2027, 2, 28), date(2027, 3, 31))
    assert period == Proration(16, 31)
    assert str(prorated_total(Money.parse("300.00", "GBP"), 3, period)) == "464.52"


def test_yen_totals_are_whole_yen():
    # 250000 × 2 × 92 / 365 = 46000000 / 365 = 126027.397…
    assert str(prorated_total(Money.parse("250000", "JPY"), 2, Proration(92, 365))) == "126027"


def test_an_exact_half_cent_rounds_up():
    # 1.00 × 1 × 1 / 8 = 0.125 exactly: half-up gives 0.13 where banker's rounding gives 0.12.
    assert str(prorated_total(usd("1.00"), 1, Proration(1, 8))) == "0.13"
    # 1000 × 1 × 1 / 16 = 62.5 yen exactly.
    assert str(prorated_total(Money.parse("1000", "JPY"), 1, Proration(1, 16))) == "63"


def test_a_whole_term_costs_the_full_price_and_a_day_a_fraction_of_it():
    assert str(prorated_total(usd("1975.00"), 4, Proration(365, 365))) == "7900.00"
    # 1975 / 365 = 5.4109…
    assert str(prorated_total(usd("1975.00"), 1, Proration(1, 365))) == "5.41"


def test_the_total_keeps_the_currency():
    assert prorated_total(Money.parse("10.00", "EUR"), 1, Proration(1, 2)).currency == "EUR"


@pytest.mark.parametrize("term_days", [0, -1])
def test_a_term_without_days_cannot_be_prorated(term_days):
    with pytest.raises(ValueError, match="term_days"):
        prorated_total(usd("1.00"), 1, Proration(0, term_days))
