"""Domain events (docs/events.md): what other systems may learn of a change, committed with it.

Each is a frozen dataclass; `detail(event)` is the one serialisation of events and history entries:
money as its decimal string, dates as YYYY-MM-DD, nested records as objects. Never card data.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass
from datetime import date
from enum import Enum
from typing import Any, ClassVar

from seats.domain.money import Money


def detail(record: Any) -> dict[str, Any]:
    """A record's fields as plain JSON values; a trailing underscore is dropped (`from_` → `from`)."""
    return {field.name.rstrip("_"): _plain(getattr(record, field.name)) for field in fields(record)}


def _plain(value: Any) -> Any:
    if isinstance(value, Money):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, date):
        return value.isoformat()
    if is_dataclass(value) and not isinstance(value, type):
        return detail(value)
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


@dataclass(frozen=True, kw_only=True)
class DomainEvent:
    detail_type: ClassVar[str]
    contract_id: str
    account_id: str


@dataclass(frozen=True, kw_only=True)
class SeatsAdded(DomainEvent):
    detail_type = "SeatsAdded"
    subscription_id: str
    product: str
    order_id: str
    seats_before: int
    seats_after: int
    seats_added: int
    total: Money
    currency: str
    charge_id: str | None


@dataclass(frozen=True, kw_only=True)
class _ReductionEvent(DomainEvent):
    subscription_id: str
    seats_before: int
    seats_after: int
    renewal_date: date
    renewal_price: Money
    currency: str
    requested_by: str


@dataclass(frozen=True, kw_only=True)
class SeatReductionScheduled(_ReductionEvent):
    detail_type = "SeatReductionScheduled"
    previous_seats_after: int | None


@dataclass(frozen=True, kw_only=True)
class SeatReductionCancelled(_ReductionEvent):
    detail_type = "SeatReductionCancelled"
    cancelled_seats_after: int


@dataclass(frozen=True)
class SubscriptionSeats:
    subscription_id: str
    seats_before: int
    seats_after: int


@dataclass(frozen=True, kw_only=True)
class SubscriptionRenewed(DomainEvent):
    detail_type = "SubscriptionRenewed"
    order_id: str
    charge_id: str | None
    amount: Money
    currency: str
    term_start: date
    renewal_date: date
    subscriptions: list[SubscriptionSeats]


@dataclass(frozen=True, kw_only=True)
class RenewalPaymentFailed(DomainEvent):
    detail_type = "RenewalPaymentFailed"
    renewal_date: date
    amount: Money
    currency: str
    decline_code: str
    attempt: int
    status: str


@dataclass(frozen=True, kw_only=True)
class ContractStatusChanged(DomainEvent):
    detail_type = "ContractStatusChanged"
    status_before: str
    status_after: str
    reason: str
    renewal_date: date


@dataclass(frozen=True, kw_only=True)
class RenewalUpcoming(DomainEvent):
    """A renewal notice: `days_before` is the notice's lead time (30 or 7), even when it is sent late."""

    detail_type = "RenewalUpcoming"
    renewal_date: date
    days_before: int
    total: Money
    currency: str
    warnings: list[str]


ALL: tuple[type[DomainEvent], ...] = (
    SeatsAdded, SeatReductionScheduled, SeatReductionCancelled, SubscriptionRenewed, RenewalPaymentFailed,
    ContractStatusChanged, RenewalUpcoming,
)
