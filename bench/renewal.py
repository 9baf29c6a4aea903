"""Renewal at scale: N contracts, D of them due, through scheduler -> queue -> worker, in process on moto.

The seed is generated in the seed-file format (one subscription per contract, 100 contracts per team),
checked by the seed loader and written with `Repository.put_items`. Once loaded, the table is moved
out of the garbage collector's sight (`gc.freeze()`): it stands for DynamoDB, not for the function's
heap, and full collections over 100,000 moto items would otherwise be charged to the worker.

moto also backs up every table a transaction touches with a deep copy of the whole table, once
per action: at 100,000 contracts that is seconds per renewal, where DynamoDB's cost does not grow
with the table. While this benchmark runs, the backup is made of the touched items only
(`item_level_transaction_backups`), with the same all-or-nothing outcome.

The queue is drained as the SQS event source mapping does: up to 10 messages per worker
invocation, successful messages deleted. Renewals per second are the median over those batches;
the floor is the same count of batches of 10 due contracts, each contract one GetItem and one
TransactWriteItems shaped like the worker's, with a bare boto3 client.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import itertools
import json
import time
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from bench.common import (
    EVENTS,
    AwsCalls,
    Call,
    World,
    median,
    progress,
    quiet_stdout,
)
from bench.requests import function_clients
from infra.handlers import LambdaContext, handler_of

AS_OF = "2027-03-01T02:00:00Z"
DUE_DATE = date(2027, 3, 1)
PER_TEAM = 100
BATCH = 10  # the template's SQS BatchSize
LOAD_CHUNK = 5_000


def generate_seed(contracts: int, due: int) -> dict[str, Any]:
    """Teams of PER_TEAM contracts; every (contracts // due)-th contract renews on DUE_DATE, the others
    later in the year (spread over 365 days)."""
    step = max(1, contracts // due)
    accounts = []
    for team in range((contracts + PER_TEAM - 1) // PER_TEAM):
        account_id, manager = f"t{team:05d}", f"u{team:05d}"
        rows = []
        for n in range(team * PER_TEAM, min(contracts, (team + 1) * PER_TEAM)):
            is_due = n % step == 0 and n // step < due
            renewal = DUE_DATE if is_due else DUE_DATE + timedelta(days=1 + n % 365)
            if (renewal.month, renewal.day) == (2, 29):  # a year earlier has no 29 February
                renewal -= timedelta(days=1)
            rows.append({
                "contract_id": f"c{n:09d}", "contract_manager": manager, "purchase_channel": "online",
                "auto_renew": True, "term": "annual", "term_start": renewal.replace(year=renewal.year - 1).isoformat(),
                "renewal_date": renewal.isoformat(), "payment_method_id": "pm1",
                "subscriptions": [{"subscription_id": "s1", "product": "AutoCAD", "seats": 10, "assigned_seats": 5,
                                   "unit_price": "1975.00"}],
            })
        accounts.append({"account_id": account_id, "name": f"Team {team}", "country": "US", "currency": "USD",
                         "users": [{"user_id": manager, "email": f"{manager}@bench.test", "role": "primary_admin"}],
                         "payment_methods": [{"payment_method_id": "pm1", "token": "tok_visa"}],
                         "contracts": rows})
    return {"accounts": accounts}


def load(items: list[dict[str, Any]]) -> dict[str, Any]:
    """All items through Repository.put_items (BatchWriteItem, 25 items a call), with moto's item-size
    check switched off meanwhile: it re-measures the whole item for every attribute set (quadratic), and
    these items are about 1 KB of the 400 KB allowed."""
    from moto.dynamodb.models import dynamo_type

    from seats import bootstrap

    repository = bootstrap.repository()
    checked = dynamo_type.LimitedSizeDict.__setitem__
    started = time.perf_counter()
    dynamo_type.LimitedSizeDict.__setitem__ = dict.__setitem__  # type: ignore[method-assign]
    try:
        for start in range(0, len(items), LOAD_CHUNK):
            repository.put_items(items[start:start + LOAD_CHUNK])
            if (start // LOAD_CHUNK) % 4 == 3:
                progress(f"renewal   loaded {start + LOAD_CHUNK} of {len(items)} items")
    finally:
        dynamo_type.LimitedSizeDict.__setitem__ = checked  # type: ignore[method-assign]
    seconds = time.perf_counter() - started
    return {"items": len(items), "load_s": round(seconds, 1), "put_items_per_s": round(len(items) / seconds)}


@contextlib.contextmanager
def item_level_transaction_backups() -> Iterator[None]:
    """moto's TransactWriteItems, rolled back from copies of the items it touches, not of whole tables."""
    import moto.dynamodb.models as models
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    class TablesNotCopied:
        """Stands in for the `copy` module inside moto.dynamodb.models: a Table is not copied."""

        def __getattr__(self, name: str) -> Any:
            return getattr(copy, name)

        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    original = models.DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved = []
        for action in transact_items:
            with contextlib.suppress(Exception):  # a malformed action: moto itself refuses it below
                op = next(iter(action.values()))
                table = self.tables[op["TableName"]]
                key = op.get("Key") or op["Item"]
                hash_key = DynamoType(key[table.hash_key_attr])
                range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
                saved.append((table, hash_key, range_key, copy.deepcopy(table.get_item(hash_key, range_key))))
        try:
            original(self, transact_items)
        except Exception:
            for table, hash_key, range_key, item in reversed(saved):
                if item is None:
                    table.delete_item(hash_key, range_key)
                elif range_key is None:
                    table.items[hash_key] = item
                else:
                    table.items[hash_key][range_key] = item
            raise

    real_copy = models.copy
    models.copy = TablesNotCopied()  # type: ignore[assignment]
    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    try:
        yield
    finally:
        models.copy = real_copy
        models.DynamoDBBackend.transact_write_items = original  # type: ignore[method-assign]


def sqs_records(messages: list[dict[str, Any]]) -> dict[str, Any]:
    template = json.loads((EVENTS / "renewal_sqs_batch.json").read_text())["Records"][0]
    records = []
    for message in messages:
        record = copy.deepcopy(template)
        record.update(messageId=message["MessageId"], receiptHandle=message["ReceiptHandle"], body=message["Body"],
                      md5OfBody=message["MD5OfBody"])
        records.append(record)
    return {"Records": records}


def drain(world: World, worker: Any, calls: AwsCalls) -> dict[str, Any]:
    """Deliver the queue to the worker as the event source mapping does. Rates are timed on the worker
    invocations alone: receiving and deleting messages is the mapping's work, not the function's."""
    sqs = world.client("sqs")
    rates: list[float] = []
    renewed = failed = batches = 0
    invoked = 0.0
    started = time.perf_counter()
    while True:
        messages = sqs.receive_message(QueueUrl=world.queue_url, MaxNumberOfMessages=BATCH).get("Messages", [])
        if not messages:
            break
        event = sqs_records(messages)
        writes_before = _renewal_writes(calls)
        invocation_started = time.perf_counter()
        answer = worker(event, LambdaContext())
        elapsed = time.perf_counter() - invocation_started
        writes = _renewal_writes(calls) - writes_before
        failures = {f["itemIdentifier"] for f in answer.get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failures]
        if done:
            sqs.delete_message_batch(QueueUrl=world.queue_url, Entries=[
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(done)])
        invoked += elapsed
        renewed += writes
        failed += len(failures)
        batches += 1
        rates.append(writes / elapsed)
        if batches % 20 == 0:
            progress(f"renewal   worker: {renewed} renewed in {batches} batches")
    return {"seconds": time.perf_counter() - started, "invoked_s": invoked, "rates": rates, "renewed": renewed,
            "failed": failed, "batches": batches}


def _renewal_writes(calls: AwsCalls) -> int:
    """Renewed periods: the transactions that write a renewal order (the payment's own record is another)."""
    return sum(1 for c in calls.calls if c.operation == "TransactWriteItems" and not c.error and _writes_order(c.params))


def _writes_order(params: dict[str, Any]) -> bool:
    return any(a.get("Put", {}).get("Item", {}).get("SK", {}).get("S") == "#ORDER" for a in params["TransactItems"])


def _floor_transaction(template: dict[str, Any], first: str, contract_id: str, item: dict[str, Any],
                       serial: int) -> list[dict[str, Any]]:
    """The worker's TransactWriteItems for `first`, made for `contract_id`: the contract as read, its
    version checked and bumped, and the other items (order, history) with fresh ids of the same length."""
    actions = []
    for action in template["TransactItems"]:
        put = action.get("Put")
        if put and put["Item"]["PK"]["S"] == f"CONTRACT#{first}" and put["Item"]["SK"]["S"] == "#CONTRACT":
            version = item["version"]["N"]
            actions.append({"Put": {**put, "Item": {**item, "version": {"N": str(int(version) + 1)}},
                                    "ExpressionAttributeValues": {":v": {"N": version}}}})
            continue
        text = json.dumps(action).replace(first, contract_id)
        for old in _ids(action):
            text = text.replace(old, f"{serial:0{len(old)}x}"[-len(old):])
        actions.append(_as_new(json.loads(text)))
    return actions


def _as_new(action: dict[str, Any]) -> dict[str, Any]:
    """A versioned put other than the contract's (the ledger payment the renewal settles) written as a new
    item: the floor has no payment of its own to condition on."""
    put = action.get("Put")
    if put and put.get("ConditionExpression") == "version = :v":
        put = {k: v for k, v in put.items() if k != "ExpressionAttributeValues"}
        return {"Put": {**put, "ConditionExpression": "attribute_not_exists(PK)"}}
    return action


def _ids(action: dict[str, Any]) -> list[str]:
    """Order and event ids an action's item carries (to be replaced by fresh ones)."""
    body = next(iter(action.values()))
    item = body.get("Item") or body.get("Key") or {}
    found = []
    for name in ("order_id", "event_id", "payment_id"):
        if name in item and "S" in item[name]:
            found.append(item[name]["S"])
    return found


def floor(world: World, template: dict[str, Any], first: str, due_ids: list[str]) -> list[float]:
    from seats.adapters.dynamodb import keys
    from seats.adapters.dynamodb.repository import to_attributes

    ddb = world.client("dynamodb")
    table = json.loads(json.dumps(template["TransactItems"][0]))
    table_name = next(iter(table.values()))["TableName"]
    serial = itertools.count(1 << 40)
    rates = []
    for start in range(0, len(due_ids), BATCH):
        chunk = due_ids[start:start + BATCH]
        started = time.perf_counter()
        for contract_id in chunk:
            item = ddb.get_item(TableName=table_name, Key=to_attributes(keys.contract_key(contract_id)),
                                ConsistentRead=True)["Item"]
            ddb.transact_write_items(TransactItems=_floor_transaction(template, first, contract_id, item,
                                                                      next(serial)))
        rates.append(len(chunk) / (time.perf_counter() - started))
    return rates


def measure(world: World, contracts: int, due: int) -> dict[str, Any]:
    from infra import seed

    progress(f"renewal   generating {contracts} contracts, {due} due")
    items = seed.build_items(seed.parse(generate_seed(contracts, due)))
    loading = load(items)
    due_ids = sorted(i["contract_id"] for i in items if i.get("renewal_date") == DUE_DATE.isoformat()
                     and i["SK"] == "#CONTRACT")
    del items
    gc.collect()
    gc.freeze()
    try:
        return _pipeline(world, contracts, due_ids, loading)
    finally:
        gc.unfreeze()


def _pipeline(world: World, contracts: int, due_ids: list[str], loading: dict[str, Any]) -> dict[str, Any]:
    schedule_event = json.loads((EVENTS / "renewal_schedule.json").read_text())
    schedule_event["time"] = AS_OF
    with quiet_stdout(), item_level_transaction_backups(), AwsCalls().attach(*function_clients()) as calls:
        progress("renewal   scheduler: querying the due index")
        started = time.perf_counter()
        answer = handler_of("RenewalSchedulerFunction")(schedule_event, LambdaContext())
        scheduler_s = time.perf_counter() - started
        progress(f"renewal   scheduler: {answer} in {scheduler_s:.1f} s")
        scheduled = calls.clear()
        worker = drain(world, handler_of("RenewalWorkerFunction"), calls)
        worked = calls.clear()

    index_items = sum(c.items_read for c in scheduled if c.operation == "Query"
                      and c.params.get("IndexName") == "DueIndex")
    reads = [c for c in worked if c.category() == "seats" and c.operation in ("GetItem", "BatchGetItem")]
    worker_items = sum(c.items_read for c in reads)
    index_rcu = sum(c.rcu for c in scheduled if c.operation == "Query" and c.params.get("IndexName") == "DueIndex")
    worker_rcu = sum(c.rcu for c in reads)
    transaction = _first_renewal(worked)
    floor_rates: list[float] = []
    if transaction is not None:
        first, template = transaction
        progress("renewal   floor: GetItem + TransactWriteItems per due contract, bare boto3")
        with item_level_transaction_backups():
            floor_rates = floor(world, template, first, due_ids)
    due = len(due_ids)
    return {
        "results": {
            "contracts": contracts, "due": due,
            "items_read_per_due": round((index_items + worker_items) / due, 3) if due else 0,
            "renewals_per_s": round(median(worker["rates"]), 1),
            "floor_renewals_per_s": round(median(floor_rates), 1) if floor_rates else 0,
        },
        "details": {
            **loading, "scheduler_answer": answer, "scheduler_s": round(scheduler_s, 1),
            "worker_s": round(worker["seconds"], 1), "worker_invocations_s": round(worker["invoked_s"], 1),
            "wall_s": round(scheduler_s + worker["seconds"], 1),
            "end_to_end_renewals_per_s": round(worker["renewed"] / (scheduler_s + worker["seconds"]), 1),
            "renewed": worker["renewed"], "failed_messages": worker["failed"], "batches": worker["batches"],
            "floor_batches": len(floor_rates),
            "index_items_per_due": round(index_items / due, 3) if due else 0,
            "worker_items_per_due": round(worker_items / due, 3) if due else 0,
            "index_rcu_per_due": round(index_rcu / due, 4) if due else 0,
            "worker_rcu_per_due": round(worker_rcu / due, 3) if due else 0,
            "worker_reads": _tally(reads), "worker_calls_per_due": _per(worked, due),
            "scheduler_calls": _tally(scheduled),
        },
    }


def _first_renewal(calls: list[Call]) -> tuple[str, dict[str, Any]] | None:
    for call in calls:
        if call.operation == "TransactWriteItems" and not call.error and _writes_order(call.params):
            for action in call.params["TransactItems"]:
                put = action.get("Put")
                if put and put["Item"]["SK"]["S"] == "#CONTRACT":
                    return put["Item"]["contract_id"]["S"], copy.deepcopy(call.params)
    return None


def _tally(calls: list[Call]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for call in calls:
        name = f"{call.category()}:{call.operation}"
        counts[name] = counts.get(name, 0) + 1
    return counts


def _per(calls: list[Call], due: int) -> dict[str, float]:
    return {name: round(count / due, 2) for name, count in _tally(calls).items()} if due else {}
