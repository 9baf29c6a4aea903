"""The money invariants as a model-based test (tests/reliability/ledger_model.py): hypothesis draws random
sequences of drafts, edits, cancellations, card choices, submits (with a caller's key, replayed or new),
reductions, renewal runs, reconciler runs and days passing, and 3-D Secure (a card that asks for the
cardholder: the order payment_pending, the cardholder passing or failing the challenge, the provider's
webhook delivered 0, 1 or 2 times, the reconciler at the 23-hour expiry), with faults injected at the
provider's calls and at the commits (time-outs before and after the capture, a failed completion, a process
dying between steps, another request landing between a capture and its answer), and checks after every
step what must hold of the money, the seats and the ledger.

The same machine runs on the in-memory ports (tests/fakes.py) and on moto (the DynamoDB adapter with the
sandbox gateway, one fresh table per example).

Budget: SEATS_LEDGER_EXAMPLES examples in memory (default 400) and an eighth of them on moto (at least 50),
up to SEATS_LEDGER_STEPS steps each (default 30); derandomized, so a run is reproducible. `make fuzz` runs
2,000 in memory and 250 on moto.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from infra import seed as seed_loader
from infra import template
from seats import bootstrap, clock
from seats.adapters.dynamodb.repository import Repository as DynamoDbRepository
from seats.adapters.payments.sandbox import SandboxGateway
from tests import fakes
from tests.reliability.ledger_model import START, LedgerMachine, Stats, World, seed_data, set_clock

EXAMPLES = int(os.environ.get("SEATS_LEDGER_EXAMPLES", "400"))
MOTO_EXAMPLES = max(50, EXAMPLES // 8)
STEPS = int(os.environ.get("SEATS_LEDGER_STEPS", "30"))

RULES = ("create a draft (1-3 seats, one of two subscriptions), edit it, cancel it, choose its card "
         "(good, declining, timing out after the capture, 3-D Secure), submit it or replay the latest (3 caller "
         "keys), schedule or cancel a reduction, 1-10 nights pass (the renewal run at 02:00, a card on file "
         "chosen), the renewal message again, reconcile (+11 min), the cardholder passes or fails a waiting "
         "challenge and its webhook is delivered 0-2 times, a failed delivery again or given up, the reconciler "
         "past the 23 h expiry, settle")
HELD = ("after every step: each completed order paid by one kept charge of its total (or carried, below "
        "the minimum), its ledger payment succeeded; no charge pays two orders; a kept charge pays a completed "
        "order or is still unsettled; seats = initial + completed additions − applied reductions, one "
        "seats_added entry per completed order; one renewal order per period, chained; carried amounts "
        "charged once; a payment_pending order shows its challenge and its payment requires_action (unsettled) "
        "for that charge, no other order shows one, a provider payment awaiting the cardholder is unsettled "
        "in the ledger; completed only if submitted, answered completed (submit or webhook) ⇒ completed, "
        "answered cancelled ⇒ never completed. After every settle (failed webhook deliveries delivered, the "
        "reconciler at +11 min or past the last expiry, provider answering): no payment unsettled, every kept "
        "charge pays exactly one completed order, refunded/failed/canceled charges settled so, nothing "
        "awaiting the cardholder")


def _settings(examples: int) -> settings:
    return settings(max_examples=examples, stateful_step_count=STEPS, deadline=None, derandomize=True,
                    database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def _machine(name: str, make_world: Callable[[], World], stats: Stats) -> type[LedgerMachine]:
    return type(name, (LedgerMachine,), {"make_world": staticmethod(make_world), "stats": stats})


class MemoryWorld:
    def __init__(self) -> None:
        self.repo = fakes.seed(fakes.MemoryRepository(), seed_data())
        self.gateway = fakes.memory_gateway(clock.utc_now)

    def close(self) -> None:
        pass


class MotoWorld:
    """A fresh SeatsTable (as template.yaml declares it, without its stream) per example, under its own name."""

    numbers = itertools.count()

    def __init__(self, client: Any) -> None:
        self.client = client
        self.table = f"LedgerModel{next(self.numbers)}"
        create = dict(template.create_table_requests(streams=False)["SeatsTable"]["create"], TableName=self.table)
        client.create_table(**create)
        self.repo = DynamoDbRepository(client, self.table, clock.utc_now)
        seed_loader.load(self.repo, seed_data())
        self.gateway = SandboxGateway(client, self.table, clock.utc_now)

    def close(self) -> None:
        self.client.delete_table(TableName=self.table)


def _record(figures: Any, ports: str, stats: Stats) -> None:
    figures.row(f"Ledger model on {ports}: hypothesis RuleBasedStateMachine, up to {STEPS} steps per example "
                f"({RULES}); faults: provider time-outs before/after the capture, a failed completion commit, "
                f"a process dying at a provider call or a commit (a webhook delivery's too), another request "
                f"between a capture and its answer. {stats.summary()}",
                stats.examples, HELD)


def test_ledger_model_in_memory(monkeypatch: pytest.MonkeyPatch, figures: Any) -> None:
    monkeypatch.setenv("SEATS_NOW", clock.iso(START))  # the machine moves it; put back afterwards
    bootstrap.reset()
    stats = Stats()
    try:
        run_state_machine_as_test(_machine("LedgerInMemory", MemoryWorld, stats), settings=_settings(EXAMPLES))
    finally:
        monkeypatch.undo()
        bootstrap.reset()
    assert stats.examples >= EXAMPLES and stats.faults_fired() > 0
    _record(figures, "the in-memory ports", stats)


def test_ledger_model_on_moto(aws: None, figures: Any) -> None:
    client = bootstrap.aws_client("dynamodb")
    stats = Stats()
    try:
        run_state_machine_as_test(_machine("LedgerOnMoto", lambda: MotoWorld(client), stats),
                                  settings=_settings(MOTO_EXAMPLES))
    finally:
        set_clock(START)  # tests/conftest.py NOW, as the `aws` fixture set it
    assert stats.examples >= MOTO_EXAMPLES and stats.faults_fired() > 0
    _record(figures, "moto (DynamoDB adapter, sandbox gateway)", stats)
