"""Domain events to the project's EventBridge bus (source `seats`). Never card data.

The services never call this: they write each event as an outbox item in the commit that makes the
change (`UnitOfWork.add_event`), and EventRelayFunction, fed by the table's stream, puts it here.
"""

from __future__ import annotations

from typing import Any

from seats.services.ports import OutboxEvent

SOURCE = "seats"
ENTRIES_PER_CALL = 10  # PutEvents' maximum


class EventBridgePublisher:
    def __init__(self, client: Any, bus_name: str) -> None:
        self.client = client
        self.bus_name = bus_name

    def publish(self, events: list[OutboxEvent]) -> dict[str, str]:
        """Put the events on the bus, ten per PutEvents call, each with its commit's time. Returns the
        ones not put, {event_id: why}: entries EventBridge refused, and every entry of a call that failed."""
        refused: dict[str, str] = {}
        for start in range(0, len(events), ENTRIES_PER_CALL):
            chunk = events[start:start + ENTRIES_PER_CALL]
            try:
                answer = self.client.put_events(Entries=[{
                    "Source": SOURCE, "DetailType": e.detail_type, "EventBusName": self.bus_name,
                    "Detail": e.detail, "Time": e.created_at,
                } for e in chunk])
            except Exception as error:  # noqa: BLE001 - the caller reports these events failed, to be retried
                refused.update({e.event_id: f"{type(error).__name__}: {error}" for e in chunk})
                continue
            for event, entry in zip(chunk, answer.get("Entries", []), strict=False):
                if entry.get("ErrorCode"):
                    refused[event.event_id] = f"{entry['ErrorCode']}: {entry.get('ErrorMessage', '')}"
        return refused
