"""Money per currency: exact decimals, the currency's minor unit, rounded half-up once."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

MINOR_UNIT_DIGITS: dict[str, int] = {
    **{code: 2 for code in ("USD", "CAD", "AUD", "EUR", "GBP", "CHF", "SEK", "NOK", "DKK", "PLN", "CZK")},
    "JPY": 0,
}


# Plain digits only: no sign, exponent, whitespace or separators ("1e3" and "-0" are not amounts).
_AMOUNT = re.compile(r"[0-9]+(?:\.(?P<fraction>[0-9]+))?")


class UnsupportedCurrency(ValueError):
    pass


class InvalidAmount(ValueError):
    pass


def minor_digits(currency: str) -> int:
    try:
        return MINOR_UNIT_DIGITS[currency]
    except KeyError:
        raise UnsupportedCurrency(currency) from None


@dataclass(frozen=True, order=True)
class Money:
    """An exact amount in one currency, always held at the currency's minor unit."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        exponent = Decimal(1).scaleb(-minor_digits(self.currency))
        if self.amount != self.amount.quantize(exponent):
            raise InvalidAmount(f"{self.amount} has more digits than {self.currency} allows")
        object.__setattr__(self, "amount", self.amount.quantize(exponent))

    @classmethod
    def round(cls, exact: Decimal, currency: str) -> Money:
        """Round an exact decimal half-up to the currency's minor unit: the one rounding step."""
        exponent = Decimal(1).scaleb(-minor_digits(currency))
        return cls(exact.quantize(exponent, rounding=ROUND_HALF_UP), currency)

    @classmethod
    def parse(cls, text: str, currency: str) -> Money:
        """Parse a money string such as "1975.00" (USD) or "250000" (JPY); exact digits required."""
        digits = minor_digits(currency)
        match = _AMOUNT.fullmatch(text) if isinstance(text, str) else None
        if match is None:
            raise InvalidAmount(f"{text!r} is not a non-negative decimal amount")
        if len(match["fraction"] or "") > digits:
            raise InvalidAmount(f"{text!r} has more than {digits} decimals for {currency}")
        return cls(Decimal(text), currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(Decimal(0), currency)

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount - other.amount, self.currency)

    def times(self, quantity: int) -> Money:
        return Money(self.amount * quantity, self.currency)

    @property
    def minor_units(self) -> int:
        """The amount in the currency's smallest unit (cents), as payment providers want it."""
        return int(self.amount.scaleb(minor_digits(self.currency)))

    @classmethod
    def from_minor_units(cls, units: int, currency: str) -> Money:
        return cls(Decimal(units).scaleb(-minor_digits(currency)), currency)

    def __str__(self) -> str:
        return f"{self.amount:f}"

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"cannot mix {self.currency} and {other.currency}")
