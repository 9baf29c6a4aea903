"""Who sees and manages what (docs/api.md, People and roles): the unseen is not found, never forbidden."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from seats.domain.errors import ContractNotFound, NotContractManager, OrderNotFound
from seats.domain.model import Contract, SeatOrder, Subscription, User
from seats.domain.money import Money
from seats.domain.proration import Proration
from seats.domain.terms import Term
from seats.services.access import managed_contract, managed_order, visible_contract, visible_order

CONTRACT_ID, ORDER_ID = "110000000001", "ord_1"

USERS = {
    "u-alice": User("u-alice", "alice@acme.test", {"acme": "user"}),             # the contract manager
    "u-paula": User("u-paula", "paula@acme.test", {"acme": "primary_admin"}),
    "u-sam": User("u-sam", "sam@acme.test", {"acme": "secondary_admin"}),
    "u-nobody": User("u-nobody", "nobody@acme.test", {"acme": "user"}),
    "u-gina": User("u-gina", "gina@globex.test", {"globex": "primary_admin"}),
    "u-both": User("u-both", "both@acme.test", {"acme": "primary_admin"}),   # manages the other contract
}


def acme_contract(contract_id: str = CONTRACT_ID, manager: str = "u-alice") -> Contract:
    return Contract(
        contract_id=contract_id, account_id="acme", account_name="Acme Corp", country="US", currency="USD",
        contract_manager=manager, manager_email=f"{manager}@acme.test", purchase_channel="online",
        auto_renew=True, term=Term.ANNUAL, term_start=date(2026, 3, 1), renewal_date=date(2027, 3, 1),
        billing_anchor_day=1, status="active", payment_method=None,
        subscriptions=[Subscription("sub-acad", "AutoCAD", "subscription", 10, 7, Money.parse("1975.00", "USD"))],
    )


class FakeRepository:
    """The reads services/access.py makes, over dictionaries."""

    def __init__(self) -> None:
        self.contracts = {c.contract_id: c for c in (acme_contract(), acme_contract("110000000002", "u-both"))}
        self.orders = {ORDER_ID: SeatOrder(
            order_id=ORDER_ID, status="draft", contract_id=CONTRACT_ID, account_id="acme",
            currency="USD", total=Money.parse("497.81", "USD"), created_by="u-alice",
            created_at=datetime(2026, 11, 29, 10, tzinfo=UTC), subscription_id="sub-acad", product="AutoCAD",
            seats_before=10, seats_to_add=1, seats_after=11, unit_price=Money.parse("1975.00", "USD"),
            proration=Proration(92, 365), quoted_on=date(2026, 11, 29),
            quote_expires_at=datetime(2026, 11, 30, tzinfo=UTC),
        )}

    def get_contract(self, contract_id: str) -> Contract | None:
        return self.contracts.get(contract_id)

    def get_contract_and_user(self, contract_id: str, user_id: str):
        return self.contracts.get(contract_id), USERS.get(user_id)

    def get_order_and_user(self, order_id: str, user_id: str):
        return self.orders.get(order_id), USERS.get(user_id)


@pytest.fixture
def repo() -> FakeRepository:
    return FakeRepository()


def test_the_contract_manager_sees_and_manages_the_contract(repo):
    contract, user = visible_contract(repo, CONTRACT_ID, "u-alice")
    assert contract.contract_id == CONTRACT_ID and user.user_id == "u-alice"
    assert managed_contract(repo, CONTRACT_ID, "u-alice")[0] is contract
    assert managed_order(repo, ORDER_ID, "u-alice")[0].order_id == ORDER_ID


def test_a_primary_admin_sees_every_contract_of_the_team_read_only(repo):
    assert visible_contract(repo, CONTRACT_ID, "u-paula")[0].contract_id == CONTRACT_ID
    assert visible_order(repo, ORDER_ID, "u-paula")[0].order_id == ORDER_ID
    with pytest.raises(NotContractManager) as refused:
        managed_contract(repo, CONTRACT_ID, "u-paula")
    assert (refused.value.status, refused.value.code) == (403, "not_contract_manager")
    with pytest.raises(NotContractManager):
        managed_order(repo, ORDER_ID, "u-paula")


def test_a_primary_admin_who_is_also_the_manager_manages_that_contract_only(repo):
    assert managed_contract(repo, "110000000002", "u-both")[0].contract_id == "110000000002"
    with pytest.raises(NotContractManager):
        managed_contract(repo, CONTRACT_ID, "u-both")


@pytest.mark.parametrize("caller", [
    "u-sam",      # secondary admin of the team
    "u-nobody",   # plain user of the team
    "u-gina",     # primary admin of another team
    "u-unknown",  # no user record at all
])
def test_anyone_else_is_told_the_contract_does_not_exist(repo, caller):
    for check in (visible_contract, managed_contract):
        with pytest.raises(ContractNotFound) as missing:
            check(repo, CONTRACT_ID, caller)
        assert (missing.value.status, missing.value.code) == (404, "contract_not_found")


@pytest.mark.parametrize("caller", ["u-sam", "u-nobody", "u-gina", "u-unknown"])
def test_anyone_else_is_told_the_order_does_not_exist(repo, caller):
    for check in (visible_order, managed_order):
        with pytest.raises(OrderNotFound) as missing:
            check(repo, ORDER_ID, caller)
        assert (missing.value.status, missing.value.code) == (404, "order_not_found")


def test_a_hidden_contract_and_a_missing_one_look_the_same(repo):
    with pytest.raises(ContractNotFound) as hidden:
        visible_contract(repo, CONTRACT_ID, "u-sam")
    with pytest.raises(ContractNotFound) as missing:
        visible_contract(repo, "999999999999", "u-sam")
    assert type(hidden.value) is type(missing.value)
    assert (hidden.value.status, hidden.value.title) == (missing.value.status, missing.value.title)


def test_an_order_whose_contract_is_gone_is_not_found(repo):
    del repo.contracts[CONTRACT_ID]
    with pytest.raises(OrderNotFound):
        visible_order(repo, ORDER_ID, "u-alice")


def test_roles_come_from_the_team_of_the_contract():
    contract = acme_contract()
    assert contract.visible_to(USERS["u-alice"]) and contract.managed_by("u-alice")
    assert contract.visible_to(USERS["u-paula"]) and not contract.managed_by("u-paula")
    assert not contract.visible_to(USERS["u-sam"])
    assert not contract.visible_to(USERS["u-gina"])
    assert not contract.visible_to(User("u-x", "x@acme.test", {"globex": "primary_admin", "acme": "user"}))
