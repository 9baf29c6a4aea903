"""services/retry.py: the one retry policy of every read-check-write use case; and the quote's expiry."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from seats.domain import seat_orders
from seats.domain.errors import ConcurrentUpdate
from seats.services.retry import WRITE_ATTEMPTS, retrying


def test_a_use_case_that_lost_a_race_is_run_again_from_a_fresh_read():
    outcomes = iter([ConcurrentUpdate(), ConcurrentUpdate(), "done"])

    def use_case() -> str:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert retrying(use_case) == "done"


def test_a_use_case_that_keeps_losing_answers_concurrent_update_after_the_last_attempt():
    runs = []

    def use_case() -> None:
        runs.append(1)
        raise ConcurrentUpdate()

    with pytest.raises(ConcurrentUpdate):
        retrying(use_case)
    assert len(runs) == WRITE_ATTEMPTS


def test_other_errors_are_not_retried():
    runs = []

    def use_case() -> None:
        runs.append(1)
        raise ValueError("not a race")

    with pytest.raises(ValueError):
        retrying(use_case)
    assert runs == [1]


def test_a_quote_holds_until_the_next_midnight_utc():
    assert seat_orders.quote_expiry(date(2026, 12, 31)) == datetime(2027, 1, 1, tzinfo=UTC)
