"""Seed files: validated whole, then written; a bad file names the field and loads nothing.

The format: docs/local-runtime.md, "Seed files".
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from seats.adapters.dynamodb import codec
from seats.adapters.dynamodb.repository import Repository
from seats.adapters.payments.sandbox import card_for_token
from seats.domain.model import Account, Contract, PaymentMethod, Subscription, User
from seats.domain.money import MINOR_UNIT_DIGITS, Money
from seats.domain.terms import Term
from seats.services.ports import AttachedCard, PaymentGateway


class SeedError(ValueError):
    pass


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class SeedUser(_Strict):
    user_id: str = Field(min_length=1)
    email: str = Field(min_length=3)
    role: Literal["primary_admin", "secondary_admin", "user"]


class SeedPaymentMethod(_Strict):
    payment_method_id: str = Field(min_length=1)
    token: str = Field(min_length=1)
    # Seed only (the API takes cards from tokens alone): an older card's expiry, instead of the provider's.
    exp_month: int | None = Field(default=None, ge=1, le=12)
    exp_year: int | None = Field(default=None, ge=1000, le=9999)

    @model_validator(mode="after")
    def _expiry_whole(self) -> SeedPaymentMethod:
        if (self.exp_month is None) != (self.exp_year is None):
            raise ValueError("exp_month and exp_year go together: give both or neither")
        return self


class SeedSubscription(_Strict):
    subscription_id: str = Field(min_length=1)
    product: str = Field(min_length=1)
    plan_type: Literal["subscription", "maintenance"] = "subscription"
    seats: int = Field(ge=1, le=10_000)
    assigned_seats: int = Field(default=0, ge=0)
    unit_price: str

    @model_validator(mode="after")
    def _assigned_within_seats(self) -> SeedSubscription:
        if self.assigned_seats > self.seats:
            raise ValueError("assigned_seats cannot exceed seats")
        return self


class SeedContract(_Strict):
    contract_id: str = Field(min_length=1)
    contract_manager: str
    purchase_channel: Literal["online", "reseller"]
    auto_renew: bool
    term: Literal["monthly", "annual", "three_year"]
    term_start: date = Field(strict=False)
    renewal_date: date = Field(strict=False)
    billing_anchor_day: int | None = Field(default=None, ge=1, le=31)
    status: Literal["active", "past_due", "suspended", "expired", "cancelled"] = "active"
    payment_method_id: str | None = None
    subscriptions: list[SeedSubscription] = Field(min_length=1)

    @model_validator(mode="after")
    def _dates_in_order(self) -> SeedContract:
        if self.renewal_date <= self.term_start:
            raise ValueError("renewal_date must be after term_start")
        return self


class SeedAccount(_Strict):
    account_id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    country: str = Field(pattern=r"^[A-Z]{2}$")
    currency: str
    users: list[SeedUser] = []
    payment_methods: list[SeedPaymentMethod] = []
    contracts: list[SeedContract] = []

    @field_validator("currency")
    @classmethod
    def _supported_currency(cls, value: str) -> str:
        if value not in MINOR_UNIT_DIGITS:
            raise ValueError(f"unsupported currency {value!r}")
        return value


class SeedFile(_Strict):
    accounts: list[SeedAccount]


def _where(loc: tuple[Any, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")


def parse(data: Any) -> SeedFile:
    try:
        return SeedFile.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        raise SeedError(f"{_where(first['loc'])}: {first['msg']}") from None


Record = Account | PaymentMethod | Contract | User


def build_records(seed: SeedFile, attach: Any = None) -> list[Record]:
    """Every record the seed describes, checked across records; raises SeedError before any write."""
    attach = attach or (lambda account_id, customer, token: card_for_token(token))
    records: list[Record] = []
    users: dict[str, User] = {}
    seen_contracts: set[str] = set()
    for a, raw in enumerate(seed.accounts):
        where = f"accounts[{a}]"
        customer: str | None = None
        methods: dict[str, PaymentMethod] = {}
        for p, pm in enumerate(raw.payment_methods):
            try:
                card: AttachedCard = attach(raw.account_id, customer, pm.token)
            except Exception as error:  # noqa: BLE001 - reported with the field that caused it
                raise SeedError(f"{where}.payment_methods[{p}].token: {getattr(error, 'detail', error)}") from None
            customer = card.customer_ref or customer
            methods[pm.payment_method_id] = PaymentMethod(
                payment_method_id=pm.payment_method_id, account_id=raw.account_id, brand=card.brand,
                last4=card.last4, exp_month=pm.exp_month or card.exp_month, exp_year=pm.exp_year or card.exp_year,
                provider_ref=card.provider_ref,
                customer_ref=card.customer_ref,
            )
        records.append(Account(raw.account_id, raw.name, raw.country, raw.currency, customer))
        records.extend(methods.values())
        emails = {u.user_id: u.email for u in raw.users}
        for u in raw.users:
            known = users.get(u.user_id, User(u.user_id, u.email, {}))
            users[u.user_id] = User(u.user_id, known.email, {**known.roles, raw.account_id: u.role})
        for c, rc in enumerate(raw.contracts):
            here = f"{where}.contracts[{c}]"
            if rc.contract_id in seen_contracts:
                raise SeedError(f"{here}.contract_id: duplicate {rc.contract_id!r}")
            seen_contracts.add(rc.contract_id)
            if rc.contract_manager not in emails:
                raise SeedError(f"{here}.contract_manager: {rc.contract_manager!r} is not a user of {raw.account_id}")
            if rc.payment_method_id is not None and rc.payment_method_id not in methods:
                raise SeedError(f"{here}.payment_method_id: no payment method {rc.payment_method_id!r}")
            subscriptions = []
            for s, rs in enumerate(rc.subscriptions):
                try:
                    price = Money.parse(rs.unit_price, raw.currency)
                except ValueError as error:
                    raise SeedError(f"{here}.subscriptions[{s}].unit_price: {error}") from None
                subscriptions.append(Subscription(rs.subscription_id, rs.product, rs.plan_type, rs.seats,
                                                  rs.assigned_seats, price))
            if len({s.subscription_id for s in subscriptions}) != len(subscriptions):
                raise SeedError(f"{here}.subscriptions: duplicate subscription_id")
            contract = Contract(
                contract_id=rc.contract_id, account_id=raw.account_id, account_name=raw.name,
                country=raw.country, currency=raw.currency, contract_manager=rc.contract_manager,
                manager_email=emails[rc.contract_manager], purchase_channel=rc.purchase_channel,
                auto_renew=rc.auto_renew, term=Term(rc.term), term_start=rc.term_start,
                renewal_date=rc.renewal_date, billing_anchor_day=rc.billing_anchor_day or rc.term_start.day,
                status=rc.status,
                payment_method=methods[rc.payment_method_id] if rc.payment_method_id else None,
                subscriptions=subscriptions, version=1,
            )
            records.append(contract)
    records.extend(users.values())
    return records


def build_items(seed: SeedFile, attach: Any = None) -> list[dict[str, Any]]:
    """Every item the seed describes (build_records, as DynamoDB items); raises SeedError before any write."""
    return [_item(record) for record in build_records(seed, attach)]


def _item(record: Record) -> dict[str, Any]:
    if isinstance(record, Account):
        return codec.account_to_item(record)
    if isinstance(record, PaymentMethod):
        return codec.payment_method_to_item(record)
    if isinstance(record, Contract):
        return codec.contract_to_item(record)
    return codec.user_to_item(record)


def load(repository: Repository, data: Any, gateway: PaymentGateway | None = None) -> int:
    """Validate `data` (a parsed seed file) whole, then write it. Returns the number of contracts."""
    seed = parse(data)
    items = build_items(seed, gateway.attach if gateway is not None else None)
    repository.put_items(items)
    return sum(len(a.contracts) for a in seed.accounts)


def load_file(repository: Repository, path: Path, gateway: PaymentGateway | None = None) -> int:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise SeedError(f"{path}: not JSON ({error.msg} at line {error.lineno})") from None
    return load(repository, data, gateway)
