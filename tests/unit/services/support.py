"""Names of tests/conftest.py BASE_SEED and small steps the service tests share."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from seats.domain.model import Contract, Order, PaymentMethod, SeatOrder
from seats.domain.payments import Payment
from seats.services.payment_methods import set_order_payment_method
from seats.services.ports import PaymentGateway, Repository
from tests.fakes import MemoryRepository

ACME, GLOBEX = "110000000001", "220000000001"  # annual to 2027-03-01, 10 × 1975.00 USD · monthly to 2026-12-15
SUBSCRIPTION, GLOBEX_SUBSCRIPTION = "sub-acad", "sub-rvt"
MANAGER, PRIMARY_ADMIN, SECONDARY_ADMIN, PLAIN_USER = "u-alice", "u-paula", "u-sam", "u-nobody"
OUTSIDER = "u-gina"  # primary admin and manager of Globex


def contract(repo: Repository, contract_id: str = ACME) -> Contract:
    found = repo.get_contract(contract_id)
    assert found is not None
    return found


def order(repo: Repository, order_id: str) -> Order:
    found = repo.get_order(order_id)
    assert found is not None
    return found


def seat_order(repo: Repository, order_id: str) -> SeatOrder:
    found = order(repo, order_id)
    assert isinstance(found, SeatOrder)
    return found


def seats(repo: Repository, subscription_id: str = SUBSCRIPTION, contract_id: str = ACME) -> int:
    return contract(repo, contract_id).subscription(subscription_id).seats


def change_contract(repo: Repository, contract_id: str = ACME, change: Callable[[Contract], Any] | None = None,
                    **fields: Any) -> Contract:
    """Another writer's change to the contract (fields set, or `change` applied), committed at once."""
    changed = contract(repo, contract_id)
    for name, value in fields.items():
        setattr(changed, name, value)
    if change is not None:
        change(changed)
    work = repo.unit_of_work()
    work.save_contract(changed)
    work.commit()
    return changed


def store_card(repo: Repository, payment_method_id: str, token: str = "tok_visa", account_id: str = "acme",
               exp_year: int = 2034) -> PaymentMethod:
    """A card of the account, written straight to the repository (the provider refuses expired ones)."""
    card = PaymentMethod(payment_method_id, account_id, "visa", "4242", 12, exp_year, token)
    work = repo.unit_of_work()
    work.add_payment_method(card)
    work.commit()
    return card


def history_types(repo: Repository, contract_id: str = ACME) -> list[str]:
    """The contract's history, newest first, as entry types."""
    return [entry.type for entry in repo.list_history(contract_id)]


def pay_with(repo: Repository, gateway: PaymentGateway, order_id: str, token: str) -> SeatOrder:
    """The draft to be paid with a card of Acme's made from the sandbox `token` (stored the first time)."""
    card = repo.get_payment_method("acme", f"pm_{token}") or store_card(repo, f"pm_{token}", token)
    return set_order_payment_method(repo, gateway, order_id, card.payment_method_id, MANAGER)


def payment(repo: Repository, payment_id: str | None) -> Payment:
    assert payment_id is not None
    found = repo.get_payment(payment_id)
    assert found is not None
    return found


def payment_of(repo: Repository, order_id: str) -> Payment:
    """The ledger payment an add-seats order points to (in progress, or the one that paid)."""
    return payment(repo, seat_order(repo, order_id).payment_id)


def payments(repo: MemoryRepository, contract_id: str = ACME) -> list[Payment]:
    """Every ledger payment of the contract in the order they were recorded (the fake's state, which keeps
    that order: the port lists none)."""
    return [copy.deepcopy(p) for p in repo.payments.values() if p.contract_id == contract_id]


def die() -> None:
    """A Lambda that dies here (a hook of tests.fakes.Meanwhile)."""
    raise RuntimeError("the Lambda died")
