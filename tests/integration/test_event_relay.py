"""The outbox: domain events are committed with the change they describe, and EventRelayFunction
(fed by the seats table's stream, filtered as template.yaml says) puts each on the bus."""

from __future__ import annotations

import copy
import io
import json
from typing import Any

import boto3
import pytest

from functions.event_relay.app import lambda_handler as relay
from seats import bootstrap
from seats.adapters.events import EventBridgePublisher
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


def test_an_event_the_bus_refuses_is_reported_alone_and_delivered_on_the_retry(seeded, domain_events, monkeypatch,
                                                                                 capsys):
    refused = {"evt_first"}
    publish = EventBridgePublisher.publish

    def flaky(self: EventBridgePublisher, event: Any) -> None:
        if event.event_id in refused:
            refused.discard(event.event_id)
            raise RuntimeError("EventBridge refused it")
        publish(self, event)

    monkeypatch.setattr(EventBridgePublisher, "publish", flaky)
    log = io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", log)
    first, second = _record("INSERT", "OUTBOX#evt_first", "10"), _record("INSERT", "OUTBOX#evt_second", "11")
    first["dynamodb"]["NewImage"]["event_id"]["S"] = "evt_first"
    second["dynamodb"]["NewImage"]["event_id"]["S"] = "evt_second"

    assert relay({"Records": [first, second]}, LambdaContext()) == {"batchItemFailures": [{"itemIdentifier": "10"}]}
    assert relay({"Records": [first]}, LambdaContext()) == {"batchItemFailures": []}  # as the mapping retries
    assert len(domain_events()) == 2
    assert "Event not relayed; the stream will deliver it again" in log.getvalue()
    assert '"EventsNotRelayed"' in capsys.readouterr().out


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
