"""In-memory implementations of the ports (seats.services.ports), for the unit tests of the services.

- `MemoryRepository`: the Repository and its units of work over dictionaries, with the DynamoDB
  adapter's semantics: what a service reads or saves is a copy (never the stored record); contracts
  orders and ledger payments are written only at the version they were read at (a new one only if none exists), and
  a unit that fails a condition writes nothing and raises ConcurrentUpdate; instants are kept to the
  millisecond, in UTC, as the table keeps them; lists come in the order of the table's sort keys.
  Domain events are kept as an outbox, committed with their unit. tests/contract runs the same
  tests against it and the DynamoDB adapter, so that the two cannot drift apart.
- `CompetingWrites`: wraps a repository so that another writer's change lands between a service's
  read and its commit (a lost race, on demand).
- `MemoryQueue` (RenewalQueue), `MemoryPublisher` (EventPublisher).
- `MemoryStore`: the sandbox provider's ChargeStore in memory; `memory_gateway()` is the sandbox provider
  (its own logic, seats.adapters.payments.sandbox) over it, on the services' clock. `Meanwhile` wraps a
  gateway so that another request lands between the capture of a payment and its answer, or a Lambda
  dies before a confirmation or a refund.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, fields, is_dataclass
from datetime import UTC, date, datetime
from typing import Any, NamedTuple, TypeVar

from infra import seed as seed_loader
from seats.adapters.dynamodb import keys
from seats.adapters.payments.sandbox import Sandbox, SandboxPayment
from seats.clock import iso, utc_now
from seats.domain import events, notices
from seats.domain.errors import ConcurrentUpdate
from seats.domain.history import HistoryEvent
from seats.domain.model import OPEN_ORDER, Account, Contract, Order, PaymentMethod, User, new_id
from seats.domain.payments import Payment
from seats.services.messages import RenewalMessage
from seats.services.ports import (
    Charge,
    OutboxEvent,
    PaymentGateway,
    PaymentRequest,
    ProviderPayment,
    Repository,
    UnitOfWork,
)

T = TypeVar("T")
MAX_KEY_BYTES = 1024  # DynamoDB's limit for a sort key: a longer id cannot name a stored item
SEND_BATCH_MAX = 10  # SendMessageBatch's limit


# -- records as the table keeps them -------------------------------------------------------------------

def _millis(instant: datetime) -> datetime:
    instant = instant.astimezone(UTC)
    return instant.replace(microsecond=instant.microsecond // 1000 * 1000)


def _truncate_instants(value: Any) -> None:
    if is_dataclass(value) and not isinstance(value, type):
        for field in fields(value):
            current = getattr(value, field.name)
            if isinstance(current, datetime):
                object.__setattr__(value, field.name, _millis(current))  # frozen records too: our own copy
            else:
                _truncate_instants(current)
    elif isinstance(value, list):
        for item in value:
            _truncate_instants(item)


def stored(record: T) -> T:
    """A private copy of `record` as the table gives it back: instants in UTC, to the millisecond."""
    copied = copy.deepcopy(record)
    _truncate_instants(copied)
    return copied


def _storable(key: dict[str, str]) -> bool:
    return all(len(value.encode()) <= MAX_KEY_BYTES for value in key.values())


def _renewal_sort_key(contract: Contract) -> str:
    return keys.renewal_sort_key(contract.renewal_date.isoformat(), contract.contract_id)


class OutboxItem(NamedTuple):
    """A committed domain event: its id, detail type and detail (the JSON object, `event_id` included)."""

    event_id: str
    detail_type: str
    detail: dict[str, Any]


# -- the repository -----------------------------------------------------------------------------------

class MemoryRepository:
    """The Repository port over dictionaries. Public attributes are the stored state (for assertions:
    change them through units of work or `put_records`, as the services would)."""

    def __init__(self, clock: Callable[[], datetime] = utc_now) -> None:
        self.clock = clock  # stamps the outbox items, as the adapter's clock does
        self.contracts: dict[str, Contract] = {}
        self.orders: dict[str, Order] = {}
        self.users: dict[str, User] = {}
        self.accounts: dict[str, Account] = {}
        self.payment_methods: dict[tuple[str, str], PaymentMethod] = {}
        self.payments: dict[str, Payment] = {}
        self.history: dict[str, dict[str, HistoryEvent]] = {}  # contract id -> {sort key: entry}
        self.outbox: list[OutboxItem] = []
        self.outbox_created: dict[str, datetime] = {}  # event id -> its commit's instant
        self.lock = threading.RLock()

    # -- single records ------------------------------------------------------------------------------
    def _read(self, records: dict[Any, T], key: Any, item_key: dict[str, str]) -> T | None:
        with self.lock:
            return copy.deepcopy(records.get(key)) if _storable(item_key) else None

    def get_contract(self, contract_id: str) -> Contract | None:
        return self._read(self.contracts, contract_id, keys.contract_key(contract_id))

    def get_user(self, user_id: str) -> User | None:
        return self._read(self.users, user_id, keys.user_key(user_id))

    def get_order(self, order_id: str) -> Order | None:
        return self._read(self.orders, order_id, keys.order_key(order_id))

    def get_account(self, account_id: str) -> Account | None:
        return self._read(self.accounts, account_id, keys.account_key(account_id))

    def get_payment_method(self, account_id: str, payment_method_id: str) -> PaymentMethod | None:
        return self._read(self.payment_methods, (account_id, payment_method_id),
                          keys.payment_method_key(account_id, payment_method_id))

    def get_payment(self, payment_id: str) -> Payment | None:
        return self._read(self.payments, payment_id, keys.payment_key(payment_id))

    def get_contract_and_user(self, contract_id: str, user_id: str) -> tuple[Contract | None, User | None]:
        with self.lock:
            return self.get_contract(contract_id), self.get_user(user_id)

    def get_order_and_user(self, order_id: str, user_id: str) -> tuple[Order | None, User | None]:
        with self.lock:
            return self.get_order(order_id), self.get_user(user_id)

    # -- collections ---------------------------------------------------------------------------------
    def list_contracts(self, user: User, limit: int, after: str | None) -> tuple[list[Contract], str | None]:
        """Managed by `user`, or of a team `user` is primary admin of; by `<renewal_date>#<id>`, after `after`."""
        teams = {account_id for account_id, role in user.roles.items() if role == "primary_admin"}
        with self.lock:
            visible = [c for c in self.contracts.values()
                       if c.contract_manager == user.user_id or c.account_id in teams]
            following = sorted((c for c in visible if not after or _renewal_sort_key(c) > after),
                               key=_renewal_sort_key)
            page = [copy.deepcopy(c) for c in following[:limit]]
        return page, _renewal_sort_key(page[-1]) if len(following) > limit else None

    def list_orders(self, contract_id: str) -> list[Order]:
        """Newest first: by `<created_at>#<order_id>`, descending."""
        with self.lock:
            mine = [o for o in self.orders.values() if o.contract_id == contract_id]
            return [copy.deepcopy(o) for o in
                    sorted(mine, key=lambda o: f"{iso(o.created_at)}#{o.order_id}", reverse=True)]

    def list_history(self, contract_id: str) -> list[HistoryEvent]:
        """Newest first: by `EVENT#<at>#<n>#<event_id>`, descending."""
        with self.lock:
            entries = self.history.get(contract_id, {})
            return [copy.deepcopy(entries[sort_key]) for sort_key in sorted(entries, reverse=True)]

    def list_payment_methods(self, account_id: str) -> list[PaymentMethod]:
        with self.lock:
            return [copy.deepcopy(pm) for (account, _), pm in sorted(self.payment_methods.items())
                    if account == account_id]

    def manages_contract_in(self, user_id: str, account_id: str) -> bool:
        with self.lock:
            return any(c.contract_manager == user_id and c.account_id == account_id
                       for c in self.contracts.values())

    def due_shards(self) -> list[str]:
        return keys.all_due_shards()

    def due_contract_ids(self, as_of: date, shard: str) -> Iterator[str]:
        """The sparse due index: online contracts not cancelled, in `shard`, renewal date ≤ as_of."""
        before = f"{as_of.isoformat()}#\uffff"
        with self.lock:
            due = sorted(_renewal_sort_key(c) for c in self.contracts.values()
                         if c.purchase_channel == "online" and c.status != "cancelled"
                         and keys.due_shard(c.contract_id) == shard and _renewal_sort_key(c) < before)
        for sort_key in due:
            yield sort_key.split("#", 1)[1]

    def notice_shards(self) -> list[str]:
        return keys.all_notice_shards()

    def notice_contract_ids(self, as_of: date, shard: str) -> Iterator[str]:
        """The sparse notice index: contracts with a notice of the period still to send, keyed
        `<lead>#<next notice date>#<id>` in `shard`; one range per lead (keys.notice_range), in key order."""
        with self.lock:
            entries = sorted(keys.notice_sort_key(*upcoming, c.contract_id) for c in self.contracts.values()
                             if keys.notice_shard(c.contract_id) == shard
                             and (upcoming := notices.next_notice(c)) is not None)
        for lead in notices.ALL_LEADS:
            first, last = keys.notice_range(as_of, lead)
            for sort_key in entries:
                if first <= sort_key <= last:
                    yield sort_key.rsplit("#", 1)[1]

    def unsettled_payment_ids(self, started_before: datetime) -> Iterator[str]:
        """The sparse unsettled index: payments pending or refunding, shard by shard, each shard by
        `<created_at>#<payment_id>` strictly before `started_before` (to the millisecond, as text)."""
        before = iso(started_before)
        with self.lock:
            unsettled = [(keys.unsettled_shard(p.payment_id), f"{iso(p.created_at)}#{p.payment_id}", p.payment_id)
                         for p in self.payments.values() if p.unsettled]
        for shard in keys.all_unsettled_shards():
            for _, _, payment_id in sorted(u for u in unsettled if u[0] == shard and u[1] < before):
                yield payment_id

    # -- writes --------------------------------------------------------------------------------------
    def unit_of_work(self) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self)

    def put_records(self, records: Iterable[Account | PaymentMethod | Contract | User]) -> None:
        """Bulk load (seeds), unconditional, as `put_items` is for the table."""
        with self.lock:
            for record in records:
                kept = stored(record)
                if isinstance(kept, Contract):
                    self.contracts[kept.contract_id] = kept
                elif isinstance(kept, Account):
                    self.accounts[kept.account_id] = kept
                elif isinstance(kept, PaymentMethod):
                    self.payment_methods[(kept.account_id, kept.payment_method_id)] = kept
                else:
                    self.users[kept.user_id] = kept

    # -- for assertions ------------------------------------------------------------------------------
    def events(self) -> list[tuple[str, dict[str, Any]]]:
        """The committed domain events, oldest first, as (detail type, detail)."""
        return [(item.detail_type, item.detail) for item in self.outbox]

    def outbox_events(self) -> list[OutboxEvent]:
        """The committed domain events as the table's stream hands them to the relay."""
        return [OutboxEvent(item.event_id, item.detail_type, json.dumps(item.detail),
                            self.outbox_created[item.event_id]) for item in self.outbox]


