"""Fan the day's renewals out (docs/api.md, Renewal): due contracts from the due index onto the renewal queue.

Never a Scan: one Query per shard of the sparse, KEYS_ONLY due index, for every contract whose
renewal date is on or before the as-of date (so missed days are caught up). One message per
contract, sent ten at a time; shards run in parallel. Sending a contract twice (the schedule fires
twice, or this run is retried) is harmless: the worker charges each period once.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from seats.clock import iso
from seats.services.messages import RenewalMessage
from seats.services.ports import RenewalQueue, Repository

BATCH_SIZE = 10  # SendMessageBatch's maximum
PARALLEL_SHARDS = 8  # within botocore's default pool of 10 connections per client


def enqueue_due_contracts(as_of: datetime, repo: Repository, queue: RenewalQueue,
                          shards: Iterable[str] | None = None) -> dict[str, Any]:
    """Send every contract due on `as_of`'s date to the queue: {"as_of", "due", "enqueued"}."""
    as_of = as_of.astimezone(UTC)

    def one_shard(shard: str) -> tuple[int, int]:
        due = enqueued = 0
        batch: list[RenewalMessage] = []
        for contract_id in repo.due_contract_ids(as_of.date(), shard):
            due += 1
            batch.append(RenewalMessage(contract_id, as_of))
            if len(batch) == BATCH_SIZE:
                enqueued += queue.send(batch)
                batch = []
        if batch:
            enqueued += queue.send(batch)
        return due, enqueued

    shard_list = list(shards if shards is not None else repo.due_shards())
    with ThreadPoolExecutor(max_workers=min(PARALLEL_SHARDS, len(shard_list)) or 1) as pool:
        counts = list(pool.map(one_shard, shard_list))
    return {"as_of": iso(as_of), "due": sum(d for d, _ in counts), "enqueued": sum(e for _, e in counts)}
