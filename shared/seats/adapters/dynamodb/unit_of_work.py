"""A unit of work: conditional writes collected and committed in one TransactWriteItems."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from seats.adapters.dynamodb import attributes, codec, keys
from seats.domain import events
from seats.domain.errors import ConcurrentUpdate
from seats.domain.history import HistoryEvent
from seats.domain.instants import iso
from seats.domain.model import Account, Contract, Order, PaymentMethod, new_id
from seats.domain.payments import Payment

OUTBOX_TTL_SECONDS = 24 * 3600  # the relay reads the stream within seconds; streams keep records 24 h

_attrs = attributes.to_item


class UnitOfWork:
    """Collect writes, then `commit()`: all of them happen or none does.

    Versioned records (contracts, orders) are written only if their stored version is still the
    one they were read at; a lost race raises ConcurrentUpdate and nothing is written.
    """

    def __init__(self, client: Any, table: str, clock: Callable[[], datetime]) -> None:
        self.client = client
        self.table = table
        self.clock = clock
        self._writes: list[dict[str, Any]] = []
        self._bumped: list[Contract | Order | Payment] = []
        self._history_added = 0

    def _put(self, item: dict[str, Any], condition: str, values: dict[str, Any] | None = None) -> None:
        put: dict[str, Any] = {"TableName": self.table, "Item": _attrs(item), "ConditionExpression": condition}
        if values:
            put["ExpressionAttributeValues"] = _attrs(values)
        self._writes.append({"Put": put})

    def _put_versioned(self, record: Contract | Order | Payment, item: dict[str, Any]) -> None:
        item["version"] = record.version + 1
        if record.version == 0:
            self._put(item, "attribute_not_exists(PK)")
        else:
            self._put(item, "version = :v", {":v": record.version})
        self._bumped.append(record)

    def save_contract(self, contract: Contract) -> None:
        self._put_versioned(contract, codec.contract_to_item(contract))

    def save_order(self, order: Order) -> None:
        self._put_versioned(order, codec.order_to_item(order))

    def save_payment(self, payment: Payment) -> None:
        self._put_versioned(payment, codec.payment_to_item(payment))

    def add_history(self, event: HistoryEvent) -> None:
        """Events of one commit keep the order they were added in (newest first reads them reversed)."""
        self._history_added += 1
        self._put(codec.history_to_item(event, self._history_added), "attribute_not_exists(PK)")

    def add_event(self, event: events.DomainEvent) -> None:
        """A domain event, written by this commit as an outbox item, so that it exists exactly when the
        change it describes does. EventRelayFunction reads it from the table's stream and puts it
        on the bus (at least once: `event_id`, in the detail, is what consumers deduplicate on)."""
        now = self.clock()
        event_id = new_id("evt")
        self._put({
            **keys.outbox_key(event_id), "event_id": event_id, "detail_type": event.detail_type,
            "detail": json.dumps({**events.detail(event), "event_id": event_id}),
            "created_at": iso(now), "expires_at": int(now.timestamp()) + OUTBOX_TTL_SECONDS,
        }, "attribute_not_exists(PK)")

    def add_payment_method(self, payment_method: PaymentMethod) -> None:
        self._put(codec.payment_method_to_item(payment_method), "attribute_not_exists(PK)")

    def save_account(self, account: Account) -> None:
        self._writes.append({"Put": {"TableName": self.table, "Item": _attrs(codec.account_to_item(account))}})

    def cancel_draft(self, order_id: str) -> None:
        """Cancel an add-seats order by key, without reading it: only while it is open (a draft, or waiting
        for the cardholder's authentication); its payment action dropped."""
        self._writes.append({"Update": {
            "TableName": self.table, "Key": _attrs(keys.order_key(order_id)),
            "UpdateExpression": "SET #status = :cancelled, version = version + :one REMOVE payment_action",
            "ConditionExpression": "#status IN (:draft, :pending)",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": _attrs({":cancelled": "cancelled", ":draft": "draft",
                                                 ":pending": "payment_pending", ":one": 1}),
        }})

    def require_contract_version(self, contract: Contract) -> None:
        """Fail the commit if the contract changed since it was read, without writing it."""
        self._writes.append({"ConditionCheck": {
            "TableName": self.table, "Key": _attrs(keys.contract_key(contract.contract_id)),
            "ConditionExpression": "version = :v", "ExpressionAttributeValues": _attrs({":v": contract.version}),
        }})

    def commit(self) -> None:
        if not self._writes:
            return
        try:
            if len(self._writes) == 1 and "Put" in self._writes[0]:
                self.client.put_item(**self._writes[0]["Put"])
            else:
                self.client.transact_write_items(TransactItems=self._writes)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code in ("ConditionalCheckFailedException", "TransactionCanceledException"):
                raise ConcurrentUpdate() from error
            raise
        for record in self._bumped:
            record.version += 1
        self._writes, self._bumped = [], []