@dataclass
class _Write:
    key: tuple[str, ...]
    allowed: Callable[[], bool]  # the write's condition, on the stored state
    apply: Callable[[], object]


class MemoryUnitOfWork:
    """Writes collected, then committed all or none, under the repository's lock. Like a
    TransactWriteItems: one item at most once per unit, conditions checked on what is stored."""

    def __init__(self, repo: MemoryRepository) -> None:
        self.repo = repo
        self._writes: list[_Write] = []
        self._bumped: list[Contract | Order | Payment] = []
        self._history_added = 0

    def _versioned(self, key: tuple[str, ...], table: dict[str, Any], record_id: str,
                   record: Contract | Order | Payment) -> None:
        """Put `record` at its version + 1 if the stored one is still at its version (version 0: new)."""
        kept = stored(record)
        kept.version = record.version + 1
        read_at = record.version

        def allowed() -> bool:
            current = table.get(record_id)
            return current is None if read_at == 0 else current is not None and current.version == read_at

        self._writes.append(_Write(key, allowed, lambda: table.__setitem__(record_id, copy.deepcopy(kept))))
        self._bumped.append(record)

    def save_contract(self, contract: Contract) -> None:
        self._versioned(("contract", contract.contract_id), self.repo.contracts, contract.contract_id, contract)

    def save_order(self, order: Order) -> None:
        self._versioned(("order", order.order_id), self.repo.orders, order.order_id, order)

    def save_payment(self, payment: Payment) -> None:
        self._versioned(("payment", payment.payment_id), self.repo.payments, payment.payment_id, payment)

    def require_contract_version(self, contract: Contract) -> None:
        contracts, contract_id, read_at = self.repo.contracts, contract.contract_id, contract.version

        def allowed() -> bool:
            current = contracts.get(contract_id)
            return current is not None and current.version == read_at

        self._writes.append(_Write(("contract", contract_id), allowed, lambda: None))

    def cancel_draft(self, order_id: str) -> None:
        """Cancel an order by id, without reading it, only while it is open (a draft, or waiting for the
        cardholder's authentication); its version bumped and its payment action dropped."""
        orders = self.repo.orders

        def allowed() -> bool:
            current = orders.get(order_id)
            return current is not None and current.status in OPEN_ORDER

        def apply() -> None:
            orders[order_id].status = "cancelled"
            orders[order_id].payment_action = None
            orders[order_id].version += 1

        self._writes.append(_Write(("order", order_id), allowed, apply))

    def add_history(self, event: HistoryEvent) -> None:
        """Entries of one unit keep the order they were added in (newest first reads them reversed)."""
        self._history_added += 1
        kept = stored(event)
        sort_key = keys.history_key(kept.contract_id, iso(kept.at), kept.event_id, self._history_added)["SK"]
        entries = self.repo.history

        def apply() -> None:
            entries.setdefault(kept.contract_id, {})[sort_key] = copy.deepcopy(kept)

        self._writes.append(_Write(("history", kept.contract_id, sort_key),
                                   lambda: sort_key not in entries.get(kept.contract_id, {}), apply))

    def add_event(self, event: events.DomainEvent) -> None:
        """The domain event as an outbox item, committed with this unit (serialised as the adapter does)."""
        event_id, now = new_id("evt"), self.repo.clock()
        item = OutboxItem(event_id, event.detail_type,
                          json.loads(json.dumps({**events.detail(event), "event_id": event_id})))

        def apply() -> None:
            self.repo.outbox.append(item)
            self.repo.outbox_created[event_id] = now

        self._writes.append(_Write(("outbox", event_id), lambda: event_id not in self.repo.outbox_created, apply))

    def add_payment_method(self, payment_method: PaymentMethod) -> None:
        kept, methods = stored(payment_method), self.repo.payment_methods
        key = (kept.account_id, kept.payment_method_id)
        self._writes.append(_Write(("payment_method", *key), lambda: key not in methods,
                                   lambda: methods.__setitem__(key, copy.deepcopy(kept))))

    def save_account(self, account: Account) -> None:
        kept, accounts = stored(account), self.repo.accounts
        self._writes.append(_Write(("account", kept.account_id), lambda: True,
                                   lambda: accounts.__setitem__(kept.account_id, copy.deepcopy(kept))))

    def commit(self) -> None:
        if not self._writes:
            return
        touched = [write.key for write in self._writes]
        if len(set(touched)) != len(touched):  # DynamoDB: ValidationException, not a lost race
            raise ValueError("Transaction request cannot include multiple operations on one item")
        with self.repo.lock:
            if not all(write.allowed() for write in self._writes):
                raise ConcurrentUpdate()
            for write in self._writes:
                write.apply()
        for record in self._bumped:
            record.version += 1
        self._writes, self._bumped = [], []


