"""Domain events to the project's EventBridge bus (source `seats`). Never card data."""

from __future__ import annotations

import json
from typing import Any

SOURCE = "seats"


class EventBridgePublisher:
    def __init__(self, client: Any, bus_name: str) -> None:
        self.client = client
        self.bus_name = bus_name

    def publish(self, detail_type: str, detail: dict[str, Any]) -> None:
        answer = self.client.put_events(Entries=[{
            "Source": SOURCE, "DetailType": detail_type, "EventBusName": self.bus_name,
            "Detail": json.dumps(detail, default=str),
        }])
        if answer.get("FailedEntryCount"):
            raise RuntimeError(f"EventBridge refused {detail_type}: {answer['Entries']}")
