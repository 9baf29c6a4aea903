"""The repository and the sandbox gateway's storage (its ChargeStore), each in its two implementations: the
DynamoDB adapter on moto (the tables of template.yaml) and the in-memory fake of tests/fakes.py. Every test
of this folder runs on both, so the fake the unit tests trust cannot drift from the table."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from infra import seed as seed_loader
from seats import bootstrap, clock
from seats.adapters.payments.sandbox import ChargeStore, DynamoDbCharges, Sandbox
from seats.services.ports import Repository
from seats.settings import get_settings
from tests import fakes
from tests.conftest import NOW

BACKENDS = ["memory", "dynamodb"]


@dataclass
class Backend:
    name: str
    repo: Repository
    load: Callable[[dict[str, Any]], object]  # a seed (tests/conftest.py BASE_SEED's format)
    events: Callable[[], list[tuple[str, dict[str, Any]]]]  # committed domain events: (detail type, detail)


@pytest.fixture
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """The services' clock at NOW (SEATS_NOW, as tests/conftest.py's `aws_env` sets it); call to move it."""
    def move(instant: str) -> None:
        monkeypatch.setenv("SEATS_NOW", instant)
        bootstrap.reset()

    move(NOW)
    yield move
    bootstrap.reset()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, fixed_clock: Callable[[str], None]) -> Backend:
    if request.param == "dynamodb":
        request.getfixturevalue("aws")
        table: Any = bootstrap.repository()  # the DynamoDB adapter, with put_items for the seed
        return Backend("dynamodb", table, lambda data: seed_loader.load(table, data),
                       request.getfixturevalue("outbox"))
    memory = fakes.MemoryRepository()
    return Backend("memory", memory, lambda data: fakes.seed(memory, data), memory.events)


@pytest.fixture
def repo(backend: Backend, seed_data: dict[str, Any]) -> Repository:
    """The repository under test, holding tests/conftest.py's BASE_SEED."""
    backend.load(seed_data)
    return backend.repo


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, fixed_clock: Callable[[str], None]) -> ChargeStore:
    """The sandbox's ChargeStore: the seats table's items, or the fake's dictionary."""
    if request.param == "dynamodb":
        request.getfixturevalue("aws")
        return DynamoDbCharges(bootstrap.aws_client("dynamodb"), get_settings().table_name)
    return fakes.MemoryStore()


@pytest.fixture
def gateway(store: ChargeStore) -> Sandbox:
    """The sandbox payment provider over either store, on the services' clock (what bootstrap builds for
    the table; what the unit tests use in memory)."""
    if isinstance(store, DynamoDbCharges):
        built = bootstrap.payment_gateway()
        assert isinstance(built, Sandbox) and isinstance(built.store, DynamoDbCharges)
        return built
    return fakes.memory_gateway(clock.utc_now)
