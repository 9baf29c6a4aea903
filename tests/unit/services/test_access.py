"""services/access.py on the seeded in-memory repository: who sees (else 404) and who manages (else 403)."""

from __future__ import annotations

import pytest

from seats.domain.errors import ContractNotFound, NotContractManager, OrderNotFound
from seats.services import add_seats
from seats.services.access import managed_contract, managed_order, visible_contract, visible_order
from tests.unit.services.support import (
    ACME,
    GLOBEX,
    MANAGER,
    OUTSIDER,
    PLAIN_USER,
    PRIMARY_ADMIN,
    SECONDARY_ADMIN,
)


@pytest.fixture
def order_id(repo):
    return add_seats.create_draft(repo, ACME, "sub-acad", 3, MANAGER).order_id


def test_the_manager_sees_and_manages_the_contract_and_its_orders(repo, order_id):
    contract, user = managed_contract(repo, ACME, MANAGER)
    assert (contract.contract_id, user.user_id) == (ACME, MANAGER)
    order, contract, _ = managed_order(repo, order_id, MANAGER)
    assert (order.order_id, contract.contract_id) == (order_id, ACME)


def test_the_primary_admin_sees_the_teams_contracts_but_may_not_change_them(repo, order_id):
    assert visible_contract(repo, ACME, PRIMARY_ADMIN)[0].contract_id == ACME
    assert visible_order(repo, order_id, PRIMARY_ADMIN)[0].order_id == order_id
    with pytest.raises(NotContractManager):
        managed_contract(repo, ACME, PRIMARY_ADMIN)
    with pytest.raises(NotContractManager):
        managed_order(repo, order_id, PRIMARY_ADMIN)


@pytest.mark.parametrize("caller", [SECONDARY_ADMIN, PLAIN_USER, OUTSIDER, "u-unknown"])
def test_anyone_else_is_told_the_contract_and_its_orders_do_not_exist(repo, order_id, caller):
    for check in (visible_contract, managed_contract):
        with pytest.raises(ContractNotFound):
            check(repo, ACME, caller)
    for check in (visible_order, managed_order):
        with pytest.raises(OrderNotFound):
            check(repo, order_id, caller)


def test_a_hidden_contract_and_a_missing_one_look_the_same(repo):
    with pytest.raises(ContractNotFound) as hidden:
        visible_contract(repo, GLOBEX, MANAGER)
    with pytest.raises(ContractNotFound) as missing:
        visible_contract(repo, "990000000009", MANAGER)
    assert (hidden.value.status, hidden.value.code) == (missing.value.status, missing.value.code) == (
        404, "contract_not_found")


def test_a_manager_is_forbidden_elsewhere_only_where_they_can_see(repo):
    with pytest.raises(NotContractManager) as forbidden:
        managed_contract(repo, ACME, PRIMARY_ADMIN)
    assert forbidden.value.status == 403
    with pytest.raises(ContractNotFound):
        managed_contract(repo, ACME, OUTSIDER)
