"""The ports the services need, as Protocols. The composition root (seats.bootstrap) decides which
adapter serves each: DynamoDB, sandbox or Stripe, SQS, EventBridge in the product; the in-memory
fakes in tests/fakes.py in the unit tests. docs/architecture.md draws them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal, Protocol

from seats.domain.events import DomainEvent
from seats.domain.history import HistoryEvent
from seats.domain.model import Account, Contract, Order, PaymentMethod, User
from seats.domain.money import Money
from seats.services.messages import RenewalMessage


class UnitOfWork(Protocol):
    """Collects writes; `commit()` makes all of them or none. Contracts and orders are written only
    if their stored version is still the one they were read at, else ConcurrentUpdate (nothing
    written). Domain events are committed with the change they describe (the outbox)."""

    def save_contract(self, contract: Contract) -> None: ...

    def save_order(self, order: Order) -> None: ...

    def require_contract_version(self, contract: Contract) -> None: ...

    def cancel_draft(self, order_id: str) -> None: ...

    def add_history(self, event: HistoryEvent) -> None: ...

    def add_event(self, event: DomainEvent) -> None: ...

    def add_payment_method(self, payment_method: PaymentMethod) -> None: ...

    def save_account(self, account: Account) -> None: ...

    def commit(self) -> None: ...


class Repository(Protocol):
    """Every read the services make (none of them a scan), and units of work for the writes."""

    def get_contract(self, contract_id: str) -> Contract | None: ...

    def get_user(self, user_id: str) -> User | None: ...

    def get_order(self, order_id: str) -> Order | None: ...

    def get_account(self, account_id: str) -> Account | None: ...

    def get_payment_method(self, account_id: str, payment_method_id: str) -> PaymentMethod | None: ...

    def get_contract_and_user(self, contract_id: str, user_id: str) -> tuple[Contract | None, User | None]: ...

    def get_order_and_user(self, order_id: str, user_id: str) -> tuple[Order | None, User | None]: ...

    def list_contracts(self, user: User, limit: int, after: str | None) -> tuple[list[Contract], str | None]:
        """A page of the contracts `user` manages or administers, by renewal date then id, after the
        sort key `after` (`<renewal_date>#<contract_id>`); and the last sort key when more follow."""
        ...

    def list_orders(self, contract_id: str) -> list[Order]: ...

    def list_history(self, contract_id: str) -> list[HistoryEvent]: ...

    def list_payment_methods(self, account_id: str) -> list[PaymentMethod]: ...

    def manages_contract_in(self, user_id: str, account_id: str) -> bool: ...

    def due_shards(self) -> list[str]:
        """The partitions of the due index, read in parallel by the scheduler."""
        ...

    def due_contract_ids(self, as_of: date, shard: str) -> Iterator[str]:
        """Ids of the contracts in `shard` that renewal still has work for, renewal date ≤ as_of."""
        ...

    def unit_of_work(self) -> UnitOfWork: ...


@dataclass(frozen=True)
class AttachedCard:
    """A card the provider accepted. `customer_ref` is the provider's customer for the account."""

    customer_ref: str | None
    provider_ref: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int


@dataclass(frozen=True)
class Charge:
    charge_id: str
    amount: Money
    payment_method_ref: str
    idempotency_key: str
    status: Literal["succeeded", "failed"]
    created_at: datetime
    decline_code: str | None = None
    payment_method_id: str | None = None  # ours (pm_...), when the caller named it


class PaymentGateway(Protocol):
    """Raises PaymentDeclined(decline_code=...), InvalidPaymentToken, PaymentMethodExpired or
    PaymentProviderUnavailable from seats.domain.errors. A charge retried with the same
    idempotency key is the same charge."""

    def attach(self, account_id: str, customer_ref: str | None, token: str) -> AttachedCard: ...

    def charge(
        self,
        *,
        customer_ref: str | None,
        payment_method_ref: str,
        amount: Money,
        idempotency_key: str,
        description: str,
        payment_method_id: str | None = None,
    ) -> Charge: ...

    def refund(self, charge_id: str, idempotency_key: str) -> None: ...

    def list_charges(self) -> list[Charge]: ...


class RenewalQueue(Protocol):
    def send(self, messages: list[RenewalMessage]) -> int:
        """Send up to ten messages; returns how many the queue took (the rest: the next run's)."""
        ...


OUTBOX_PREFIX = "OUTBOX#"  # the key prefix of outbox items: the relay's stream filter selects them


@dataclass(frozen=True)
class OutboxEvent:
    """A committed domain event on its way to the bus: `detail` is its JSON, as committed."""

    event_id: str
    detail_type: str
    detail: str
    created_at: datetime


class EventPublisher(Protocol):
    def publish(self, events: list[OutboxEvent]) -> dict[str, str]:
        """Put the events on the bus; returns the ones not put, {event_id: why}."""
        ...
