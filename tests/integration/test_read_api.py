"""The read API (ListContractsFunction) invoked as API Gateway would, over moto."""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime
from typing import Any

import pytest

from functions.list_contracts.app import lambda_handler
from infra import seed as seed_loader
from seats import bootstrap
from seats.adapters.dynamodb import codec
from seats.domain.history import HistoryEvent
from seats.domain.model import OrderLine, PaymentError, PendingReduction, Period, RenewalOrder, SeatOrder
from seats.domain.money import Money
from seats.domain.proration import Proration
from tests.conftest import http_event, invoke

PROBLEM_JSON = "application/problem+json"
ACME = "110000000001"
CONTRACT_FIELDS = {
    "contract_id", "account_id", "account_name", "status", "purchase_channel", "auto_renew", "term",
    "term_start", "renewal_date", "currency", "contract_manager", "payment_method", "can_manage",
    "subscriptions", "renewal_total",
}
SUBSCRIPTION_FIELDS = {
    "subscription_id", "product", "plan_type", "seats", "assigned_seats", "unit_price", "pending_reduction",
    "renewal_seats", "renewal_price", "open_order_id", "eligibility",
}
ORDER_FIELDS = {
    "order_id", "type", "status", "contract_id", "subscription_id", "account_id", "product", "seats_before",
    "seats_to_add", "seats_after", "unit_price", "currency", "proration", "total", "quoted_on",
    "quote_expires_at", "payment_method", "charge_id", "last_payment_error", "created_by", "created_at",
    "submitted_at", "carried_to_renewal", "payment_action",
}
VISA = {"payment_method_id": "pm_acme_visa", "brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2034}
ALLOWED = {"allowed": True, "reason": None}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def acme_contract(contract_id: str, manager: str, renewal_date: str, **extra: Any) -> dict[str, Any]:
    return {
        "contract_id": contract_id, "contract_manager": manager, "purchase_channel": "online",
        "auto_renew": True, "term": "annual", "term_start": "2026-03-01", "renewal_date": renewal_date,
        "payment_method_id": "pm_acme_visa",
        "subscriptions": [{"subscription_id": f"sub-{contract_id[-3:]}", "product": "AutoCAD LT",
                           "seats": 5, "unit_price": "500.00"}],
        **extra,
    }


@pytest.fixture
def world(aws, seed_data):
    """Acme has four contracts (three managed by Alice, one by Paula, its primary admin), Globex one,
    and Nihon a yen contract. The newest Acme contract has orders and history."""
    acme = seed_data["accounts"][0]
    acme["contracts"] += [
        acme_contract("110000000002", "u-alice", "2026-12-15", purchase_channel="reseller"),
        acme_contract("110000000003", "u-paula", "2027-03-01", subscriptions=[
            {"subscription_id": "sub-inv", "product": "Inventor", "seats": 20, "assigned_seats": 5,
             "unit_price": "500.00"},
            {"subscription_id": "sub-vault", "product": "Vault", "plan_type": "maintenance", "seats": 4,
             "unit_price": "99.99"},
        ]),
        acme_contract("110000000000", "u-alice", "2027-06-01", status="past_due", term="three_year",
                      term_start="2024-06-01"),
    ]
    seed_data["accounts"].append({
        "account_id": "nihon", "name": "Nihon KK", "country": "JP", "currency": "JPY",
        "users": [{"user_id": "u-kenji", "email": "kenji@nihon.test", "role": "primary_admin"}],
        "payment_methods": [],
        "contracts": [{"contract_id": "330000000001", "contract_manager": "u-kenji",
                       "purchase_channel": "online", "auto_renew": True, "term": "monthly",
                       "term_start": "2026-11-30", "renewal_date": "2026-12-30",
                       "subscriptions": [{"subscription_id": "sub-maya", "product": "Maya",
                                          "seats": 2, "unit_price": "250000"}]}],
    })
    repo = bootstrap.repository()
    seed_loader.load(repo, seed_data)

    paulas = repo.get_contract("110000000003")
    paulas.subscriptions[0].pending_reduction = PendingReduction(12, "u-paula", at("2026-11-20T08:00:00"))
    alices = repo.get_contract(ACME)
    alices.subscriptions[0].open_order_id = "ord_draft"
    pm = alices.payment_method
    orders = [
        SeatOrder(order_id="ord_done", status="completed", contract_id=ACME, account_id="acme",
              currency="USD", total=Money.parse("995.62", "USD"), created_by="u-alice",
              created_at=at("2026-11-29T09:00:00"), subscription_id="sub-acad", product="AutoCAD",
              seats_before=8, seats_to_add=2, seats_after=10, unit_price=Money.parse("1975.00", "USD"),
              proration=Proration(92, 365), quoted_on=date(2026, 11, 29),
              quote_expires_at=at("2026-11-30T00:00:00"), payment_method=pm, charge_id="ch_1",
              submitted_at=at("2026-11-29T09:01:00")),
        SeatOrder(order_id="ord_draft", status="draft", contract_id=ACME, account_id="acme",
              currency="USD", total=Money.parse("497.81", "USD"), created_by="u-alice",
              created_at=at("2026-11-29T09:30:00"), subscription_id="sub-acad", product="AutoCAD",
              seats_before=10, seats_to_add=1, seats_after=11, unit_price=Money.parse("1975.00", "USD"),
              proration=Proration(92, 365), quoted_on=date(2026, 11, 29),
              quote_expires_at=at("2026-11-30T00:00:00"), payment_method=pm,
              last_payment_error=PaymentError("payment_declined", "insufficient_funds", "Declined")),
        RenewalOrder(order_id="ord_renewal", status="completed", contract_id=ACME, account_id="acme",
              currency="USD", total=Money.parse("15800.00", "USD"), created_by="system",
              created_at=at("2026-03-01T02:00:00"), payment_method=pm, charge_id="ch_0",
              submitted_at=at("2026-03-01T02:00:01"),
              lines=[OrderLine("sub-acad", 8, Money.parse("1975.00", "USD"), Money.parse("15800.00", "USD"))],
              period=Period(date(2026, 3, 1), date(2027, 3, 1))),
    ]
    events = [
        HistoryEvent("evt_1", ACME, "renewed", at("2026-03-01T02:00:01"), "system", None,
                     {"term_start": "2026-03-01", "renewal_date": "2027-03-01", "total": "15800.00"}),
        HistoryEvent("evt_2", ACME, "seats_added", at("2026-11-29T09:01:00"), "u-alice", "sub-acad",
                     {"order_id": "ord_done", "seats_before": 8, "seats_after": 10, "total": "995.62"}),
        HistoryEvent("evt_3", ACME, "payment_method_changed", at("2026-11-29T09:45:00"), "u-alice", None,
                     {"payment_method_id": "pm_acme_mc"}),
    ]
    repo.put_items(
        [codec.contract_to_item(paulas), codec.contract_to_item(alices)]
        + [codec.order_to_item(o) for o in orders] + [codec.history_to_item(e) for e in events]
    )
    return repo


def get(path: str, user: str | None = "u-alice", **query: str) -> tuple[int, Any, dict[str, str]]:
    status, body, headers = invoke(lambda_handler, http_event("GET", path, user=user, query=query or None))
    assert status < 500, body
    return status, body, headers


def assert_problem(answer: tuple[int, Any, dict[str, str]], status: int, code: str) -> dict[str, Any]:
    got_status, body, headers = answer
    assert (got_status, body["code"]) == (status, code), body
    assert headers["Content-Type"] == PROBLEM_JSON
    assert body["status"] == status and body["type"].endswith(code)
    assert isinstance(body["title"], str) and isinstance(body["detail"], str)
    assert "Traceback" not in str(body)
    return body


def ids(body: dict[str, Any]) -> list[str]:
    return [c["contract_id"] for c in body["contracts"]]


def all_pages(user: str, limit: int) -> list[list[str]]:
    pages, query = [], {"limit": str(limit)}
    while True:
        status, body, _ = get("/contracts", user, **query)
        assert status == 200
        pages.append(ids(body))
        if body["next_token"] is None:
            return pages
        query = {"limit": str(limit), "next_token": body["next_token"]}


# -- the Contract body ---------------------------------------------------------------------------------

def test_the_manager_reads_the_contract_with_every_field_of_the_spec(world):
    status, body, headers = get(f"/contracts/{ACME}")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert body == {
        "contract_id": ACME, "account_id": "acme", "account_name": "Acme Corp", "status": "active",
        "purchase_channel": "online", "auto_renew": True, "term": "annual", "term_start": "2026-03-01",
        "renewal_date": "2027-03-01", "currency": "USD",
        "contract_manager": {"user_id": "u-alice", "email": "alice@acme.test"},
        "payment_method": VISA, "can_manage": True,
        "subscriptions": [{
            "subscription_id": "sub-acad", "product": "AutoCAD", "plan_type": "subscription", "seats": 10,
            "assigned_seats": 7, "unit_price": "1975.00", "pending_reduction": None, "renewal_seats": 10,
            "renewal_price": "19750.00", "open_order_id": "ord_draft",
            "eligibility": {"add_seats": ALLOWED, "reduce_seats": {"allowed": False, "reason": "draft_exists"}},
        }],
        "renewal_total": "19750.00",
    }


def test_a_primary_admin_reads_the_same_contract_without_managing_it(world):
    status, body, _ = get(f"/contracts/{ACME}", "u-paula")
    assert status == 200 and set(body) == CONTRACT_FIELDS
    assert body["can_manage"] is False
    assert body["contract_manager"] == {"user_id": "u-alice", "email": "alice@acme.test"}
    refused = {"allowed": False, "reason": "not_contract_manager"}
    assert body["subscriptions"][0]["eligibility"] == {"add_seats": refused, "reduce_seats": refused}


def test_a_pending_reduction_shows_the_seats_and_price_renewal_will_use(world):
    status, body, _ = get("/contracts/110000000003", "u-paula")
    assert status == 200 and body["can_manage"] is True
    inventor, vault = body["subscriptions"]
    assert set(inventor) == SUBSCRIPTION_FIELDS
    assert inventor["pending_reduction"] == {
        "seats": 12, "requested_by": "u-paula", "requested_at": "2026-11-20T08:00:00.000Z",
    }
    assert (inventor["seats"], inventor["renewal_seats"], inventor["renewal_price"]) == (20, 12, "6000.00")
    assert inventor["eligibility"] == {
        "add_seats": {"allowed": False, "reason": "reduction_pending"}, "reduce_seats": ALLOWED,
    }
    assert (vault["renewal_seats"], vault["renewal_price"]) == (4, "399.96")
    maintenance = {"allowed": False, "reason": "maintenance_plan"}
    assert vault["eligibility"] == {"add_seats": maintenance, "reduce_seats": maintenance}
    assert body["renewal_total"] == "6399.96"  # 12 × 500.00 + 4 × 99.99


@pytest.mark.parametrize(("contract_id", "reason"), [
    ("110000000002", "not_purchased_online"),
    ("110000000000", "contract_not_active"),
])
def test_eligibility_carries_the_first_reason_of_section_4_1(world, contract_id, reason):
    status, body, _ = get(f"/contracts/{contract_id}")
    assert status == 200
    assert body["subscriptions"][0]["eligibility"]["add_seats"] == {"allowed": False, "reason": reason}


def test_yen_amounts_are_whole_numbers_and_unsupported_regions_say_so(world):
    status, body, _ = get("/contracts/330000000001", "u-kenji")
    assert status == 200
    assert (body["currency"], body["renewal_total"], body["payment_method"]) == ("JPY", "500000", None)
    subscription = body["subscriptions"][0]
    assert (subscription["unit_price"], subscription["renewal_price"]) == ("250000", "500000")
    assert subscription["eligibility"]["add_seats"] == {"allowed": False, "reason": "region_not_supported"}


# -- who sees what -----------------------------------------------------------------------------------

def test_the_list_holds_what_the_caller_manages_in_renewal_date_order(world):
    status, body, headers = get("/contracts")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert ids(body) == ["110000000002", ACME, "110000000000"]
    assert body["next_token"] is None
    assert all(set(c) == CONTRACT_FIELDS and c["can_manage"] for c in body["contracts"])


def test_a_primary_admin_lists_the_whole_team_once_even_the_contract_they_manage(world):
    status, body, _ = get("/contracts", "u-paula")
    assert status == 200
    assert ids(body) == ["110000000002", ACME, "110000000003", "110000000000"]
    assert [c["can_manage"] for c in body["contracts"]] == [False, False, True, False]


@pytest.mark.parametrize("caller", ["u-sam", "u-nobody", "u-stranger"])
def test_a_secondary_admin_a_plain_user_and_a_stranger_list_nothing(world, caller):
    assert get("/contracts", caller)[:2] == (200, {"contracts": [], "next_token": None})


def test_a_manager_of_another_team_lists_only_their_own(world):
    status, body, _ = get("/contracts", "u-gina")
    assert status == 200 and ids(body) == ["220000000001"]
    assert body["contracts"][0]["currency"] == "GBP"


@pytest.mark.parametrize("path", [
    f"/contracts/{ACME}", f"/contracts/{ACME}/orders", f"/contracts/{ACME}/history",
])
@pytest.mark.parametrize("caller", ["u-sam", "u-nobody", "u-gina", "u-stranger"])
def test_whoever_cannot_see_a_contract_is_told_it_does_not_exist(world, path, caller):
    hidden = assert_problem(get(path, caller), 404, "contract_not_found")
    missing = assert_problem(get(path.replace(ACME, "119999999999"), caller), 404, "contract_not_found")
    assert hidden.keys() == missing.keys() and hidden["title"] == missing["title"]


@pytest.mark.parametrize("caller", ["u-sam", "u-nobody", "u-gina", "u-stranger"])
def test_whoever_cannot_see_the_contract_cannot_see_its_orders(world, caller):
    assert_problem(get("/orders/ord_done", caller), 404, "order_not_found")


@pytest.mark.parametrize("path", [
    "/contracts", f"/contracts/{ACME}", f"/contracts/{ACME}/orders", f"/contracts/{ACME}/history",
    "/orders/ord_done",
])
def test_a_request_without_verified_claims_is_unauthorized(world, path):
    assert_problem(get(path, None), 401, "unauthorized")


# -- orders and history ------------------------------------------------------------------------------

@pytest.mark.parametrize("caller", ["u-alice", "u-paula"])
def test_orders_are_listed_newest_first(world, caller):
    status, body, _ = get(f"/contracts/{ACME}/orders", caller)
    assert status == 200 and list(body) == ["orders"]
    assert [o["order_id"] for o in body["orders"]] == ["ord_draft", "ord_done", "ord_renewal"]


def test_an_order_reads_with_every_field_of_the_spec(world):
    status, body, _ = get("/orders/ord_done")
    assert status == 200
    assert {k: v for k, v in body.items() if k not in ("lines", "period", "carried_over")} == {
        "order_id": "ord_done", "type": "add_seats", "status": "completed", "contract_id": ACME,
        "subscription_id": "sub-acad", "account_id": "acme", "product": "AutoCAD", "seats_before": 8,
        "seats_to_add": 2, "seats_after": 10, "unit_price": "1975.00", "currency": "USD",
        "proration": {"days_remaining": 92, "term_days": 365}, "total": "995.62", "quoted_on": "2026-11-29",
        "quote_expires_at": "2026-11-30T00:00:00.000Z", "payment_method": VISA, "charge_id": "ch_1",
        "last_payment_error": None, "created_by": "u-alice", "created_at": "2026-11-29T09:00:00.000Z",
        "submitted_at": "2026-11-29T09:01:00.000Z", "carried_to_renewal": False, "payment_action": None,
    }
    assert body.get("lines") is None and body.get("period") is None and body.get("carried_over") is None


def test_a_declined_draft_shows_its_last_payment_error(world):
    status, body, _ = get("/orders/ord_draft", "u-paula")
    assert status == 200 and set(body) >= ORDER_FIELDS
    assert (body["status"], body["charge_id"], body["submitted_at"]) == ("draft", None, None)
    assert body["last_payment_error"] == {
        "code": "payment_declined", "decline_code": "insufficient_funds", "message": "Declined",
    }


def test_a_renewal_order_has_its_lines_and_period(world):
    status, body, _ = get("/orders/ord_renewal")
    assert status == 200 and set(body) == ORDER_FIELDS | {"lines", "period", "carried_over"}
    assert body["carried_over"] == [] and body["carried_to_renewal"] is False
    assert body["lines"] == [{"subscription_id": "sub-acad", "seats": 8, "unit_price": "1975.00",
                              "amount": "15800.00"}]
    assert body["period"] == {"term_start": "2026-03-01", "renewal_date": "2027-03-01"}
    assert (body["created_by"], body["subscription_id"], body["proration"]) == ("system", None, None)


@pytest.mark.parametrize("caller", ["u-alice", "u-paula"])
def test_history_is_listed_newest_first(world, caller):
    status, body, _ = get(f"/contracts/{ACME}/history", caller)
    assert status == 200 and list(body) == ["events"]
    assert [e["event_id"] for e in body["events"]] == ["evt_3", "evt_2", "evt_1"]
    assert body["events"][1] == {
        "event_id": "evt_2", "type": "seats_added", "at": "2026-11-29T09:01:00.000Z", "actor": "u-alice",
        "subscription_id": "sub-acad",
        "details": {"order_id": "ord_done", "seats_before": 8, "seats_after": 10, "total": "995.62"},
    }
    assert body["events"][2]["actor"] == "system" and body["events"][2]["subscription_id"] is None


def test_a_contract_without_orders_or_history_lists_empty(world):
    assert get("/contracts/110000000002/orders")[:2] == (200, {"orders": []})
    assert get("/contracts/110000000002/history")[:2] == (200, {"events": []})


# -- pagination --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("limit", "pages"), [
    (1, [["110000000002"], [ACME], ["110000000003"], ["110000000000"]]),
    (2, [["110000000002", ACME], ["110000000003", "110000000000"]]),
    (3, [["110000000002", ACME, "110000000003"], ["110000000000"]]),
    (4, [["110000000002", ACME, "110000000003", "110000000000"]]),
    (100, [["110000000002", ACME, "110000000003", "110000000000"]]),
])
def test_pages_follow_next_token_to_the_end_without_duplicates(world, limit, pages):
    assert all_pages("u-paula", limit) == pages


