"""GET /contracts/{contract_id}/renewal-preview (ListContractsFunction) invoked as API Gateway would, over moto:
what the next renewal charges (docs/api.md, Renewal preview), the warnings, who may read it, one request."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from functions.list_contracts.app import lambda_handler
from infra import openapi
from infra import seed as seed_loader
from seats import bootstrap
from seats.domain.model import CarriedAmount, PendingReduction, RenewalOrder
from seats.domain.money import Money
from seats.services.renew import renew_contract
from tests.conftest import http_event, invoke

ACME = "110000000001"
PATH = "/contracts/{}/renewal-preview"
PREVIEW_FIELDS = {"contract_id", "currency", "renewal_date", "next_period", "lines", "carried_over", "total",
                  "payment_method", "warnings"}
VISA = {"payment_method_id": "pm_acme_visa", "brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2034}
OLD_CARD = "pm_acme_old"  # visa 4242, expires 02/2027: before the month of a renewal on 2027-03-01
MARCH_CARD = "pm_acme_march"  # mastercard 4444, expires 03/2027: the renewal's own month, still valid


def acme_contract(contract_id: str, **extra: Any) -> dict[str, Any]:
    """A contract of Alice's renewing on 2027-03-01 with the card on file pm_acme_visa, unless `extra` says."""
    return {
        "contract_id": contract_id, "contract_manager": "u-alice", "purchase_channel": "online",
        "auto_renew": True, "term": "annual", "term_start": "2026-03-01", "renewal_date": "2027-03-01",
        "payment_method_id": "pm_acme_visa",
        "subscriptions": [{"subscription_id": "sub-lt", "product": "AutoCAD LT", "seats": 5, "unit_price": "500.00"}],
        **extra,
    }


WARNED = {  # contract id -> (seed fields, the warnings the preview shows, in order)
    "110000000021": ({"payment_method_id": OLD_CARD}, ["card_expires_before_renewal"]),
    "110000000022": ({"payment_method_id": MARCH_CARD}, []),
    "110000000023": ({"payment_method_id": None}, ["no_payment_method"]),
    "110000000024": ({"auto_renew": False}, ["auto_renew_off"]),
    "110000000025": ({"status": "past_due", "term_start": "2025-11-20", "renewal_date": "2026-11-20"},
                     ["payment_past_due"]),
    "110000000026": ({"status": "suspended", "term_start": "2025-11-01", "renewal_date": "2026-11-01"},
                     ["payment_past_due"]),
    "110000000027": ({"payment_method_id": OLD_CARD, "auto_renew": False}, ["card_expires_before_renewal",
                                                                              "auto_renew_off"]),
    "110000000028": ({"payment_method_id": None, "status": "past_due", "term_start": "2025-11-20",
                      "renewal_date": "2026-11-20"}, ["no_payment_method", "payment_past_due"]),
}


@pytest.fixture
def world(aws, seed_data):
    """Alice's 110000000001 renews three subscriptions, AutoCAD reduced from 10 to 8 seats, with two small
    amounts carried over; the contracts of WARNED show one warning each, or several; Nihon renews in yen."""
    acme = seed_data["accounts"][0]
    acme["payment_methods"] += [
        {"payment_method_id": OLD_CARD, "token": "tok_visa", "exp_month": 2, "exp_year": 2027},
        {"payment_method_id": MARCH_CARD, "token": "tok_mastercard", "exp_month": 3, "exp_year": 2027},
    ]
    acme["contracts"][0]["subscriptions"] += [
        {"subscription_id": "sub-rvt", "product": "Revit", "seats": 4, "unit_price": "2545.00"},
        {"subscription_id": "sub-fus", "product": "Fusion", "seats": 3, "unit_price": "680.00"},
    ]
    acme["contracts"] += [acme_contract(contract_id, **fields) for contract_id, (fields, _) in WARNED.items()]
    seed_data["accounts"].append({
        "account_id": "nihon", "name": "Nihon KK", "country": "JP", "currency": "JPY",
        "users": [{"user_id": "u-kenji", "email": "kenji@nihon.test", "role": "primary_admin"}],
        "contracts": [{"contract_id": "330000000001", "contract_manager": "u-kenji", "purchase_channel": "online",
                       "auto_renew": True, "term": "monthly", "term_start": "2026-11-30",
                       "renewal_date": "2026-12-30",
                       "subscriptions": [{"subscription_id": "sub-maya", "product": "Maya", "seats": 2,
                                          "unit_price": "250000"}]}],
    })
    repo = bootstrap.repository()
    seed_loader.load(repo, seed_data)

    contract = repo.get_contract(ACME)
    contract.subscriptions[0].pending_reduction = PendingReduction(
        8, "u-alice", datetime(2026, 11, 20, 8, tzinfo=UTC))
    contract.carried_over = [CarriedAmount("ord_small_1", Money.parse("0.40", "USD")),
                             CarriedAmount("ord_small_2", Money.parse("0.35", "USD"))]
    work = repo.unit_of_work()
    work.save_contract(contract)
    work.commit()
    return repo


