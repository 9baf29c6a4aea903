"""Ports the services need; adapters implement them (DynamoDB, sandbox or Stripe, EventBridge)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from seats.domain.money import Money


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

