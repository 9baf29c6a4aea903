"""The one clock. `SEATS_NOW` (ISO 8601 instant) fixes "now" for local runs and tests.

"now" comes from the settings (`Settings.fixed_now`), read once per process: a test that changes
`SEATS_NOW` calls `seats.bootstrap.reset()` afterwards.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from seats.domain.instants import iso, parse_instant
from seats.settings import get_settings

__all__ = ["iso", "parse_instant", "today", "utc_now"]


def utc_now() -> datetime:
    fixed = get_settings().fixed_now
    return fixed if fixed is not None else datetime.now(UTC)


def today() -> date:
    return utc_now().date()
