from __future__ import annotations

import pytest

from infra import seed as seed_loader
from seats import bootstrap


def test_seeded_contract_reads_back_with_its_card_and_manager(seeded):
    contract = bootstrap.repository().get_contract("110000000001")
    assert contract is not None
    assert contract.manager_email == "alice@acme.test"
    assert contract.payment_method and contract.payment_method.last4 == "4242"
    assert str(contract.renewal_total) == "19750.00"


def test_a_primary_admin_lists_the_contracts_of_the_team(seeded):
    repo = bootstrap.repository()
    paula = repo.get_user("u-paula")
    contracts, after = repo.list_contracts(paula, limit=10, after=None)
    assert [c.contract_id for c in contracts] == ["110000000001"]
    assert after is None


def test_a_bad_seed_names_the_field_and_writes_nothing(aws, seed_data):
    seed_data["accounts"][1]["contracts"][0]["subscriptions"][0]["unit_price"] = "3.001"
    with pytest.raises(seed_loader.SeedError, match=r"accounts\[1\]\.contracts\[0\]\.subscriptions\[0\]\.unit_price"):
        seed_loader.load(bootstrap.repository(), seed_data)
    assert bootstrap.repository().get_contract("110000000001") is None


def test_an_id_too_long_for_a_dynamodb_key_is_simply_not_found(seeded):
    repo = bootstrap.repository()
    huge = "9" * 3000
    assert repo.get_contract(huge) is None
    assert repo.get_contract_and_user(huge, "u-alice") == (None, repo.get_user("u-alice"))
