"""What every benchmark shares: the functions' environment, moto worlds, AWS call recording, statistics."""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
DEMO_SEED = ROOT / "infra" / "local" / "demo_seed.json"
NOW = "2026-11-29T10:00:00Z"  # the tests' fixed clock: every renewal date of the demo seed is ahead
BUS = "seats-bus"
REGION = "us-east-1"
RENEWAL_QUEUE = "RenewalQueue"

# What template.yaml's Globals give every function (resources resolved to their local names).
FUNCTION_ENV = {
    "AWS_DEFAULT_REGION": REGION, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
    "TABLE_NAME": "SeatsTable", "IDEMPOTENCY_TABLE_NAME": "IdempotencyTable", "EVENT_BUS_NAME": BUS,
    "SEATS_PAYMENTS": "sandbox", "SEATS_NOW": NOW, "POWERTOOLS_SERVICE_NAME": "seats",
    "POWERTOOLS_METRICS_NAMESPACE": "Seats", "POWERTOOLS_LOG_LEVEL": "INFO",
    "POWERTOOLS_LOGGER_LOG_EVENT": "false", "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
    "PYDANTIC_DISABLE_PLUGINS": "__all__", "STRIPE_WEBHOOK_SECRET": "whsec_seats_local",  # the local runtime's
}
UNSET_ENV = ("AWS_ENDPOINT_URL", "AWS_PROFILE", "RENEWAL_QUEUE_URL", "STRIPE_API_KEY")

_STARTED = time.perf_counter()


def progress(message: str) -> None:
    """Progress goes to stderr: the handlers' logs and metrics (stdout) are silenced while measuring."""
    print(f"[bench {time.perf_counter() - _STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


# -- statistics -------------------------------------------------------------------------------------------

def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (p99 of 100 runs is the 99th fastest)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def ratio(value: float, floor: float) -> float:
    return round(value / floor, 2) if floor else float("nan")


def machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"nproc": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "cpu": cpu}


# -- environment --------------------------------------------------------------------------------------------

@contextlib.contextmanager
def patched_env(values: dict[str, str], unset: tuple[str, ...] = UNSET_ENV) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in [*values, *unset]}
    for name in unset:
        os.environ.pop(name, None)
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Send fd 1 to /dev/null: the functions' JSON logs and EMF metrics are written, just not shown."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def demo_seed() -> dict[str, Any]:
    return json.loads(DEMO_SEED.read_text(encoding="utf-8"))


# -- a moto world, in process --------------------------------------------------------------------------------

@dataclass
class World:
    """moto (in process) with the template's tables, the bus and the renewal queue."""

    queue_url: str
    clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        """A bare client, not the one the functions use: for set-up and for floors."""
        import boto3

        if service not in self.clients:
            self.clients[service] = boto3.client(service)  # type: ignore[call-overload]
        return self.clients[service]

    def reset_tables(self) -> None:
        """Empty tables (dropped and created again from template.yaml)."""
        from infra import template

        ddb = self.client("dynamodb")
        for name in template.create_table_requests():
            ddb.delete_table(TableName=name)
        template.create_tables(ddb, streams=False)

    def load_demo_seed(self) -> None:
        from infra import seed
        from seats import bootstrap

        seed.load(bootstrap.repository(), demo_seed())


@contextlib.contextmanager
def mocked_world() -> Iterator[World]:
    import boto3
    from moto import mock_aws

    from infra import template
    from seats import bootstrap

    with patched_env(FUNCTION_ENV), mock_aws():
        # No table streams in process: moto keeps every stream record inside the table, which its
        # TransactWriteItems deep-copies whole, so each write would cost more than the last (DynamoDB's
        # stream costs the writer nothing). The outbox relay is measured by its own cold start.
        template.create_tables(boto3.client("dynamodb"), streams=False)
        boto3.client("events").create_event_bus(Name=BUS)
        url = boto3.client("sqs").create_queue(QueueName=RENEWAL_QUEUE,
                                               Attributes={"VisibilityTimeout": "720"})["QueueUrl"]
        os.environ["RENEWAL_QUEUE_URL"] = url
        bootstrap.reset()
        try:
            yield World(queue_url=url)
        finally:
            bootstrap.reset()
    bootstrap.reset()


