"""Adding seats over HTTP on the local runtime: draft, another card, submit, and the contract shows it."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import BASE_SEED
from tests.e2e.conftest import RunningStack, start_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """A private runtime on the tests' seed: these tests add seats, which the shared demo must not see."""
    running = start_stack(tmp_path_factory.mktemp("add-seats"), seed=copy.deepcopy(BASE_SEED))
    try:
        yield running
    finally:
        running.stop()


def all_charges(stack: RunningStack) -> list[dict]:
    return stack.request("GET", "/_local/charges").body["charges"]


def test_a_manager_adds_seats_paid_with_a_new_card(stack: RunningStack) -> None:
    draft = stack.request("POST", "/contracts/110000000001/subscriptions/sub-acad/seat-orders", user="u-alice",
                          body={"seats_to_add": 3})
    assert draft.status == 201, draft.body
    card = stack.request("POST", "/accounts/acme/payment-methods", user="u-alice", body={"token": "tok_mastercard"})
    assert card.status == 201, card.body
    order_id = draft.body["order_id"]
    chosen = stack.request("PUT", f"/orders/{order_id}/payment-method", user="u-alice",
                           body={"payment_method_id": card.body["payment_method_id"]})
    assert chosen.status == 200, chosen.body

    submitted = stack.request("POST", f"/orders/{order_id}/submit", user="u-alice",
                              headers={"Idempotency-Key": str(uuid.uuid4())})

    assert submitted.status == 200, submitted.body
    assert (submitted.body["status"], submitted.body["seats_after"]) == ("completed", 13)
    contract = stack.request("GET", "/contracts/110000000001", user="u-alice").body
    [subscription] = contract["subscriptions"]
    assert (subscription["seats"], subscription["open_order_id"]) == (13, None)
    [charge] = [c for c in all_charges(stack) if c["charge_id"] == submitted.body["charge_id"]]
    assert (charge["amount"], charge["status"]) == ("1493.42", "succeeded")
    history = stack.request("GET", "/contracts/110000000001/history", user="u-alice").body["events"]
    assert {e["type"] for e in history} == {"seats_added", "payment_method_changed"}  # same instant: any order
    events = stack.wait_for(lambda: [e for e in stack.request("GET", "/_local/events").body["events"]
                                     if e.get("detail-type") == "SeatsAdded"], what="SeatsAdded")
    assert events[0]["detail"]["order_id"] == order_id


def test_concurrent_submits_over_http_charge_once_and_add_the_seats_once(stack: RunningStack) -> None:
    draft = stack.request("POST", "/contracts/220000000001/subscriptions/sub-rvt/seat-orders", user="u-gina",
                          body={"seats_to_add": 2})
    assert draft.status == 201, draft.body
    order_id = draft.body["order_id"]
    keys = ["same", "same", "same", "other-1", "other-2", "other-3"]
    before = {c["charge_id"] for c in all_charges(stack)}

    def submit(key: str) -> tuple[int, str | None]:
        answer = stack.request("POST", f"/orders/{order_id}/submit", user="u-gina", headers={"Idempotency-Key": key})
        return answer.status, answer.body.get("code")

    with ThreadPoolExecutor(max_workers=len(keys)) as pool:
        answers = list(pool.map(submit, keys))

    assert (200, None) in answers
    assert set(answers) <= {(200, None), (409, "order_not_draft"), (409, "request_in_progress")}
    assert len([c for c in all_charges(stack) if c["charge_id"] not in before]) == 1
    [subscription] = stack.request("GET", "/contracts/220000000001", user="u-gina").body["subscriptions"]
    assert subscription["seats"] == 5