def seed(repo: MemoryRepository, data: Any, gateway: PaymentGateway | None = None) -> MemoryRepository:
    """Load a seed (the format of infra/seed.py, e.g. tests/conftest.py BASE_SEED) as `seed_loader.load` does."""
    records = seed_loader.build_records(seed_loader.parse(data), gateway.attach if gateway is not None else None)
    repo.put_records(records)
    return repo


# -- races on demand ------------------------------------------------------------------------------------

class CompetingWrites:
    """A repository (any: memory or DynamoDB) whose next commits are preceded by another writer's
    change: `before_next_commit(change)` runs `change` once, just before the next unit commits, so
    the unit finds what it read already changed. The change should use the wrapped repository."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        self.pending: list[Callable[[], object]] = []
        self.interleaved = 0  # competing changes made so far

    def before_next_commit(self, change: Callable[[], object]) -> None:
        self.pending.append(change)

    def unit_of_work(self) -> UnitOfWork:
        return _Preceded(self, self.repo.unit_of_work())

    def __getattr__(self, name: str) -> Any:
        return getattr(self.repo, name)


class _Preceded:
    def __init__(self, competing: CompetingWrites, work: UnitOfWork) -> None:
        self.competing = competing
        self.work = work

    def commit(self) -> None:
        if self.competing.pending:
            change = self.competing.pending.pop(0)
            self.competing.interleaved += 1
            change()
        self.work.commit()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.work, name)


# -- the queue, the bus, the payment provider -------------------------------------------------------------

class MemoryQueue:
    """The RenewalQueue port: keeps what it takes; refuses the messages of the contracts in `refuse`."""

    def __init__(self, refuse: Iterable[str] = ()) -> None:
        self.refuse = set(refuse)
        self.messages: list[RenewalMessage] = []
        self.batches: list[list[RenewalMessage]] = []  # every send, as asked
        self._lock = threading.Lock()

    def send(self, messages: list[RenewalMessage]) -> int:
        if len(messages) > SEND_BATCH_MAX:
            raise ValueError(f"a batch holds at most {SEND_BATCH_MAX} messages, not {len(messages)}")
        taken = [m for m in messages if m.contract_id not in self.refuse]
        with self._lock:
            self.batches.append(list(messages))
            self.messages.extend(taken)
        return len(taken)


class MemoryPublisher:
    """The EventPublisher port: keeps the events it puts on the bus; refuses the ids in `refuse`."""

    def __init__(self, refuse: Iterable[str] = ()) -> None:
        self.refuse = set(refuse)
        self.published: list[OutboxEvent] = []
        self.calls: list[list[OutboxEvent]] = []

    def publish(self, events: list[OutboxEvent]) -> dict[str, str]:
        self.calls.append(list(events))
        refused = {e.event_id: "Refused: by the test" for e in events if e.event_id in self.refuse}
        self.published.extend(e for e in events if e.event_id not in refused)
        return refused


class MemoryStore:
    """The sandbox's ChargeStore in memory: its payments by charge id, instants to the millisecond, as the
    table keeps them; `all()` in the order of the table's sort key (the charge id)."""

    def __init__(self) -> None:
        self._payments: dict[str, SandboxPayment] = {}
        self._lock = threading.Lock()

    def add(self, payment: SandboxPayment) -> bool:
        with self._lock:
            if payment.charge_id in self._payments:
                return False
            self._payments[payment.charge_id] = stored(payment)
            return True

    def get(self, charge_id: str) -> SandboxPayment | None:
        with self._lock:
            return self._payments.get(charge_id)

    def put(self, payment: SandboxPayment) -> None:
        with self._lock:
            self._payments[payment.charge_id] = stored(payment)

    def all(self) -> list[SandboxPayment]:
        with self._lock:
            return [self._payments[charge_id] for charge_id in sorted(self._payments)]


