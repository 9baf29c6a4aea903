"""The outbox's way to the bus (docs/events.md): committed domain events, as the table's stream brings
them, put on the bus; an event the bus did not take is reported, so that its record is retried."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from seats.services.ports import OUTBOX_PREFIX, EventPublisher, OutboxEvent


class EventNotRelayed(Exception):
    """The bus did not take this record's event: the record is reported failed, and retried."""


def outbox_event(inserted: bool, image: Mapping[str, Any]) -> OutboxEvent | None:
    """The event of a new outbox item; None for any other record (in AWS the mapping's filter drops those)."""
    if not inserted or not str(image.get("PK", "")).startswith(OUTBOX_PREFIX):
        return None
    return OutboxEvent(str(image["event_id"]), str(image["detail_type"]), str(image["detail"]),
                       datetime.fromisoformat(str(image["created_at"])))


class Relay:
    """One batch: `publish` puts every event on the bus at once; `settle` then answers for each record."""

    def __init__(self, publisher: EventPublisher, events: Mapping[str, OutboxEvent]) -> None:
        self.events = dict(events)  # by the record's sequence number
        self.refused = publisher.publish(list(self.events.values())) if self.events else {}

    @property
    def relayed(self) -> int:
        return len(self.events) - len(self.refused)

    def settle(self, sequence_number: str) -> OutboxEvent | None:
        """The record's event if it was relayed (None: the record held no event); EventNotRelayed if not."""
        event = self.events.get(sequence_number)
        if event is not None and event.event_id in self.refused:
            raise EventNotRelayed(event.event_id, self.refused[event.event_id])
        return event
