"""Fan the day's renewals out (SPEC §4.4): due contracts from the DueIndex onto the renewal queue.

Never a Scan: one Query per shard of the sparse, KEYS_ONLY due index, for every contract whose
renewal date is on or before the as-of date (so missed days are caught up). One message per
contract, sent ten at a time; shards run in parallel. Sending a contract twice (the schedule fires
twice, or this run is retried) is harmless: the worker charges each period once.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from seats.adapters.dynamodb import keys
from seats.clock import iso
from seats.services.messages import RenewalMessage

BATCH_SIZE = 10  # SendMessageBatch's maximum
SEND_ATTEMPTS = 3
PARALLEL_SHARDS = 8  # within botocore's default pool of 10 connections per client


def enqueue_due_contracts(as_of: datetime, repo: Any, sqs: Any, queue_url: str,
                          shards: Iterable[str] | None = None) -> dict[str, Any]:
    """Send every contract due on `as_of`'s date to the queue: {"as_of", "due", "enqueued"}."""
    as_of = as_of.astimezone(UTC)
    stamp = iso(as_of)

    def one_shard(shard: str) -> tuple[int, int]:
        due = enqueued = 0
        batch: list[str] = []
        for contract_id in repo.due_contract_ids(as_of.date(), shard):
            due += 1
            batch.append(contract_id)
            if len(batch) == BATCH_SIZE:
                enqueued += _send(sqs, queue_url, batch, as_of)
                batch = []
        if batch:
            enqueued += _send(sqs, queue_url, batch, as_of)
        return due, enqueued

    shard_list = list(shards if shards is not None else keys.all_due_shards())
    with ThreadPoolExecutor(max_workers=min(PARALLEL_SHARDS, len(shard_list)) or 1) as pool:
        counts = list(pool.map(one_shard, shard_list))
    return {"as_of": stamp, "due": sum(d for d, _ in counts), "enqueued": sum(e for _, e in counts)}


def _send(sqs: Any, queue_url: str, contract_ids: list[str], as_of: datetime) -> int:
    """One SendMessageBatch; entries SQS refuses are sent again (3 attempts). Returns how many went."""
    pending = {
        str(n): {"Id": str(n), "MessageBody": RenewalMessage(cid, as_of).to_json()}
        for n, cid in enumerate(contract_ids)
    }
    for attempt in range(SEND_ATTEMPTS):
        answer = sqs.send_message_batch(QueueUrl=queue_url, Entries=list(pending.values()))
        for sent in answer.get("Successful", []):
            pending.pop(sent["Id"], None)
        if not pending:
            break
        time.sleep(0.05 * 2 ** attempt)
    return len(contract_ids) - len(pending)
