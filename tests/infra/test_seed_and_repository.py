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


def test_a_seeded_card_may_carry_an_older_expiry_than_its_token_gives(aws, seed_data):
    seed_data["accounts"][0]["payment_methods"].append(
        {"payment_method_id": "pm_acme_old", "token": "tok_visa", "exp_month": 1, "exp_year": 2027})
    seed_loader.load(bootstrap.repository(), seed_data)
    repo = bootstrap.repository()
    old, current = repo.get_payment_method("acme", "pm_acme_old"), repo.get_payment_method("acme", "pm_acme_visa")
    assert old is not None and (old.brand, old.last4, old.exp_month, old.exp_year) == ("visa", "4242", 1, 2027)
    assert current is not None and (current.exp_month, current.exp_year) == (12, 2034)  # the token's


@pytest.mark.parametrize(("expiry", "field", "message"), [
    ({"exp_month": 0, "exp_year": 2027}, r"\.exp_month", "greater than or equal to 1"),
    ({"exp_month": 13, "exp_year": 2027}, r"\.exp_month", "less than or equal to 12"),
    ({"exp_month": 1, "exp_year": 27}, r"\.exp_year", "greater than or equal to 1000"),
    ({"exp_month": 1, "exp_year": 20270}, r"\.exp_year", "less than or equal to 9999"),
    ({"exp_month": "1", "exp_year": 2027}, r"\.exp_month", "valid integer"),
    ({"exp_month": 1}, "", "both or neither"),
    ({"exp_year": 2027}, "", "both or neither"),
])
def test_a_seeded_expiry_is_a_month_and_a_four_digit_year_both_or_neither(aws, seed_data, expiry, field, message):
    seed_data["accounts"][0]["payment_methods"][1].update(expiry)
    with pytest.raises(seed_loader.SeedError, match=rf"^accounts\[0\]\.payment_methods\[1\]{field}: .*{message}"):
        seed_loader.load(bootstrap.repository(), seed_data)
    assert bootstrap.repository().get_contract("110000000001") is None
