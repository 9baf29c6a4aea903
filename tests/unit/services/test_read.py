"""services/read.py on the in-memory repository: pages of contracts, orders, history, single records."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest

from seats.domain.errors import ContractNotFound, OrderNotFound
from seats.services import add_seats, read
from seats.services.read import InvalidNextToken, decode_next_token, encode_next_token
from tests.conftest import BASE_SEED
from tests.unit.services.support import ACME, MANAGER, OUTSIDER, PLAIN_USER, PRIMARY_ADMIN, SECONDARY_ADMIN


@pytest.fixture
def many(load, seed_data):
    """Acme with seven contracts managed by u-alice; 110000000002 renews first (2027-02-12), then Acme's own."""
    for n in range(2, 8):
        added = copy.deepcopy(BASE_SEED["accounts"][0]["contracts"][0])
        added.update(contract_id=f"11000000000{n}", renewal_date=f"2027-0{n}-1{n}")
        added["subscriptions"][0]["subscription_id"] = f"sub-{n}"
        seed_data["accounts"][0]["contracts"].append(added)
    return load(seed_data)


def every_page(repo: Any, caller: str, limit: int) -> list[list[str]]:
    pages, token = [], None
    while True:
        contracts, token = read.list_contracts(repo, caller, limit, token)
        pages.append([c.contract_id for c in contracts])
        if token is None:
            return pages


@pytest.mark.parametrize(("limit", "sizes"), [(1, [1] * 7), (3, [3, 3, 1]), (7, [7]), (50, [7])])
def test_pages_follow_next_token_to_the_end_without_duplicates(many, limit, sizes):
    pages = every_page(many, MANAGER, limit)

    assert [len(page) for page in pages] == sizes
    assert [cid for page in pages for cid in page] == ["110000000002", ACME] + [f"11000000000{n}" for n in range(3, 8)]


def test_a_next_token_is_opaque_url_safe_text_carrying_the_last_sort_key(many):
    _, token = read.list_contracts(many, MANAGER, 2, None)

    assert token is not None and "=" not in token and "#" not in token
    assert decode_next_token(token) == f"2027-03-01#{ACME}"
    assert decode_next_token(encode_next_token("2027-03-01#x")) == "2027-03-01#x"


@pytest.mark.parametrize("tamper", [
    lambda t: t[:-2], lambda t: t + "A", lambda t: "!" + t, lambda t: "",
    lambda t: base64.urlsafe_b64encode(b"v1|2027-01-01#1|000000000000").decode(),
    lambda t: base64.urlsafe_b64encode(b"v2|2027-01-01#1").decode(),
])
def test_a_malformed_or_tampered_next_token_is_refused(many, tamper):
    _, token = read.list_contracts(many, MANAGER, 2, None)
    with pytest.raises(InvalidNextToken):
        decode_next_token(tamper(token) or "%")


def test_a_bad_next_token_is_refused_even_for_a_caller_without_contracts(repo):
    with pytest.raises(InvalidNextToken):
        read.list_contracts(repo, "u-unknown", 10, "not-a-token")
    assert read.list_contracts(repo, "u-unknown", 10, None) == ([], None)


@pytest.mark.parametrize(("caller", "expected"), [
    (MANAGER, [ACME]), (PRIMARY_ADMIN, [ACME]), (SECONDARY_ADMIN, []), (PLAIN_USER, []),
    (OUTSIDER, ["220000000001"]),
])
def test_the_list_holds_what_the_caller_manages_or_administers(repo, caller, expected):
    contracts, token = read.list_contracts(repo, caller, 50, None)
    assert ([c.contract_id for c in contracts], token) == (expected, None)


def test_a_contract_its_orders_and_its_history_are_read_by_whoever_can_see_it(repo, clock_at, gateway):
    first = add_seats.create_draft(repo, ACME, "sub-acad", 3, MANAGER)
    add_seats.cancel_draft(repo, gateway, first.order_id, MANAGER)
    clock_at("2026-11-29T11:00:00Z")
    second = add_seats.create_draft(repo, ACME, "sub-acad", 2, MANAGER)

    for caller in (MANAGER, PRIMARY_ADMIN):
        assert read.get_contract(repo, ACME, caller).contract_id == ACME
        assert [o.order_id for o in read.list_orders(repo, ACME, caller)] == [second.order_id, first.order_id]
        assert [e.type for e in read.list_history(repo, ACME, caller)] == ["order_cancelled"]
        assert read.get_order(repo, second.order_id, caller) == second


@pytest.mark.parametrize("caller", [SECONDARY_ADMIN, PLAIN_USER, OUTSIDER, "u-unknown"])
def test_whoever_cannot_see_a_contract_is_told_neither_it_nor_its_orders_exist(repo, caller):
    order = add_seats.create_draft(repo, ACME, "sub-acad", 3, MANAGER)
    for use_case in (read.get_contract, read.list_orders, read.list_history):
        with pytest.raises(ContractNotFound):
            use_case(repo, ACME, caller)
    with pytest.raises(OrderNotFound):
        read.get_order(repo, order.order_id, caller)


def test_unknown_contracts_and_orders_are_not_found(repo):
    with pytest.raises(ContractNotFound):
        read.get_contract(repo, "990000000009", MANAGER)
    with pytest.raises(OrderNotFound):
        read.get_order(repo, "ord_missing", MANAGER)
