"""The payment ledger (docs/payments.md): every attempt to take money, recorded before the provider is
called and settled after. A captured charge ends as the charge of exactly one completed order or
renewed period (`succeeded`), or refunded; nothing else keeps money.

    pending ──captured, and the change written with it──▶ succeeded
       ├──captured, but the change cannot be made──▶ refunding ──▶ refunded
       ├──declined, or never captured──▶ failed
       └──the card asks for the cardholder (3-D Secure)──▶ requires_action ──▶ succeeded | failed | refunding

`pending`, `requires_action` and `refunding` are unsettled: whatever ends or changes the order first settles them with
the provider, and the reconciler settles those left behind.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Literal

from seats.domain.model import Contract, PaymentMethod, new_id
from seats.domain.money import Money

PaymentStatus = Literal["pending", "requires_action", "succeeded", "failed", "refunding", "refunded"]
PaymentPurpose = Literal["add_seats", "renewal"]
UNSETTLED: frozenset[PaymentStatus] = frozenset({"pending", "requires_action", "refunding"})
USABLE: frozenset[PaymentStatus] = frozenset({"pending", "requires_action"})  # may still pay for its change
AUTHENTICATION_WINDOW = timedelta(hours=23)  # then the reconciler cancels an authentication not completed
KEY_PREFIX = "seats:payment:"
_PAYMENT_ID = re.compile(r"pay_[A-Za-z0-9]{1,64}")  # new_id("pay"): pay_ and 20 hex digits

# The provider's smallest charge per currency (Stripe's minimums); both gateways apply them.
MINIMUM_CHARGE: dict[str, Decimal] = {
    **{code: Decimal("0.50") for code in ("USD", "CAD", "AUD", "EUR", "CHF")},
    "GBP": Decimal("0.30"), "DKK": Decimal("2.50"), "SEK": Decimal("3.00"), "NOK": Decimal("3.00"),
    "PLN": Decimal("2.00"), "CZK": Decimal("15.00"), "JPY": Decimal("50"),
}


def minimum_charge(currency: str) -> Money:
    return Money(MINIMUM_CHARGE[currency], currency)


def below_minimum(amount: Money) -> bool:
    """Above zero but too small for the provider to charge: carried to the next renewal instead."""
    return 0 < amount.amount < MINIMUM_CHARGE[amount.currency]


@dataclass(kw_only=True)
class Payment:
    payment_id: str
    purpose: PaymentPurpose
    order_id: str  # the add-seats order, or the renewal order of the period it pays
    contract_id: str
    account_id: str
    amount: Money
    payment_method: PaymentMethod
    off_session: bool  # a renewal run: the customer is not there to authenticate (PAY NOW: False)
    created_at: datetime
    status: PaymentStatus = "pending"
    provider_ref: str | None = None  # the provider's id (a Stripe PaymentIntent), recorded before it is confirmed
    period: date | None = None  # renewal: the renewal date of the period it pays
    decline_code: str | None = None
    settled_at: datetime | None = None
    expires_at: datetime | None = None  # requires_action: when an authentication not completed is canceled
    version: int = 0

    @property
    def key(self) -> str:
        """The provider's idempotency key: one per payment, so a retried call is the same payment."""
        return f"{KEY_PREFIX}{self.payment_id}"

    @property
    def description(self) -> str:
        if self.purpose == "renewal" and self.period is not None:
            return f"Renewal of contract {self.contract_id} from {self.period.isoformat()}"
        return f"Seats added by order {self.order_id}, contract {self.contract_id}"

    @property
    def refund_key(self) -> str:
        return f"seats:refund:{self.payment_id}"

    @property
    def unsettled(self) -> bool:
        return self.status in UNSETTLED

    @property
    def usable(self) -> bool:
        """Not settled, and not being refunded: it may still pay for what it was taken for."""
        return self.status in USABLE

    def settle(self, status: PaymentStatus, at: datetime) -> None:
        self.status = status
        self.settled_at = at if status not in UNSETTLED else None


def new_payment(purpose: PaymentPurpose, *, order_id: str, contract: Contract, amount: Money,
                payment_method: PaymentMethod, at: datetime, period: date | None = None,
                off_session: bool | None = None) -> Payment:
    """`off_session`: the customer is not there to authenticate; by default a renewal is (the nightly run),
    anything else is not. A renewal the manager pays now (PAY NOW) is on-session."""
    return Payment(
        payment_id=new_id("pay"), purpose=purpose, order_id=order_id, contract_id=contract.contract_id,
        account_id=contract.account_id, amount=amount, payment_method=payment_method,
        off_session=purpose == "renewal" if off_session is None else off_session, created_at=at, period=period,
    )


def payment_id_of_key(key: str | None) -> str | None:
    """The ledger payment an idempotency key was made for (as the provider echoes it back), if it is one of
    ours: `seats:payment:pay_<letters and digits>` (anything else names no payment)."""
    if not key or not key.startswith(KEY_PREFIX):
        return None
    payment_id = key[len(KEY_PREFIX):]
    return payment_id if _PAYMENT_ID.fullmatch(payment_id) else None
