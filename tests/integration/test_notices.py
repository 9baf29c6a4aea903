"""Renewal notices (docs/api.md, Renewal) through RenewalSchedulerFunction on moto: RenewalUpcoming and the
history entry renewal_notice_sent, 30 and 7 days before a renewal (7 for monthly terms), once per contract,
period and lead; late when missed; never twice; reading only the notice index keys and contracts notified."""

from __future__ import annotations

import copy
import json
import threading
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from functions.list_contracts.app import lambda_handler as list_contracts
from functions.renewal_scheduler.app import lambda_handler as scheduler
from functions.renewal_worker.app import lambda_handler as worker
from infra import seed as seed_loader
from seats import bootstrap
from seats.adapters.dynamodb import keys
from seats.services import notices
from tests.conftest import EVENTS, LambdaContext, http_event, invoke
from tests.fakes import CompetingWrites

ACME = "110000000001"  # annual, renews 2027-03-01, 10 × 1975.00 USD on pm_acme_visa
GLOBEX = "220000000001"  # monthly, renews 2026-12-15, 3 × 300.00 GBP
SCHEDULE_EVENT = json.loads((EVENTS / "renewal_schedule.json").read_text())
SQS_BATCH = json.loads((EVENTS / "renewal_sqs_batch.json").read_text())


@pytest.fixture
def seed(aws, atomic_aws, seed_data, monkeypatch):
    """The base seed plus Acme contracts like ACME changed by keyword; call it to load. The renewal queue
    exists (the scheduler sends the due contracts before the notices). moto applies one request at a time,
    as DynamoDB applies each atomically (moto is not thread-safe; the run writes from several threads)."""
    url = boto3.client("sqs").create_queue(QueueName="RenewalQueue")["QueueUrl"]
    monkeypatch.setenv("RENEWAL_QUEUE_URL", url)
    bootstrap.reset()

    def load(**contracts: dict[str, Any]) -> None:
        for contract_id, fields in contracts.items():
            added = copy.deepcopy(seed_data["accounts"][0]["contracts"][0])
            added.update(contract_id=contract_id, **fields)
            added["subscriptions"][0]["subscription_id"] = f"sub-{contract_id}"
            seed_data["accounts"][0]["contracts"].append(added)
        seed_loader.load(bootstrap.repository(), seed_data)

    return load


def run(day: str) -> dict[str, Any]:
    """The nightly run, as EventBridge Scheduler sends it, at 02:00 UTC on `day`."""
    return scheduler({**SCHEDULE_EVENT, "time": f"{day}T02:00:00Z"}, LambdaContext())


def sent(outbox) -> list[tuple[str, int, str]]:
    """The committed RenewalUpcoming events, as (contract, days_before, renewal_date), in no given order (the
    fixed clock stamps them all alike)."""
    return [(d["contract_id"], d["days_before"], d["renewal_date"]) for t, d in outbox() if t == "RenewalUpcoming"]


def contract(contract_id: str = ACME):
    found = bootstrap.repository().get_contract(contract_id)
    assert found is not None
    return found


def calls() -> list[tuple[str, str | None]]:
    """From now on, every DynamoDB request of the functions' client, as (operation, index)."""
    made: list[tuple[str, str | None]] = []
    bootstrap.aws_client("dynamodb").meta.events.register(
        "before-parameter-build.dynamodb.*", lambda model, params, **_: made.append((model.name, params.get("IndexName"))))
    return made


# -- when ------------------------------------------------------------------------------------------------

def test_an_annual_contract_is_told_30_and_7_days_before_its_renewal_once_each(seed, outbox):
    seed()
    answers = [run(day) for day in ("2027-01-29", "2027-01-30", "2027-01-31", "2027-02-21", "2027-02-22",
                                    "2027-02-23", "2027-02-28")]
    assert [a["notices"] for a in answers] == [0, 1, 0, 0, 1, 0, 0]
    assert sorted(sent(outbox)) == [(ACME, 7, "2027-03-01"), (ACME, 30, "2027-03-01")]
    assert contract().notices_sent == [30, 7]


