"""Payment methods through SetPaymentFunction: an account's cards, an order's card, the card on file."""

from __future__ import annotations

import json

import pytest

from seats import bootstrap
from tests.conftest import EVENTS, http_event, invoke
from tests.integration.add_seats_support import (
    CONTRACT,
    OUTSIDER,
    PRIMARY_ADMIN,
    add_card,
    cancel_draft,
    choose_card,
    history_types,
    new_draft,
    set_payment,
    set_status,
    store_expired_card,
)

CARD_FIELDS = {"payment_method_id", "brand", "last4", "exp_month", "exp_year"}


def list_cards(account_id: str = "acme", user: str = "u-alice") -> tuple[int, dict]:
    status, body, _ = invoke(set_payment, http_event("GET", f"/accounts/{account_id}/payment-methods", user=user))
    return status, body


def set_card_on_file(payment_method_id: object, user: str = "u-alice", contract_id: str = CONTRACT) -> tuple[int, dict]:
    status, body, _ = invoke(set_payment, http_event("PUT", f"/contracts/{contract_id}/payment-method", user=user,
                                                     body={"payment_method_id": payment_method_id}))
    return status, body


# -- listing ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("user", ["u-alice", PRIMARY_ADMIN])
def test_the_manager_and_the_primary_admin_see_the_accounts_cards(seeded, user):
    status, body = list_cards(user=user)

    assert status == 200
    cards = {card["payment_method_id"]: card for card in body["payment_methods"]}
    assert set(cards) == {"pm_acme_visa", "pm_acme_mc"}
    assert cards["pm_acme_visa"] == {"payment_method_id": "pm_acme_visa", "brand": "visa", "last4": "4242",
                                     "exp_month": 12, "exp_year": 2034}


@pytest.mark.parametrize("user", ["u-sam", "u-nobody", OUTSIDER])
def test_anyone_else_is_told_the_account_does_not_exist(seeded, user):
    status, body = list_cards(user=user)

    assert (status, body["code"]) == (404, "account_not_found")


def test_an_unknown_account_is_not_found(seeded):
    assert list_cards(account_id="nope")[1]["code"] == "account_not_found"


# -- adding a card ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("token", "brand", "last4"), [
    ("tok_visa", "visa", "4242"),
    ("tok_mastercard", "mastercard", "4444"),
    ("tok_chargeCustomerFail", "visa", "0341"),
    ("tok_chargeDeclinedInsufficientFunds", "visa", "9995"),
    ("tok_timeoutAfterCapture", "visa", "1881"),
])
def test_a_card_token_becomes_a_payment_method_of_the_account(seeded, token, brand, last4):
    status, card = add_card(token)

    assert status == 201
    assert set(card) == CARD_FIELDS  # the token and the provider's id never come back
    assert (card["brand"], card["last4"], card["exp_month"], card["exp_year"]) == (brand, last4, 12, 2034)
    listed = [c["payment_method_id"] for c in list_cards()[1]["payment_methods"]]
    assert card["payment_method_id"] in listed


@pytest.mark.parametrize(("token", "decline_code"), [
    ("tok_chargeDeclined", "card_declined"), ("tok_chargeDeclinedExpiredCard", "expired_card"),
])
def test_a_card_the_provider_declines_is_not_added(seeded, token, decline_code):
    status, problem = add_card(token)

    assert (status, problem["code"], problem["decline_code"]) == (402, "payment_declined", decline_code)
    assert len(list_cards()[1]["payment_methods"]) == 2


def test_an_unknown_token_is_invalid(seeded):
    status, problem = add_card("tok_made_up")

    assert (status, problem["code"]) == (422, "invalid_payment_token")


@pytest.mark.parametrize("body", [{"token": 42}, {"token": ""}, {}, {"token": "tok_visa", "number": "4242"}])
def test_the_token_body_is_validated(seeded, body):
    status, problem, _ = invoke(set_payment, http_event("POST", "/accounts/acme/payment-methods", body=body))

    assert (status, problem["code"]) == (422, "validation_error")


def test_only_a_contract_manager_of_the_account_adds_a_card(seeded):
    assert add_card("tok_visa", user=PRIMARY_ADMIN)[1]["code"] == "not_contract_manager"
    assert add_card("tok_visa", user="u-nobody")[1]["code"] == "account_not_found"
    assert add_card("tok_visa", user="u-alice", account_id="globex")[1]["code"] == "account_not_found"


# -- the card of a draft ----------------------------------------------------------------------------------

