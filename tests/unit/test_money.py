from __future__ import annotations

from decimal import Decimal

import pytest

from seats.domain.money import InvalidAmount, Money, UnsupportedCurrency

TWO_DECIMAL_CURRENCIES = ["USD", "CAD", "AUD", "EUR", "GBP", "CHF", "SEK", "NOK", "DKK", "PLN", "CZK"]


@pytest.mark.parametrize("currency", TWO_DECIMAL_CURRENCIES)
def test_two_decimal_currencies_always_show_cents(currency):
    assert str(Money.parse("1975", currency)) == "1975.00"
    assert str(Money.parse("1975.5", currency)) == "1975.50"
    assert str(Money.parse("0.07", currency)) == "0.07"


def test_yen_amounts_have_no_decimals():
    amount = Money.parse("250000", "JPY")
    assert str(amount) == "250000"
    assert amount.minor_units == 250000


@pytest.mark.parametrize(("text", "currency"), [
    ("1975.001", "USD"), ("1975.000", "USD"), ("0.005", "EUR"), ("250000.5", "JPY"), ("250000.0", "JPY"),
])
def test_parsing_refuses_more_decimals_than_the_currency_has(text, currency):
    with pytest.raises(InvalidAmount, match="decimals"):
        Money.parse(text, currency)


@pytest.mark.parametrize("text", [
    "", "abc", "-1.00", "-0", "+1.00", "1e3", "1E+3", " 1.00", "1.00 ", "1,000.00", "1.", ".5",
    "NaN", "Infinity", "１２", "1.00\n",
])
def test_parsing_refuses_anything_but_plain_non_negative_digits(text):
    with pytest.raises(InvalidAmount):
        Money.parse(text, "USD")


def test_parsing_refuses_a_value_that_is_not_text():
    with pytest.raises(InvalidAmount):
        Money.parse(12.5, "USD")  # type: ignore[arg-type]


@pytest.mark.parametrize("currency", ["XYZ", "usd", "BTC", ""])
def test_an_unsupported_currency_is_refused(currency):
    with pytest.raises(UnsupportedCurrency):
        Money.parse("1", currency)
    with pytest.raises(UnsupportedCurrency):
        Money.zero(currency)


def test_building_money_with_more_digits_than_the_currency_allows_is_refused():
    with pytest.raises(InvalidAmount):
        Money(Decimal("1.001"), "USD")
    with pytest.raises(InvalidAmount):
        Money(Decimal("1.5"), "JPY")


@pytest.mark.parametrize(("exact", "currency", "rounded"), [
    ("0.125", "USD", "0.13"),      # half-even would give 0.12
    ("0.135", "USD", "0.14"),
    ("0.1249999", "USD", "0.12"),  # rounding twice (0.125, then 0.13) would be wrong
    ("0.004", "USD", "0.00"),
    ("2.5", "JPY", "3"),           # half-even would give 2
    ("62.4999", "JPY", "62"),
    ("19750", "USD", "19750.00"),
])
def test_rounding_is_half_up_to_the_minor_unit_in_one_step(exact, currency, rounded):
    assert str(Money.round(Decimal(exact), currency)) == rounded


def test_amounts_compare_by_value_whatever_their_spelling():
    assert Money.parse("1.5", "USD") == Money.parse("1.50", "USD")
    assert Money.parse("1.50", "USD") != Money.parse("1.50", "CAD")


def test_minor_units_round_trip_per_currency():
    assert Money.parse("19.99", "USD").minor_units == 1999
    assert Money.from_minor_units(1999, "USD") == Money.parse("19.99", "USD")
    assert str(Money.from_minor_units(500, "JPY")) == "500"
    assert str(Money.from_minor_units(7, "EUR")) == "0.07"


def test_arithmetic_keeps_the_currency_exact():
    price = Money.parse("1975.00", "USD")
    assert str(price.times(10)) == "19750.00"
    assert str(price + Money.parse("0.10", "USD")) == "1975.10"
    assert str(price - Money.parse("975.01", "USD")) == "999.99"
    assert str(Money.parse("0.10", "USD").times(3)) == "0.30"  # 0.1 * 3 is not 0.30000000000000004


def test_currencies_cannot_be_mixed():
    with pytest.raises(ValueError, match="cannot mix"):
        Money.parse("1.00", "USD") + Money.parse("1.00", "EUR")
    with pytest.raises(ValueError, match="cannot mix"):
        Money.parse("1.00", "USD") - Money.parse("1", "JPY")
