"""Properties of the co-termed price (docs/api.md, Adding seats), over many prices, terms and dates."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from seats.domain.money import MINOR_UNIT_DIGITS, Money
from seats.domain.proration import Proration, prorated_total, proration
from seats.domain.terms import Term, add_months

currencies = st.sampled_from(sorted(MINOR_UNIT_DIGITS))
seat_counts = st.integers(min_value=1, max_value=10_000)


@st.composite
def unit_prices(draw: st.DrawFn, currency: str | None = None) -> Money:
    code = currency or draw(currencies)
    minor_units = draw(st.integers(min_value=0, max_value=10**9))
    return Money.from_minor_units(minor_units, code)


@st.composite
def periods(draw: st.DrawFn) -> Proration:
    """A real term (from its start and the renewal date) and a day inside it (today < renewal)."""
    term = draw(st.sampled_from(list(Term)))
    start = draw(st.dates(min_value=date(2020, 1, 1), max_value=date(2040, 12, 31)))
    renewal = add_months(start, term.months, start.day)
    today = start + timedelta(days=draw(st.integers(min_value=0, max_value=(renewal - start).days - 1)))
    return proration(today, start, renewal)


@given(unit_prices(), seat_counts, periods())
def test_added_seats_never_cost_more_than_a_full_term(price, seats, period):
    assert prorated_total(price, seats, period) <= price.times(seats)


@given(unit_prices(), seat_counts, periods(), st.integers(min_value=1, max_value=400))
def test_fewer_days_left_never_cost_more(price, seats, period, fewer_by):
    earlier = prorated_total(price, seats, period)
    later = Proration(max(period.days_remaining - fewer_by, 0), period.term_days)

    assert prorated_total(price, seats, later) <= earlier


@given(unit_prices(), seat_counts, st.integers(min_value=1, max_value=1100))
def test_a_whole_term_costs_exactly_the_unit_price_times_the_seats(price, seats, term_days):
    assert prorated_total(price, seats, Proration(term_days, term_days)) == price.times(seats)


@given(unit_prices(), seat_counts, periods())
def test_the_total_is_the_exact_amount_rounded_once_half_up(price, seats, period):
    exact = price.amount * seats * period.days_remaining / Decimal(period.term_days)
    total = prorated_total(price, seats, period)

    assert abs(total.amount - exact) <= Decimal(1).scaleb(-MINOR_UNIT_DIGITS[price.currency]) / 2


@given(unit_prices("JPY"), seat_counts, periods())
def test_yen_totals_have_no_decimals(price, seats, period):
    total = prorated_total(price, seats, period)

    assert total.currency == "JPY"
    assert "." not in str(total)
    assert total.amount == total.amount.to_integral_value()


@given(unit_prices(), seat_counts, periods())
def test_the_total_is_in_the_currency_of_the_price_with_its_minor_unit(price, seats, period):
    total = prorated_total(price, seats, period)
    digits = MINOR_UNIT_DIGITS[price.currency]

    assert total.currency == price.currency
    assert len(str(total).partition(".")[2]) == digits
