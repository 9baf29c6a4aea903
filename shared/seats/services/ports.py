"""The ports the services need, as Protocols. The composition root (seats.bootstrap) decides which
adapter serves each: DynamoDB, sandbox or Stripe, SQS, EventBridge in the product; the in-memory
fakes in tests/fakes.py in the unit tests. docs/architecture.md draws them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal, Protocol

from seats.domain.events import DomainEvent
from seats.domain.history import HistoryEvent
from seats.domain.model import Account, Contract, Order, PaymentMethod, User
from seats.domain.money import Money
from seats.domain.payments import Payment
from seats.services.messages import RenewalMessage


class UnitOfWork(Protocol):
    """Collects writes; `commit()` makes all of them or none. Contracts and orders are written only
    if their stored version is still the one they were read at, else ConcurrentUpdate (nothing
    written). Domain events are committed with the change they describe (the outbox)."""

    def save_contract(self, contract: Contract) -> None: ...

    def save_order(self, order: Order) -> None: ...

    def save_payment(self, payment: Payment) -> None: ...

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

    def get_payment(self, payment_id: str) -> Payment | None: ...

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

    def notice_shards(self) -> list[str]:
        """The partitions of the notice index, read in parallel by the scheduler."""
        ...

    def notice_contract_ids(self, as_of: date, shard: str) -> Iterator[str]:
        """Ids of the contracts in `shard` with a renewal notice due on `as_of` (seats.domain.notices): online,
        auto-renewing, active, a notice of the current period unsent, renewal_date − as_of ≤ its lead and
        the renewal date still ahead. Each such contract once; no other."""
        ...

    def unsettled_payment_ids(self, started_before: datetime) -> Iterator[str]:
        """Ids of the payments not yet settled that started before `started_before` (a sparse index)."""
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


ChargeStatus = Literal["succeeded", "failed", "requires_action", "canceled", "refunded"]


@dataclass(frozen=True)
class Charge:
    """A payment as the provider lists it (the local runtime's /_local/charges)."""

    charge_id: str
    amount: Money
    payment_method_ref: str
    idempotency_key: str
    status: ChargeStatus
    created_at: datetime
    decline_code: str | None = None
    payment_method_id: str | None = None  # ours (pm_...), when the caller named it
    refunded_at: datetime | None = None


ProviderStatus = Literal["requires_confirmation", "requires_action", "processing", "succeeded", "failed", "canceled"]


@dataclass(frozen=True)
class PaymentRequest:
    """What to take, from which card, under which idempotency key (one key per ledger payment)."""

    key: str
    amount: Money
    customer_ref: str | None
    payment_method_ref: str
    payment_method_id: str  # ours (pm_...), kept by the provider as metadata
    description: str
    off_session: bool  # charged without the customer (a renewal run)


@dataclass(frozen=True)
class ProviderPayment:
    """The provider's view of one payment."""

    provider_ref: str
    status: ProviderStatus
    amount: Money
    payment_method_ref: str
    decline_code: str | None = None  # when failed (`authentication_failed`: the cardholder failed the challenge)
    refunded: bool = False  # succeeded, then refunded in full
    client_secret: str | None = field(default=None, repr=False)  # requires_action: for the provider's SDK; never logged
    redirect_url: str | None = None  # requires_action: the bank's challenge page, when the provider gives one

    @property
    def captured(self) -> bool:
        return self.status == "succeeded"


@dataclass(frozen=True)
class PaymentEvent:
    """What the provider's (verified) webhook event says: its id and type, and the payment it is about
    (the provider's id, and ours from the idempotency key the payment was created with; None if not ours)."""

    event_id: str
    type: str
    provider_ref: str | None
    payment_id: str | None


class PaymentGateway(Protocol):
    """Payments in two steps, so that the ledger knows the provider's id before any money moves:
    `create_payment` (nothing taken), then `confirm_payment` (the money). Raises InvalidPaymentToken,
    PaymentDeclined (attach only) or PaymentProviderUnavailable from seats.domain.errors; a call that
    raises PaymentProviderUnavailable may or may not have happened: `get_payment` tells."""

    def attach(self, account_id: str, customer_ref: str | None, token: str) -> AttachedCard: ...

    def create_payment(self, request: PaymentRequest) -> str:
        """The provider's id of a new, unconfirmed payment. The same key gives the same payment."""
        ...

    def confirm_payment(self, provider_ref: str, request: PaymentRequest) -> ProviderPayment:
        """Take the money: `succeeded`, or `failed` with a decline code, or `requires_action` when the card
        needs the cardholder's authentication (3-D Secure) and the customer is present (`off_session`
        False; off session such a card is `failed` with `authentication_required`). On-session payments
        ask the provider to keep the card usable off session. Confirming a payment that already
        succeeded answers it, and takes nothing more."""
        ...

    def get_payment(self, provider_ref: str) -> ProviderPayment | None:
        """The payment as the provider has it; None when the provider knows no such payment."""
        ...

    def cancel_payment(self, provider_ref: str) -> ProviderPayment:
        """Cancel a payment that took no money; one that did is answered as it is (refund it)."""
        ...

    def refund(self, provider_ref: str, idempotency_key: str) -> None:
        """Give a captured payment back in full; refunding it again changes nothing."""
        ...

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
