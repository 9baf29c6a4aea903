"""Reducing seats through ChangeSeatsFunction (docs/api.md, Reducing seats): every rule and error code."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.change_seats.app import lambda_handler as change_seats
from functions.list_contracts.app import lambda_handler as list_contracts
from infra import seed as seed_loader
from seats import bootstrap
from seats.adapters.dynamodb.repository import Repository
from seats.adapters.dynamodb.unit_of_work import UnitOfWork
from seats.domain.codes import REDUCE_SEATS_CONFLICTS, ErrorCode
from seats.domain.errors import ConcurrentUpdate
from tests.conftest import http_event, invoke

CONTRACT = "110000000001"
PATH = f"/contracts/{CONTRACT}/subscriptions/sub-acad/pending-reduction"


def acme_contract(seed: dict[str, Any]) -> dict[str, Any]:
    return seed["accounts"][0]["contracts"][0]


def load(seed: dict[str, Any]) -> None:
    seed_loader.load(bootstrap.repository(), seed)


def put(seats: Any, user: str = "u-alice", path: str = PATH) -> tuple[int, Any, dict[str, str]]:
    return invoke(change_seats, http_event("PUT", path, user=user, body={"seats": seats}))


def delete(user: str = "u-alice", path: str = PATH) -> tuple[int, Any, dict[str, str]]:
    return invoke(change_seats, http_event("DELETE", path, user=user))


def contract_view(user: str = "u-alice") -> dict[str, Any]:
    status, body, _ = invoke(list_contracts, http_event("GET", f"/contracts/{CONTRACT}", user=user))
    assert status == 200
    return body


def history_types() -> list[str]:
    return [e.type for e in bootstrap.repository().list_history(CONTRACT)]


# -- scheduling ------------------------------------------------------------------------------------

def test_a_manager_schedules_a_reduction_that_renewal_will_apply(seeded):
    status, body, _ = put(8)
    assert status == 200
    assert body["seats"] == 10  # current seats stay usable until renewal
    assert body["pending_reduction"]["seats"] == 8
    assert body["pending_reduction"]["requested_by"] == "u-alice"
    assert (body["renewal_seats"], body["renewal_price"]) == (8, "15800.00")
    assert body["eligibility"]["add_seats"] == {"allowed": False, "reason": "reduction_pending"}
    assert history_types() == ["reduction_scheduled"]


def test_the_contract_shows_the_seats_and_price_renewal_will_use(seeded):
    put(8)
    view = contract_view()
    sub = view["subscriptions"][0]
    assert (sub["seats"], sub["renewal_seats"], sub["renewal_price"]) == (10, 8, "15800.00")
    assert view["renewal_total"] == "15800.00"


def test_the_renewal_total_adds_up_every_subscription(aws, seed_data):
    acme_contract(seed_data)["subscriptions"].append(
        {"subscription_id": "sub-rvt", "product": "Revit", "seats": 4, "unit_price": "2545.50"})
    load(seed_data)
    put(8)
    assert contract_view()["renewal_total"] == "25982.00"  # 8 × 1975.00 + 4 × 2545.50


def test_saving_again_replaces_the_pending_reduction(seeded):
    put(8)
    status, body, _ = put(9)
    assert status == 200
    assert (body["pending_reduction"]["seats"], body["renewal_seats"]) == (9, 9)
    events = bootstrap.repository().list_history(CONTRACT)
    assert sorted(e.type for e in events) == ["reduction_changed", "reduction_scheduled"]
    changed = next(e for e in events if e.type == "reduction_changed")
    assert changed.details["seats_after"] == 9 and changed.details["previous_seats_after"] == 8
    assert changed.actor == "u-alice" and changed.subscription_id == "sub-acad"


def test_reducing_to_exactly_the_assigned_seats_is_allowed(seeded):
    assert put(7)[0] == 200


def test_reducing_below_assigned_seats_is_refused(seeded):
    status, body, headers = put(6)
    assert (status, body["code"]) == (409, "below_assigned_seats")
    assert headers["Content-Type"] == "application/problem+json"
    assert history_types() == []


@pytest.mark.parametrize("seats", [0, -1, 10, 11, 10**12])
def test_a_reduction_must_leave_at_least_one_seat_and_fewer_than_today(seeded, seats):
    status, body, _ = put(seats)
    assert (status, body["code"]) == (422, "invalid_reduction")


@pytest.mark.parametrize(("event_changes", "loc"), [
    ({"body": json.dumps({"seats": "3"})}, ["body", "seats"]),
    ({"body": json.dumps({"seats": 3.0})}, ["body", "seats"]),
    ({"body": json.dumps({"seats": True})}, ["body", "seats"]),
    ({"body": json.dumps({"seats": 8, "now": True})}, ["body", "now"]),
    ({"body": json.dumps({})}, ["body", "seats"]),
    ({"body": "{not json"}, ["body"]),
    ({"body": None}, ["body"]),
])
def test_invalid_input_answers_validation_error_before_anything_else(seeded, event_changes, loc):
    event = http_event("PUT", PATH, user="u-paula", body={"seats": 8})  # the 403 comes after validation
    event.update(event_changes)
    if event["body"] is None:
        del event["body"]
    status, body, _ = invoke(change_seats, event)
    assert (status, body["code"]) == (422, "validation_error")
    assert body["errors"][0]["loc"][: len(loc)] == loc


# -- who may -----------------------------------------------------------------------------------------

def test_a_primary_admin_who_does_not_manage_the_contract_gets_403(seeded):
    status, body, _ = put(8, user="u-paula")
    assert (status, body["code"]) == (403, "not_contract_manager")
    assert delete(user="u-paula")[1]["code"] == "not_contract_manager"


@pytest.mark.parametrize("user", ["u-sam", "u-nobody", "u-gina", "u-stranger"])
def test_anyone_else_cannot_tell_the_contract_exists(seeded, user):
    status, body, _ = put(8, user=user)
    assert (status, body["code"]) == (404, "contract_not_found")
    assert delete(user=user)[1]["code"] == "contract_not_found"


def test_an_unknown_contract_or_subscription_is_not_found(seeded):
    assert put(8, path="/contracts/999/subscriptions/sub-acad/pending-reduction")[1]["code"] == "contract_not_found"
    missing = f"/contracts/{CONTRACT}/subscriptions/sub-nope/pending-reduction"
    status, body, _ = put(8, path=missing)
    assert (status, body["code"]) == (404, "subscription_not_found")
    assert delete(path=missing)[1]["code"] == "subscription_not_found"


# -- eligibility (docs/api.md, Eligibility), in order ----------------------------------------------

INELIGIBLE = [
    ("contract_not_active", lambda s: acme_contract(s).update(status="past_due")),
    ("not_purchased_online", lambda s: acme_contract(s).update(purchase_channel="reseller")),
    ("not_auto_renewing", lambda s: acme_contract(s).update(auto_renew=False)),
    ("region_not_supported", lambda s: s["accounts"][0].update(country="BR")),
    ("maintenance_plan", lambda s: acme_contract(s)["subscriptions"][0].update(plan_type="maintenance")),
    ("renewal_due", lambda s: acme_contract(s).update(term_start="2025-11-29", renewal_date="2026-11-29")),
    ("single_seat", lambda s: acme_contract(s)["subscriptions"][0].update(seats=1, assigned_seats=0)),
]


def test_every_reason_that_refuses_a_reduction_has_a_case_in_rule_order():
    # draft_exists needs an open draft first: test_an_open_add_seats_draft_blocks_a_reduction
    assert [reason for reason, _ in INELIGIBLE] == [c for c in REDUCE_SEATS_CONFLICTS if c != ErrorCode.DRAFT_EXISTS]


@pytest.mark.parametrize(("reason", "change"), INELIGIBLE, ids=[r for r, _ in INELIGIBLE])
def test_an_ineligible_reduction_answers_409_with_its_reason(aws, seed_data, reason, change):
    change(seed_data)
    load(seed_data)
    status, body, _ = put(1)  # 1 would be a valid count: eligibility is what refuses it
    assert (status, body["code"]) == (409, reason)
    assert contract_view()["subscriptions"][0]["eligibility"]["reduce_seats"] == {"allowed": False, "reason": reason}


def test_an_open_add_seats_draft_blocks_a_reduction(seeded):
    repo: Repository = bootstrap.repository()
    contract = repo.get_contract(CONTRACT)
    contract.subscription("sub-acad").open_order_id = "ord_open"
    uow = repo.unit_of_work()
    uow.save_contract(contract)
    uow.commit()
    status, body, _ = put(8)
    assert (status, body["code"]) == (409, "draft_exists")


def test_the_first_failing_rule_is_the_reason(aws, seed_data):
    acme_contract(seed_data).update(status="suspended", purchase_channel="reseller", auto_renew=False)
    load(seed_data)
    assert put(8)[1]["code"] == "contract_not_active"


def test_eligibility_is_checked_before_the_requested_seats(aws, seed_data):
    acme_contract(seed_data).update(purchase_channel="reseller")
    load(seed_data)
    assert put(0)[1]["code"] == "not_purchased_online"
    assert put(6)[1]["code"] == "not_purchased_online"


# -- cancelling --------------------------------------------------------------------------------------

def test_a_manager_cancels_the_pending_reduction(seeded):
    put(8)
    status, body, _ = delete()
    assert (status, body) == (204, None)
    sub = contract_view()["subscriptions"][0]
    assert (sub["pending_reduction"], sub["renewal_seats"], sub["renewal_price"]) == (None, 10, "19750.00")
    assert sorted(history_types()) == ["reduction_cancelled", "reduction_scheduled"]


def test_cancelling_when_nothing_is_pending_is_not_found(seeded):
    status, body, _ = delete()
    assert (status, body["code"]) == (404, "no_pending_reduction")
    put(8)
    assert delete()[0] == 204
    assert delete()[1]["code"] == "no_pending_reduction"


def test_a_single_seat_subscription_has_no_reduction_to_cancel(aws, seed_data):
    acme_contract(seed_data)["subscriptions"][0].update(seats=1, assigned_seats=0)
    load(seed_data)
    assert delete()[1]["code"] == "no_pending_reduction"


def test_a_reduction_cannot_be_cancelled_once_the_renewal_is_due(aws, seed_data):
    load(seed_data)
    put(8)
    repo: Repository = bootstrap.repository()
    contract = repo.get_contract(CONTRACT)
    contract.status = "past_due"
    uow = repo.unit_of_work()
    uow.save_contract(contract)
    uow.commit()
    assert delete()[1]["code"] == "contract_not_active"


# -- events, writes, races -----------------------------------------------------------------------------

def test_scheduling_and_cancelling_publish_domain_events(seeded, domain_events):
    put(8)
    put(9)
    delete()
    published = domain_events()
    assert [e["detail-type"] for e in published] == [
        "SeatReductionScheduled", "SeatReductionScheduled", "SeatReductionCancelled"]
    assert all(e["source"] == "seats" for e in published)
    first = published[0]["detail"]
    assert first["contract_id"] == CONTRACT and first["subscription_id"] == "sub-acad"
    assert (first["seats_before"], first["seats_after"], first["renewal_price"]) == (10, 8, "15800.00")
    assert "pm_acme_visa" not in json.dumps(published) and "4242" not in json.dumps(published)


def test_a_reduction_takes_one_read_and_one_transaction(seeded):
    calls: list[str] = []
    client = bootstrap.aws_client("dynamodb")
    client.meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.append(model.name))
    put(8)
    delete()
    assert calls == ["BatchGetItem", "TransactWriteItems", "BatchGetItem", "TransactWriteItems"]


def test_a_change_that_lost_a_race_is_made_again_from_a_fresh_read(seeded, monkeypatch):
    read = Repository.get_contract_and_user
    reads: list[int] = []

    def read_then_lose_the_race(self, contract_id, user_id):
        answer = read(self, contract_id, user_id)
        reads.append(answer[0].version)
        if len(reads) == 1:
            assert put(9)[0] == 200  # another request writes first
        return answer

    monkeypatch.setattr(Repository, "get_contract_and_user", read_then_lose_the_race)
    status, body, _ = put(8)
    assert status == 200, body
    assert reads[-1] == reads[0] + 1  # the retry read the winner's write, and was written over it
    assert contract_view()["subscriptions"][0]["renewal_seats"] == 8
    assert sorted(history_types()) == ["reduction_changed", "reduction_scheduled"]  # one instant: any order


def test_a_change_that_keeps_losing_races_answers_concurrent_update(seeded, monkeypatch):
    def always_lose(self):
        raise ConcurrentUpdate()

    monkeypatch.setattr(UnitOfWork, "commit", always_lose)
    status, body, _ = put(8)
    assert (status, body["code"]) == (409, "concurrent_update")
    monkeypatch.undo()
    assert contract_view()["subscriptions"][0]["pending_reduction"] is None


def test_scheduling_a_reduction_counts_a_metric(seeded, capsys):
    put(8)
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    names = [m["Name"] for blob in metrics for d in blob["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]]
    assert "ReductionsScheduled" in names
