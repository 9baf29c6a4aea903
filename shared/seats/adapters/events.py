"""Domain events to the project's EventBridge bus (source `seats`). Never card data.

The services never call this: they write each event as an outbox item in the commit that makes the
change (`UnitOfWork.add_event`), and EventRelayFunction, fed by the table's stream, puts it here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

SOURCE = "seats"


@dataclass(frozen=True)
class OutboxEvent:
    event_id: str
    detail_type: str
    detail: str  # JSON, as committed
    created_at: datetime

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> OutboxEvent:
        return cls(str(item["event_id"]), str(item["detail_type"]), str(item["detail"]),
                   datetime.fromisoformat(str(item["created_at"])))


class EventBridgePublisher:
    def __init__(self, client: Any, bus_name: str) -> None:
        self.client = client
        self.bus_name = bus_name

    def publish(self, event: OutboxEvent) -> None:
        """One event; its time is the commit's, not the relay's."""
        answer = self.client.put_events(Entries=[{
            "Source": SOURCE, "DetailType": event.detail_type, "EventBusName": self.bus_name,
            "Detail": event.detail, "Time": event.created_at,
        }])
        if answer.get("FailedEntryCount"):
            raise RuntimeError(f"EventBridge refused {event.detail_type} {event.event_id}: {answer['Entries']}")