def test_a_draft_can_be_paid_with_another_card_of_the_account(seeded):
    draft = new_draft(3)

    status, order = choose_card(draft["order_id"], "pm_acme_mc")

    assert status == 200
    assert order["payment_method"]["payment_method_id"] == "pm_acme_mc"
    assert order["total"] == draft["total"]
    assert bootstrap.repository().get_order(draft["order_id"]).payment_method.last4 == "4444"
    assert history_types() == ["payment_method_changed"]


def test_a_new_card_can_be_chosen_for_a_draft(seeded):
    _, card = add_card("tok_mastercard")
    draft = new_draft(3)

    status, order = choose_card(draft["order_id"], card["payment_method_id"])

    assert status == 200 and order["payment_method"] == card


@pytest.mark.parametrize("payment_method_id", ["pm_globex_visa", "pm_unknown"])
def test_a_card_of_another_account_is_not_found(seeded, payment_method_id):
    draft = new_draft(3)

    status, problem = choose_card(draft["order_id"], payment_method_id)

    assert (status, problem["code"]) == (404, "payment_method_not_found")


def test_an_expired_card_may_be_chosen_for_a_draft(seeded):
    draft = new_draft(3)

    status, order = choose_card(draft["order_id"], store_expired_card())

    assert status == 200 and order["payment_method"]["exp_year"] == 2025


def test_choosing_a_card_checks_the_order_and_the_caller(seeded):
    draft = new_draft(3)

    assert choose_card("ord_unknown", "pm_acme_mc")[1]["code"] == "order_not_found"
    assert choose_card(draft["order_id"], "pm_acme_mc", user=OUTSIDER)[1]["code"] == "order_not_found"
    assert choose_card(draft["order_id"], "pm_acme_mc", user=PRIMARY_ADMIN)[1]["code"] == "not_contract_manager"
    cancel_draft(draft["order_id"])
    assert choose_card(draft["order_id"], "pm_acme_mc")[1]["code"] == "order_not_draft"


def test_choosing_a_card_is_a_change_held_to_eligibility(seeded):
    draft = new_draft(3)
    set_status("past_due")

    status, problem = choose_card(draft["order_id"], "pm_acme_mc")

    assert (status, problem["code"]) == (409, "contract_not_active")


@pytest.mark.parametrize("body", [{"payment_method_id": 1}, {}, {"payment_method_id": "pm_acme_mc", "x": 1}])
def test_the_chosen_card_body_is_validated(seeded, body):
    draft = new_draft(3)

    status, problem, _ = invoke(set_payment, http_event("PUT", f"/orders/{draft['order_id']}/payment-method",
                                                        body=body))

    assert (status, problem["code"]) == (422, "validation_error")


# -- the card on file -------------------------------------------------------------------------------------

def test_the_card_on_file_can_be_changed_for_future_renewals(seeded):
    status, contract = set_card_on_file("pm_acme_mc")

    assert status == 200
    assert contract["contract_id"] == CONTRACT and contract["can_manage"] is True
    assert contract["payment_method"]["payment_method_id"] == "pm_acme_mc"
    assert bootstrap.repository().get_contract(CONTRACT).payment_method.last4 == "4444"
    assert history_types() == ["payment_method_changed"]


def test_the_card_on_file_can_be_changed_on_a_past_due_contract(seeded):
    set_status("past_due")

    assert set_card_on_file("pm_acme_mc")[0] == 200


def test_an_expired_card_cannot_be_the_card_on_file(seeded):
    status, problem = set_card_on_file(store_expired_card())

    assert (status, problem["code"]) == (409, "payment_method_expired")
    assert bootstrap.repository().get_contract(CONTRACT).payment_method.payment_method_id == "pm_acme_visa"


def test_the_card_on_file_must_belong_to_the_account(seeded):
    assert set_card_on_file("pm_globex_visa")[1]["code"] == "payment_method_not_found"


def test_only_the_manager_changes_the_card_on_file(seeded):
    assert set_card_on_file("pm_acme_mc", user=PRIMARY_ADMIN)[1]["code"] == "not_contract_manager"
    assert set_card_on_file("pm_acme_mc", user="u-nobody")[1]["code"] == "contract_not_found"
    assert set_card_on_file("pm_acme_mc", contract_id="999")[1]["code"] == "contract_not_found"


def test_the_card_on_file_body_is_validated(seeded):
    status, problem = set_card_on_file(["pm_acme_mc"])

    assert (status, problem["code"]) == (422, "validation_error")


def test_the_sample_event_adds_a_card(seeded):
    status, card, _ = invoke(set_payment, json.loads((EVENTS / "add_payment_method.json").read_text()))

    assert (status, card["brand"], card["last4"]) == (201, "mastercard", "4444")
