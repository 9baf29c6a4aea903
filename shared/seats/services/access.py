"""Who may see and change what (docs/api.md, People and roles): the checks every use case starts with.

A caller who cannot see a contract gets the not-found error (404), never 403, so ids cannot
be probed; a caller who can see but not manage it gets 403 not_contract_manager.
"""

from __future__ import annotations

from seats.domain.errors import ContractNotFound, NotContractManager, OrderNotFound
from seats.domain.model import Contract, Order, User
from seats.services.ports import Repository


def visible_contract(repo: Repository, contract_id: str, caller_id: str) -> tuple[Contract, User]:
    contract, user = repo.get_contract_and_user(contract_id, caller_id)
    if contract is None or user is None or not contract.visible_to(user):
        raise ContractNotFound(f"No contract {contract_id}")
    return contract, user


def managed_contract(repo: Repository, contract_id: str, caller_id: str) -> tuple[Contract, User]:
    contract, user = visible_contract(repo, contract_id, caller_id)
    if not contract.managed_by(caller_id):
        raise NotContractManager()
    return contract, user


def visible_order(repo: Repository, order_id: str, caller_id: str) -> tuple[Order, Contract, User]:
    order, user = repo.get_order_and_user(order_id, caller_id)
    if order is None or user is None:
        raise OrderNotFound(f"No order {order_id}")
    contract = repo.get_contract(order.contract_id)
    if contract is None or not contract.visible_to(user):
        raise OrderNotFound(f"No order {order_id}")
    return order, contract, user


def managed_order(repo: Repository, order_id: str, caller_id: str) -> tuple[Order, Contract, User]:
    order, contract, user = visible_order(repo, order_id, caller_id)
    if not contract.managed_by(caller_id):
        raise NotContractManager()
    return order, contract, user