def preview(contract_id: str = ACME, user: str | None = "u-alice") -> tuple[int, Any, dict[str, str]]:
    status, body, headers = invoke(lambda_handler, http_event("GET", PATH.format(contract_id), user=user))
    assert status < 500, body
    return status, body, headers


def assert_not_found(answer: tuple[int, Any, dict[str, str]]) -> None:
    status, body, headers = answer
    assert (status, body["code"], body["status"]) == (404, "contract_not_found", 404), body
    assert headers["Content-Type"] == "application/problem+json"


# -- what the renewal will charge ------------------------------------------------------------------------

def test_the_preview_shows_each_line_the_carried_amounts_and_the_total_the_renewal_charges(world):
    status, body, headers = preview()
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert body == {
        "contract_id": ACME, "currency": "USD", "renewal_date": "2027-03-01",
        "next_period": {"term_start": "2027-03-01", "renewal_date": "2028-03-01"},
        "lines": [
            {"subscription_id": "sub-acad", "product": "AutoCAD", "seats": 8, "unit_price": "1975.00",
             "amount": "15800.00", "reduction_applied": True},
            {"subscription_id": "sub-rvt", "product": "Revit", "seats": 4, "unit_price": "2545.00",
             "amount": "10180.00", "reduction_applied": False},
            {"subscription_id": "sub-fus", "product": "Fusion", "seats": 3, "unit_price": "680.00",
             "amount": "2040.00", "reduction_applied": False},
        ],
        "carried_over": [{"order_id": "ord_small_1", "amount": "0.40"}, {"order_id": "ord_small_2", "amount": "0.35"}],
        "total": "28020.75",  # 15800.00 + 10180.00 + 2040.00 + 0.40 + 0.35
        "payment_method": VISA,
        "warnings": [],
    }


def test_the_preview_matches_its_openapi_schema(world):
    document = openapi.build()
    registry = Registry().with_resource("urn:seats:openapi", Resource.from_contents(document, DRAFT202012))
    pointer = "paths/~1contracts~1{contract_id}~1renewal-preview/get/responses/200/content/application~1json/schema"
    validator = Draft202012Validator({"$ref": f"urn:seats:openapi#/{pointer}"}, registry=registry)
    for contract_id in (ACME, "110000000028"):
        validator.validate(preview(contract_id)[1])
    validator.validate(preview("330000000001", "u-kenji")[1])


def test_yen_amounts_are_whole_numbers_and_a_monthly_term_moves_one_month(world):
    status, body, _ = preview("330000000001", "u-kenji")
    assert status == 200
    assert (body["currency"], body["total"], body["payment_method"]) == ("JPY", "500000", None)
    assert body["lines"] == [{"subscription_id": "sub-maya", "product": "Maya", "seats": 2, "unit_price": "250000",
                              "amount": "500000", "reduction_applied": False}]
    assert body["next_period"] == {"term_start": "2026-12-30", "renewal_date": "2027-01-30"}
    assert body["warnings"] == ["no_payment_method"]


