"""The outbox: domain events are committed with the change they describe, and EventRelayFunction
(fed by the seats table's stream, filtered as template.yaml says) puts each on the bus."""

from __future__ import annotations

import copy
import io
import json
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from functions.event_relay.app import lambda_handler as relay
from seats import bootstrap
from seats.domain.errors import ConcurrentUpdate
from seats.observability import logger
from seats.services import reduce_seats
from tests.conftest import EVENTS, LambdaContext

CONTRACT, SUBSCRIPTION, MANAGER = "110000000001", "sub-acad", "u-alice"
SAMPLE = json.loads((EVENTS / "outbox_stream_batch.json").read_text())


def schedule(seats: int = 8) -> None:
    reduce_seats.schedule_reduction(bootstrap.repository(), CONTRACT, SUBSCRIPTION, MANAGER, seats)


def test_a_change_commits_its_event_and_the_relay_puts_it_on_the_bus(seeded, outbox, domain_events):
    schedule()

    [(detail_type, detail)] = outbox()
    [event] = domain_events()
    assert (event["source"], event["detail-type"], event["detail"]) == ("seats", detail_type, detail)
    assert detail_type == "SeatReductionScheduled" and detail["seats_after"] == 8
    assert detail["event_id"].startswith("evt_")


def test_a_change_that_loses_its_race_commits_no_event(seeded, outbox, monkeypatch):
    repo = bootstrap.repository()
    stale = repo.get_contract(CONTRACT)
    schedule(8)  # moves the contract on
    monkeypatch.setattr(repo, "get_contract_and_user", lambda *_: (stale, repo.get_user(MANAGER)))

    with pytest.raises(ConcurrentUpdate):
        schedule(7)

    assert [d["seats_after"] for _, d in outbox()] == [8]


def test_each_committed_event_reaches_the_bus_once_however_often_the_stream_is_read(seeded, relay_outbox,
                                                                                    domain_events):
    schedule(8)
    schedule(7)
    reduce_seats.cancel_reduction(bootstrap.repository(), CONTRACT, SUBSCRIPTION, MANAGER)

    assert relay_outbox() > 0
    assert relay_outbox() == 0  # nothing new on the stream
    kinds = [e["detail-type"] for e in domain_events()]
    assert sorted(kinds) == ["SeatReductionCancelled", "SeatReductionScheduled", "SeatReductionScheduled"]


def _record(kind: str, pk: str, sequence: str) -> dict[str, Any]:
    record = copy.deepcopy(SAMPLE["Records"][0])
    record["eventName"] = kind
    record["dynamodb"]["Keys"]["PK"]["S"] = record["dynamodb"]["NewImage"]["PK"]["S"] = pk
    record["dynamodb"]["SequenceNumber"] = sequence
    return record


def test_records_that_are_not_new_outbox_items_are_let_through_untouched(seeded, domain_events):
    """The mapping's filter drops them in AWS; the relay does not rely on it."""
    event = {"Records": [_record("MODIFY", "OUTBOX#evt_x", "1"), _record("INSERT", "CONTRACT#110000000001", "2"),
                         _record("REMOVE", "OUTBOX#evt_y", "3")]}

    assert relay(event, LambdaContext()) == {"batchItemFailures": []}
    assert domain_events() == []


def _outbox_record(event_id: str, sequence: str) -> dict[str, Any]:
    record = _record("INSERT", f"OUTBOX#{event_id}", sequence)
    record["dynamodb"]["NewImage"]["event_id"]["S"] = event_id
    return record


class PartlyRefusing:
    """The events client, except that EventBridge refuses the entries of the events named, once each
    (as PutEvents does under throttling: the call succeeds, some entries carry an ErrorCode)."""

    def __init__(self, client: Any, refuse: set[str]) -> None:
        self.client, self.refuse, self.calls = client, refuse, []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append(len(Entries))
        answers, taken = [], []
        for entry in Entries:
            event_id = json.loads(entry["Detail"]).get("event_id")
            if event_id in self.refuse:
                self.refuse.discard(event_id)
                answers.append({"ErrorCode": "ThrottlingException", "ErrorMessage": "Rate exceeded"})
            else:
                answers.append(None)
                taken.append(entry)
        put = iter(self.client.put_events(Entries=taken)["Entries"] if taken else [])
        entries = [answer or next(put) for answer in answers]
        return {"FailedEntryCount": sum(1 for e in entries if "ErrorCode" in e), "Entries": entries}


def _detail_of(record: dict[str, Any], event_id: str) -> None:
    record["dynamodb"]["NewImage"]["detail"]["S"] = json.dumps({"event_id": event_id})


def test_an_event_the_bus_refuses_is_reported_alone_and_delivered_on_the_retry(seeded, domain_events, monkeypatch,
                                                                                 capsys):
    records = [_outbox_record(f"evt_{n}", str(10 + n)) for n in range(12)]
    for n, record in enumerate(records):
        _detail_of(record, f"evt_{n}")
    events = PartlyRefusing(bootstrap.aws_client("events"), refuse={"evt_3", "evt_11"})
    monkeypatch.setattr(bootstrap.publisher(), "client", events)
    log = io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", log)

    assert relay({"Records": records}, LambdaContext()) == {
        "batchItemFailures": [{"itemIdentifier": "13"}, {"itemIdentifier": "21"}]}
    assert events.calls == [10, 2]  # ten entries per PutEvents
    assert relay({"Records": [records[3], records[11]]}, LambdaContext()) == {"batchItemFailures": []}
    assert sorted(e["detail"]["event_id"] for e in domain_events()) == sorted(f"evt_{n}" for n in range(12))
    assert log.getvalue().count("Event not relayed; the stream will deliver it again") == 2
    assert "ThrottlingException: Rate exceeded" in log.getvalue()
    assert '"EventsNotRelayed":[2.0]' in capsys.readouterr().out.replace(" ", "")


def test_a_put_that_fails_whole_fails_the_invocation_so_the_whole_batch_is_retried(seeded, monkeypatch):
    class Down:
        def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
            raise ConnectionError("EventBridge does not answer")

    monkeypatch.setattr(bootstrap.publisher(), "client", Down())
    records = [_outbox_record("evt_a", "1"), _outbox_record("evt_b", "2")]

    with pytest.raises(BatchProcessingError, match="All records failed processing"):
        relay({"Records": records}, LambdaContext())


def test_the_relay_gets_only_what_it_needs_and_the_services_cannot_put_events():
    """Least privilege follows the outbox: PutEvents belongs to the relay alone."""
    from infra import template

    resources = template.load()["Resources"]
    may_put = {name for name in template.functions()
               if "EventBridgePutEventsPolicy" in json.dumps(resources[name]["Properties"].get("Policies", []))}
    assert may_put == {"EventRelayFunction"}


def test_outbox_items_expire_and_the_table_streams_new_images():
    from infra import template

    table = template.load()["Resources"]["SeatsTable"]["Properties"]
    assert table["StreamSpecification"] == {"StreamViewType": "NEW_IMAGE"}
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}


def test_an_outbox_item_expires_a_day_after_its_commit(seeded):
    schedule()
    [item] = boto3.resource("dynamodb").Table("SeatsTable").scan(
        FilterExpression="begins_with(PK, :p)", ExpressionAttributeValues={":p": "OUTBOX#"})["Items"]
    assert item["created_at"] == "2026-11-29T10:00:00.000Z"
    assert int(item["expires_at"]) == 1795946400 + 24 * 3600
