"""The one retry policy of every read-check-write use case.

A write that lost a race (ConcurrentUpdate: the contract or order changed since it was read) is tried
again from a fresh read, so the loser sees the winner's state (`draft_exists`, `order_not_draft`...);
only after WRITE_ATTEMPTS lost races does the caller get 409 concurrent_update.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from seats.domain.errors import ConcurrentUpdate

WRITE_ATTEMPTS = 3
T = TypeVar("T")


def retrying(use_case: Callable[[], T], attempts: int = WRITE_ATTEMPTS) -> T:
    """Run `use_case` again from the start when its write lost a race, up to `attempts` times."""
    for attempt in range(attempts):
        try:
            return use_case()
        except ConcurrentUpdate:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")
