"""The defects the payment ledger closes (docs/payments.md), each as the scenario that used to keep money
without the change it paid for, charge twice, or charge when it should not. Moto, sandbox gateway."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime
from typing import Any

import pytest

from functions.renewal_worker.app import lambda_handler as worker
from infra import seed as seed_loader
from seats import bootstrap
from seats.adapters.dynamodb.unit_of_work import UnitOfWork
from seats.services import renew
from seats.services.messages import RenewalMessage
from tests.conftest import EVENTS, LambdaContext
from tests.integration.add_seats_support import (
    CONTRACT,
    cancel_draft,
    choose_card,
    draft_paid_with,
    new_draft,
    patch_draft,
    seats_of,
    submit,
)

GLOBEX = "220000000001"
RENEWAL_DAY = datetime(2027, 3, 1, 2, tzinfo=UTC)  # the acme contract's renewal date
SQS_BATCH = json.loads((EVENTS / "renewal_sqs_batch.json").read_text())


def kept() -> list[Any]:
    """Charges captured and not refunded."""
    return [c for c in bootstrap.payment_gateway().list_charges() if c.status == "succeeded"]


def refunded() -> list[Any]:
    return [c for c in bootstrap.payment_gateway().list_charges() if c.status == "refunded"]


def crash_at_commit(monkeypatch: pytest.MonkeyPatch, number: int) -> None:
    """The process dies at the `number`th commit from now (1: the next one)."""
    commit = UnitOfWork.commit
    seen: list[int] = []

    def crashing(self: UnitOfWork) -> None:
        seen.append(1)
        if len(seen) == number:
            raise RuntimeError("the Lambda died here")
        commit(self)

    monkeypatch.setattr(UnitOfWork, "commit", crashing)


def sqs_event(*bodies: Any) -> dict[str, Any]:
    records = []
    for n, body in enumerate(bodies):
        record = copy.deepcopy(SQS_BATCH["Records"][0])
        record["messageId"] = f"msg-{n}"
        record["body"] = body if isinstance(body, str) else json.dumps(body)
        records.append(record)
    return {"Records": records}


# -- 1. a captured charge is never kept for a cancelled draft -------------------------------------------------

def test_a_charge_captured_behind_a_time_out_is_refunded_when_the_draft_is_cancelled(seeded):
    """Used to: 503, then DELETE 204 left 1493.42 succeeded and never refunded, seats at 10."""
    draft = draft_paid_with("tok_timeoutAfterCapture")
    assert submit(draft["order_id"])[0] == 503
    assert len(kept()) == 1

    assert cancel_draft(draft["order_id"])[0] == 204

    assert kept() == [] and [str(c.amount) for c in refunded()] == ["1493.42"]
    assert seats_of() == 10
    types = [e.type for e in bootstrap.repository().list_history(CONTRACT)]
    assert "payment_refunded" in types and "order_cancelled" in types


def test_a_charge_whose_write_failed_is_refunded_when_the_draft_is_cancelled(seeded, monkeypatch):
    draft = new_draft(3)
    crash_at_commit(monkeypatch, 3)  # the payment, its provider id, then the seats: the seats' write dies
    assert submit(draft["order_id"])[0] == 500
    monkeypatch.undo()
    assert len(kept()) == 1

    assert cancel_draft(draft["order_id"])[0] == 204

    assert kept() == [] and len(refunded()) == 1 and seats_of() == 10
    second = new_draft(2)
    assert submit(second["order_id"], "again")[0] == 200
    assert [str(c.amount) for c in kept()] == [second["total"]]  # paid once, for the order that got its seats


def test_a_charge_captured_for_a_draft_the_renewal_cancels_is_refunded(seeded):
    draft = draft_paid_with("tok_timeoutAfterCapture")
    assert submit(draft["order_id"])[0] == 503

    outcome = renew.renew_contract(CONTRACT, RENEWAL_DAY, bootstrap.repository(), bootstrap.payment_gateway())

    assert outcome.renewed == 1
    assert bootstrap.repository().get_order(draft["order_id"]).status == "cancelled"
    assert [str(c.amount) for c in refunded()] == ["1493.42"]
    [renewal_charge] = kept()
    assert str(renewal_charge.amount) == "19750.00"


# -- 2. an edited draft is paid anew, never refused ----------------------------------------------------------

@pytest.mark.parametrize("change", ["edit the seats", "pick another card"])
def test_a_draft_changed_after_an_unrecorded_charge_is_paid_once_for_its_new_terms(seeded, monkeypatch, change):
    """Used to (with Stripe): every later submit answered 422 idempotency_key_reused, the first charge kept."""
    draft = new_draft(3)
    crash_at_commit(monkeypatch, 3)
    assert submit(draft["order_id"], "first")[0] == 500
    monkeypatch.undo()
    if change == "edit the seats":
        assert patch_draft(draft["order_id"], {"seats_to_add": 5})[0] == 200
    else:
        assert choose_card(draft["order_id"], "pm_acme_mc")[0] == 200

    status, order, _ = submit(draft["order_id"], "second")

    assert status == 200, order
    [charge] = kept()
    assert (charge.charge_id, str(charge.amount)) == (order["charge_id"], order["total"])
    assert len(refunded()) == 1 and seats_of() == 10 + order["seats_to_add"]


# -- 3. recovery asks the provider by the id recorded ------------------------------------------------------------

def test_a_retry_after_a_time_out_asks_the_provider_by_the_recorded_id_and_creates_nothing(seeded, monkeypatch):
    """Used to: the retry charged again under the same key, relying on the provider remembering it."""
    draft = draft_paid_with("tok_timeoutAfterCapture")
    assert submit(draft["order_id"], "first")[0] == 503
    gateway = bootstrap.payment_gateway()
    created: list[str] = []
    create = gateway.create_payment
    monkeypatch.setattr(gateway, "create_payment", lambda request: created.append(request.key) or create(request))

    status, order, _ = submit(draft["order_id"], "second")

    assert status == 200 and created == []
    [charge] = kept()
    assert order["charge_id"] == charge.charge_id and seats_of() == 13


# -- 4. the renewal order names the card charged -------------------------------------------------------------------

def test_a_renewal_resumed_after_the_card_on_file_changed_names_the_card_it_charged(seeded, monkeypatch):
    """Used to: the redelivery recorded the new card on file, not the card the money came from."""
    crash_at_commit(monkeypatch, 3)
    with pytest.raises(RuntimeError):
        renew.renew_contract(CONTRACT, RENEWAL_DAY, bootstrap.repository(), bootstrap.payment_gateway())
    monkeypatch.undo()
    repo = bootstrap.repository()
    contract = repo.get_contract(CONTRACT)
    contract.payment_method = repo.get_payment_method("acme", "pm_acme_mc")
    work = repo.unit_of_work()
    work.save_contract(contract)
    work.commit()

    assert renew.renew_contract(CONTRACT, RENEWAL_DAY, repo, bootstrap.payment_gateway()).renewed == 1

    [order] = [o for o in repo.list_orders(CONTRACT) if o.type == "renewal"]
    assert order.payment_method.payment_method_id == "pm_acme_visa"
    assert repo.get_contract(CONTRACT).payment_method.payment_method_id == "pm_acme_mc"
    assert len(kept()) == 1


# -- 5 and 6. no charge from the cancellation day; one automatic attempt a day --------------------------------------

@pytest.fixture
def declining(aws, seed_data) -> None:
    account = seed_data["accounts"][0]
    account["payment_methods"].append({"payment_method_id": "pm_acme_fail", "token": "tok_chargeCustomerFail"})
    account["contracts"][0]["payment_method_id"] = "pm_acme_fail"
    seed_loader.load(bootstrap.repository(), seed_data)


def test_a_past_due_contract_is_cancelled_at_day_45_without_charging_the_card(declining):
    """Used to: the run on day 45 charged the card once more, then cancelled."""
    repo, gateway = bootstrap.repository(), bootstrap.payment_gateway()
    renew.renew_contract(CONTRACT, RENEWAL_DAY, repo, gateway)
    attempts = len(gateway.list_charges())

    outcome = renew.renew_contract(CONTRACT, datetime(2027, 4, 15, 2, tzinfo=UTC), repo, gateway)

    assert (outcome.status, outcome.declines) == ("cancelled", 0)
    assert len(gateway.list_charges()) == attempts == 1


def test_a_renewal_message_delivered_twice_tries_a_declining_card_once_that_day(declining):
    """Used to: the attempt counter moved the charge key on, so the redelivery charged the card again."""
    event = sqs_event(RenewalMessage(CONTRACT, RENEWAL_DAY).to_json())
    worker(event, LambdaContext())
    worker(event, LambdaContext())

    assert [c.status for c in bootstrap.payment_gateway().list_charges()] == ["failed"]
    contract = bootstrap.repository().get_contract(CONTRACT)
    assert (contract.status, contract.failed_renewal_attempts, contract.renewal_attempted_on) == (
        "past_due", 1, date(2027, 3, 1))
    worker(sqs_event(RenewalMessage(CONTRACT, datetime(2027, 3, 2, 2, tzinfo=UTC)).to_json()), LambdaContext())
    assert len(bootstrap.payment_gateway().list_charges()) == 2  # the next day: one more attempt


# -- 7. catch-up until current ------------------------------------------------------------------------------------

class Queue:
    def __init__(self) -> None:
        self.sent: list[RenewalMessage] = []

    def send(self, messages: list[RenewalMessage]) -> int:
        self.sent.extend(messages)
        return len(messages)


def test_a_contract_many_periods_behind_is_renewed_until_current_the_rest_handed_on_at_once(aws, seed_data):
    """Used to: eight periods per message, the rest waited for the next night."""
    globex = seed_data["accounts"][1]["contracts"][0]
    globex.update(term_start="2024-05-15", renewal_date="2024-06-15")
    seed_loader.load(bootstrap.repository(), seed_data)
    repo, gateway, queue = bootstrap.repository(), bootstrap.payment_gateway(), Queue()
    as_of = datetime(2026, 12, 20, 2, tzinfo=UTC)

    first = renew.renew_contract(GLOBEX, as_of, repo, gateway, queue)
    [handed_on] = queue.sent
    second = renew.renew_contract(handed_on.contract_id, handed_on.as_of, repo, gateway, queue)

    assert (first.renewed, first.handed_on, second.renewed, second.handed_on) == (24, True, 7, False)
    assert repo.get_contract(GLOBEX).renewal_date == date(2027, 1, 15)
    assert len(kept()) == 31


# -- 8. below the provider's minimum: carried to the renewal ----------------------------------------------------------

def test_a_total_below_the_minimum_completes_now_and_is_charged_with_the_renewal(aws, seed_data):
    """Used to: 0.27 GBP went to the provider, which refused it: 503, forever."""
    globex = seed_data["accounts"][1]["contracts"][0]
    globex["subscriptions"][0]["unit_price"] = "0.50"
    seed_loader.load(bootstrap.repository(), seed_data)
    draft = new_draft(1, user="u-gina", contract_id=GLOBEX, subscription_id="sub-rvt")
    assert draft["total"] == "0.27"  # 0.50 × 16 ÷ 30, below GBP's 0.30

    status, order, _ = submit(draft["order_id"], user="u-gina")

    assert (status, order["status"], order["charge_id"]) == (200, "completed", None), order
    repo = bootstrap.repository()
    assert repo.get_order(order["order_id"]).carried_to_renewal
    assert str(repo.get_contract(GLOBEX).renewal_total) == "2.27"  # 4 seats × 0.50, and the 0.27 carried
    assert bootstrap.payment_gateway().list_charges() == []

    renew.renew_contract(GLOBEX, datetime(2026, 12, 15, 2, tzinfo=UTC), repo, bootstrap.payment_gateway())

    [renewal] = [o for o in repo.list_orders(GLOBEX) if o.type == "renewal"]
    assert [(c.order_id, str(c.amount)) for c in renewal.carried_over] == [(order["order_id"], "0.27")]
    assert str(renewal.total) == "2.27" and [str(c.amount) for c in kept()] == ["2.27"]
    assert repo.get_contract(GLOBEX).carried_over == []


# -- the worker: a message that is not a renewal message --------------------------------------------------------------

def test_a_batch_of_messages_that_are_not_renewal_messages_reports_each_as_failed(seeded):
    """Used to: a batch whose every record failed raised for the whole invocation."""
    assert worker(sqs_event("{not json", {"Hello": "from sam local generate-event"}), LambdaContext()) == {
        "batchItemFailures": [{"itemIdentifier": "msg-0"}, {"itemIdentifier": "msg-1"}]}

