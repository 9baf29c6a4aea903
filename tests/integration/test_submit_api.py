"""POST /orders/{id}/submit through SubmitOrderFunction: paid exactly once, seats only if paid."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import boto3
import pytest

from functions.submit_order.app import lambda_handler as submit_order
from infra import seed as seed_loader
from seats import bootstrap
from seats.adapters.dynamodb.unit_of_work import UnitOfWork
from seats.api import idempotency
from seats.api.routes import submit as submit_route
from seats.domain.errors import DomainError
from tests.conftest import EVENTS, LambdaContext, invoke
from tests.integration.add_seats_support import (
    CONTRACT,
    MANAGER,
    OUTSIDER,
    PRIMARY_ADMIN,
    SUBSCRIPTION,
    cancel_draft,
    charges,
    choose_card,
    draft_paid_with,
    history_types,
    new_draft,
    patch_draft,
    seats_of,
    set_status,
    store_expired_card,
    submit,
)

SECOND_SUBSCRIPTION = "sub-inv"


@pytest.fixture
def patch(aws: None) -> Iterator[pytest.MonkeyPatch]:
    """Patches undone before moto stops (and before `bootstrap.reset()`)."""
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def refunded(charge: Any) -> bool:
    return charge.status == "refunded" and charge.refunded_at is not None


def kept_charges() -> list[Any]:
    return [c for c in charges() if c.status == "succeeded"]


def payment_of(order_id: str) -> Any:
    """The ledger payment the order points to."""
    order = bootstrap.repository().get_order(order_id)
    return bootstrap.repository().get_payment(order.payment_id)


# -- the happy path -----------------------------------------------------------------------------------

def test_submitting_a_draft_charges_it_once_and_adds_its_seats(seeded, outbox):
    draft = new_draft(3)

    status, order, headers = submit(draft["order_id"])

    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert order["status"] == "completed"
    assert (order["seats_before"], order["seats_after"], order["total"]) == (10, 13, "1493.42")
    assert order["submitted_at"] == "2026-11-29T10:00:00.000Z"
    [charge] = charges()
    assert order["charge_id"] == charge.charge_id
    assert (str(charge.amount), charge.payment_method_ref) == ("1493.42", "tok_visa")
    payment = payment_of(draft["order_id"])  # recorded before the provider was called, settled after
    assert (payment.status, payment.provider_ref, payment.order_id) == ("succeeded", charge.charge_id, draft["order_id"])
    assert charge.idempotency_key == payment.key == f"seats:payment:{payment.payment_id}"
    assert seats_of() == 13
    assert bootstrap.repository().get_contract(CONTRACT).subscription(SUBSCRIPTION).open_order_id is None
    assert history_types() == ["seats_added"]
    [(detail_type, detail)] = outbox()
    assert detail_type == "SeatsAdded"
    assert detail["seats_before"] == 10 and detail["seats_after"] == 13 and detail["total"] == "1493.42"
    assert not {"last4", "brand", "payment_method", "token"} & set(detail)


def test_the_seats_added_event_reaches_the_bus_through_the_outbox_once(seeded, outbox, domain_events):
    draft = new_draft(3)

    submit(draft["order_id"])
    submit(draft["order_id"])  # the same key again: the stored answer, and no second event

    [(detail_type, committed)] = outbox()
    assert detail_type == "SeatsAdded"
    [event] = domain_events()
    assert (event["source"], event["detail-type"]) == ("seats", "SeatsAdded")
    assert event["detail"] == committed
    assert event["detail"]["order_id"] == draft["order_id"] and event["detail"]["event_id"].startswith("evt_")
    assert event["time"] == "2026-11-29T10:00:00Z"  # the commit's time (the fixed clock), not the relay's


def emitted_metrics(stdout: str) -> dict[str, Any]:
    """Metric name -> values, from the EMF lines Powertools prints."""
    found: dict[str, Any] = {}
    for line in stdout.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            record = json.loads(line)
            for directive in record["_aws"]["CloudWatchMetrics"]:
                for metric in directive["Metrics"]:
                    found[metric["Name"]] = record[metric["Name"]]
    return found


def test_submitting_emits_the_seats_and_order_value_metrics(seeded, capsys):
    draft = new_draft(3)
    capsys.readouterr()

    submit(draft["order_id"])

    metrics = emitted_metrics(capsys.readouterr().out)
    assert metrics["SeatsAdded"] == [3.0] and metrics["OrderValue"] == [1493.42]
    assert "PaymentDeclines" not in metrics


def test_the_sample_event_submits_an_order(seeded):
    draft = new_draft(3)
    event = json.loads((EVENTS / "submit_order.json").read_text())
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/orders/{draft['order_id']}/submit"
    event["pathParameters"] = {"order_id": draft["order_id"]}

    status, order, _ = invoke(submit_order, event)

    assert (status, order["status"]) == (200, "completed")


# -- Idempotency-Key ----------------------------------------------------------------------------------

def test_the_same_key_replays_the_first_answer_without_charging_again(seeded):
    draft = new_draft(3)
    first = submit(draft["order_id"], "same")

    status, body, headers = submit(draft["order_id"], "same")

    assert (status, body) == (first[0], first[1])
    assert headers.get("Idempotent-Replayed") == "true"
    assert len(charges()) == 1 and seats_of() == 13


def test_the_same_key_still_gets_its_order_when_the_first_answer_was_lost_after_the_write(seeded):
    draft = new_draft(3)
    submit(draft["order_id"], "lost-answer")
    # The answer never reached the client and its idempotency record was not kept (a time-out, or
    # the record's final write failed): the retry runs again and must not be told 409.
    ddb = bootstrap.aws_client("dynamodb")
    for item in ddb.scan(TableName="IdempotencyTable")["Items"]:
        ddb.delete_item(TableName="IdempotencyTable", Key={"id": item["id"]})

    status, body, _ = submit(draft["order_id"], "lost-answer")

    assert (status, body["status"], body["seats_after"]) == (200, "completed", 13)
    assert len(charges()) == 1 and seats_of() == 13
    assert submit(draft["order_id"], "someone-else")[0] == 409


def test_a_completed_order_submitted_with_a_new_key_is_not_a_draft(seeded):
    draft = new_draft(3)
    submit(draft["order_id"], "first")

    status, problem, _ = submit(draft["order_id"], "second")

    assert (status, problem["code"]) == (409, "order_not_draft")
    assert len(charges()) == 1 and seats_of() == 13


def test_the_same_key_on_another_order_is_refused(seeded):
    first = new_draft(3)
    submit(first["order_id"], "shared")
    second = new_draft(2)

    status, problem, _ = submit(second["order_id"], "shared")

    assert (status, problem["code"]) == (422, "idempotency_key_reused")
    assert bootstrap.repository().get_order(second["order_id"]).status == "draft"


def test_keys_belong_to_their_caller(seeded):
    ours = new_draft(3)
    submit(ours["order_id"], "key-1")
    theirs = new_draft(1, user=OUTSIDER, contract_id="220000000001", subscription_id="sub-rvt")

    status, order, _ = submit(theirs["order_id"], "key-1", user=OUTSIDER)

    assert (status, order["status"]) == (200, "completed")


def test_a_missing_key_is_required(seeded):
    draft = new_draft(3)

    status, problem, _ = submit(draft["order_id"], None)

    assert (status, problem["code"]) == (400, "idempotency_key_required")
    assert charges() == []


@pytest.mark.parametrize("key", ["", "k" * 256])
def test_a_key_must_have_1_to_255_characters(seeded, key):
    draft = new_draft(3)

    status, problem, _ = submit(draft["order_id"], key)

    assert (status, problem["code"]) == (422, "validation_error")
    assert charges() == []


def test_a_key_of_255_characters_is_accepted(seeded):
    draft = new_draft(3)

    assert submit(draft["order_id"], "k" * 255)[0] == 200


def hold_in_progress(order_id: str, key: str, remaining_ms: int) -> None:
    """The record a first request leaves while it runs (or after its Lambda died mid-way)."""
    store = idempotency.idempotency_store()
    store.configure(idempotency.idempotency_config(), key_prefix=idempotency.KEY_PREFIX)
    store.save_inprogress(data=idempotency.idempotent_request(MANAGER, key, order_id),
                          remaining_time_in_millis=remaining_ms)


def test_a_key_whose_first_request_is_still_running_answers_request_in_progress(seeded):
    draft = new_draft(3)
    hold_in_progress(draft["order_id"], "busy", remaining_ms=60_000)

    status, problem, _ = submit(draft["order_id"], "busy")

    assert (status, problem["code"]) == (409, "request_in_progress")
    assert charges() == [] and seats_of() == 10


def test_an_idempotency_store_that_does_not_answer_is_503_and_nothing_is_charged(seeded):
    draft = new_draft(3)
    boto3.client("dynamodb").delete_table(TableName="IdempotencyTable")

    status, problem, _ = submit(draft["order_id"])

    assert (status, problem["code"]) == (503, "service_unavailable")
    assert charges() == [] and seats_of() == 10


def test_a_key_whose_first_lambda_timed_out_can_be_retried(seeded):
    draft = new_draft(3)
    hold_in_progress(draft["order_id"], "stuck", remaining_ms=-1_000)

    status, order, _ = submit(draft["order_id"], "stuck")

    assert (status, order["status"]) == (200, "completed")


# -- payment outcomes -----------------------------------------------------------------------------------

@pytest.mark.parametrize("token", ["tok_visa", "tok_mastercard"])
def test_a_good_card_pays_for_the_seats(seeded, token):
    draft = draft_paid_with(token)

    status, order, _ = submit(draft["order_id"])

    assert status == 200 and order["payment_method"]["payment_method_id"] == draft["payment_method"]["payment_method_id"]
    assert seats_of() == 13


@pytest.mark.parametrize(("token", "decline_code"), [
    ("tok_chargeCustomerFail", "card_declined"), ("tok_chargeDeclinedInsufficientFunds", "insufficient_funds"),
])
def test_a_declined_card_leaves_the_seats_and_keeps_the_draft_with_the_error(seeded, outbox, capsys, token,
                                                                            decline_code):
    draft = draft_paid_with(token)
    capsys.readouterr()

    status, problem, _ = submit(draft["order_id"])

    assert (status, problem["code"], problem["decline_code"]) == (402, "payment_declined", decline_code)
    assert seats_of() == 10 and outbox() == []
    order = bootstrap.repository().get_order(draft["order_id"])
    assert order.status == "draft"
    assert (order.last_payment_error.code, order.last_payment_error.decline_code) == ("payment_declined", decline_code)
    assert emitted_metrics(capsys.readouterr().out)["PaymentDeclines"] == [1.0]


def test_a_decline_is_replayed_for_its_key_and_a_new_key_can_pay_with_another_card(seeded):
    draft = draft_paid_with("tok_chargeCustomerFail")
    submit(draft["order_id"], "try-1")

    assert submit(draft["order_id"], "try-1")[:2] == submit(draft["order_id"], "try-1")[:2]
    assert len(charges()) == 1
    choose_card(draft["order_id"], "pm_acme_visa")
    status, order, _ = submit(draft["order_id"], "try-2")

    assert (status, order["last_payment_error"]) == (200, None)
    assert sorted(c.status for c in charges()) == ["failed", "succeeded"]
    assert len({c.idempotency_key for c in charges()}) == 2  # one payment each, with its own key
    assert seats_of() == 13


def test_an_expired_card_is_not_charged(seeded):
    draft = new_draft(3)
    choose_card(draft["order_id"], store_expired_card())

    status, problem, _ = submit(draft["order_id"])

    assert (status, problem["code"]) == (409, "payment_method_expired")
    assert charges() == [] and seats_of() == 10


def test_a_provider_time_out_is_503_and_the_same_key_then_completes_with_the_one_charge(seeded):
    draft = draft_paid_with("tok_timeoutAfterCapture")

    status, problem, _ = submit(draft["order_id"], "retry-me")
    assert (status, problem["code"]) == (503, "payment_provider_unavailable")
    assert seats_of() == 10 and len(charges()) == 1

    status, order, _ = submit(draft["order_id"], "retry-me")

    assert (status, order["status"]) == (200, "completed")
    [charge] = charges()
    assert order["charge_id"] == charge.charge_id and seats_of() == 13


def test_after_a_time_out_a_new_key_finds_the_same_charge(seeded):
    draft = draft_paid_with("tok_timeoutAfterCapture")
    submit(draft["order_id"], "first")

    status, order, _ = submit(draft["order_id"], "second")

    assert status == 200 and len(charges()) == 1 and order["charge_id"] == charges()[0].charge_id


def test_a_draft_changed_after_a_time_out_is_charged_anew_and_the_first_charge_refunded(seeded):
    draft = draft_paid_with("tok_timeoutAfterCapture")
    submit(draft["order_id"], "first")
    patch_draft(draft["order_id"], {"seats_to_add": 5})  # settles the captured payment first: refunded
    [stale] = charges()
    assert refunded(stale) and str(stale.amount) == "1493.42"
    assert submit(draft["order_id"], "second")[0] == 503  # this card times out on every new charge

    status, order, _ = submit(draft["order_id"], "second")

    assert status == 200 and order["total"] == "2489.04"
    stale, fresh = sorted(charges(), key=lambda c: c.status == "succeeded")
    assert not refunded(fresh) and order["charge_id"] == fresh.charge_id and str(fresh.amount) == "2489.04"
    assert seats_of() == 15


# -- the quote ----------------------------------------------------------------------------------------

def test_an_expired_quote_is_priced_again_and_answers_quote_expired_with_the_new_order(seeded, monkeypatch):
    draft = new_draft(3)
    monkeypatch.setenv("SEATS_NOW", "2026-11-30T09:00:00Z")
    bootstrap.reset()  # the settings (and so the clock) are read once

    status, problem, _ = submit(draft["order_id"], "stale")

    assert (status, problem["code"]) == (409, "quote_expired")
    assert problem["order"]["total"] == "1477.19"  # 1975.00 × 3 × 91 ÷ 365
    assert problem["order"]["quoted_on"] == "2026-11-30"
    assert problem["order"]["quote_expires_at"] == "2026-12-01T00:00:00.000Z"
    assert str(bootstrap.repository().get_order(draft["order_id"]).total) == "1477.19"
    assert charges() == [] and seats_of() == 10
    assert submit(draft["order_id"], "stale")[1] == problem

    status, order, _ = submit(draft["order_id"], "fresh")

    assert (status, order["total"], str(charges()[0].amount)) == (200, "1477.19", "1477.19")


def test_an_expired_quote_whose_total_is_unchanged_is_submitted(aws, seed_data, monkeypatch):
    seed_data["accounts"][0]["contracts"][0]["subscriptions"][0]["unit_price"] = "0.00"
    seed_loader.load(bootstrap.repository(), seed_data)
    draft = new_draft(3)
    monkeypatch.setenv("SEATS_NOW", "2026-11-30T09:00:00Z")
    bootstrap.reset()  # the settings (and so the clock) are read once

    status, order, _ = submit(draft["order_id"])

    assert (status, order["total"], order["quoted_on"]) == (200, "0.00", "2026-11-30")
    assert order["charge_id"] is None and charges() == []  # nothing to charge
    assert seats_of() == 13


# -- who and what may be submitted --------------------------------------------------------------------------

def test_a_cancelled_order_cannot_be_submitted(seeded):
    draft = new_draft(3)
    cancel_draft(draft["order_id"])

    status, problem, _ = submit(draft["order_id"])

    assert (status, problem["code"]) == (409, "order_not_draft")
    assert charges() == []


def test_only_the_manager_submits(seeded):
    draft = new_draft(3)

    assert submit(draft["order_id"], "a", user=PRIMARY_ADMIN)[1]["code"] == "not_contract_manager"
    assert submit(draft["order_id"], "b", user=OUTSIDER)[1]["code"] == "order_not_found"
    assert submit("ord_unknown", "c")[1]["code"] == "order_not_found"
    assert charges() == []


@pytest.mark.parametrize("status", ["past_due", "suspended"])
def test_eligibility_is_checked_again_at_submit(seeded, status):
    draft = new_draft(3)
    set_status(status)

    answer, problem, _ = submit(draft["order_id"])

    assert (answer, problem["code"]) == (409, "contract_not_active")
    assert charges() == []


# -- crashes and races --------------------------------------------------------------------------------

def test_a_crash_between_charge_and_write_is_completed_by_the_next_submit_with_the_same_charge(seeded, monkeypatch):
    draft = new_draft(3)
    commit = UnitOfWork.commit
    crashes = iter([False, False, True])  # the payment recorded, its provider id recorded, then the seats

    def crash_once(self: UnitOfWork) -> None:
        if next(crashes, False):
            raise RuntimeError("the Lambda died here")
        commit(self)

    monkeypatch.setattr(UnitOfWork, "commit", crash_once)

    status, problem, _ = submit(draft["order_id"], "first")
    assert (status, problem["code"]) == (500, "internal_error")
    assert len(charges()) == 1 and seats_of() == 10

    status, order, _ = submit(draft["order_id"], "first")

    assert (status, order["status"]) == (200, "completed")
    [charge] = charges()
    assert order["charge_id"] == charge.charge_id and seats_of() == 13


class Rendezvous:
    """The sandbox gateway, except that each confirmed payment waits until `parties` payments were
    confirmed: every concurrent submit is then paid before any of them writes, the widest window for a race."""

    def __init__(self, gateway: Any, parties: int) -> None:
        self.gateway = gateway
        self.barrier = threading.Barrier(parties, timeout=20)

    def confirm_payment(self, provider_ref: str, request: Any) -> Any:
        state = self.gateway.confirm_payment(provider_ref, request)
        self.barrier.wait()
        return state

    def __getattr__(self, name: str) -> Any:
        return getattr(self.gateway, name)


def submit_concurrently(requests: list[tuple[str, str]]) -> list[tuple[int, str | None]]:
    """Each (order_id, key) submitted from its own thread through the route's idempotent path: what
    separate Lambda containers would run. (The Powertools resolver keeps the current event on the
    class, so one resolver cannot serve two threads; a Lambda container never has to.)"""

    def one(order_id: str, key: str) -> tuple[int, str | None]:
        try:
            answer = submit_route.submit_once(order_id=order_id, key=key, caller_id=MANAGER, context=LambdaContext())
        except DomainError as error:
            return error.status, error.code
        return answer["status"], answer["body"].get("code")

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        return [f.result() for f in [pool.submit(one, *request) for request in requests]]


def test_concurrent_submits_with_the_same_key_charge_once(seeded, atomic_aws):
    draft = new_draft(3)

    answers = submit_concurrently([(draft["order_id"], "same")] * 6)

    assert (200, None) in answers
    assert set(answers) <= {(200, None), (409, "request_in_progress")}
    assert len(charges()) == 1 and seats_of() == 13
    assert history_types() == ["seats_added"]


def test_concurrent_submits_with_different_keys_charge_once_and_add_the_seats_once(seeded, atomic_aws):
    draft = new_draft(3)

    answers = submit_concurrently([(draft["order_id"], f"key-{n}") for n in range(4)])

    # One payment is recorded for the draft; the others resume it (200) or find the order completed.
    assert (200, None) in answers
    assert set(answers) <= {(200, None), (409, "order_not_draft"), (409, "concurrent_update")}
    [charge] = charges()
    assert not refunded(charge)
    assert seats_of() == 13 and history_types() == ["seats_added"]


@pytest.fixture
def two_subscriptions(aws: None, seed_data: dict[str, Any]) -> None:
    seed_data["accounts"][0]["contracts"][0]["subscriptions"].append(
        {"subscription_id": SECOND_SUBSCRIPTION, "product": "Inventor", "seats": 5, "unit_price": "2400.00"})
    seed_loader.load(bootstrap.repository(), seed_data)


def test_submits_on_two_subscriptions_of_one_contract_both_land_and_money_matches_seats(
        two_subscriptions, atomic_aws, patch):
    first = new_draft(3)
    second = new_draft(2, subscription_id=SECOND_SUBSCRIPTION)
    gateway = Rendezvous(bootstrap.payment_gateway(), parties=2)
    patch.setattr(bootstrap, "payment_gateway", lambda: gateway)

    answers = submit_concurrently([(first["order_id"], "a"), (second["order_id"], "b")])

    assert set(answers) <= {(200, None), (409, "concurrent_update")}
    repo = bootstrap.repository()
    completed = [o for o in (repo.get_order(first["order_id"]), repo.get_order(second["order_id"]))
                 if o.status == "completed"]
    assert sorted(c.charge_id for c in kept_charges()) == sorted(o.charge_id for o in completed)
    assert sum((c.amount.amount for c in kept_charges()), Decimal(0)) == sum((o.total.amount for o in completed),
                                                                              Decimal(0))
    added = {o.subscription_id: o.seats_to_add for o in completed}
    assert seats_of() == 10 + added.get(SUBSCRIPTION, 0)
    assert seats_of(subscription_id=SECOND_SUBSCRIPTION) == 5 + added.get(SECOND_SUBSCRIPTION, 0)
    assert answers == [(200, None), (200, None)]  # the loser of the write read the contract again


@pytest.fixture(autouse=True)
def _no_leaked_threads() -> Iterator[None]:
    before = threading.active_count()
    yield
    assert threading.active_count() <= before


def test_two_first_submits_at_once_find_the_idempotency_store_configured(seeded, patch, atomic_aws):
    """Powertools marks a store configured before it has compiled the key's JMESPath: a second request
    in that window used to answer 503. The store is configured once, under a lock, before either uses it."""
    import jmespath

    idempotency._store.cache_clear()
    compile_ = jmespath.compile

    def slow_compile(expression: str, *args: Any, **kwargs: Any) -> Any:
        time.sleep(0.2)  # the window, made wide
        return compile_(expression, *args, **kwargs)

    patch.setattr(jmespath, "compile", slow_compile)
    draft = new_draft(3)
    answers: list[tuple[int, str]] = []

    def submit_with(key: str) -> None:
        status, body, _ = submit(draft["order_id"], key)
        answers.append((status, body.get("code", "ok") if status != 200 else "ok"))

    threads = [threading.Thread(target=submit_with, args=(key,)) for key in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert len(answers) == 2 and all(status != 503 for status, _ in answers), answers
    assert "ok" in {code for _, code in answers} and seats_of() == 13
