"""DynamoDB stream delivery as Lambda's event source mapping does it (the outbox's way to the relay).

`stream_sources()` reads the DynamoDB event sources of template.yaml. `StreamReader` follows a
table's stream from its oldest record (TRIM_HORIZON, as the template asks), every shard, and keeps
the records that pass the source's filter (`matches`: the subset of Lambda's filter syntax the
template uses: exact values and `prefix`). `lambda_event` shapes them as Lambda delivers them.
`deliver` hands batches to a handler and retries what a partial batch response reports failed;
`StreamPoller` runs that in a thread for the local runtime; the tests call `deliver` directly.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from infra import template
from infra.local.aws import LocalAws
from infra.local.cfn import REGION
from infra.local.functions import FunctionHost
from infra.local.loops import BackgroundLoop

log = logging.getLogger("seats-local")

POLL_SECONDS = 0.5
RETRY_DELAY_SECONDS = 1


@dataclass(frozen=True)
class StreamSource:
    function: str
    table: str  # logical id
    batch_size: int
    patterns: tuple[dict[str, Any], ...]
    reports_batch_item_failures: bool
    maximum_retry_attempts: int


def stream_sources() -> list[StreamSource]:
    """The DynamoDB event sources of template.yaml (`Stream: !GetAtt <Table>.StreamArn`)."""
    found = []
    for function, props in template.event_sources("DynamoDB"):
        table = props["Stream"]["Fn::GetAtt"][0]
        patterns = tuple(json.loads(f["Pattern"]) for f in props.get("FilterCriteria", {}).get("Filters", []))
        found.append(StreamSource(function, table, int(props.get("BatchSize", 100)), patterns,
                                  "ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
                                  int(props.get("MaximumRetryAttempts", -1))))
    return found


def matches(pattern: Any, value: Any) -> bool:
    """Lambda's event filtering, as far as the template uses it: nested objects, lists of allowed
    values, and `{"prefix": ...}`. No pattern keeps everything; any pattern of a list keeps a record."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(k in value and matches(p, value[k]) for k, p in pattern.items())
    if isinstance(pattern, list):
        return any(_allowed(choice, value) for choice in pattern)
    return bool(pattern == value)


def _allowed(choice: Any, value: Any) -> bool:
    if isinstance(choice, dict) and "prefix" in choice:
        return isinstance(value, str) and value.startswith(choice["prefix"])
    return bool(choice == value)


def kept(source: StreamSource, record: dict[str, Any]) -> bool:
    return not source.patterns or any(matches(p, record) for p in source.patterns)


def lambda_event(records: list[dict[str, Any]], stream_arn: str) -> dict[str, Any]:
    """What Lambda passes the function: the stream records, with their source."""
    return {"Records": [{**r, "eventSource": "aws:dynamodb", "eventVersion": r.get("eventVersion", "1.1"),
                         "awsRegion": r.get("awsRegion", REGION), "eventSourceARN": stream_arn} for r in records]}


class StreamReader:
    """Every new record of one table's stream, oldest first, each returned once."""

    def __init__(self, dynamodb: Any, streams: Any, table: str) -> None:
        self.streams = streams
        self.arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
        self.iterators: dict[str, str | None] = {}

    def read(self) -> list[dict[str, Any]]:
        for shard in self.streams.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"]:
            if shard["ShardId"] not in self.iterators:
                self.iterators[shard["ShardId"]] = self.streams.get_shard_iterator(
                    StreamArn=self.arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        records: list[dict[str, Any]] = []
        for shard_id, iterator in self.iterators.items():
            while iterator:
                answer = self.streams.get_records(ShardIterator=iterator)
                iterator = answer.get("NextShardIterator")
                self.iterators[shard_id] = iterator
                if not answer["Records"]:
                    break
                records.extend(answer["Records"])
        return records


def deliver(source: StreamSource, records: list[dict[str, Any]], stream_arn: str,
            invoke: Callable[[dict[str, Any]], Any]) -> list[dict[str, Any]]:
    """Hand the kept records to `invoke` in batches; a batch is retried from its first failed record
    (after `RETRY_DELAY_SECONDS`) up to the source's MaximumRetryAttempts (-1: until it succeeds).
    Returns the records given up on (Lambda sends those to the on-failure destination)."""
    pending = [r for r in records if kept(source, r)]
    given_up: list[dict[str, Any]] = []
    while pending:
        batch, attempts = pending[:source.batch_size], 0
        while batch:
            failed_from = _first_failure(source, batch, invoke, stream_arn)
            if failed_from is None:
                break
            attempts += 1
            if 0 <= source.maximum_retry_attempts < attempts:
                given_up.extend(batch[failed_from:])
                log.error("%s: gave up on %d stream record(s) after %d retries", source.function,
                          len(batch) - failed_from, source.maximum_retry_attempts)
                break
            batch = batch[failed_from:]
            time.sleep(RETRY_DELAY_SECONDS)
        pending = pending[source.batch_size:]
    return given_up


def _first_failure(source: StreamSource, batch: list[dict[str, Any]], invoke: Callable[[dict[str, Any]], Any],
                   stream_arn: str) -> int | None:
    """None when the whole batch succeeded, else the index to retry from (the whole batch if it raised)."""
    try:
        answer = invoke(lambda_event(batch, stream_arn))
    except Exception:
        log.exception("%s failed a batch of %d stream record(s)", source.function, len(batch))
        return 0
    if not source.reports_batch_item_failures or not isinstance(answer, dict):
        return None
    failures = answer.get("batchItemFailures") or []
    if not failures:
        return None
    failed = {f["itemIdentifier"] for f in failures}
    return next((n for n, r in enumerate(batch) if r["dynamodb"]["SequenceNumber"] in failed), 0)


class StreamPoller(BackgroundLoop):
    """The local runtime's event source mapping for one stream source: a thread polls the stream every
    `POLL_SECONDS`; `deliver_pending()` also does it at once (GET /_local/events asks before listing)."""

    pause_seconds = POLL_SECONDS

    def __init__(self, aws: LocalAws, host: FunctionHost, source: StreamSource, stopping: threading.Event) -> None:
        super().__init__(f"seats-local-stream-{source.function}", stopping)
        self.reader = StreamReader(aws.client("dynamodb"), aws.client("dynamodbstreams"), aws.physical[source.table])
        self.host = host
        self.source = source
        self.what = f"stream delivery to {source.function}"
        self._lock = threading.Lock()

    def step(self) -> None:
        self.deliver_pending()

    def deliver_pending(self) -> int:
        """Deliver every record written so far; returns how many the stream held."""
        with self._lock:
            if not self.host.available(self.source.function):  # records wait in the stream until it loads
                return 0
            records = self.reader.read()
            if records:
                given_up = deliver(self.source, records, self.reader.arn,
                                   lambda event: self.host.invoke(self.source.function, event))
                log.info("%s: %d stream record(s), %d given up on", self.source.function, len(records), len(given_up))
            return len(records)

