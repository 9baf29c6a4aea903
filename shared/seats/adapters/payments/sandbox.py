"""The sandbox payment gateway: Stripe's test tokens (docs/api.md, Payments), no network, charges kept in DynamoDB.

Charges live in the table so that a retry in another Lambda container (or after a crash) finds
the charge its idempotency key already made, exactly as a real provider would. The provider's
behaviour (`Sandbox`) is written once over a store of charges (`ChargeStore`); `SandboxGateway`
keeps them in the table, the unit tests' fake in memory.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import ClientError

from seats.adapters.dynamodb import attributes, keys
from seats.clock import iso, parse_instant, utc_now
from seats.domain.errors import InvalidPaymentToken, PaymentDeclined, PaymentProviderUnavailable
from seats.domain.money import Money
from seats.services.ports import AttachedCard, Charge


@dataclass(frozen=True)
class SandboxCard:
    brand: str
    last4: str
    charge_decline: str | None = None  # decline_code of every charge
    times_out_after_capture: bool = False


CARDS = {
    "tok_visa": SandboxCard("visa", "4242"),
    "tok_mastercard": SandboxCard("mastercard", "4444"),
    "tok_chargeCustomerFail": SandboxCard("visa", "0341", charge_decline="card_declined"),
    "tok_chargeDeclinedInsufficientFunds": SandboxCard("visa", "9995", charge_decline="insufficient_funds"),
    "tok_timeoutAfterCapture": SandboxCard("visa", "1881", times_out_after_capture=True),
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


class ChargeStore(Protocol):
    """Where the sandbox keeps its charges, one per idempotency key."""

    def add(self, charge: Charge) -> bool:
        """Record `charge` unless its idempotency key has a charge already: False then."""
        ...

    def get(self, idempotency_key: str) -> Charge | None: ...

    def mark_refunded(self, idempotency_key: str) -> None: ...

    def is_refunded(self, idempotency_key: str) -> bool: ...

    def all(self) -> list[Charge]:
        """Every charge, by idempotency key."""
        ...


class Sandbox:
    """The sandbox provider's behaviour over a store of charges: the PaymentGateway port."""

    def __init__(self, store: ChargeStore) -> None:
        self.store = store

    def attach(self, account_id: str, customer_ref: str | None, token: str) -> AttachedCard:
        return card_for_token(token)

    def charge(self, *, customer_ref: str | None, payment_method_ref: str, amount: Money,
               idempotency_key: str, description: str, payment_method_id: str | None = None) -> Charge:
        card = CARDS.get(payment_method_ref)
        if card is None:
            existing = self.store.get(idempotency_key)
            if existing is None:
                raise InvalidPaymentToken("Unknown payment method")
            return self._replay(existing)
        charge = Charge(
            charge_id="ch_sandbox_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:20],
            amount=amount, payment_method_ref=payment_method_ref, idempotency_key=idempotency_key,
            payment_method_id=payment_method_id,
            status="failed" if card.charge_decline else "succeeded", created_at=utc_now(),
            decline_code=card.charge_decline,
        )
        if not self.store.add(charge):  # this key was charged before (a retry, or a concurrent request)
            stored = self.store.get(idempotency_key)
            assert stored is not None
            return self._replay(stored)
        if card.times_out_after_capture:
            raise PaymentProviderUnavailable("The payment provider timed out")
        return self._replay(charge)

    def refund(self, charge_id: str, idempotency_key: str) -> None:
        for charge in self.store.all():
            if charge.charge_id == charge_id:
                self.store.mark_refunded(charge.idempotency_key)
                return

    def list_charges(self) -> list[Charge]:
        return sorted(self.store.all(), key=lambda c: c.created_at)

    def is_refunded(self, idempotency_key: str) -> bool:
        return self.store.is_refunded(idempotency_key)

    @staticmethod
    def _replay(charge: Charge) -> Charge:
        if charge.status == "failed":
            raise PaymentDeclined("The card was declined", decline_code=charge.decline_code)
        return charge


class SandboxGateway(Sandbox):
    """The sandbox with its charges in the seats table (items `SANDBOX#CHARGES` / <idempotency key>)."""

    def __init__(self, client: Any, table: str) -> None:
        super().__init__(DynamoDbCharges(client, table))
        self.client = client
        self.table = table


class DynamoDbCharges:
    """The sandbox's charges as items of the table: a ChargeStore."""

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table

    def add(self, charge: Charge) -> bool:
        item = {
            **keys.sandbox_charge_key(charge.idempotency_key), "kind": "charge", "charge_id": charge.charge_id,
            "amount": str(charge.amount), "currency": charge.amount.currency,
            "payment_method_ref": charge.payment_method_ref, "idempotency_key": charge.idempotency_key,
            "status": charge.status, "created_at": iso(charge.created_at),
        }
        if charge.decline_code:
            item["decline_code"] = charge.decline_code
        if charge.payment_method_id:
            item["payment_method_id"] = charge.payment_method_id
        try:
            self.client.put_item(TableName=self.table, Item=attributes.to_item(item),
                                 ConditionExpression="attribute_not_exists(PK)")
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def get(self, idempotency_key: str) -> Charge | None:
        item = self._item(idempotency_key)
        return self._from_item(item) if item else None

    def mark_refunded(self, idempotency_key: str) -> None:
        self.client.update_item(
            TableName=self.table, Key=attributes.to_item(keys.sandbox_charge_key(idempotency_key)),
            UpdateExpression="SET refunded = :t", ExpressionAttributeValues=attributes.to_item({":t": True}),
        )

    def is_refunded(self, idempotency_key: str) -> bool:
        item = self._item(idempotency_key)
        return bool(item and item.get("refunded"))

    def all(self) -> list[Charge]:
        charges: list[Charge] = []
        params: dict[str, Any] = {
            "TableName": self.table, "KeyConditionExpression": "PK = :pk",
            "ExpressionAttributeValues": attributes.to_item({":pk": keys.SANDBOX_CHARGES}),
        }
        while True:
            answer = self.client.query(**params)
            charges.extend(self._from_item(attributes.from_item(i)) for i in answer.get("Items", []))
            if "LastEvaluatedKey" not in answer:
                return charges
            params["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def _item(self, idempotency_key: str) -> dict[str, Any] | None:
        answer = self.client.get_item(TableName=self.table, Key=attributes.to_item(keys.sandbox_charge_key(idempotency_key)),
                                      ConsistentRead=True)
        return attributes.from_item(answer["Item"]) if "Item" in answer else None

    @staticmethod
    def _from_item(item: dict[str, Any]) -> Charge:
        return Charge(
            charge_id=item["charge_id"], amount=Money.parse(item["amount"], item["currency"]),
            payment_method_ref=item["payment_method_ref"], idempotency_key=item["idempotency_key"],
            status=item["status"], created_at=parse_instant(item["created_at"]),
            decline_code=item.get("decline_code"), payment_method_id=item.get("payment_method_id"),
        )