# -- AWS calls, recorded with botocore event hooks ----------------------------------------------------------

READS = {"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"}
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}


@dataclass
class Call:
    service: str
    operation: str
    params: dict[str, Any]
    items_read: int = 0
    rcu: float = 0.0  # estimated from item sizes (moto's ConsumedCapacity is a placeholder)
    wcu: float = 0.0
    error: str | None = None
    answer: dict[str, Any] | None = field(default=None, repr=False)  # the parsed answer, until estimated

    @property
    def table(self) -> str | None:
        return self.params.get("TableName")

    @property
    def is_sandbox_payment(self) -> bool:
        """The sandbox gateway keeps its charges in SeatsTable; with Stripe these are HTTPS calls instead."""
        return "SANDBOX#CHARGES" in json.dumps(self.params.get("Key") or self.params.get("Item")
                                               or self.params.get("ExpressionAttributeValues") or {})

    def category(self, idempotency_table: str = "IdempotencyTable") -> str:
        if self.service != "dynamodb":
            return self.service
        if self.table == idempotency_table:
            return "idempotency"
        if self.is_sandbox_payment:
            return "sandbox_payment"
        return "seats"


class AwsCalls:
    """Records every call made through the clients it is attached to.

    `before-parameter-build` sees the API parameters (kept for replays), `before-call` counts the
    request as sent, `after-call` counts the items returned and estimates the capacity used.
    `before_write`, if given, is called before a write is sent (to save what it will overwrite).
    Items and capacity are estimated when the calls are read (`clear()`, `estimated()`), not while the
    handler runs: the hooks cost a measured handler next to nothing.
    """

    def __init__(self, *, copy_params: bool = False,
                 before_write: Callable[[str, dict[str, Any]], None] | None = None) -> None:
        self.copy_params = copy_params
        self.before_write = before_write
        self.calls: list[Call] = []
        self._attached: list[Any] = []
        self.sent = 0

    def attach(self, *clients: Any) -> AwsCalls:
        for client in {id(c): c for c in clients}.values():
            service = client.meta.service_model.service_id.hyphenize()
            events = client.meta.events
            events.register(f"before-parameter-build.{service}.*", self._build, unique_id=f"bench-build-{id(self)}")
            events.register(f"before-call.{service}.*", self._sent, unique_id=f"bench-sent-{id(self)}")
            events.register(f"after-call.{service}.*", self._answered, unique_id=f"bench-after-{id(self)}")
            self._attached.append(client)
        return self

    def detach(self) -> None:
        for client in self._attached:
            service = client.meta.service_model.service_id.hyphenize()
            events = client.meta.events
            events.unregister(f"before-parameter-build.{service}.*", unique_id=f"bench-build-{id(self)}")
            events.unregister(f"before-call.{service}.*", unique_id=f"bench-sent-{id(self)}")
            events.unregister(f"after-call.{service}.*", unique_id=f"bench-after-{id(self)}")
        self._attached = []

    def __enter__(self) -> AwsCalls:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.detach()

    def clear(self) -> list[Call]:
        calls = self.estimated()
        self.calls, self.sent = [], 0
        return calls

    def estimated(self) -> list[Call]:
        """The calls so far, their items and capacity estimated."""
        for call in self.calls:
            if call.answer is not None:
                if call.service == "dynamodb":
                    _estimate(call, call.answer)
                call.answer = None
        return self.calls

    # botocore handlers -----------------------------------------------------------------------------------
    def _build(self, params: dict[str, Any], model: Any, context: dict[str, Any], event_name: str,
               **_: Any) -> None:
        service = event_name.split(".")[1]
        if self.before_write is not None and service == "dynamodb" and model.name in WRITES:
            self.before_write(model.name, params)
        call = Call(service, model.name, copy.deepcopy(params) if self.copy_params else params)
        context["bench_call"] = call
        self.calls.append(call)

    def _sent(self, **_: Any) -> None:
        self.sent += 1

    def _answered(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        call = context.get("bench_call")
        if call is None:
            return
        if "Error" in parsed:
            call.error = parsed["Error"].get("Code")
        call.answer = parsed


def timed_call(record: dict[str, Any]) -> Call:
    """A call timed by `bench.profiling.CallTimer(keep_answers=True)`, as a Call: items and capacity estimated."""
    call = Call(record["service"], record["operation"], record["params"], error=record.get("error"))
    if call.service == "dynamodb" and record.get("answer") is not None:
        _estimate(call, record["answer"])
    return call


# -- DynamoDB item sizes and capacity (AWS sizing rules; base table only) ---------------------------------------

def value_size(value: dict[str, Any]) -> int:
    (kind, inner), = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        return (len(inner.lstrip("-").replace(".", "")) + 1) // 2 + 1
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        return sum(value_size({kind[0]: v}) for v in inner)
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(v) for k, v in inner.items())
    return 0


