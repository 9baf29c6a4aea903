"""The contract aggregate and the records around it. Pure data and rules, standard library only."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import ClassVar, Literal

from seats.domain.errors import SubscriptionNotFound
from seats.domain.money import Money
from seats.domain.proration import Proration
from seats.domain.terms import Term

TeamRole = Literal["primary_admin", "secondary_admin", "user"]
ContractStatus = Literal["active", "past_due", "suspended", "expired", "cancelled"]
PurchaseChannel = Literal["online", "reseller"]
PlanType = Literal["subscription", "maintenance"]
OrderType = Literal["add_seats", "renewal"]
OrderStatus = Literal["draft", "payment_pending", "completed", "cancelled"]
OPEN_ORDER: frozenset[OrderStatus] = frozenset({"draft", "payment_pending"})  # not yet completed or cancelled


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


@dataclass(frozen=True)
class User:
    user_id: str
    email: str
    roles: dict[str, TeamRole] = field(default_factory=dict)  # account_id -> team role

    def is_primary_admin_of(self, account_id: str) -> bool:
        return self.roles.get(account_id) == "primary_admin"


@dataclass(frozen=True)
class Account:
    account_id: str
    name: str
    country: str
    currency: str
    provider_customer_id: str | None = None


@dataclass(frozen=True)
class PaymentMethod:
    payment_method_id: str
    account_id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    provider_ref: str  # the provider's own id for the card (sandbox token or Stripe pm_...)
    customer_ref: str | None = None  # the provider's customer the card is attached to (Stripe cus_...)

    def expired_on(self, today: date) -> bool:
        return (self.exp_year, self.exp_month) < (today.year, today.month)


@dataclass(frozen=True)
class CarriedAmount:
    """An amount owed but too small to charge alone: charged with the next renewal."""

    order_id: str
    amount: Money


@dataclass(frozen=True)
class PendingReduction:
    seats: int
    requested_by: str
    requested_at: datetime


@dataclass
class Subscription:
    subscription_id: str
    product: str
    plan_type: PlanType
    seats: int
    assigned_seats: int
    unit_price: Money
    pending_reduction: PendingReduction | None = None
    open_order_id: str | None = None

    @property
    def renewal_seats(self) -> int:
        return self.pending_reduction.seats if self.pending_reduction else self.seats

    @property
    def renewal_price(self) -> Money:
        return self.unit_price.times(self.renewal_seats)


@dataclass
class Contract:
    contract_id: str
    account_id: str
    account_name: str
    country: str
    currency: str
    contract_manager: str
    manager_email: str
    purchase_channel: PurchaseChannel
    auto_renew: bool
    term: Term
    term_start: date
    renewal_date: date
    billing_anchor_day: int
    status: ContractStatus
    payment_method: PaymentMethod | None
    subscriptions: list[Subscription]
    version: int = 0
    failed_renewal_attempts: int = 0  # declined charges of the current unpaid period
    renewal_attempted_on: date | None = None  # as-of date of the last automatic charge of the unpaid period
    renewal_payment_id: str | None = None  # the ledger payment of a renewal charge in progress
    carried_over: list[CarriedAmount] = field(default_factory=list)  # owed, charged with the next renewal
    notices_sent: list[int] = field(default_factory=list)  # leads (days) of this period's renewal notices sent

    def subscription(self, subscription_id: str) -> Subscription:
        for subscription in self.subscriptions:
            if subscription.subscription_id == subscription_id:
                return subscription
        raise SubscriptionNotFound(f"No subscription {subscription_id} in contract {self.contract_id}")

    @property
    def renewal_total(self) -> Money:
        """What the next renewal charges: every subscription's renewal price, and the amounts carried over."""
        total = Money.zero(self.currency)
        for subscription in self.subscriptions:
            total = total + subscription.renewal_price
        for carried in self.carried_over:
            total = total + carried.amount
        return total

    def visible_to(self, user: User) -> bool:
        """docs/api.md, People and roles: the manager, and the primary admins of the contract's team."""
        return user.user_id == self.contract_manager or user.is_primary_admin_of(self.account_id)

    def managed_by(self, user_id: str) -> bool:
        return user_id == self.contract_manager


@dataclass(frozen=True)
class PaymentError:
    code: str
    decline_code: str | None
    message: str


@dataclass(frozen=True)
class PaymentAction:
    """What the client must do for a payment that waits for the cardholder (3-D Secure): hand
    `client_secret` to the provider's SDK, or send the cardholder to `redirect_url`, before `expires_at`."""

    charge_id: str
    client_secret: str | None = field(repr=False)  # the client's to use; never logged
    redirect_url: str | None
    expires_at: datetime
    type: Literal["authenticate"] = "authenticate"


@dataclass(frozen=True)
class OrderLine:
    subscription_id: str
    seats: int
    unit_price: Money
    amount: Money


@dataclass(kw_only=True)
class Order:
    """What both kinds of order have: an add-seats order (SeatOrder) or a renewal (RenewalOrder)."""

    type: ClassVar[OrderType]
    order_id: str
    status: OrderStatus
    contract_id: str
    account_id: str
    currency: str
    total: Money
    created_by: str
    created_at: datetime
    payment_method: PaymentMethod | None = None
    charge_id: str | None = None
    submitted_at: datetime | None = None
    payment_action: PaymentAction | None = None  # payment_pending: the cardholder's authentication awaited
    payment_id: str | None = None  # the ledger payment in progress, then the one that paid
    version: int = 0


@dataclass(kw_only=True)
class SeatOrder(Order):
    """Seats added now to one subscription, priced to the renewal date (a draft until paid)."""

    type = "add_seats"
    subscription_id: str
    product: str
    seats_before: int
    seats_to_add: int
    seats_after: int
    unit_price: Money
    proration: Proration
    quoted_on: date
    quote_expires_at: datetime
    last_payment_error: PaymentError | None = None
    payment_attempt: int = 0  # payments tried and settled without seats (declined, or refunded)
    carried_to_renewal: bool = False  # completed below the provider's minimum: charged with the next renewal
    submitted_with: str | None = None  # digest of the caller and Idempotency-Key that completed it


@dataclass(frozen=True)
class Period:
    term_start: date
    renewal_date: date


@dataclass(kw_only=True)
class RenewalOrder(Order):
    """One renewed period of a contract: its lines are what it charged. Completed, or (paid now by the
    manager, the card asking for the cardholder's authentication) payment_pending until the provider
    answers, then completed or cancelled."""

    type = "renewal"
    lines: list[OrderLine]
    period: Period
    carried_over: list[CarriedAmount] = field(default_factory=list)
    submitted_with: str | None = None  # paid now by the manager: digest of the caller and Idempotency-Key