def test_the_default_page_holds_fifty_contracts(world):
    more = [acme_contract(f"1200000000{n:02d}", "u-alice", f"2027-0{1 + n % 9}-{1 + n % 28:02d}")
            for n in range(55)]
    seed_loader.load(world, {"accounts": [{
        "account_id": "acme", "name": "Acme Corp", "country": "US", "currency": "USD",
        "users": [{"user_id": "u-alice", "email": "alice@acme.test", "role": "user"}],
        "payment_methods": [{"payment_method_id": "pm_acme_visa", "token": "tok_visa"}],
        "contracts": more,
    }]})
    status, first, _ = get("/contracts")
    assert status == 200 and len(first["contracts"]) == 50 and first["next_token"]
    status, rest, _ = get("/contracts", next_token=first["next_token"])
    assert status == 200 and rest["next_token"] is None
    everything = first["contracts"] + rest["contracts"]
    assert len({c["contract_id"] for c in everything}) == len(everything) == 58
    keys = [(c["renewal_date"], c["contract_id"]) for c in everything]
    assert keys == sorted(keys)


def test_a_next_token_is_opaque_url_safe_text(world):
    _, body, _ = get("/contracts", "u-paula", limit="1")
    token = body["next_token"]
    assert token and set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert "110000000002" not in token


