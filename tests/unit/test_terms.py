from __future__ import annotations

from datetime import date

import pytest

from seats.domain.terms import Term, add_months, next_renewal_date


def renewals(start: date, term: Term, anchor_day: int, count: int) -> list[date]:
    dates = [start]
    for _ in range(count):
        dates.append(next_renewal_date(dates[-1], term, anchor_day))
    return dates


@pytest.mark.parametrize(("term", "months"), [(Term.MONTHLY, 1), (Term.ANNUAL, 12), (Term.THREE_YEAR, 36)])
def test_each_term_adds_its_months(term, months):
    assert term.months == months
    assert Term(term.value) is term


def test_a_monthly_contract_anchored_on_the_31st_comes_back_to_the_31st():
    assert renewals(date(2027, 1, 31), Term.MONTHLY, 31, 4) == [
        date(2027, 1, 31), date(2027, 2, 28), date(2027, 3, 31), date(2027, 4, 30), date(2027, 5, 31),
    ]


def test_a_monthly_contract_anchored_on_the_30th_is_clamped_only_in_february():
    assert renewals(date(2027, 1, 30), Term.MONTHLY, 30, 2) == [
        date(2027, 1, 30), date(2027, 2, 28), date(2027, 3, 30),
    ]


def test_a_monthly_contract_reaches_february_29th_in_a_leap_year():
    assert renewals(date(2028, 1, 31), Term.MONTHLY, 31, 2) == [
        date(2028, 1, 31), date(2028, 2, 29), date(2028, 3, 31),
    ]


def test_monthly_renewals_cross_the_year_end():
    assert next_renewal_date(date(2026, 12, 15), Term.MONTHLY, 15) == date(2027, 1, 15)


def test_an_annual_contract_anchored_on_february_29th_returns_to_it_in_the_next_leap_year():
    assert renewals(date(2028, 2, 29), Term.ANNUAL, 29, 4) == [
        date(2028, 2, 29), date(2029, 2, 28), date(2030, 2, 28), date(2031, 2, 28), date(2032, 2, 29),
    ]


def test_the_year_2100_is_not_a_leap_year():
    assert next_renewal_date(date(2099, 2, 28), Term.ANNUAL, 29) == date(2100, 2, 28)
    assert next_renewal_date(date(2399, 2, 28), Term.ANNUAL, 29) == date(2400, 2, 29)


def test_an_annual_term_keeps_the_day():
    assert next_renewal_date(date(2026, 3, 1), Term.ANNUAL, 1) == date(2027, 3, 1)


def test_a_three_year_term_adds_36_months():
    assert next_renewal_date(date(2026, 3, 1), Term.THREE_YEAR, 1) == date(2029, 3, 1)
    assert next_renewal_date(date(2026, 11, 30), Term.THREE_YEAR, 30) == date(2029, 11, 30)


def test_a_three_year_term_anchored_on_february_29th_comes_back_on_a_leap_year():
    assert renewals(date(2028, 2, 29), Term.THREE_YEAR, 29, 4) == [
        date(2028, 2, 29), date(2031, 2, 28), date(2034, 2, 28), date(2037, 2, 28), date(2040, 2, 29),
    ]


@pytest.mark.parametrize(("start", "months", "anchor", "expected"), [
    (date(2027, 1, 31), 1, 31, date(2027, 2, 28)),
    (date(2027, 2, 28), 1, 31, date(2027, 3, 31)),
    (date(2027, 11, 30), 2, 31, date(2028, 1, 31)),
    (date(2027, 12, 1), 0, 1, date(2027, 12, 1)),
    (date(2027, 3, 31), 12, 31, date(2028, 3, 31)),
])
def test_adding_months_lands_on_the_anchor_day_clamped_to_the_month(start, months, anchor, expected):
    assert add_months(start, months, anchor) == expected