def memory_gateway(clock: Callable[[], datetime] = utc_now) -> Sandbox:
    """The sandbox payment provider (tok_visa, tok_chargeCustomerFail, tok_timeoutAfterCapture...), its
    payments in memory; by default on the services' clock (SEATS_NOW in the tests)."""
    return Sandbox(MemoryStore(), clock)


def kept_charges(gateway: PaymentGateway) -> list[Charge]:
    """The provider's charges that took money and were not refunded."""
    return [c for c in gateway.list_charges() if c.status == "succeeded"]


def refunded_charges(gateway: PaymentGateway) -> list[Charge]:
    return [c for c in gateway.list_charges() if c.status == "refunded"]


class Meanwhile:
    """A gateway (by default a new memory sandbox) except for what a test makes happen at the worst
    moment, once each: `before_confirm` runs just before a payment is confirmed (a hook that raises is a
    Lambda that died before any money moved); `during_confirm` runs after the provider took the money and
    before the answer comes back (another request landing then; a hook that raises is a Lambda that died
    after the capture); `refund_fails` makes the next refund die before it reaches the provider."""

    def __init__(self, gateway: PaymentGateway | None = None, *, before_confirm: Callable[[], object] | None = None,
                 during_confirm: Callable[[], object] | None = None, refund_fails: bool = False) -> None:
        self.gateway = gateway if gateway is not None else memory_gateway()
        self.before_confirm = before_confirm
        self.during_confirm = during_confirm
        self.refund_fails = refund_fails
        self.confirmed: list[str] = []  # provider ids of the confirmations that reached the provider

    def confirm_payment(self, provider_ref: str, request: PaymentRequest) -> ProviderPayment:
        before, self.before_confirm = self.before_confirm, None
        if before is not None:
            before()
        self.confirmed.append(provider_ref)
        state = self.gateway.confirm_payment(provider_ref, request)
        during, self.during_confirm = self.during_confirm, None
        if during is not None:
            during()
        return state

    def refund(self, provider_ref: str, idempotency_key: str) -> None:
        if self.refund_fails:
            self.refund_fails = False
            raise RuntimeError("the Lambda died before the refund")
        self.gateway.refund(provider_ref, idempotency_key)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.gateway, name)