def item_size(item: dict[str, Any] | None) -> int:
    return sum(len(name.encode()) + value_size(value) for name, value in (item or {}).items())


def _read_units(size: int, consistent: bool) -> float:
    return max(1, math.ceil(size / 4096)) * (1.0 if consistent else 0.5)


def _write_units(item: dict[str, Any] | None) -> float:
    return float(max(1, math.ceil(item_size(item) / 1024))) if item else 1.0


def _estimate(call: Call, parsed: dict[str, Any]) -> None:
    params, op = call.params, call.operation
    if op == "GetItem":
        call.items_read = int("Item" in parsed)
        call.rcu = _read_units(item_size(parsed.get("Item")), bool(params.get("ConsistentRead")))
    elif op == "BatchGetItem":
        for table, request in params.get("RequestItems", {}).items():
            found = parsed.get("Responses", {}).get(table, [])
            call.items_read += len(found)
            consistent = bool(request.get("ConsistentRead"))
            call.rcu += sum(_read_units(item_size(i), consistent) for i in found)
            call.rcu += _read_units(0, consistent) * max(0, len(request.get("Keys", [])) - len(found))
    elif op in ("Query", "Scan"):
        items = parsed.get("Items", [])
        call.items_read = len(items)
        call.rcu = _read_units(sum(item_size(i) for i in items), bool(params.get("ConsistentRead")))
    elif op == "PutItem":
        call.wcu = _write_units(params.get("Item"))
    elif op in ("UpdateItem", "DeleteItem"):
        call.wcu = 1.0
    elif op == "TransactWriteItems":
        call.wcu = sum(2 * _write_units(action.get("Put", {}).get("Item")) for action in params["TransactItems"])
    elif op == "BatchWriteItem":
        for requests in params.get("RequestItems", {}).values():
            call.wcu += sum(_write_units(r.get("PutRequest", {}).get("Item")) for r in requests)


# -- keys written by a call (to put back what a measured run changed) ------------------------------------------

def key_attributes() -> dict[str, list[str]]:
    from infra import template

    return {name: [k["AttributeName"] for k in spec["create"]["KeySchema"]]
            for name, spec in template.create_table_requests().items()}


def written_keys(operation: str, params: dict[str, Any], schema: dict[str, list[str]]) -> list[tuple[str, str]]:
    """(table, key as canonical JSON) for every item a DynamoDB write call may change."""
    found: list[tuple[str, dict[str, Any]]] = []
    if operation == "PutItem":
        found.append((params["TableName"], params["Item"]))
    elif operation in ("UpdateItem", "DeleteItem"):
        found.append((params["TableName"], params["Key"]))
    elif operation == "TransactWriteItems":
        for action in params["TransactItems"]:
            (kind, body), = action.items()
            if kind != "ConditionCheck":
                found.append((body["TableName"], body.get("Item") or body["Key"]))
    elif operation == "BatchWriteItem":
        for table, requests in params["RequestItems"].items():
            for request in requests:
                found.append((table, request.get("PutRequest", {}).get("Item")
                              or request["DeleteRequest"]["Key"]))
    return [(table, json.dumps({k: item[k] for k in schema[table]}, sort_keys=True)) for table, item in found]
