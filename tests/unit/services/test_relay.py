"""services/relay.py with the in-memory outbox and bus: committed domain events onto the bus, a refused
one reported alone."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from seats.services.ports import OutboxEvent
from seats.services.reduce_seats import schedule_reduction
from seats.services.relay import EventNotRelayed, Relay, outbox_event
from tests.fakes import MemoryPublisher
from tests.unit.services.support import ACME, MANAGER, SUBSCRIPTION

IMAGE = {"PK": "OUTBOX#evt_1", "SK": "#EVENT", "event_id": "evt_1", "detail_type": "SeatsAdded",
         "detail": '{"event_id": "evt_1"}', "created_at": "2026-11-29T10:00:00.000Z"}


def event(n: int) -> OutboxEvent:
    return OutboxEvent(f"evt_{n}", "SeatsAdded", json.dumps({"event_id": f"evt_{n}"}),
                       datetime(2026, 11, 29, 10, tzinfo=UTC))


def test_a_new_outbox_item_is_an_event_and_any_other_record_is_not():
    assert outbox_event(True, IMAGE) == OutboxEvent("evt_1", "SeatsAdded", '{"event_id": "evt_1"}',
                                                    datetime(2026, 11, 29, 10, tzinfo=UTC))
    assert outbox_event(False, IMAGE) is None  # a change or a removal (the TTL) of an outbox item
    assert outbox_event(True, {**IMAGE, "PK": "CONTRACT#110000000001"}) is None
    assert outbox_event(True, {}) is None


def test_a_batch_is_published_at_once_and_each_record_settles_with_its_event():
    publisher = MemoryPublisher()
    relay = Relay(publisher, {"1": event(1), "2": event(2)})

    assert [[e.event_id for e in call] for call in publisher.calls] == [["evt_1", "evt_2"]]
    assert relay.relayed == 2
    assert relay.settle("1") == event(1) and relay.settle("2") == event(2)
    assert relay.settle("3") is None  # a record that held no event


def test_an_event_the_bus_refuses_fails_its_record_alone():
    publisher = MemoryPublisher(refuse={"evt_2"})
    relay = Relay(publisher, {"1": event(1), "2": event(2), "3": event(3)})

    assert relay.relayed == 2 and [e.event_id for e in publisher.published] == ["evt_1", "evt_3"]
    assert relay.settle("1") == event(1) and relay.settle("3") == event(3)
    with pytest.raises(EventNotRelayed) as refused:
        relay.settle("2")
    assert refused.value.args == ("evt_2", "Refused: by the test")


def test_a_batch_without_events_publishes_nothing():
    publisher = MemoryPublisher()
    assert Relay(publisher, {}).relayed == 0 and publisher.calls == []


def test_what_a_service_commits_reaches_the_bus_as_committed(repo):
    schedule_reduction(repo, ACME, SUBSCRIPTION, MANAGER, 8)
    publisher = MemoryPublisher()

    [committed] = repo.outbox_events()
    relay = Relay(publisher, {"seq-1": committed})

    assert relay.settle("seq-1") == committed and publisher.published == [committed]
    detail = json.loads(committed.detail)
    assert (committed.detail_type, detail["event_id"], detail["seats_after"]) == ("SeatReductionScheduled",
                                                                                  committed.event_id, 8)
    assert committed.created_at == datetime(2026, 11, 29, 10, tzinfo=UTC)