def test_a_three_year_contract_too_and_a_monthly_one_only_7_days_before(seed, outbox):
    seed(**{"330000000001": {"term": "three_year", "term_start": "2024-03-01"}})
    for day in ("2026-11-15", "2026-12-08", "2027-01-30", "2027-02-22"):
        run(day)
    assert sorted(sent(outbox)) == [
        (ACME, 7, "2027-03-01"), (ACME, 30, "2027-03-01"), (GLOBEX, 7, "2026-12-15"),
        ("330000000001", 7, "2027-03-01"), ("330000000001", 30, "2027-03-01")]


def test_the_scheduler_answers_how_many_notices_it_sent(seed):
    seed()
    assert run("2027-01-30") == {"as_of": "2027-01-30T02:00:00.000Z", "due": 1, "enqueued": 1, "notices": 1}
    assert run("2027-02-24") == {"as_of": "2027-02-24T02:00:00.000Z", "due": 1, "enqueued": 1, "notices": 1}


def test_missed_runs_send_the_missed_notice_late_each_with_its_own_lead(seed, domain_events):
    seed()
    assert run("2027-02-24")["notices"] == 2  # 5 days before: neither notice was sent
    upcoming = [e for e in domain_events() if e["detail-type"] == "RenewalUpcoming"]
    assert [(e["source"], e["detail"]["days_before"]) for e in upcoming] == [("seats", 30), ("seats", 7)]
    assert {k: v for k, v in upcoming[0]["detail"].items() if k != "event_id"} == {
        "contract_id": ACME, "account_id": "acme", "renewal_date": "2027-03-01", "days_before": 30,
        "total": "19750.00", "currency": "USD", "warnings": []}
    assert "pm_acme_visa" not in json.dumps(upcoming) and "4242" not in json.dumps(upcoming)


def test_each_notice_is_in_the_contracts_history(seed):
    seed()
    run("2027-02-24")
    status, body, _ = invoke(list_contracts, http_event("GET", f"/contracts/{ACME}/history"))
    assert status == 200
    entries = [e for e in body["events"] if e["type"] == "renewal_notice_sent"]
    assert [(e["actor"], e["details"]["days_before"], e["details"]["total"]) for e in entries] == [
        ("system", 7, "19750.00"), ("system", 30, "19750.00")]  # newest first


@pytest.mark.parametrize("fields", [
    {"purchase_channel": "reseller"}, {"auto_renew": False}, {"status": "cancelled"}, {"status": "expired"},
    {"status": "past_due"},
], ids=lambda f: "-".join(map(str, f.values())))
def test_no_notice_for_a_contract_that_is_not_online_auto_renewing_and_active(seed, outbox, fields):
    seed(**{"330000000002": fields})
    run("2027-01-30")
    run("2027-02-24")
    assert {c for c, _, _ in sent(outbox)} == {ACME}


def test_no_notice_once_the_renewal_date_is_reached(seed, outbox):
    seed()
    assert run("2027-03-01")["notices"] == 0
    assert run("2027-03-05")["notices"] == 0
    assert sent(outbox) == []


# -- never twice -------------------------------------------------------------------------------------------

def test_a_schedule_that_fires_twice_sends_each_notice_once(seed, outbox):
    seed()
    assert run("2027-02-24")["notices"] == 2
    assert run("2027-02-24")["notices"] == 0
    assert run("2027-02-25")["notices"] == 0
    assert len(sent(outbox)) == 2