# -- bad input -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "1.5", "", "true", "1e2"])
def test_a_limit_outside_1_to_100_or_not_an_integer_is_a_validation_error(world, limit):
    body = assert_problem(get("/contracts", limit=limit), 422, "validation_error")
    assert body["errors"] and all(set(e) == {"loc", "msg"} for e in body["errors"])
    assert body["errors"][0]["loc"] == ["query", "limit"]


def valid_token() -> str:
    _, body, _ = get("/contracts", "u-paula", limit="1")
    return body["next_token"]


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


TAMPERED_TOKENS = {
    "not base64 of a token": lambda t: "garbage",
    "empty": lambda t: "",
    "padding only": lambda t: "=",
    "one character more": lambda t: t + "A",
    "truncated": lambda t: t[:-2],
    "one character changed": lambda t: t[:5] + ("B" if t[5] != "B" else "C") + t[6:],
    "not url-safe text": lambda t: t + "!",
    "no digest": lambda t: b64("v1|2027-03-01#110000000001"),
    "wrong digest": lambda t: b64("v1|2027-03-01#110000000001|000000000000"),
    "other version": lambda t: b64(base64.urlsafe_b64decode(t + "==").decode().replace("v1|", "v2|")),
    "edited sort key": lambda t: b64(base64.urlsafe_b64decode(t + "==").decode().replace("2026-12-15", "2027-12-15")),
    "too long": lambda t: "A" * 2000,
}


