"""Instants as text: ISO 8601 with `Z`, to the millisecond (sortable as text), and back."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(instant: datetime) -> str:
    """ISO 8601 with `Z`, to the millisecond: sortable as text."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{instant.microsecond // 1000:03d}Z"


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant as an aware UTC datetime (`Z` accepted; no offset means UTC)."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
