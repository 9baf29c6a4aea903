"""SQS delivery as Lambda's event source mapping does it, plus the local record of domain events.

`QueuePoller` long-polls a queue (≤ 1 s, so it stops promptly), hands the function batches of up to
`BatchSize` records, deletes what succeeded and makes what failed (the `batchItemFailures` of a
partial batch response, or the whole batch when the handler raised) visible again after
`RETRY_DELAY_SECONDS`, so a retry comes within seconds instead of the queue's visibility timeout.
The queue's redrive policy (maxReceiveCount, dead-letter queue) stays in force.

`EventsCollector` drains the local-only queue that a rule on the bus feeds, keeping every domain
event in memory in arrival order for `GET /_local/events`.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from dataclasses import dataclass
from typing import Any

from infra import template
from infra.local.aws import LocalAws
from infra.local.cfn import REGION
from infra.local.functions import FunctionHost
from infra.local.loops import BackgroundLoop

log = logging.getLogger("seats-local")

POLL_SECONDS = 1
RETRY_DELAY_SECONDS = 1
SQS_RECEIVE_MAX = 10


@dataclass(frozen=True)
class SqsSource:
    function: str
    queue: str  # logical id
    batch_size: int
    reports_batch_item_failures: bool


def sqs_sources() -> list[SqsSource]:
    """The SQS event sources of template.yaml (`Queue: !GetAtt <Queue>.Arn`)."""
    found = []
    for function, props in template.event_sources("SQS"):
        queue = props["Queue"]
        logical = queue["Fn::GetAtt"][0] if isinstance(queue, dict) and "Fn::GetAtt" in queue \
            else str(queue).rsplit(":", 1)[-1]
        found.append(SqsSource(function, logical, int(props.get("BatchSize", 10)),
                               "ReportBatchItemFailures" in props.get("FunctionResponseTypes", [])))
    return found


def _message_attributes(raw: dict[str, Any]) -> dict[str, Any]:
    converted = {}
    for name, value in raw.items():
        binary = value.get("BinaryValue")
        converted[name] = {
            "stringValue": value.get("StringValue"),
            "binaryValue": base64.b64encode(binary).decode() if isinstance(binary, bytes) else binary,
            "stringListValues": value.get("StringListValues", []),
            "binaryListValues": value.get("BinaryListValues", []),
            "dataType": value.get("DataType"),
        }
    return converted


def sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": _message_attributes(message.get("MessageAttributes", {})),
        "md5OfBody": message.get("MD5OfBody"),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


def failed_ids(result: Any, message_ids: set[str]) -> set[str]:
    """The message ids a partial batch response reports; a malformed response fails the whole batch."""
    if not isinstance(result, dict) or not result.get("batchItemFailures"):
        return set()
    failed = set()
    for failure in result["batchItemFailures"]:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if identifier not in message_ids:
            return set(message_ids)
        failed.add(identifier)
    return failed


class QueuePoller(BackgroundLoop):
    pause_seconds = POLL_SECONDS
    pause_after_success = False  # each step long-polls

    def __init__(self, aws: LocalAws, host: FunctionHost, source: SqsSource, stopping: threading.Event) -> None:
        super().__init__(f"seats-local-sqs-{source.function}", stopping)
        self.sqs = aws.client("sqs")
        self.queue_url = aws.queue_urls[source.queue]
        self.queue_arn = aws.attributes[(source.queue, "Arn")]
        self.host = host
        self.source = source
        self.what = f"delivering {source.queue} to {source.function}"

    def step(self) -> None:
        self.poll_once()

    def _receive(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        wait = POLL_SECONDS
        while len(messages) < self.source.batch_size and not self.stopping.is_set():
            answer = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=min(SQS_RECEIVE_MAX, self.source.batch_size - len(messages)),
                WaitTimeSeconds=wait, AttributeNames=["All"], MessageAttributeNames=["All"],
            )
            received = answer.get("Messages", [])
            if not received:
                break
            messages.extend(received)
            wait = 0
        return messages

    def poll_once(self) -> None:
        if not self.host.available(self.source.function):  # messages wait in the queue until it loads
            self.stopping.wait(POLL_SECONDS)
            return
        messages = self._receive()
        if not messages:
            return
        ids = {m["MessageId"] for m in messages}
        try:
            result = self.host.invoke(self.source.function, {"Records": [sqs_record(m, self.queue_arn) for m in messages]})
            failed = failed_ids(result, ids) if self.source.reports_batch_item_failures else set()
        except Exception:  # the whole batch goes back to the queue, as with Lambda
            log.exception("%s raised on a batch of %d messages", self.source.function, len(messages))
            failed = ids
        done = [m for m in messages if m["MessageId"] not in failed]
        retry = [m for m in messages if m["MessageId"] in failed]
        for start in range(0, len(done), SQS_RECEIVE_MAX):
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done[start:start + 10])])
        for start in range(0, len(retry), SQS_RECEIVE_MAX):
            self.sqs.change_message_visibility_batch(QueueUrl=self.queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": RETRY_DELAY_SECONDS}
                for i, m in enumerate(retry[start:start + 10])])
        log.info("%s: %d message(s) from %s, %d done, %d to retry", self.source.function, len(messages),
                 self.source.queue, len(done), len(retry))


class EventsCollector(BackgroundLoop):
    what = "reading published events"
    pause_seconds = POLL_SECONDS

    def __init__(self, aws: LocalAws, stopping: threading.Event) -> None:
        super().__init__("seats-local-events", stopping)
        self.sqs = aws.client("sqs")
        self.queue_url = aws.events_queue_url
        self._events: list[dict[str, Any]] = []
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def step(self) -> None:
        self.drain(wait_seconds=0)

    def events(self) -> list[dict[str, Any]]:
        self.drain(wait_seconds=0)  # what was published before this call is listed by it
        with self._lock:
            return list(self._events)

    def drain(self, wait_seconds: int) -> int:
        with self._lock:
            count = 0
            while True:
                answer = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=SQS_RECEIVE_MAX,
                                                  WaitTimeSeconds=wait_seconds)
                messages = answer.get("Messages", [])
                if not messages:
                    return count
                for message in messages:
                    event = json.loads(message["Body"])
                    if event.get("id") not in self._seen:
                        self._seen.add(event.get("id"))
                        self._events.append(event)
                        count += 1
                self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
                wait_seconds = 0

