"""Renewal at scale: N contracts, D of them due, through scheduler -> queue -> worker, in process on moto.

The seed is generated in the seed-file format (one subscription per contract, 100 contracts per team),
checked by the seed loader and written with `Repository.put_items`. It is the night's steady state: the
renewal notices of earlier nights were sent (`notices_sent`), so tonight's notices are those due
tonight. Once loaded, the table is moved out of the garbage collector's sight (`gc.freeze()`): it stands
for DynamoDB, not for the function's heap, and full collections over 100,000 moto items would otherwise
be charged to the worker.

moto also backs up every table a transaction touches with a deep copy of the whole table, once
per action: at 100,000 contracts that is seconds per renewal, where DynamoDB's cost does not grow
with the table. While this benchmark runs, the backup is made of the touched items only
(`item_level_transaction_backups`), with the same all-or-nothing outcome.

The queue is drained as the SQS event source mapping does: up to 10 messages per worker
invocation, successful messages deleted. Renewals per second are the median over those batches.
After each batch, the floor renews the batch's contracts again, bare (boto3 client, no hooks): the calls
a ledgered renewal needs, shaped like the worker's first renewal (`LEDGER_FLOOR`), each call timed, so
that the smaller floors (without the provider's calls; the old two calls) come from the same run.
The worker's AWS calls are timed one by one (`bench.profiling.CallTimer`), and every `PROFILE_EVERY`-th
batch runs under the stack sampler (left out of the rates): where the worker's time goes.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import itertools
import json
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from botocore import xform_name
from botocore.exceptions import ClientError

from bench.common import (
    EVENTS,
    AwsCalls,
    Call,
    World,
    median,
    progress,
    quiet_stdout,
    timed_call,
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


# The calls of one ledgered renewal, by what they do (`kind_of`), in the worker's order. LEDGER_FLOOR is
# the floor the target is measured against: every call a renewal through the ledger needs, once. The
# worker makes one more: the provider's state read right after the payment was created (ledger.take ->
# gateway.get_payment), which the provider's create already answers.
CONTRACT_READ, PAYMENT_RECORD, PROVIDER_CREATE = "contract read", "payment record", "provider: create"
PROVIDER_ID, PROVIDER_READ, PROVIDER_CONFIRM = "provider id", "provider: read", "provider: confirm"
RENEWAL_TRANSACTION = "renewal transaction"
LEDGER_FLOOR = (CONTRACT_READ, PAYMENT_RECORD, PROVIDER_CREATE, PROVIDER_ID, PROVIDER_READ, PROVIDER_CONFIRM,
                RENEWAL_TRANSACTION)
TABLE_FLOOR = (CONTRACT_READ, PAYMENT_RECORD, PROVIDER_ID, RENEWAL_TRANSACTION)  # the table's calls only
TWO_CALL_FLOOR = (CONTRACT_READ, RENEWAL_TRANSACTION)  # the floor before the ledger
FLOORS = {"ledger": LEDGER_FLOOR, "table": TABLE_FLOOR, "two_call": TWO_CALL_FLOOR}
PROFILE_EVERY = 10  # every 10th batch (the 6th, 16th, ...) runs under the stack sampler, out of the rates


def kind_of(operation: str, params: dict[str, Any]) -> str:
    """What one call of the worker does (see LEDGER_FLOOR)."""
    item = params.get("Key") or params.get("Item") or {}
    pk = item.get("PK", {}).get("S", "")
    if pk == "SANDBOX#CHARGES":  # the sandbox provider's payments (with Stripe: HTTPS calls)
        if operation == "PutItem":
            return PROVIDER_CREATE if params.get("ConditionExpression") else PROVIDER_CONFIRM
        return PROVIDER_READ
    if operation == "TransactWriteItems":
        return RENEWAL_TRANSACTION if _writes_order(params) else PAYMENT_RECORD
    if pk.startswith("CONTRACT#") and operation == "GetItem":
        return CONTRACT_READ
    if pk.startswith("PAYMENT#"):
        return PROVIDER_ID if operation == "PutItem" else f"payment {operation}"
    return f"{pk.split('#')[0].lower() or 'other'} {operation}"


def drain(world: World, worker: Any, on_batch: Any = None) -> dict[str, Any]:
    """Deliver the queue to the worker as the event source mapping does. Rates are timed on the worker
    invocations alone: receiving and deleting messages is the mapping's work, not the function's.
    The worker's calls are seen through `CallTimer` only (no botocore hooks on its clients: the floor's
    clients have none either); `calls` holds them, items and capacity estimated after each batch.
    `on_batch(contract_ids, timed_calls)` runs after each batch (the floor), untimed."""
    from bench.profiling import CallTimer, GcTimer, StackSampler

    sqs = world.client("sqs")
    rates: list[float] = []
    renewed = failed = batches = profiled_renewals = 0
    invoked = profiled_s = 0.0
    worker_calls: dict[str, list[float]] = {}
    sampled: Counter[str] = Counter()
    started = time.perf_counter()
    timer = CallTimer(keep_answers=True)
    collector = GcTimer()
    calls: list[Call] = []
    while True:
        messages = sqs.receive_message(QueueUrl=world.queue_url, MaxNumberOfMessages=BATCH).get("Messages", [])
        if not messages:
            break
        event = sqs_records(messages)
        profiled = batches % PROFILE_EVERY == PROFILE_EVERY // 2 and batches > 0
        sampler = StackSampler().start() if profiled else None
        with timer, collector:
            collector.active = not profiled
            invocation_started = time.perf_counter()
            answer = worker(event, LambdaContext())
            elapsed = time.perf_counter() - invocation_started
            collector.active = False
        if sampler is not None:
            sampled.update(sampler.stop())
        timed = timer.clear()
        batch_calls = [timed_call(record) for record in timed]
        calls += batch_calls
        writes = _renewal_writes(batch_calls)
        failures = {f["itemIdentifier"] for f in answer.get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failures]
        if done:
            sqs.delete_message_batch(QueueUrl=world.queue_url, Entries=[
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(done)])
        renewed += writes
        failed += len(failures)
        batches += 1
        if profiled:
            profiled_s += elapsed
            profiled_renewals += writes
        else:
            invoked += elapsed
            rates.append(writes / elapsed)
            for call in timed:
                worker_calls.setdefault(kind_of(call["operation"], call["params"]), []).append(call["seconds"])
        if on_batch is not None:
            on_batch([json.loads(m["Body"])["contract_id"] for m in done], timed)
        if batches % 20 == 0:
            progress(f"renewal   worker: {renewed} renewed in {batches} batches")
    return {"seconds": time.perf_counter() - started, "invoked_s": invoked, "rates": rates, "renewed": renewed,
            "calls": calls, "gc_s": collector.seconds, "gc_collections": collector.collections,
            "failed": failed, "batches": batches, "worker_calls": worker_calls, "sampled": sampled,
            "profiled_batches": batches - len(rates), "profiled_s": profiled_s,
            "profiled_renewals": profiled_renewals, "timed_renewals": renewed - profiled_renewals}


def _renewal_writes(calls: list[Call]) -> int:
    """Renewed periods: the transactions that write a renewal order (the payment's own record is another)."""
    return sum(1 for c in calls if c.operation == "TransactWriteItems" and not c.error and _writes_order(c.params))


def _writes_order(params: dict[str, Any]) -> bool:
    return any(a.get("Put", {}).get("Item", {}).get("SK", {}).get("S") == "#ORDER" for a in params["TransactItems"])


class LedgerFloor:
    """One renewal's floor calls, made for any due contract: the worker's first renewal (its calls, as
    sent) with the contract id and every order, payment, event and charge id replaced by fresh ones of
    the same length, and the contract written as read, its version checked and bumped as the worker's."""

    ID_ATTRIBUTES = ("order_id", "payment_id", "event_id", "charge_id")

    def __init__(self, contract_id: str, calls: list[dict[str, Any]]) -> None:
        self.contract_id = contract_id
        self.calls: list[tuple[str, str, str]] = []  # (kind, operation, parameters as JSON)
        taken: Counter[str] = Counter()
        ids: set[str] = set()
        for call in calls:
            kind = kind_of(call["operation"], call["params"])
            if kind in LEDGER_FLOOR and taken[kind] == 0:
                taken[kind] += 1
                self.calls.append((kind, call["operation"], json.dumps(call["params"])))
                ids.update(self._ids(call["params"]))
        self.ids = sorted(ids, key=len, reverse=True)  # longest first: no id is replaced inside another
        self.missing = [kind for kind in LEDGER_FLOOR if not taken[kind]]
        versions = [int(v) for _, op, text in self.calls if op == "TransactWriteItems"
                    for v in self._contract_conditions(json.loads(text))]
        self.base_version = min(versions) if versions else 0
        self.serial = itertools.count(1 << 40)

    def _ids(self, params: dict[str, Any]) -> set[str]:
        found = set()
        bodies = [next(iter(a.values())) for a in params.get("TransactItems", [])] or [params]
        for body in bodies:
            item = body.get("Item") or body.get("Key") or {}
            for name in self.ID_ATTRIBUTES:
                if "S" in item.get(name, {}):
                    found.add(item[name]["S"])
            if item.get("PK", {}).get("S") == "SANDBOX#CHARGES":
                found.add(item["SK"]["S"])
        return found

    def _is_contract(self, put: dict[str, Any]) -> bool:
        return put["Item"]["SK"]["S"] == "#CONTRACT" and put["Item"]["PK"]["S"].startswith("CONTRACT#")

    def _contract_conditions(self, params: dict[str, Any]) -> list[str]:
        return [a["Put"]["ExpressionAttributeValues"][":v"]["N"] for a in params["TransactItems"]
                if "Put" in a and self._is_contract(a["Put"]) and "ExpressionAttributeValues" in a["Put"]]

    def run(self, client: Any, contract_id: str, times: dict[str, list[float]]) -> int:
        """The floor's calls for `contract_id`, each timed into `times[kind]`; how many failed."""
        fresh = {old: f"{next(self.serial):0{len(old)}x}"[-len(old):] for old in self.ids}
        errors = 0
        item: dict[str, Any] | None = None
        for kind, operation, text in self.calls:
            text = text.replace(self.contract_id, contract_id)
            for old in self.ids:
                text = text.replace(old, fresh[old])
            params = json.loads(text)
            if operation == "TransactWriteItems" and item is not None:
                params = self._contract_as_read(params, item)
            method = getattr(client, xform_name(operation))
            started = time.perf_counter()
            try:
                answer = method(**params)
            except ClientError:
                errors += 1
                answer = {}
            times.setdefault(kind, []).append(time.perf_counter() - started)
            if kind == CONTRACT_READ:
                item = answer.get("Item")
        return errors

    def _contract_as_read(self, params: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
        read = int(item["version"]["N"])
        for action in params["TransactItems"]:
            put = action.get("Put")
            if put and self._is_contract(put) and "ExpressionAttributeValues" in put:
                offset = int(put["ExpressionAttributeValues"][":v"]["N"]) - self.base_version
                put["Item"] = {**item, "version": {"N": str(read + offset + 1)}}
                put["ExpressionAttributeValues"][":v"] = {"N": str(read + offset)}
        return params


def measure(world: World, contracts: int, due: int) -> dict[str, Any]:
    from infra import seed

    progress(f"renewal   generating {contracts} contracts, {due} due")
    records = seed.build_records(seed.parse(generate_seed(contracts, due)))
    steady = _notices_of_earlier_nights(records, DUE_DATE)
    items = [seed._item(record) for record in records]
    del records
    loading = {**load(items), "notices_sent_before": steady}
    due_ids = sorted(i["contract_id"] for i in items if i.get("renewal_date") == DUE_DATE.isoformat()
                     and i["SK"] == "#CONTRACT")
    del items
    gc.collect()
    gc.freeze()
    try:
        return _pipeline(world, contracts, due_ids, loading)
    finally:
        gc.unfreeze()


def _notices_of_earlier_nights(records: list[Any], today: date) -> int:
    """The night's steady state: every renewal notice due before `today` was sent on its night (a contract
    `lead` days or less before its renewal has its `lead`-day notice). How many contracts have one."""
    try:
        from seats.domain import notices
    except ImportError:  # no renewal notices yet
        return 0
    from seats.domain.model import Contract

    marked = 0
    for record in records:
        if isinstance(record, Contract) and notices.notified(record):
            days_left = (record.renewal_date - today).days
            record.notices_sent = [lead for lead in notices.LEADS[record.term] if days_left < lead]
            marked += bool(record.notices_sent)
    return marked


def _pipeline(world: World, contracts: int, due_ids: list[str], loading: dict[str, Any]) -> dict[str, Any]:
    from bench.profiling import GcTimer

    schedule_event = json.loads((EVENTS / "renewal_schedule.json").read_text())
    schedule_event["time"] = AS_OF
    floor_times: list[dict[str, list[float]]] = []  # per batch: seconds per call, by kind
    floor_errors = 0
    state: dict[str, Any] = {}
    floor_gc = GcTimer()

    def floor_batch(contract_ids: list[str], timed: list[dict[str, Any]]) -> None:
        nonlocal floor_errors
        if "floor" not in state:
            first = _first_renewal_calls(timed)
            if first is None:
                return
            state["floor"] = LedgerFloor(*first)
        times: dict[str, list[float]] = {}
        with floor_gc:
            floor_gc.active = True
            for contract_id in contract_ids:
                floor_errors += state["floor"].run(world.client("dynamodb"), contract_id, times)
            floor_gc.active = False
        floor_times.append(times)

    with quiet_stdout(), item_level_transaction_backups(), AwsCalls().attach(*function_clients()) as calls:
        progress("renewal   scheduler: querying the due index, sending the notices due")
        started = time.perf_counter()
        answer = handler_of("RenewalSchedulerFunction")(schedule_event, LambdaContext())
        scheduler_s = time.perf_counter() - started
        progress(f"renewal   scheduler: {answer} in {scheduler_s:.1f} s")
        scheduled = calls.clear()
        calls.detach()
        worker = drain(world, handler_of("RenewalWorkerFunction"), floor_batch)
        worked = worker["calls"]

    due = len(due_ids)
    index_items = sum(c.items_read for c in scheduled if _on_index(c, "DueIndex"))
    index_rcu = sum(c.rcu for c in scheduled if _on_index(c, "DueIndex"))
    reads = [c for c in worked if c.category() == "seats" and c.operation in ("GetItem", "BatchGetItem")]
    worker_items = sum(c.items_read for c in reads)
    worker_rcu = sum(c.rcu for c in reads)
    floors = {name: _floor_rates(floor_times, kinds) for name, kinds in FLOORS.items()}
    rate = round(median(worker["rates"]), 1)
    floor_rate = round(median(floors["ledger"]), 1) if floors["ledger"] else 0
    results: dict[str, Any] = {
        "contracts": contracts, "due": due,
        "items_read_per_due": round((index_items + worker_items) / due, 3) if due else 0,
        "rcu_per_due": round((index_rcu + worker_rcu) / due, 3) if due else 0,
        "renewals_per_s": rate,
        "floor_renewals_per_s": floor_rate,
        "worker_to_floor": round(median(worker["rates"]) / median(floors["ledger"]), 3) if floor_rate else 0,
        "two_call_floor_renewals_per_s": round(median(floors["two_call"]), 1) if floors["two_call"] else 0,
    }
    notices = _notices(scheduled, answer)
    if notices:
        results["notice_keys_per_notified"] = notices["keys_per_notified"]
    return {
        "results": results,
        "details": {
            **loading, "scheduler_answer": answer, "scheduler_s": round(scheduler_s, 1),
            "worker_s": round(worker["seconds"], 1), "worker_invocations_s": round(worker["invoked_s"], 1),
            "wall_s": round(scheduler_s + worker["seconds"], 1),
            "end_to_end_renewals_per_s": round(worker["renewed"] / (scheduler_s + worker["seconds"]), 1),
            "renewed": worker["renewed"], "failed_messages": worker["failed"], "batches": worker["batches"],
            "floor_batches": len(floor_times), "floor_errors": floor_errors,
            "floor_missing": state["floor"].missing if "floor" in state else list(LEDGER_FLOOR),
            "table_floor_renewals_per_s": round(median(floors["table"]), 1) if floors["table"] else 0,
            "index_items_per_due": round(index_items / due, 3) if due else 0,
            "worker_items_per_due": round(worker_items / due, 3) if due else 0,
            "index_rcu_per_due": round(index_rcu / due, 4) if due else 0,
            "worker_rcu_per_due": round(worker_rcu / due, 3) if due else 0,
            "worker_reads": _tally(reads), "worker_calls_per_due": _per(worked, due),
            "scheduler_calls": _tally(scheduled), "notices": notices,
            "time_per_renewal": {**_time_per_renewal(worker, floor_times),
                                 **_gc_per_renewal(worker, floor_gc, floor_times)},
        },
    }


def _on_index(call: Call, index: str) -> bool:
    return call.operation == "Query" and call.params.get("IndexName") == index


def _notices(scheduled: list[Call], answer: dict[str, Any]) -> dict[str, Any]:
    """The scheduler's notice query: index keys read per contract notified (each notified contract is one
    conditional transaction of the scheduler)."""
    queries = [c for c in scheduled if _on_index(c, "NoticeIndex")]
    if not queries:
        return {}
    keys = sum(c.items_read for c in queries)
    notified = sum(1 for c in scheduled if c.operation == "TransactWriteItems" and not c.error)
    lost = sum(1 for c in scheduled if c.operation == "TransactWriteItems" and c.error)
    contract_reads = sum(1 for c in scheduled if c.operation == "GetItem" and c.category() == "seats")
    return {
        "queries": len(queries), "keys_read": keys, "contracts_notified": notified, "notices_sent": answer.get("notices"),
        "keys_per_notified": round(keys / notified, 3) if notified else float(keys),
        "index_rcu": round(sum(c.rcu for c in queries), 1), "contract_reads": contract_reads,
        "lost_writes": lost, "write_wcu": round(sum(c.wcu for c in scheduled if c.operation == "TransactWriteItems"), 1),
    }


def _floor_rates(floor_times: list[dict[str, list[float]]], kinds: tuple[str, ...]) -> list[float]:
    """Renewals per second of a floor made of `kinds`, per batch."""
    rates = []
    for times in floor_times:
        renewals = len(times.get(CONTRACT_READ, []))
        seconds = sum(sum(times.get(kind, [])) for kind in kinds)
        if renewals and seconds:
            rates.append(renewals / seconds)
    return rates


def _time_per_renewal(worker: dict[str, Any], floor_times: list[dict[str, list[float]]]) -> dict[str, Any]:
    """Milliseconds per renewal: the worker's (invocations not sampled) in AWS calls by kind and in its own
    code by package (the sampler's shares of what is not an AWS call), and the floor's calls by kind."""
    from bench.profiling import shares

    renewals = worker["timed_renewals"]
    if not renewals or not worker["invoked_s"]:
        return {}
    total_ms = worker["invoked_s"] * 1000 / renewals
    calls = {kind: {"ms": round(sum(t) * 1000 / renewals, 3), "per_renewal": round(len(t) / renewals, 2)}
             for kind, t in sorted(worker["worker_calls"].items(), key=lambda kv: -sum(kv[1]))}
    calls_ms = sum(c["ms"] for c in calls.values())
    floor_renewals = sum(len(t.get(CONTRACT_READ, [])) for t in floor_times)
    floor = {kind: round(sum(sum(t.get(kind, [])) for t in floor_times) * 1000 / floor_renewals, 3)
             for kind in LEDGER_FLOOR} if floor_renewals else {}
    sampled = worker["sampled"]
    ours_samples = {k: v for k, v in sampled.items() if not k.startswith("AWS calls")}
    return {
        "worker_ms": round(total_ms, 3), "worker_calls_ms": round(calls_ms, 3),
        "worker_own_ms": round(total_ms - calls_ms, 3), "worker_calls": calls,
        "worker_own_by_package": shares(ours_samples, total_ms - calls_ms),
        "sampled": {"batches": worker["profiled_batches"], "samples": sum(sampled.values()),
                    "aws_share": round(sum(v for k, v in sampled.items() if k.startswith("AWS calls"))
                                       / max(1, sum(sampled.values())), 3),
                    "by_category": dict(sampled.most_common())},
        "floor_ms": round(sum(floor.values()), 3), "floor_calls": floor,
    }


def _gc_per_renewal(worker: dict[str, Any], floor_gc: Any, floor_times: list[dict[str, list[float]]]) -> dict[str, Any]:
    """Milliseconds of garbage collection per renewal, in the worker (invocations not sampled) and in the floor."""
    floor_renewals = sum(len(t.get(CONTRACT_READ, [])) for t in floor_times)
    if not worker["timed_renewals"] or not floor_renewals:
        return {}
    return {"worker_gc_ms": round(worker["gc_s"] * 1000 / worker["timed_renewals"], 3),
            "floor_gc_ms": round(floor_gc.seconds * 1000 / floor_renewals, 3),
            "gc_collections": {"worker": worker["gc_collections"], "floor": floor_gc.collections}}


def _first_renewal_calls(timed: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]] | None:
    """The calls of the first contract renewed in a batch: from its contract read to its renewal transaction."""
    for end, call in enumerate(timed):
        if kind_of(call["operation"], call["params"]) == RENEWAL_TRANSACTION and not call["error"]:
            contract_id = next(a["Put"]["Item"]["contract_id"]["S"] for a in call["params"]["TransactItems"]
                               if "Put" in a and a["Put"]["Item"]["SK"]["S"] == "#CONTRACT")
            begin = max(n for n in range(end + 1) if kind_of(timed[n]["operation"], timed[n]["params"]) == CONTRACT_READ
                        and timed[n]["params"]["Key"]["PK"]["S"] == f"CONTRACT#{contract_id}")
            return contract_id, copy.deepcopy(timed[begin:end + 1])
    return None


def _tally(calls: list[Call]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for call in calls:
        name = f"{call.category()}:{call.operation}"
        counts[name] = counts.get(name, 0) + 1
    return counts


def _per(calls: list[Call], due: int) -> dict[str, float]:
    return {name: round(count / due, 2) for name, count in _tally(calls).items()} if due else {}
