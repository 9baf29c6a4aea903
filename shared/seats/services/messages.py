"""The renewal queue's message: one contract, and the run's as-of instant.

Plain JSON checked by hand: the worker needs nothing else of pydantic, and building a model would
add pydantic's machinery (~45 ms) to every one of its cold starts, which scale with the queue.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from seats.clock import iso

FIELDS = ("contract_id", "as_of")


class InvalidMessage(ValueError):
    """A body the scheduler cannot have sent."""


@dataclass(frozen=True)
class RenewalMessage:
    contract_id: str
    as_of: datetime

    def to_json(self) -> str:
        return json.dumps({"contract_id": self.contract_id, "as_of": iso(self.as_of)})

    @classmethod
    def from_json(cls, body: str) -> RenewalMessage:
        try:
            data: Any = json.loads(body)
        except ValueError as error:
            raise InvalidMessage(f"not JSON: {error}") from None
        if not isinstance(data, dict) or sorted(data) != sorted(FIELDS):
            raise InvalidMessage(f"expected an object with exactly {', '.join(FIELDS)}")
        contract_id, as_of = data["contract_id"], data["as_of"]
        if not isinstance(contract_id, str) or not contract_id:
            raise InvalidMessage("contract_id must be a non-empty string")
        try:
            instant = datetime.fromisoformat(as_of) if isinstance(as_of, str) else None
        except ValueError:
            instant = None
        if instant is None or instant.tzinfo is None:
            raise InvalidMessage("as_of must be an ISO 8601 instant with its offset")
        return cls(contract_id, instant)