def test_two_runs_at_once_send_each_notice_once(seed, outbox):
    racers = {f"4400000000{n:02d}": {} for n in range(12)}
    seed(**racers)
    as_of = datetime(2027, 2, 24, 2, tzinfo=UTC)
    counts: list[int] = []
    repo = bootstrap.repository()  # two runs, as two Lambdas would make them, on one client (one request at a time)
    threads = [threading.Thread(target=lambda: counts.append(notices.send_renewal_notices(as_of, repo).sent))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(counts) == 2 * 13  # ACME and the 12 others: 30 and 7 each, between the two runs
    assert Counter(sent(outbox)) == Counter({(cid, lead, "2027-03-01"): 1 for cid in [ACME, *racers] for lead in (30, 7)})
    assert all(contract(cid).notices_sent == [30, 7] for cid in [ACME, *racers])


def test_a_run_that_loses_the_race_finds_the_notice_sent_and_sends_nothing(seed, outbox):
    seed()
    repo = bootstrap.repository()
    racing = CompetingWrites(repo)
    racing.before_next_commit(lambda: notices.send_renewal_notices(datetime(2027, 1, 30, 2, tzinfo=UTC), repo))

    assert notices.send_renewal_notices(datetime(2027, 1, 30, 2, tzinfo=UTC), racing).sent == 0
    assert racing.interleaved == 1
    assert sent(outbox) == [(ACME, 30, "2027-03-01")]


# -- cost --------------------------------------------------------------------------------------------------

def test_the_run_reads_only_the_index_keys_and_contracts_it_notifies(seed):
    seed(**{
        "330000000003": {"renewal_date": "2027-04-01", "term_start": "2026-04-01"},  # not yet
        "330000000004": {"renewal_date": "2027-03-10", "term_start": "2026-03-10"},  # its 30-day notice
        "330000000005": {"renewal_date": "2027-02-20", "term_start": "2026-02-20"},  # renewal passed, never told
        "330000000006": {"auto_renew": False},
    })
    made = calls()
    answer = run("2027-02-22")

    assert answer["notices"] == 3  # ACME: 30 (late) and 7; 330000000004: 30
    counted = Counter(made)
    assert counted[("Query", "DueIndex")] == keys.DUE_SHARDS
    assert counted[("Query", "NoticeIndex")] == keys.NOTICE_SHARDS * 2  # one exact range per lead
    assert counted[("GetItem", None)] == 2  # ACME and 330000000004: nothing else is read
    assert counted[("TransactWriteItems", None)] == 2  # one write per contract notified
    assert set(counted) == {("Query", "DueIndex"), ("Query", "NoticeIndex"), ("GetItem", None),
                            ("TransactWriteItems", None)}  # no Scan


def test_a_night_without_notices_reads_no_contract(seed):
    seed()
    made = calls()
    assert run("2027-01-20")["notices"] == 0  # Acme's first notice is 10 days away
    assert set(made) == {("Query", "DueIndex"), ("Query", "NoticeIndex")}


# -- the next period ----------------------------------------------------------------------------------------

def sqs_event(*bodies: dict[str, Any]) -> dict[str, Any]:
    records = []
    for n, body in enumerate(bodies):
        record = copy.deepcopy(SQS_BATCH["Records"][0])
        record.update(messageId=f"msg-{n}", body=json.dumps(body))
        records.append(record)
    return {"Records": records}


def test_after_the_renewal_the_next_periods_notices_come_again(seed, outbox):
    seed()
    run("2027-02-24")
    assert worker(sqs_event({"contract_id": ACME, "as_of": "2027-03-01T02:00:00Z"}), LambdaContext()) == {
        "batchItemFailures": []}
    assert (contract().renewal_date.isoformat(), contract().notices_sent) == ("2028-03-01", [])

    assert run("2028-01-30")["notices"] == 0
    assert run("2028-01-31")["notices"] == 1
    assert run("2028-02-23")["notices"] == 1
    assert sorted(sent(outbox)) == [(ACME, 7, "2027-03-01"), (ACME, 7, "2028-03-01"), (ACME, 30, "2027-03-01"),
                                    (ACME, 30, "2028-03-01")]
