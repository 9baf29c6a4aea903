"""The fakes of tests/fakes.py implement every method of the ports they stand in for, with the same
parameters: a port that gains or changes a method fails here until its fake follows (what each method
does is held to the DynamoDB adapter by tests/contract). The memory gateway is the sandbox provider itself
over the in-memory ChargeStore, so both are held to their protocols."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from seats.adapters.payments import sandbox
from seats.services import ports
from tests import fakes

PAIRS = [
    (ports.Repository, fakes.MemoryRepository),
    (ports.UnitOfWork, fakes.MemoryUnitOfWork),
    (ports.RenewalQueue, fakes.MemoryQueue),
    (ports.EventPublisher, fakes.MemoryPublisher),
    (ports.PaymentGateway, sandbox.Sandbox),
    (sandbox.ChargeStore, fakes.MemoryStore),
]


def methods(protocol: type) -> list[str]:
    return sorted(name for name, value in vars(protocol).items() if inspect.isfunction(value)
                  and not name.startswith("_"))


def parameters(function: Any) -> list[tuple[str, Any]]:
    return [(p.name, p.kind) for p in inspect.signature(function).parameters.values()]


@pytest.mark.parametrize(("port", "fake"), PAIRS, ids=[port.__name__ for port, _ in PAIRS])
def test_each_fake_has_every_method_of_its_port_with_the_same_parameters(port, fake):
    assert methods(port), port
    for name in methods(port):
        assert hasattr(fake, name), f"{fake.__name__} has no {name}"
        assert parameters(getattr(fake, name)) == parameters(getattr(port, name)), name


def test_the_memory_gateway_is_the_sandbox_over_the_memory_store():
    gateway = fakes.memory_gateway()
    assert type(gateway) is sandbox.Sandbox and isinstance(gateway.store, fakes.MemoryStore)