@pytest.mark.parametrize("tamper", TAMPERED_TOKENS.values(), ids=TAMPERED_TOKENS.keys())
def test_a_malformed_or_tampered_next_token_is_a_validation_error(world, tamper):
    body = assert_problem(get("/contracts", "u-paula", next_token=tamper(valid_token())), 422, "validation_error")
    assert [e["loc"] for e in body["errors"]] == [["query", "next_token"]]
    assert body["errors"][0]["msg"]


def test_a_bad_next_token_is_refused_even_for_a_caller_without_contracts(world):
    assert_problem(get("/contracts", "u-stranger", next_token="garbage"), 422, "validation_error")


def test_unknown_contracts_and_orders_are_not_found(world):
    assert_problem(get("/contracts/999999999999"), 404, "contract_not_found")
    assert_problem(get("/contracts/999999999999/orders"), 404, "contract_not_found")
    assert_problem(get("/contracts/999999999999/history"), 404, "contract_not_found")
    assert_problem(get("/orders/ord_missing"), 404, "order_not_found")


@pytest.mark.parametrize("path", [
    "/nothing", "/contracts/", f"/contracts/{ACME}/unknown", "/orders", "/orders/ord_done/extra",
])
def test_an_unknown_route_is_a_not_found_problem(world, path):
    assert_problem(get(path), 404, "not_found")


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_a_method_this_function_does_not_serve_is_not_found(world, method):
    status, body, headers = invoke(lambda_handler, http_event(method, "/contracts"))
    assert (status, body["code"], headers["Content-Type"]) == (404, "not_found", PROBLEM_JSON)


