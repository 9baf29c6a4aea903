"""History: who did what to a contract, and when. Each kind of entry is a dataclass whose fields are
the entry's `details`; `HistoryEvent.of` stamps one with its contract, instant and actor."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar

from seats.domain.events import detail
from seats.domain.model import new_id
from seats.domain.money import Money

SYSTEM = "system"  # the actor of what the renewal function does


@dataclass(frozen=True, kw_only=True)
class Entry:
    type: ClassVar[str]


@dataclass(frozen=True)
class HistoryEvent:
    event_id: str
    contract_id: str
    type: str
    at: datetime
    actor: str
    subscription_id: str | None
    details: dict[str, Any]

    @classmethod
    def of(cls, entry: Entry, *, contract_id: str, at: datetime, actor: str,
           subscription_id: str | None = None) -> HistoryEvent:
        return cls(new_id("evt"), contract_id, entry.type, at, actor, subscription_id, detail(entry))


@dataclass(frozen=True, kw_only=True)
class SeatsAdded(Entry):
    type = "seats_added"
    order_id: str
    seats_before: int
    seats_after: int
    seats_added: int
    total: Money
    currency: str
    charge_id: str | None


@dataclass(frozen=True, kw_only=True)
class OrderCancelled(Entry):
    type = "order_cancelled"
    order_id: str
    seats_to_add: int
    total: Money
    currency: str


@dataclass(frozen=True, kw_only=True)
class OrderCancelledByRenewal(Entry):
    type = "order_cancelled"
    order_id: str
    reason: str = "renewal"


@dataclass(frozen=True, kw_only=True)
class ReductionScheduled(Entry):
    type = "reduction_scheduled"
    seats_before: int
    seats_after: int
    renewal_date: date


@dataclass(frozen=True, kw_only=True)
class ReductionChanged(ReductionScheduled):
    type = "reduction_changed"
    previous_seats_after: int


@dataclass(frozen=True, kw_only=True)
class ReductionCancelled(Entry):
    type = "reduction_cancelled"
    seats_before: int
    cancelled_seats_after: int
    renewal_date: date


@dataclass(frozen=True, kw_only=True)
class SeatsReduced(Entry):
    type = "seats_reduced"
    seats_before: int
    seats_after: int
    order_id: str


@dataclass(frozen=True, kw_only=True)
class Renewed(Entry):
    type = "renewed"
    order_id: str
    charge_id: str | None
    amount: Money
    currency: str
    term_start: date
    renewal_date: date


@dataclass(frozen=True, kw_only=True)
class RenewalPaymentFailed(Entry):
    type = "renewal_payment_failed"
    renewal_date: date
    amount: Money
    currency: str
    decline_code: str
    attempt: int


@dataclass(frozen=True, kw_only=True)
class StatusChanged(Entry):
    type = "status_changed"
    from_: str
    to: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class RenewalNoticeSent(Entry):
    type = "renewal_notice_sent"
    days_before: int
    renewal_date: date
    total: Money
    currency: str
    warnings: list[str]


@dataclass(frozen=True, kw_only=True)
class PaymentMethodChanged(Entry):
    type = "payment_method_changed"
    payment_method_id: str
    previous_payment_method_id: str | None


@dataclass(frozen=True, kw_only=True)
class OrderPaymentMethodChanged(Entry):
    type = "payment_method_changed"
    order_id: str
    payment_method_id: str
    previous_payment_method_id: str | None


@dataclass(frozen=True, kw_only=True)
class PaymentRefunded(Entry):
    type = "payment_refunded"
    charge_id: str | None
    amount: Money
    order_id: str | None
    reason: str
