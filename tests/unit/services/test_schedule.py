"""services/schedule.py on the in-memory repository and queue: the day's due contracts onto the renewal queue."""

from __future__ import annotations

import copy
import itertools
from datetime import UTC, datetime
from typing import Any

from seats.adapters.dynamodb.keys import due_shard
from seats.services.messages import RenewalMessage
from seats.services.schedule import BATCH_SIZE, enqueue_due_contracts
from tests.conftest import BASE_SEED
from tests.fakes import MemoryQueue
from tests.unit.services.support import ACME, GLOBEX

AS_OF = datetime(2027, 3, 1, 2, tzinfo=UTC)


def contracts(seed: dict[str, Any], *changes: dict[str, Any]) -> dict[str, Any]:
    """The seed plus Acme contracts like its first, changed by `changes`."""
    for fields in changes:
        added = copy.deepcopy(BASE_SEED["accounts"][0]["contracts"][0])
        added.update(fields)
        added["subscriptions"][0]["subscription_id"] = f"sub-{fields['contract_id']}"
        seed["accounts"][0]["contracts"].append(added)
    return seed


def test_every_due_online_contract_is_sent_with_the_runs_as_of_including_missed_days(load, seed_data):
    repo = load(contracts(
        seed_data,
        {"contract_id": "110000000002", "renewal_date": "2027-03-02"},  # tomorrow
        {"contract_id": "110000000003", "renewal_date": "2027-02-01", "status": "past_due"},  # missed days
        {"contract_id": "110000000004", "renewal_date": "2027-02-01", "status": "cancelled"},
        {"contract_id": "110000000005", "renewal_date": "2027-02-01", "purchase_channel": "reseller"},
    ))
    queue = MemoryQueue()

    counts = enqueue_due_contracts(AS_OF, repo, queue)

    assert counts == {"as_of": "2027-03-01T02:00:00.000Z", "due": 3, "enqueued": 3}
    assert sorted(queue.messages, key=lambda m: m.contract_id) == [
        RenewalMessage(ACME, AS_OF), RenewalMessage("110000000003", AS_OF), RenewalMessage(GLOBEX, AS_OF)]


def test_the_as_of_instant_is_taken_in_utc(repo):
    queue = MemoryQueue()
    evening = datetime.fromisoformat("2027-02-28T22:00:00-05:00")  # 03:00 UTC on the renewal date

    assert enqueue_due_contracts(evening, repo, queue)["as_of"] == "2027-03-01T03:00:00.000Z"
    assert {m.contract_id for m in queue.messages} == {ACME, GLOBEX}
    assert all(m.as_of.utcoffset().total_seconds() == 0 for m in queue.messages)


def ids_in_shard(shard: str, count: int) -> list[str]:
    found = (f"3300000{n:05d}" for n in itertools.count())
    return list(itertools.islice((cid for cid in found if due_shard(cid) == shard), count))


def test_messages_are_sent_ten_at_a_time(load, seed_data):
    shard = due_shard(ACME)
    repo = load(contracts(seed_data, *({"contract_id": cid} for cid in ids_in_shard(shard, 22))))
    queue = MemoryQueue()

    counts = enqueue_due_contracts(AS_OF, repo, queue, shards=[shard])

    assert [len(batch) for batch in queue.batches] == [BATCH_SIZE, BATCH_SIZE, 3]  # 22 + Acme's own
    assert counts["due"] == counts["enqueued"] == 23 == len({m.contract_id for m in queue.messages})


def test_messages_the_queue_refuses_are_counted_as_due_not_enqueued(repo):
    queue = MemoryQueue(refuse={GLOBEX})

    counts = enqueue_due_contracts(AS_OF, repo, queue)

    assert (counts["due"], counts["enqueued"]) == (2, 1)
    assert [m.contract_id for m in queue.messages] == [ACME]


def test_a_day_with_nothing_due_sends_nothing(repo):
    queue = MemoryQueue()
    assert enqueue_due_contracts(datetime(2026, 12, 1, 2, tzinfo=UTC), repo, queue)["due"] == 0
    assert queue.batches == []
