"""The DynamoDB repository: every read the services need, none of them a Scan."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import Any

from seats.adapters.dynamodb import attributes, codec, keys
from seats.adapters.dynamodb.unit_of_work import UnitOfWork
from seats.domain import notices
from seats.domain.history import HistoryEvent
from seats.domain.instants import iso
from seats.domain.model import Account, Contract, Order, PaymentMethod, User
from seats.domain.payments import Payment

to_attributes = attributes.to_item
from_attributes = attributes.from_item


MAX_KEY_BYTES = 1024  # DynamoDB's limit for a sort key (2048 for a partition key)


def _storable(key: dict[str, str]) -> bool:
    """An id too long to be a DynamoDB key cannot name a stored item: it is simply not found."""
    return all(len(value.encode()) <= MAX_KEY_BYTES for value in key.values())


class Repository:
    def __init__(self, client: Any, table_name: str, clock: Callable[[], datetime]) -> None:
        self.client = client
        self.table = table_name
        self.clock = clock  # stamps the outbox items of its units of work

    # -- single items ---------------------------------------------------------------------------
    def _get(self, key: dict[str, str], consistent: bool = True) -> dict[str, Any] | None:
        if not _storable(key):
            return None
        answer = self.client.get_item(TableName=self.table, Key=to_attributes(key), ConsistentRead=consistent)
        return from_attributes(answer["Item"]) if "Item" in answer else None

    def _batch_get(self, *item_keys: dict[str, str]) -> dict[tuple[str, str], dict[str, Any]]:
        """One BatchGetItem (strongly consistent); unprocessed keys are retried."""
        found: dict[tuple[str, str], dict[str, Any]] = {}
        item_keys = tuple(k for k in item_keys if _storable(k))
        if not item_keys:
            return found
        request = {self.table: {"Keys": [to_attributes(k) for k in item_keys], "ConsistentRead": True}}
        while request:
            answer = self.client.batch_get_item(RequestItems=request)
            for raw in answer["Responses"].get(self.table, []):
                item = from_attributes(raw)
                found[(item["PK"], item["SK"])] = item
            request = answer.get("UnprocessedKeys") or {}
        return found

    def get_contract(self, contract_id: str) -> Contract | None:
        item = self._get(keys.contract_key(contract_id))
        return codec.contract_from_item(item) if item else None

    def get_user(self, user_id: str) -> User | None:
        item = self._get(keys.user_key(user_id))
        return codec.user_from_item(item) if item else None

    def get_order(self, order_id: str) -> Order | None:
        item = self._get(keys.order_key(order_id))
        return codec.order_from_item(item) if item else None

    def get_account(self, account_id: str) -> Account | None:
        item = self._get(keys.account_key(account_id))
        return codec.account_from_item(item) if item else None

    def get_payment_method(self, account_id: str, payment_method_id: str) -> PaymentMethod | None:
        item = self._get(keys.payment_method_key(account_id, payment_method_id))
        return codec.payment_method_from_map(item) if item else None

    def get_payment(self, payment_id: str) -> Payment | None:
        item = self._get(keys.payment_key(payment_id))
        return codec.payment_from_item(item) if item else None

    def get_contract_and_user(self, contract_id: str, user_id: str) -> tuple[Contract | None, User | None]:
        """The contract and the caller in one request: what every contract route needs first."""
        ck, uk = keys.contract_key(contract_id), keys.user_key(user_id)
        found = self._batch_get(ck, uk)
        contract = found.get((ck["PK"], ck["SK"]))
        user = found.get((uk["PK"], uk["SK"]))
        return (
            codec.contract_from_item(contract) if contract else None,
            codec.user_from_item(user) if user else None,
        )

    def get_order_and_user(self, order_id: str, user_id: str) -> tuple[Order | None, User | None]:
        ok, uk = keys.order_key(order_id), keys.user_key(user_id)
        found = self._batch_get(ok, uk)
        order = found.get((ok["PK"], ok["SK"]))
        user = found.get((uk["PK"], uk["SK"]))
        return (
            codec.order_from_item(order) if order else None,
            codec.user_from_item(user) if user else None,
        )

    # -- collections ----------------------------------------------------------------------------
    def list_contracts(self, user: User, limit: int, after: str | None) -> tuple[list[Contract], str | None]:
        """Contracts the user manages or, as primary admin, can see; by renewal date then id.

        One Query per source (the manager index, and the account index of each team the user is
        primary admin of), merged on the shared sort key `<renewal_date>#<contract_id>`. The
        cursor is the last sort key returned, so every source resumes strictly after it.
        """
        sources = [("GSI1", f"MANAGER#{user.user_id}")] + [
            ("GSI2", f"ACCOUNT#{account_id}") for account_id, role in sorted(user.roles.items())
            if role == "primary_admin"
        ]
        streams = []
        for index, partition in sources:
            condition = f"{index}PK = :pk" + (f" AND {index}SK > :after" if after else "")
            values: dict[str, Any] = {":pk": partition}
            if after:
                values[":after"] = after
            answer = self.client.query(
                TableName=self.table, IndexName=index, KeyConditionExpression=condition,
                ExpressionAttributeValues=to_attributes(values), Limit=limit + 1,
            )
            items = [from_attributes(raw) for raw in answer.get("Items", [])]
            streams.append([(item[f"{index}SK"], item) for item in items])
        merged: list[dict[str, Any]] = []
        seen: set[str] = set()
        for sort_key, item in heapq.merge(*streams, key=lambda pair: pair[0]):
            if item["contract_id"] in seen:
                continue
            seen.add(item["contract_id"])
            merged.append({**item, "_sort": sort_key})
            if len(merged) > limit:
                break
        page = merged[:limit]
        next_after = page[-1]["_sort"] if len(merged) > limit else None
        return [codec.contract_from_item(item) for item in page], next_after

    def list_orders(self, contract_id: str) -> list[Order]:
        orders: list[Order] = []
        params: dict[str, Any] = {
            "IndexName": "GSI1",
            "KeyConditionExpression": "GSI1PK = :pk",
            "ExpressionAttributeValues": to_attributes({":pk": f"ORDERS#{contract_id}"}),
            "ScanIndexForward": False,
        }
        for item in self._paginate(params):
            orders.append(codec.order_from_item(item))
        return orders

    def list_history(self, contract_id: str) -> list[HistoryEvent]:
        params: dict[str, Any] = {
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
            "ExpressionAttributeValues": to_attributes({":pk": f"CONTRACT#{contract_id}", ":prefix": "EVENT#"}),
            "ScanIndexForward": False,
        }
        return [codec.history_from_item(item) for item in self._paginate(params)]

    def list_payment_methods(self, account_id: str) -> list[PaymentMethod]:
        params: dict[str, Any] = {
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
            "ExpressionAttributeValues": to_attributes({":pk": f"ACCOUNT#{account_id}", ":prefix": "PM#"}),
        }
        return [codec.payment_method_from_map(item) for item in self._paginate(params)]

    def manages_contract_in(self, user_id: str, account_id: str) -> bool:
        params: dict[str, Any] = {
            "IndexName": "GSI1",
            "KeyConditionExpression": "GSI1PK = :pk",
            "FilterExpression": "account_id = :aid",
            "ProjectionExpression": "contract_id",
            "ExpressionAttributeValues": to_attributes({":pk": f"MANAGER#{user_id}", ":aid": account_id}),
        }
        return any(True for _ in self._paginate(params))

    def due_shards(self) -> list[str]:
        return keys.all_due_shards()

    def due_contract_ids(self, as_of: date, shard: str) -> Iterator[str]:
        """Contract ids in one shard of the due index with renewal_date ≤ as_of (KEYS_ONLY reads)."""
        params: dict[str, Any] = {
            "IndexName": "DueIndex",
            "KeyConditionExpression": "DuePK = :shard AND DueSK < :before",
            "ExpressionAttributeValues": to_attributes(
                {":shard": shard, ":before": f"{as_of.isoformat()}#\uffff"}
            ),
        }
        for item in self._paginate(params):
            yield item["PK"].removeprefix("CONTRACT#")

    def notice_shards(self) -> list[str]:
        return keys.all_notice_shards()

    def notice_contract_ids(self, as_of: date, shard: str) -> Iterator[str]:
        """Ids of the contracts in one shard of the notice index with a renewal notice due on `as_of`
        (KEYS_ONLY reads): one Query per lead, each an exact range of `<lead>#<next notice date>`."""
        for lead in notices.ALL_LEADS:
            first, last = keys.notice_range(as_of, lead)
            params: dict[str, Any] = {
                "IndexName": "NoticeIndex",
                "KeyConditionExpression": "NoticePK = :shard AND NoticeSK BETWEEN :first AND :last",
                "ExpressionAttributeValues": to_attributes({":shard": shard, ":first": first, ":last": last}),
            }
            for item in self._paginate(params):
                yield item["PK"].removeprefix("CONTRACT#")

    def unsettled_payment_ids(self, started_before: datetime) -> Iterator[str]:
        """Ids of the payments not yet settled that started before `started_before` (KEYS_ONLY reads)."""
        for shard in keys.all_unsettled_shards():
            params: dict[str, Any] = {
                "IndexName": "UnsettledIndex",
                "KeyConditionExpression": "UnsettledPK = :shard AND UnsettledSK < :before",
                "ExpressionAttributeValues": to_attributes({":shard": shard, ":before": iso(started_before)}),
            }
            for item in self._paginate(params):
                yield item["PK"].removeprefix("PAYMENT#")

    def _paginate(self, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        while True:
            answer = self.client.query(TableName=self.table, **params)
            for raw in answer.get("Items", []):
                yield from_attributes(raw)
            if "LastEvaluatedKey" not in answer:
                return
            params = {**params, "ExclusiveStartKey": answer["LastEvaluatedKey"]}

    # -- writes -----------------------------------------------------------------------------------
    def unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(self.client, self.table, self.clock)

    def put_items(self, items: list[dict[str, Any]]) -> None:
        """Bulk load (seeds, benchmarks): BatchWriteItem in chunks of 25, unprocessed items retried."""
        for start in range(0, len(items), 25):
            request = {self.table: [{"PutRequest": {"Item": to_attributes(i)}} for i in items[start:start + 25]]}
            while request:
                answer = self.client.batch_write_item(RequestItems=request)
                request = answer.get("UnprocessedItems") or {}
