"""Fixtures of the unit tests: the services on the in-memory fakes of tests/fakes.py (no moto, no AWS),
their clock fixed at tests/conftest.py's NOW through SEATS_NOW, as the other suites fix it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from seats import bootstrap, clock
from seats.adapters.payments.sandbox import Sandbox
from tests import fakes
from tests.conftest import NOW


@pytest.fixture
def clock_at(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """The services' clock at NOW; `clock_at(instant)` moves it (SEATS_NOW, then bootstrap.reset())."""
    def move(instant: str) -> None:
        monkeypatch.setenv("SEATS_NOW", instant)
        bootstrap.reset()

    move(NOW)
    yield move
    bootstrap.reset()


@pytest.fixture
def load(clock_at: Callable[[str], None]) -> Callable[[dict[str, Any]], fakes.MemoryRepository]:
    """A new in-memory repository holding a seed (the format of tests/conftest.py BASE_SEED)."""
    return lambda data: fakes.seed(fakes.MemoryRepository(), data)


@pytest.fixture
def repo(load: Callable[[dict[str, Any]], fakes.MemoryRepository],
         seed_data: dict[str, Any]) -> fakes.MemoryRepository:
    """BASE_SEED in memory: Acme's contract 110000000001 (u-alice manages it, u-paula is primary admin)
    and Globex's 220000000001."""
    return load(seed_data)


@pytest.fixture
def gateway(clock_at: Callable[[str], None]) -> Sandbox:
    """The sandbox payment provider over an in-memory store, on the services' clock (SEATS_NOW)."""
    return fakes.memory_gateway(clock.utc_now)