@pytest.mark.parametrize("contract_id", ["%2F..%2F", "a" * 1500, "' OR 1=1 --", "110000000001%00", "ü"])
def test_odd_ids_are_simply_not_found(world, contract_id):
    assert_problem(get(f"/contracts/{contract_id}"), 404, "contract_not_found")
    assert_problem(get(f"/orders/{contract_id}"), 404, "order_not_found")


# -- the edge: resolver and OpenAPI ------------------------------------------------------------------

def test_the_openapi_document_describes_every_read_route_and_its_problems():
    from functions.list_contracts.app import app

    paths = json.loads(app.get_openapi_json_schema())["paths"]
    expected = {
        "/contracts": {"200", "401", "422"},
        "/contracts/{contract_id}": {"200", "401", "404", "422"},
        "/contracts/{contract_id}/orders": {"200", "401", "404", "422"},
        "/contracts/{contract_id}/history": {"200", "401", "404", "422"},
        "/orders/{order_id}": {"200", "401", "404", "422"},
        "/contracts/{contract_id}/renewal-preview": {"200", "401", "404", "422"},
    }
    assert {p: {str(code) for code in v["get"]["responses"]} for p, v in paths.items()} == expected
    contract = paths["/contracts/{contract_id}"]["get"]["responses"]
    assert contract["404"]["description"] == "contract_not_found"
    assert contract["404"]["content"][PROBLEM_JSON]["schema"]["$ref"].endswith("/Problem")
    assert contract["422"]["content"][PROBLEM_JSON]["schema"]["$ref"].endswith("/Problem")
    assert contract["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/ContractOut")
    assert paths["/orders/{order_id}"]["get"]["responses"]["404"]["description"] == "order_not_found"
    limit = next(p for p in paths["/contracts"]["get"]["parameters"] if p["name"] == "limit")
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"], limit["schema"]["default"]) == (1, 100, 50)


def test_an_unexpected_failure_is_a_500_problem_without_internals(world, monkeypatch):
    def broken(*_: Any) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(type(world), "get_contract_and_user", broken)
    status, body, headers = invoke(lambda_handler, http_event("GET", f"/contracts/{ACME}"))
    assert (status, body["code"], headers["Content-Type"]) == (500, "internal_error", PROBLEM_JSON)
    assert "secret" not in str(body) and "Traceback" not in str(body)