def test_with_nothing_changed_in_between_the_renewal_charges_exactly_the_preview(world):
    _, shown, _ = preview()
    gateway = bootstrap.payment_gateway()
    outcome = renew_contract(ACME, datetime(2027, 3, 1, 2, tzinfo=UTC), world, gateway)
    assert outcome.renewed == 1
    [charge] = gateway.list_charges()
    assert (str(charge.amount), charge.amount.currency, charge.status, charge.payment_method_id) == (
        shown["total"], "USD", "succeeded", shown["payment_method"]["payment_method_id"])
    [renewal] = [o for o in world.list_orders(ACME) if isinstance(o, RenewalOrder)]
    assert str(renewal.total) == shown["total"]
    assert [(line.subscription_id, line.seats, str(line.unit_price), str(line.amount)) for line in renewal.lines] == [
        (line["subscription_id"], line["seats"], line["unit_price"], line["amount"]) for line in shown["lines"]]
    assert [(c.order_id, str(c.amount)) for c in renewal.carried_over] == [
        (c["order_id"], c["amount"]) for c in shown["carried_over"]]
    assert (renewal.period.term_start.isoformat(), renewal.period.renewal_date.isoformat()) == (
        shown["next_period"]["term_start"], shown["next_period"]["renewal_date"])


# -- warnings ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("contract_id", WARNED)
def test_each_warning_says_what_may_stop_the_renewal(world, contract_id):
    status, body, _ = preview(contract_id)
    assert status == 200, body
    assert body["warnings"] == WARNED[contract_id][1]


def test_an_old_seeded_card_is_shown_as_the_card_the_renewal_would_try(world):
    _, body, _ = preview("110000000021")
    assert body["payment_method"] == {"payment_method_id": OLD_CARD, "brand": "visa", "last4": "4242",
                                      "exp_month": 2, "exp_year": 2027}
    assert preview("110000000023")[1]["payment_method"] is None


def test_a_past_due_contract_previews_the_unpaid_period(world):
    _, body, _ = preview("110000000025")
    assert (body["renewal_date"], body["next_period"]) == (
        "2026-11-20", {"term_start": "2026-11-20", "renewal_date": "2027-11-20"})
    assert body["total"] == "2500.00"


# -- who may read it ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("caller", ["u-alice", "u-paula"])
def test_the_manager_and_the_teams_primary_admin_read_the_preview(world, caller):
    status, body, _ = preview(ACME, caller)
    assert status == 200 and set(body) == PREVIEW_FIELDS
    assert body["total"] == "28020.75"


@pytest.mark.parametrize("caller", ["u-gina", "u-sam", "u-nobody", "u-stranger", "u-kenji"])
def test_anyone_else_is_told_the_contract_does_not_exist(world, caller):
    assert_not_found(preview(ACME, caller))


def test_an_unknown_contract_is_not_found(world):
    assert_not_found(preview("119999999999"))
    assert_not_found(preview("9" * 3000))  # too long for a DynamoDB key: simply not found


def test_a_request_without_verified_claims_is_unauthorized(world):
    status, body, _ = preview(ACME, None)
    assert (status, body["code"]) == (401, "unauthorized")


# -- one read ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("contract_id", "caller", "status"), [
    (ACME, "u-alice", 200), (ACME, "u-paula", 200), (ACME, "u-gina", 404), ("119999999999", "u-alice", 404),
])
def test_a_preview_takes_exactly_one_dynamodb_request(world, contract_id, caller, status):
    calls: list[str] = []
    client = bootstrap.aws_client("dynamodb")
    client.meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.append(model.name))
    assert preview(contract_id, caller)[0] == status
    assert calls == ["BatchGetItem"]


def test_the_preview_names_no_card_number_or_provider_reference(world):
    text = json.dumps(preview()[1])
    assert "tok_" not in text and "4242424242424242" not in text
