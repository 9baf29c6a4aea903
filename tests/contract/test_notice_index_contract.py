"""The notice index, held by the DynamoDB adapter (NoticeIndex, sparse, KEYS_ONLY) and the in-memory fake
alike: `notice_contract_ids(as_of, shard)` lists exactly the contracts with a renewal notice due on
`as_of` (seats.domain.notices), each once, and a contract moves through it as its notices are sent."""

from __future__ import annotations

import copy
from datetime import date, datetime
from typing import Any

import pytest

from seats.adapters.dynamodb import keys
from seats.domain import notices, renewal
from seats.domain.model import Contract
from seats.services.ports import Repository
from tests.conftest import BASE_SEED

ACME, GLOBEX = "110000000001", "220000000001"  # annual, renews 2027-03-01 · monthly, renews 2026-12-15


def with_contracts(seed: dict[str, Any], **changes: dict[str, Any]) -> dict[str, Any]:
    for contract_id, fields in changes.items():
        added = copy.deepcopy(BASE_SEED["accounts"][0]["contracts"][0])
        added.update(contract_id=contract_id, **fields)
        added["subscriptions"][0]["subscription_id"] = f"sub-{contract_id}"
        seed["accounts"][0]["contracts"].append(added)
    return seed


def found(repo: Repository, as_of: date) -> list[str]:
    return sorted(cid for shard in repo.notice_shards() for cid in repo.notice_contract_ids(as_of, shard))


def contract(repo: Repository, contract_id: str = ACME) -> Contract:
    record = repo.get_contract(contract_id)
    assert record is not None
    return record


def save(repo: Repository, record: Contract) -> None:
    work = repo.unit_of_work()
    work.save_contract(record)
    work.commit()


@pytest.fixture
def many(backend, seed_data):
    """Contracts of every term, channel and status, renewing on the same day as Acme's (2027-03-01)."""
    with_contracts(seed_data, **{
        "330000000001": {"term": "three_year", "term_start": "2024-03-01"},
        "330000000002": {"term": "monthly", "term_start": "2027-02-01"},
        "330000000003": {"purchase_channel": "reseller"},
        "330000000004": {"auto_renew": False},
        "330000000005": {"status": "past_due"},
        "330000000006": {"status": "suspended"},
        "330000000007": {"status": "expired"},
        "330000000008": {"status": "cancelled"},
    })
    backend.load(seed_data)
    return backend.repo


# Each side of every boundary: Globex's 7-day notice (2026-12-08) and renewal (12-15); the 30-day notices
# (2027-01-30) and the 7-day ones (02-22) of the contracts renewing on 2027-03-01, and that renewal.
EDGES = ["2026-11-14", "2026-11-15", "2026-12-07", "2026-12-08", "2026-12-14", "2026-12-15", "2026-12-16",
         "2027-01-29", "2027-01-30", "2027-02-21", "2027-02-22", "2027-02-28", "2027-03-01", "2027-03-02"]


def test_the_index_lists_exactly_the_contracts_with_a_notice_due_on_each_day(many):
    records = [contract(many, cid) for cid in (ACME, GLOBEX, *(f"33000000000{n}" for n in range(1, 9)))]
    for day in map(date.fromisoformat, EDGES):
        assert found(many, day) == sorted(c.contract_id for c in records if notices.due_notices(c, day)), day
    assert found(many, date(2027, 2, 22)) == [ACME, "330000000001", "330000000002"]
    assert found(many, date(2027, 1, 30)) == [ACME, "330000000001"]  # monthly: 7 days only


def test_each_contract_is_found_once_in_the_shard_its_id_hashes_to(many):
    assert many.notice_shards() == keys.all_notice_shards()
    for shard in many.notice_shards():
        ids = list(many.notice_contract_ids(date(2027, 2, 24), shard))  # both leads due: listed once
        assert len(ids) == len(set(ids))
        assert all(keys.notice_shard(cid) == shard for cid in ids)


def test_a_contract_moves_to_its_next_lead_then_leaves_once_every_notice_is_sent(repo):
    record = contract(repo)
    assert record.notices_sent == []
    record.notices_sent = [30]
    save(repo, record)
    assert contract(repo).notices_sent == [30]
    assert found(repo, date(2027, 2, 10)) == []  # the 30-day one is sent: nothing until 7 days before
    assert found(repo, date(2027, 2, 22)) == [ACME]

    record = contract(repo)
    record.notices_sent = [30, 7]
    save(repo, record)
    assert found(repo, date(2027, 2, 22)) == found(repo, date(2027, 2, 28)) == []


def test_a_contract_leaves_the_index_when_it_stops_auto_renewing_and_comes_back_when_it_starts_again(repo):
    record = contract(repo)
    record.auto_renew = False
    save(repo, record)
    assert found(repo, date(2027, 2, 22)) == []
    record = contract(repo)
    record.auto_renew = True
    save(repo, record)
    assert found(repo, date(2027, 2, 22)) == [ACME]


def test_the_renewal_puts_the_contract_back_for_the_next_periods_notices(repo):
    record = contract(repo)
    record.notices_sent = [30, 7]
    save(repo, record)
    renewed = renewal.renew(contract(repo), charge_id="ch_1", at=datetime.fromisoformat("2027-03-01T02:00:00+00:00"))
    save(repo, renewed.contract)

    assert contract(repo).notices_sent == []
    assert found(repo, date(2028, 1, 30)) == []
    assert found(repo, date(2028, 1, 31)) == found(repo, date(2028, 2, 29)) == [ACME]
