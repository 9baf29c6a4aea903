"""The one clock. `SEATS_NOW` (ISO 8601 instant) fixes "now" for local runs and tests."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime


def parse_instant(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def utc_now() -> datetime:
    fixed = os.environ.get("SEATS_NOW")
    return parse_instant(fixed) if fixed else datetime.now(UTC)


def today() -> date:
    return utc_now().date()


def iso(instant: datetime) -> str:
    """ISO 8601 with `Z`, to the millisecond: sortable as text."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{instant.microsecond // 1000:03d}Z"
