"""Add-seats drafts through ChangeSeatsFunction: POST .../seat-orders, PATCH and DELETE /orders/{id}."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from infra import seed as seed_loader
from seats import bootstrap
from seats.domain.codes import ADD_SEATS_CONFLICTS, ErrorCode
from tests.conftest import EVENTS, http_event, invoke
from tests.integration.add_seats_support import (
    CONTRACT,
    OUTSIDER,
    PRIMARY_ADMIN,
    SUBSCRIPTION,
    cancel_draft,
    change_seats,
    create_draft,
    history_types,
    new_draft,
    patch_draft,
    schedule_reduction,
    seat_orders_path,
    set_status,
)

Change = Callable[[dict[str, Any], dict[str, Any], dict[str, Any]], None]  # (account, contract, subscription)


def load_with(seed_data: dict[str, Any], change: Change) -> None:
    account = seed_data["accounts"][0]
    contract = account["contracts"][0]
    change(account, contract, contract["subscriptions"][0])
    seed_loader.load(bootstrap.repository(), seed_data)


# -- creating a draft ---------------------------------------------------------------------------------

def test_a_draft_is_priced_to_the_renewal_date_and_quoted_until_midnight(seeded):
    status, order = create_draft(3)

    assert status == 201
    assert order["status"] == "draft" and order["type"] == "add_seats"
    assert (order["seats_before"], order["seats_to_add"], order["seats_after"]) == (10, 3, 13)
    assert order["proration"] == {"days_remaining": 92, "term_days": 365}
    assert order["total"] == "1493.42"  # 1975.00 × 3 × 92 ÷ 365 = 1493.4246…
    assert order["unit_price"] == "1975.00" and order["currency"] == "USD"
    assert order["quoted_on"] == "2026-11-29"
    assert order["quote_expires_at"] == "2026-11-30T00:00:00.000Z"
    assert order["payment_method"]["payment_method_id"] == "pm_acme_visa"
    assert order["charge_id"] is None and order["submitted_at"] is None
    contract = bootstrap.repository().get_contract(CONTRACT)
    assert contract.subscription(SUBSCRIPTION).open_order_id == order["order_id"]
    assert contract.subscription(SUBSCRIPTION).seats == 10  # nothing changes before payment


def test_a_second_draft_for_the_subscription_names_the_open_one(seeded):
    first = new_draft(3)

    status, problem = create_draft(2)

    assert status == 409
    assert problem["code"] == "draft_exists"
    assert problem["order_id"] == first["order_id"]


@pytest.mark.parametrize("seats", [0, -1, 9991, 10**12])
def test_seats_to_add_must_keep_the_subscription_within_10000_seats(seeded, seats):
    status, problem = create_draft(seats)

    assert status == 422
    assert problem["code"] == "seat_limit_exceeded"


def test_a_draft_may_bring_the_subscription_to_exactly_10000_seats(seeded):
    status, order = create_draft(9990)

    assert status == 201
    assert order["seats_after"] == 10_000


@pytest.mark.parametrize("body", [
    {"seats_to_add": "3"}, {"seats_to_add": 3.0}, {"seats_to_add": True}, {"seats_to_add": None}, {},
    {"seats_to_add": 3, "coupon": "x"}, [3], "3",
])
def test_a_body_that_is_not_exactly_an_integer_seats_to_add_is_a_validation_error(seeded, body):
    status, problem, headers = invoke(change_seats, http_event("POST", seat_orders_path(), body=body))

    assert status == 422
    assert problem["code"] == "validation_error"
    assert problem["errors"] and all({"loc", "msg"} <= set(e) for e in problem["errors"])
    assert headers["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize("raw", ["{not json", ""])
def test_a_body_that_is_not_json_is_a_validation_error(seeded, raw):
    status, problem, _ = invoke(change_seats, http_event("POST", seat_orders_path(), raw_body=raw))

    assert status == 422
    assert problem["code"] == "validation_error"


def test_validation_comes_before_eligibility(aws, seed_data):
    load_with(seed_data, lambda a, c, s: c.update(status="past_due"))

    status, problem = create_draft("3")

    assert (status, problem["code"]) == (422, "validation_error")


def test_eligibility_comes_before_the_seat_range(aws, seed_data):
    load_with(seed_data, lambda a, c, s: c.update(status="past_due"))

    status, problem = create_draft(0)

    assert (status, problem["code"]) == (409, "contract_not_active")


INELIGIBLE: dict[str, Change] = {
    "contract_not_active": lambda a, c, s: c.update(status="suspended"),
    "not_purchased_online": lambda a, c, s: c.update(purchase_channel="reseller"),
    "not_auto_renewing": lambda a, c, s: c.update(auto_renew=False),
    "region_not_supported": lambda a, c, s: (a.update(country="JP", currency="JPY"), s.update(unit_price="250000")),
    "maintenance_plan": lambda a, c, s: s.update(plan_type="maintenance"),
    "renewal_due": lambda a, c, s: c.update(term_start="2025-11-29", renewal_date="2026-11-29"),
    "seat_limit_reached": lambda a, c, s: s.update(seats=10_000),
}


def test_every_reason_that_refuses_adding_seats_has_a_case():
    # reduction_pending needs a reduction first: test_a_pending_reduction_blocks_adding_seats
    assert set(INELIGIBLE) == set(ADD_SEATS_CONFLICTS) - {ErrorCode.REDUCTION_PENDING}


@pytest.mark.parametrize("reason", sorted(INELIGIBLE))
def test_an_ineligible_subscription_answers_409_with_the_reason(aws, seed_data, reason):
    load_with(seed_data, INELIGIBLE[reason])

    status, problem = create_draft(1)

    assert status == 409
    assert problem["code"] == reason


def test_a_pending_reduction_blocks_adding_seats(seeded):
    schedule_reduction()

    status, problem = create_draft(1)

    assert (status, problem["code"]) == (409, "reduction_pending")


def test_the_first_failing_rule_is_the_reason(aws, seed_data):
    load_with(seed_data, lambda a, c, s: (c.update(purchase_channel="reseller", auto_renew=False),
                                          s.update(plan_type="maintenance")))

    status, problem = create_draft(1)

    assert (status, problem["code"]) == (409, "not_purchased_online")


def test_a_primary_admin_who_does_not_manage_the_contract_gets_403(seeded):
    status, problem = create_draft(1, user=PRIMARY_ADMIN)

    assert (status, problem["code"]) == (403, "not_contract_manager")


def test_rule_1_comes_before_the_other_rules(aws, seed_data):
    load_with(seed_data, lambda a, c, s: c.update(status="past_due"))

    status, problem = create_draft(1, user=PRIMARY_ADMIN)

    assert (status, problem["code"]) == (403, "not_contract_manager")


@pytest.mark.parametrize("user", ["u-nobody", "u-sam", OUTSIDER, "u-unknown"])
def test_someone_who_cannot_see_the_contract_gets_404(seeded, user):
    status, problem = create_draft(1, user=user)

    assert (status, problem["code"]) == (404, "contract_not_found")


def test_an_unknown_contract_or_subscription_is_not_found(seeded):
    assert create_draft(1, contract_id="999")[1]["code"] == "contract_not_found"
    assert create_draft(1, subscription_id="sub-nope")[1]["code"] == "subscription_not_found"


def test_a_request_without_identity_is_unauthorized(seeded):
    status, problem, _ = invoke(change_seats, http_event("POST", seat_orders_path(), user=None,
                                                         body={"seats_to_add": 1}))

    assert (status, problem["code"]) == (401, "unauthorized")


# -- editing a draft ------------------------------------------------------------------------------------

def test_editing_a_draft_prices_it_again(seeded):
    draft = new_draft(3)

    status, order = patch_draft(draft["order_id"], {"seats_to_add": 5})

    assert status == 200
    assert order["order_id"] == draft["order_id"]
    assert (order["seats_to_add"], order["seats_after"]) == (5, 15)
    assert order["total"] == "2489.04"  # 1975.00 × 5 × 92 ÷ 365 = 2489.0410…
    assert bootstrap.repository().get_order(draft["order_id"]).seats_to_add == 5


def test_editing_a_draft_is_held_to_the_seat_limit(seeded):
    draft = new_draft(3)

    status, problem = patch_draft(draft["order_id"], {"seats_to_add": 9991})

    assert (status, problem["code"]) == (422, "seat_limit_exceeded")


@pytest.mark.parametrize("body", [{"seats_to_add": "5"}, {"seats": 5}, {}])
def test_editing_a_draft_validates_the_body(seeded, body):
    draft = new_draft(3)

    status, problem = patch_draft(draft["order_id"], body)

    assert (status, problem["code"]) == (422, "validation_error")


def test_editing_a_draft_checks_eligibility_again(seeded):
    draft = new_draft(3)
    set_status("past_due")

    status, problem = patch_draft(draft["order_id"], {"seats_to_add": 4})

    assert (status, problem["code"]) == (409, "contract_not_active")


def test_editing_someone_elses_or_an_unknown_order_is_not_found(seeded):
    draft = new_draft(3)

    assert patch_draft(draft["order_id"], {"seats_to_add": 4}, user=OUTSIDER)[1]["code"] == "order_not_found"
    assert patch_draft("ord_unknown", {"seats_to_add": 4})[1]["code"] == "order_not_found"


def test_a_primary_admin_cannot_edit_a_draft(seeded):
    draft = new_draft(3)

    status, problem = patch_draft(draft["order_id"], {"seats_to_add": 4}, user=PRIMARY_ADMIN)

    assert (status, problem["code"]) == (403, "not_contract_manager")


def test_a_cancelled_order_cannot_be_edited(seeded):
    draft = new_draft(3)
    cancel_draft(draft["order_id"])

    status, problem = patch_draft(draft["order_id"], {"seats_to_add": 4})

    assert (status, problem["code"]) == (409, "order_not_draft")


# -- cancelling a draft ---------------------------------------------------------------------------------

def test_cancelling_a_draft_frees_the_subscription_and_is_recorded(seeded):
    draft = new_draft(3)

    status, body = cancel_draft(draft["order_id"])

    assert status == 204 and body is None
    repo = bootstrap.repository()
    assert repo.get_order(draft["order_id"]).status == "cancelled"
    assert repo.get_contract(CONTRACT).subscription(SUBSCRIPTION).open_order_id is None
    assert history_types() == ["order_cancelled"]
    assert create_draft(2)[0] == 201


def test_a_draft_can_be_cancelled_even_when_the_contract_is_no_longer_eligible(seeded):
    draft = new_draft(3)
    set_status("past_due")

    assert cancel_draft(draft["order_id"])[0] == 204


def test_cancelling_twice_answers_order_not_draft(seeded):
    draft = new_draft(3)
    cancel_draft(draft["order_id"])

    status, problem = cancel_draft(draft["order_id"])

    assert (status, problem["code"]) == (409, "order_not_draft")


def test_only_the_manager_cancels_a_draft(seeded):
    draft = new_draft(3)

    assert cancel_draft(draft["order_id"], user=PRIMARY_ADMIN)[1]["code"] == "not_contract_manager"
    assert cancel_draft(draft["order_id"], user=OUTSIDER)[1]["code"] == "order_not_found"
    assert cancel_draft("ord_unknown")[1]["code"] == "order_not_found"
    assert bootstrap.repository().get_order(draft["order_id"]).status == "draft"


def test_the_sample_event_creates_a_draft(seeded):
    status, order, _ = invoke(change_seats, json.loads((EVENTS / "create_seat_order.json").read_text()))

    assert (status, order["seats_to_add"], order["total"]) == (201, 3, "1493.42")
