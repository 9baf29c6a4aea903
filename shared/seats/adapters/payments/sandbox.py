"""The sandbox payment gateway: Stripe's test tokens (docs/api.md, Payments), no network, charges kept in DynamoDB.

Payments live in the table so that a retry in another Lambda container (or after a crash) finds the
payment its idempotency key already made, exactly as a real provider would. The provider's behaviour
(`Sandbox`) is written once over a store of payments (`ChargeStore`); `SandboxGateway` keeps them in
the table, the unit tests' fake in memory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from botocore.exceptions import ClientError

from seats.adapters.dynamodb import attributes, keys
from seats.adapters.payments.webhooks import intent_event
from seats.domain.errors import InvalidPaymentToken, PaymentDeclined, PaymentProviderUnavailable
from seats.domain.instants import iso, parse_instant
from seats.domain.money import Money
from seats.domain.payments import minimum_charge
from seats.services.ports import (
    AttachedCard,
    Charge,
    ChargeStatus,
    PaymentRequest,
    ProviderPayment,
    ProviderStatus,
)


@dataclass(frozen=True)
class SandboxCard:
    brand: str
    last4: str
    charge_decline: str | None = None  # decline_code of every charge
    times_out_after_capture: bool = False
    needs_authentication: bool = False  # 3-D Secure on every payment (Stripe's 4000002760003184)


CARDS = {
    "tok_visa": SandboxCard("visa", "4242"),
    "tok_mastercard": SandboxCard("mastercard", "4444"),
    "tok_chargeCustomerFail": SandboxCard("visa", "0341", charge_decline="card_declined"),
    "tok_chargeDeclinedInsufficientFunds": SandboxCard("visa", "9995", charge_decline="insufficient_funds"),
    "tok_timeoutAfterCapture": SandboxCard("visa", "1881", times_out_after_capture=True),
    "tok_threeDSecure2Required": SandboxCard("visa", "3220", needs_authentication=True),
}
ATTACH_DECLINES = {"tok_chargeDeclined": "card_declined", "tok_chargeDeclinedExpiredCard": "expired_card"}
EXP_MONTH, EXP_YEAR = 12, 2034


def card_for_token(token: str) -> AttachedCard:
    if token in ATTACH_DECLINES:
        raise PaymentDeclined("The card was declined", decline_code=ATTACH_DECLINES[token])
    card = CARDS.get(token)
    if card is None:
        raise InvalidPaymentToken("Unknown payment token")
    return AttachedCard(customer_ref=None, provider_ref=token, brand=card.brand, last4=card.last4,
                        exp_month=EXP_MONTH, exp_year=EXP_YEAR)


@dataclass(frozen=True)
class SandboxPayment:
    """One payment as the sandbox provider keeps it (a Stripe PaymentIntent's fields that matter here)."""

    charge_id: str
    idempotency_key: str
    amount: Money
    payment_method_ref: str
    payment_method_id: str | None
    status: ProviderStatus
    created_at: datetime
    decline_code: str | None = None
    refunded_at: datetime | None = None


class ChargeStore(Protocol):
    """Where the sandbox keeps its payments, by charge id."""

    def add(self, payment: SandboxPayment) -> bool:
        """Record `payment` unless its charge id has one already: False then."""
        ...

    def get(self, charge_id: str) -> SandboxPayment | None: ...

    def put(self, payment: SandboxPayment) -> None: ...

    def all(self) -> list[SandboxPayment]: ...


def charge_id_for(idempotency_key: str) -> str:
    """The id of the payment an idempotency key creates: the same key, the same payment, forever."""
    return "ch_sandbox_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:20]


class Sandbox:
    """The sandbox provider's behaviour over a store of payments: the PaymentGateway port. Unlike Stripe,
    it remembers idempotency keys forever; `tok_timeoutAfterCapture` captures at its first confirmation
    but answers a time-out."""

    def __init__(self, store: ChargeStore, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.clock = clock

    def attach(self, account_id: str, customer_ref: str | None, token: str) -> AttachedCard:
        return card_for_token(token)

    def create_payment(self, request: PaymentRequest) -> str:
        if request.payment_method_ref not in CARDS:
            raise InvalidPaymentToken("Unknown payment method")
        if request.amount < minimum_charge(request.amount.currency):
            raise PaymentProviderUnavailable("The amount is below the provider's minimum")
        payment = SandboxPayment(
            charge_id=charge_id_for(request.key), idempotency_key=request.key, amount=request.amount,
            payment_method_ref=request.payment_method_ref, payment_method_id=request.payment_method_id,
            status="requires_confirmation", created_at=self.clock(),
        )
        self.store.add(payment)  # a retry with the same key finds the payment already made
        return payment.charge_id

    def confirm_payment(self, provider_ref: str, request: PaymentRequest) -> ProviderPayment:
        payment = self._payment(provider_ref)
        if payment.status != "requires_confirmation":
            return _view(payment)
        card = CARDS[payment.payment_method_ref]
        if card.charge_decline:
            payment = replace(payment, status="failed", decline_code=card.charge_decline)
        elif card.needs_authentication and request.off_session:  # no one there to pass the bank's challenge
            payment = replace(payment, status="failed", decline_code="authentication_required")
        elif card.needs_authentication:
            payment = replace(payment, status="requires_action")
        else:
            payment = replace(payment, status="succeeded")
        self.store.put(payment)
        if card.times_out_after_capture:
            raise PaymentProviderUnavailable("The payment provider timed out")
        return _view(payment)

    def get_payment(self, provider_ref: str) -> ProviderPayment | None:
        payment = self.store.get(provider_ref)
        return _view(payment) if payment else None

    def cancel_payment(self, provider_ref: str) -> ProviderPayment:
        payment = self._payment(provider_ref)
        if payment.status in ("requires_confirmation", "requires_action"):
            payment = replace(payment, status="canceled")
            self.store.put(payment)
        return _view(payment)

    def refund(self, provider_ref: str, idempotency_key: str) -> None:
        payment = self._payment(provider_ref)
        if payment.status == "succeeded" and payment.refunded_at is None:
            self.store.put(replace(payment, refunded_at=self.clock()))

    def authenticate(self, provider_ref: str, success: bool) -> ProviderPayment:
        """The cardholder passes (`success`) or fails the bank's challenge for a payment waiting for it:
        succeeded, or failed `authentication_failed`. NotAwaitingAuthentication for any other payment."""
        payment = self.store.get(provider_ref)
        if payment is None or payment.status != "requires_action":
            raise NotAwaitingAuthentication(provider_ref)
        if success:
            payment = replace(payment, status="succeeded")
        else:
            payment = replace(payment, status="failed", decline_code="authentication_failed")
        self.store.put(payment)
        return _view(payment)

    def notification(self, provider_ref: str, at: int) -> dict[str, Any]:
        """The webhook event Stripe would send about the payment's outcome (to be signed and delivered)."""
        payment = self._payment(provider_ref)
        kind = "payment_intent.succeeded" if payment.status == "succeeded" else "payment_intent.payment_failed"
        return intent_event(kind, _view(payment), payment.idempotency_key, at)

    def list_charges(self) -> list[Charge]:
        charges = [_charge(p) for p in self.store.all() if p.status != "requires_confirmation"]
        return sorted(charges, key=lambda c: (c.created_at, c.charge_id))

    def _payment(self, provider_ref: str) -> SandboxPayment:
        payment = self.store.get(provider_ref)
        if payment is None:
            raise PaymentProviderUnavailable("No such payment")
        return payment


class NotAwaitingAuthentication(Exception):
    """The payment is not waiting for the cardholder's authentication (or there is no such payment)."""


def client_secret_of(charge_id: str) -> str:
    """The secret a client hands the provider's SDK to authenticate the payment (Stripe's `<id>_secret_...`)."""
    return f"{charge_id}_secret_{hashlib.sha256(f'secret:{charge_id}'.encode()).hexdigest()[:24]}"


def _view(payment: SandboxPayment) -> ProviderPayment:
    waiting = payment.status == "requires_action"
    return ProviderPayment(
        provider_ref=payment.charge_id, status=payment.status, amount=payment.amount,
        payment_method_ref=payment.payment_method_ref, decline_code=payment.decline_code,
        refunded=payment.refunded_at is not None, client_secret=client_secret_of(payment.charge_id) if waiting else None,
    )


def _charge(payment: SandboxPayment) -> Charge:
    status: ChargeStatus = "refunded" if payment.refunded_at else payment.status  # type: ignore[assignment]
    return Charge(
        charge_id=payment.charge_id, amount=payment.amount, payment_method_ref=payment.payment_method_ref,
        idempotency_key=payment.idempotency_key, status=status, created_at=payment.created_at,
        decline_code=payment.decline_code, payment_method_id=payment.payment_method_id,
        refunded_at=payment.refunded_at,
    )


class SandboxGateway(Sandbox):
    """The sandbox with its payments in the seats table (items `SANDBOX#CHARGES` / <charge id>)."""

    def __init__(self, client: Any, table: str, clock: Callable[[], datetime]) -> None:
        super().__init__(DynamoDbCharges(client, table), clock)


class DynamoDbCharges:
    """The sandbox's payments as items of the table: a ChargeStore."""

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table

    def add(self, payment: SandboxPayment) -> bool:
        try:
            self.client.put_item(TableName=self.table, Item=attributes.to_item(_to_item(payment)),
                                 ConditionExpression="attribute_not_exists(PK)")
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def put(self, payment: SandboxPayment) -> None:
        self.client.put_item(TableName=self.table, Item=attributes.to_item(_to_item(payment)))

    def get(self, charge_id: str) -> SandboxPayment | None:
        answer = self.client.get_item(TableName=self.table, Key=attributes.to_item(keys.sandbox_charge_key(charge_id)),
                                      ConsistentRead=True)
        return _from_item(attributes.from_item(answer["Item"])) if "Item" in answer else None

    def all(self) -> list[SandboxPayment]:
        payments: list[SandboxPayment] = []
        params: dict[str, Any] = {
            "TableName": self.table, "KeyConditionExpression": "PK = :pk",
            "ExpressionAttributeValues": attributes.to_item({":pk": keys.SANDBOX_CHARGES}),
        }
        while True:
            answer = self.client.query(**params)
            payments.extend(_from_item(attributes.from_item(i)) for i in answer.get("Items", []))
            if "LastEvaluatedKey" not in answer:
                return payments
            params["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


def _to_item(p: SandboxPayment) -> dict[str, Any]:
    item = {
        **keys.sandbox_charge_key(p.charge_id), "kind": "charge", "charge_id": p.charge_id,
        "idempotency_key": p.idempotency_key, "amount": str(p.amount), "currency": p.amount.currency,
        "payment_method_ref": p.payment_method_ref, "payment_method_id": p.payment_method_id,
        "status": p.status, "created_at": iso(p.created_at), "decline_code": p.decline_code,
        "refunded_at": iso(p.refunded_at) if p.refunded_at else None,
    }
    return {k: v for k, v in item.items() if v is not None}


def _from_item(item: dict[str, Any]) -> SandboxPayment:
    return SandboxPayment(
        charge_id=item["charge_id"], idempotency_key=item["idempotency_key"],
        amount=Money.parse(item["amount"], item["currency"]), payment_method_ref=item["payment_method_ref"],
        payment_method_id=item.get("payment_method_id"), status=item["status"],
        created_at=parse_instant(item["created_at"]), decline_code=item.get("decline_code"),
        refunded_at=parse_instant(item["refunded_at"]) if item.get("refunded_at") else None,
    )
