"""Renewal (docs/api.md, Renewal) through RenewalSchedulerFunction and RenewalWorkerFunction, on moto."""

from __future__ import annotations

import copy
import dataclasses
import json
from datetime import UTC, date, datetime
from typing import Any

import boto3
import pytest

from functions.renewal_scheduler.app import lambda_handler as scheduler
from functions.renewal_worker.app import lambda_handler as worker
from infra import seed as seed_loader
from seats import bootstrap
from seats.adapters.dynamodb import keys
from seats.adapters.dynamodb.unit_of_work import UnitOfWork
from seats.adapters.queue import SqsRenewalQueue
from seats.domain.model import RenewalOrder, SeatOrder
from seats.domain.money import Money
from seats.domain.proration import Proration
from seats.services import renew, schedule
from seats.settings import get_settings
from tests.conftest import EVENTS, LambdaContext, http_event, invoke

ACME = "110000000001"  # annual, renews 2027-03-01, 10 × 1975.00 USD on pm_acme_visa
GLOBEX = "220000000001"  # monthly, renews 2026-12-15, 3 × 300.00 GBP
SQS_BATCH = json.loads((EVENTS / "renewal_sqs_batch.json").read_text())
SCHEDULE_EVENT = json.loads((EVENTS / "renewal_schedule.json").read_text())


# -- helpers -------------------------------------------------------------------------------------------

def add_contract(seed: dict[str, Any], contract_id: str, **fields: Any) -> dict[str, Any]:
    """Another Acme contract, by default like ACME (annual, 2026-03-01 → 2027-03-01, 10 seats)."""
    contract = copy.deepcopy(seed["accounts"][0]["contracts"][0])
    contract.update(contract_id=contract_id, **fields)
    for n, sub in enumerate(contract["subscriptions"]):
        sub["subscription_id"] = f"sub-{contract_id}-{n}"
    seed["accounts"][0]["contracts"].append(contract)
    return contract


@pytest.fixture
def seed(aws, seed_data):
    """The base seed plus Acme cards that decline and that time out; call it to load."""
    seed_data["accounts"][0]["payment_methods"] += [
        {"payment_method_id": "pm_acme_fail", "token": "tok_chargeCustomerFail"},
        {"payment_method_id": "pm_acme_slow", "token": "tok_timeoutAfterCapture"},
    ]

    def load(**contracts: dict[str, Any]) -> dict[str, Any]:
        for contract_id, fields in contracts.items():
            add_contract(seed_data, contract_id, **fields)
        seed_loader.load(bootstrap.repository(), seed_data)
        return seed_data

    return load


def sqs_event(*bodies: Any) -> dict[str, Any]:
    template = SQS_BATCH["Records"][0]
    records = []
    for n, body in enumerate(bodies):
        record = copy.deepcopy(template)
        record["messageId"] = f"msg-{n}"
        record["body"] = body if isinstance(body, str) else json.dumps(body)
        records.append(record)
    return {"Records": records}


def message(contract_id: str, day: str) -> dict[str, str]:
    return {"contract_id": contract_id, "as_of": f"{day}T02:00:00Z"}


def renew_on(day: str, *contract_ids: str) -> dict[str, Any]:
    """The worker's answer to one batch: a message per contract, as of 02:00 UTC on `day`."""
    return worker(sqs_event(*(message(c, day) for c in contract_ids or (ACME,))), LambdaContext())


def contract(contract_id: str = ACME):
    found = bootstrap.repository().get_contract(contract_id)
    assert found is not None
    return found


def charges(contract_id: str = ACME) -> list:
    """The provider's charges for the contract's renewals, oldest first (found through the ledger)."""
    repo = bootstrap.repository()

    def paid_for(charge: Any) -> str | None:
        payment = repo.get_payment(charge.idempotency_key.removeprefix("seats:payment:"))
        return payment.contract_id if payment else None

    return [c for c in bootstrap.payment_gateway().list_charges() if paid_for(c) == contract_id]


def payment_of(charge: Any) -> Any:
    return bootstrap.repository().get_payment(charge.idempotency_key.removeprefix("seats:payment:"))


def renewal_orders(contract_id: str = ACME) -> list[RenewalOrder]:
    orders = bootstrap.repository().list_orders(contract_id)
    return sorted((o for o in orders if o.type == "renewal"), key=lambda o: o.period.term_start)


def history(contract_id: str = ACME) -> list[str]:
    return sorted(e.type for e in bootstrap.repository().list_history(contract_id))


def change(contract_id: str, **fields: Any) -> None:
    repo = bootstrap.repository()
    record = repo.get_contract(contract_id)
    for name, value in fields.items():
        setattr(record, name, value)
    uow = repo.unit_of_work()
    uow.save_contract(record)
    uow.commit()


# -- a renewal -----------------------------------------------------------------------------------------

def test_an_auto_renewing_contract_is_charged_and_moves_one_term_on(seed, domain_events):
    seed()
    assert renew_on("2027-03-01") == {"batchItemFailures": []}
    renewed = contract()
    assert (renewed.term_start, renewed.renewal_date) == (date(2027, 3, 1), date(2028, 3, 1))
    assert (renewed.status, renewed.failed_renewal_attempts) == ("active", 0)
    [charge] = charges()
    assert (str(charge.amount), charge.amount.currency, charge.status) == ("19750.00", "USD", "succeeded")
    payment = payment_of(charge)  # recorded before the provider was called, settled with the renewal
    assert (payment.status, payment.purpose, payment.period, payment.off_session) == (
        "succeeded", "renewal", date(2027, 3, 1), True)
    [order] = renewal_orders()
    assert (order.status, order.charge_id, str(order.total)) == ("completed", charge.charge_id, "19750.00")
    assert (order.period.term_start, order.period.renewal_date, order.created_by) == (date(2027, 3, 1), date(2028, 3, 1), "system")
    assert [(line.subscription_id, line.seats, str(line.unit_price), str(line.amount)) for line in order.lines] == [
        ("sub-acad", 10, "1975.00", "19750.00")]
    assert history() == ["renewed"]
    [event] = domain_events()
    assert event["detail-type"] == "SubscriptionRenewed"
    assert event["detail"]["amount"] == "19750.00" and event["detail"]["renewal_date"] == "2028-03-01"
    assert "pm_acme_visa" not in json.dumps(event) and "4242" not in json.dumps(event)


def test_the_renewal_order_is_presented_with_its_lines_and_period(seed):
    from functions.list_contracts.app import lambda_handler as list_contracts

    seed()
    renew_on("2027-03-01")
    status, body, _ = invoke(list_contracts, http_event("GET", f"/contracts/{ACME}/orders"))
    assert status == 200
    [order] = body["orders"]
    assert (order["type"], order["status"], order["total"]) == ("renewal", "completed", "19750.00")
    assert order["lines"] == [{"subscription_id": "sub-acad", "seats": 10, "unit_price": "1975.00",
                               "amount": "19750.00"}]
    assert order["period"] == {"term_start": "2027-03-01", "renewal_date": "2028-03-01"}


def test_nothing_happens_before_the_renewal_date(seed):
    seed()
    renew_on("2027-02-28")
    assert (contract().renewal_date, contract().version, charges()) == (date(2027, 3, 1), 1, [])


def test_pending_reductions_are_applied_and_charged_at_the_lower_price(seed):
    from functions.change_seats.app import lambda_handler as change_seats

    seed()
    path = f"/contracts/{ACME}/subscriptions/sub-acad/pending-reduction"
    assert invoke(change_seats, http_event("PUT", path, body={"seats": 8}))[0] == 200
    renew_on("2027-03-01")
    sub = contract().subscription("sub-acad")
    assert (sub.seats, sub.pending_reduction, sub.assigned_seats) == (8, None, 7)
    assert [str(c.amount) for c in charges()] == ["15800.00"]
    assert renewal_orders()[0].lines[0].seats == 8
    events = bootstrap.repository().list_history(ACME)
    reduced = next(e for e in events if e.type == "seats_reduced")
    assert (reduced.subscription_id, reduced.details["seats_before"], reduced.details["seats_after"]) == (
        "sub-acad", 10, 8)
    assert reduced.actor == "system"
    # One write, one instant: newest first still reads the renewal before the reduction it applied.
    assert [e.type for e in events if e.type in ("renewed", "seats_reduced")] == ["renewed", "seats_reduced"]


def test_open_add_seats_drafts_are_cancelled_by_the_renewal(seed):
    seed()
    repo = bootstrap.repository()
    record = repo.get_contract(ACME)
    draft = SeatOrder(order_id="ord_draft1", status="draft", contract_id=ACME, account_id="acme",
                      currency="USD", total=Money.parse("100.00", "USD"), created_by="u-alice",
                      created_at=datetime(2026, 11, 29, tzinfo=UTC), subscription_id="sub-acad", product="AutoCAD",
                      seats_before=10, seats_to_add=1, seats_after=11, unit_price=Money.parse("1975.00", "USD"),
                      proration=Proration(92, 365), quoted_on=date(2026, 11, 29),
                      quote_expires_at=datetime(2026, 11, 30, tzinfo=UTC))
    record.subscription("sub-acad").open_order_id = draft.order_id
    uow = repo.unit_of_work()
    uow.save_order(draft)
    uow.save_contract(record)
    uow.commit()
    renew_on("2027-03-01")
    assert repo.get_order("ord_draft1").status == "cancelled"
    assert repo.get_order("ord_draft1").version == draft.version + 1
    assert contract().subscription("sub-acad").open_order_id is None
    assert history() == ["order_cancelled", "renewed"]


# -- term arithmetic -------------------------------------------------------------------------------------

def test_a_monthly_contract_anchored_on_the_31st_renews_on_each_month_end(seed):
    seed(**{"330000000031": dict(term="monthly", term_start="2026-12-31", renewal_date="2027-01-31",
                                 billing_anchor_day=31)})
    renew_on("2027-03-31", "330000000031")
    assert [(o.period.term_start, o.period.renewal_date) for o in renewal_orders("330000000031")] == [
        (date(2027, 1, 31), date(2027, 2, 28)),
        (date(2027, 2, 28), date(2027, 3, 31)),
        (date(2027, 3, 31), date(2027, 4, 30)),
    ]
    assert contract("330000000031").renewal_date == date(2027, 4, 30)


def test_an_annual_contract_anchored_on_february_29_keeps_it_in_leap_years(seed):
    seed(**{"330000000029": dict(term_start="2027-02-28", renewal_date="2028-02-29", billing_anchor_day=29)})
    renew_on("2028-02-29", "330000000029")
    assert contract("330000000029").renewal_date == date(2029, 2, 28)
    renew_on("2029-02-28", "330000000029")
    assert (contract("330000000029").term_start, contract("330000000029").renewal_date) == (
        date(2029, 2, 28), date(2030, 2, 28))


def test_a_three_year_contract_renews_for_three_years_at_its_full_price(seed):
    seed(**{"330000000036": dict(term="three_year", term_start="2024-03-01", renewal_date="2027-03-01")})
    renew_on("2027-03-01", "330000000036")
    assert contract("330000000036").renewal_date == date(2030, 3, 1)
    assert [str(c.amount) for c in charges("330000000036")] == ["19750.00"]


def test_missed_runs_renew_every_due_period_each_with_its_own_charge(seed):
    seed()
    renew_on("2027-03-20", GLOBEX)  # the monthly contract was due on 2026-12-15: four periods since
    assert contract(GLOBEX).renewal_date == date(2027, 4, 15)
    paid = charges(GLOBEX)
    assert sorted(payment_of(c).period.isoformat() for c in paid) == [
        "2026-12-15", "2027-01-15", "2027-02-15", "2027-03-15"]
    assert {(str(c.amount), c.amount.currency) for c in paid} == {("900.00", "GBP")}
    assert len(renewal_orders(GLOBEX)) == 4
    assert history(GLOBEX) == ["renewed"] * 4


# -- declines and the overdue timeline ---------------------------------------------------------------------

ANNUAL_TIMELINE = [("2027-03-01", "past_due"), ("2027-03-15", "past_due"), ("2027-03-16", "suspended"),
                   ("2027-04-14", "suspended"), ("2027-04-15", "cancelled")]


def test_a_declined_renewal_is_past_due_then_suspended_then_cancelled_from_day_45_without_a_charge(
        seed, domain_events):
    seed(**{"330000000001": dict(payment_method_id="pm_acme_fail")})
    seen = []
    for day, _ in ANNUAL_TIMELINE:
        renew_on(day, "330000000001")
        record = contract("330000000001")
        seen.append((day, record.status))
        assert (record.term_start, record.renewal_date) == (date(2026, 3, 1), date(2027, 3, 1))
    assert seen == ANNUAL_TIMELINE
    # Day 45 cancels the contract without touching the card: four attempts, not five.
    assert contract("330000000001").failed_renewal_attempts == 4
    assert [c.status for c in charges("330000000001")] == ["failed"] * 4
    assert history("330000000001") == ["renewal_payment_failed"] * 4 + ["status_changed"] * 3
    published = [e["detail-type"] for e in domain_events()]
    assert published.count("RenewalPaymentFailed") == 4 and published.count("ContractStatusChanged") == 3
    assert renewal_orders("330000000001") == []
    renew_on("2027-05-01", "330000000001")  # cancelled: attempts have stopped
    assert len(charges("330000000001")) == 4


def test_a_declined_monthly_renewal_is_cancelled_from_day_30(seed):
    seed(**{"330000000002": dict(term="monthly", term_start="2027-02-01", renewal_date="2027-03-01",
                                 payment_method_id="pm_acme_fail")})
    for day, status in [("2027-03-01", "past_due"), ("2027-03-16", "suspended"), ("2027-03-30", "suspended"),
                        ("2027-03-31", "cancelled")]:
        renew_on(day, "330000000002")
        assert contract("330000000002").status == status, day


def test_each_run_tries_again_and_a_later_success_renews_from_the_unpaid_date(seed):
    seed(**{"330000000003": dict(payment_method_id="pm_acme_fail")})
    renew_on("2027-03-01", "330000000003")
    renew_on("2027-03-02", "330000000003")
    visa = bootstrap.repository().get_payment_method("acme", "pm_acme_visa")
    change("330000000003", payment_method=visa)
    renew_on("2027-03-20", "330000000003")
    renewed = contract("330000000003")
    assert (renewed.status, renewed.failed_renewal_attempts) == ("active", 0)
    assert (renewed.term_start, renewed.renewal_date) == (date(2027, 3, 1), date(2028, 3, 1))
    assert sorted(c.status for c in charges("330000000003")) == ["failed", "failed", "succeeded"]
    assert len({c.idempotency_key for c in charges("330000000003")}) == 3  # a payment each
    assert history("330000000003").count("status_changed") == 2  # active → past_due → active


def test_a_contract_without_a_card_is_treated_as_declined(seed):
    seed(**{"330000000004": dict(payment_method_id=None)})
    renew_on("2027-03-01", "330000000004")
    record = contract("330000000004")
    assert (record.status, record.failed_renewal_attempts, charges("330000000004")) == ("past_due", 1, [])
    [failed] = [e for e in bootstrap.repository().list_history("330000000004") if e.type == "renewal_payment_failed"]
    assert failed.details["decline_code"] == "no_payment_method"


def test_an_expired_card_is_treated_as_declined_without_charging_it(seed):
    seed()
    expired = dataclasses.replace(contract().payment_method, exp_month=1, exp_year=2027)
    change(ACME, payment_method=expired)
    renew_on("2027-03-01")
    assert (contract().status, charges()) == ("past_due", [])
    [failed] = [e for e in bootstrap.repository().list_history(ACME) if e.type == "renewal_payment_failed"]
    assert failed.details["decline_code"] == "expired_card"


def test_a_contract_that_does_not_auto_renew_expires_then_is_suspended_then_cancelled(seed):
    seed(**{"330000000005": dict(auto_renew=False)})
    timeline = [("2027-02-28", "active"), ("2027-03-01", "expired"), ("2027-03-15", "expired"),
                ("2027-03-16", "suspended"), ("2027-04-15", "cancelled")]
    for day, status in timeline:
        renew_on(day, "330000000005")
        assert contract("330000000005").status == status, day
    assert charges("330000000005") == []
    assert history("330000000005") == ["status_changed"] * 3


def test_a_reseller_contract_is_never_touched(seed):
    seed(**{"330000000006": dict(purchase_channel="reseller", renewal_date="2027-01-01", term_start="2026-01-01")})
    before = contract("330000000006")
    renew_on("2027-06-01", "330000000006")
    assert contract("330000000006") == before
    assert (charges("330000000006"), history("330000000006")) == ([], [])


# -- exactly once ------------------------------------------------------------------------------------------

def test_the_same_message_delivered_twice_charges_once(seed):
    seed()
    event = sqs_event(message(ACME, "2027-03-01"))
    worker(event, LambdaContext())
    worker(event, LambdaContext())
    assert len(charges()) == 1
    assert contract().renewal_date == date(2028, 3, 1)


def test_a_crash_between_charge_and_write_is_completed_by_the_next_delivery_without_a_second_charge(
        seed, monkeypatch):
    seed()
    commit = UnitOfWork.commit
    commits = []

    def crash_once(self):  # the payment recorded, its provider id recorded, then the renewal: crash there
        commits.append(True)
        if len(commits) == 3:
            raise RuntimeError("worker crashed after the charge")
        return commit(self)

    monkeypatch.setattr(UnitOfWork, "commit", crash_once)
    event = sqs_event(message(ACME, "2027-03-01"), message(GLOBEX, "2026-11-01"))
    assert worker(event, LambdaContext()) == {"batchItemFailures": [{"itemIdentifier": "msg-0"}]}
    assert (len(charges()), contract().renewal_date) == (1, date(2027, 3, 1))
    assert worker(event, LambdaContext()) == {"batchItemFailures": []}
    assert (len(charges()), contract().renewal_date) == (1, date(2028, 3, 1))
    assert len(renewal_orders()) == 1


def test_a_provider_time_out_writes_nothing_and_the_retry_finds_the_captured_charge(seed):
    seed(**{"330000000007": dict(payment_method_id="pm_acme_slow")})
    event = sqs_event(message("330000000007", "2027-03-01"), message(GLOBEX, "2026-11-01"))
    assert worker(event, LambdaContext()) == {"batchItemFailures": [{"itemIdentifier": "msg-0"}]}
    pending = contract("330000000007")
    assert (pending.renewal_date, history("330000000007")) == (date(2027, 3, 1), [])
    assert bootstrap.repository().get_payment(pending.renewal_payment_id).status == "pending"
    worker(event, LambdaContext())
    assert contract("330000000007").renewal_date == date(2028, 3, 1)
    assert [c.status for c in charges("330000000007")] == ["succeeded"]


def test_two_workers_on_one_contract_charge_each_period_once(seed):
    seed()
    gateway = bootstrap.payment_gateway()
    as_of = datetime(2027, 3, 1, 2, tzinfo=UTC)
    outcomes: list[renew.RenewalOutcome] = []

    class AnotherWorkerMeanwhile:
        """The first worker's payment is confirmed; before it writes, a second worker runs the same message."""

        def confirm_payment(self, provider_ref, request):
            state = gateway.confirm_payment(provider_ref, request)
            if not outcomes:
                outcomes.append(renew.renew_contract(ACME, as_of, bootstrap.repository(), gateway))
            return state

        def __getattr__(self, name):
            return getattr(gateway, name)

    outcomes.append(renew.renew_contract(ACME, as_of, bootstrap.repository(), AnotherWorkerMeanwhile()))

    assert sorted(o.renewed for o in outcomes) == [0, 1]
    assert len(charges()) == 1
    assert (contract().renewal_date, len(renewal_orders()), history()) == (date(2028, 3, 1), 1, ["renewed"])


# -- the worker's batch ----------------------------------------------------------------------------------

def test_one_bad_message_is_reported_alone_in_batch_item_failures(seed):
    seed()
    event = sqs_event(message(ACME, "2027-03-01"), "{not json", {"contract_id": GLOBEX})
    assert worker(event, LambdaContext()) == {
        "batchItemFailures": [{"itemIdentifier": "msg-1"}, {"itemIdentifier": "msg-2"}]}
    assert contract().renewal_date == date(2028, 3, 1)


def test_the_sample_batch_renews_both_contracts(seed):
    seed()
    assert worker(copy.deepcopy(SQS_BATCH), LambdaContext()) == {"batchItemFailures": []}
    assert contract(ACME).renewal_date == date(2028, 3, 1)
    assert contract(GLOBEX).renewal_date == date(2027, 3, 15)


def test_a_message_for_an_unknown_contract_is_done_with(seed):
    seed()
    assert renew_on("2027-03-01", "999") == {"batchItemFailures": []}


def test_the_worker_counts_renewals_and_declines(seed, capsys):
    seed(**{"330000000008": dict(payment_method_id="pm_acme_fail")})
    renew_on("2027-03-01", ACME, "330000000008")
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    values = {name: blob[name] for blob in blobs for name in ("RenewalsSucceeded", "PaymentDeclines") if name in blob}
    assert values == {"RenewalsSucceeded": [1.0], "PaymentDeclines": [1.0]}


# -- the scheduler ---------------------------------------------------------------------------------------

@pytest.fixture
def renewal_queue(aws, monkeypatch):
    url = boto3.client("sqs").create_queue(QueueName="RenewalQueue")["QueueUrl"]
    monkeypatch.setenv("RENEWAL_QUEUE_URL", url)
    bootstrap.reset()

    def received() -> list[dict[str, Any]]:
        sqs, bodies = boto3.client("sqs"), []
        while found := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
            for item in found:
                bodies.append(json.loads(item["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=item["ReceiptHandle"])
        return bodies

    return received


def test_the_scheduler_enqueues_every_due_online_contract_including_missed_days(seed, renewal_queue):
    seed(**{
        "330000000010": dict(renewal_date="2027-02-20", term_start="2026-02-20"),  # a missed day
        "330000000011": dict(renewal_date="2027-03-02", term_start="2026-03-02"),  # not yet: its 2 notices now
        "330000000012": dict(purchase_channel="reseller"),
        "330000000013": dict(status="cancelled"),
    })
    answer = scheduler(SCHEDULE_EVENT, LambdaContext())
    assert answer == {"as_of": "2027-03-01T02:00:00.000Z", "due": 3, "enqueued": 3, "notices": 2}
    bodies = renewal_queue()
    assert sorted(b["contract_id"] for b in bodies) == sorted([ACME, GLOBEX, "330000000010"])
    assert {b["as_of"] for b in bodies} == {"2027-03-01T02:00:00.000Z"}


def test_the_scheduler_reads_only_the_due_and_notice_indexes(seed, renewal_queue):
    seed()
    operations: list[tuple[str, str | None]] = []

    def record(model, params, **_):
        operations.append((model.name, params.get("IndexName")))

    bootstrap.aws_client("dynamodb").meta.events.register("before-parameter-build.dynamodb.*", record)
    scheduler(SCHEDULE_EVENT, LambdaContext())
    assert operations.count(("Query", "DueIndex")) == keys.DUE_SHARDS
    assert operations.count(("Query", "NoticeIndex")) == keys.NOTICE_SHARDS * 2  # one range per lead: 30, 7
    assert set(operations) == {("Query", "DueIndex"), ("Query", "NoticeIndex")}  # no notice due: nothing read


def test_the_scheduler_sends_ten_messages_per_batch(seed, renewal_queue):
    shard = keys.due_shard(ACME)
    same_shard = [cid for cid in (f"4400000{n:05d}" for n in range(2000)) if keys.due_shard(cid) == shard][:11]
    seed(**{cid: {} for cid in same_shard})
    sizes: list[int] = []
    sqs = bootstrap.aws_client("sqs")
    sqs.meta.events.register("before-parameter-build.sqs.SendMessageBatch",
                             lambda params, **_: sizes.append(len(params["Entries"])))
    answer = schedule.enqueue_due_contracts(datetime(2027, 3, 1, 2, tzinfo=UTC), bootstrap.repository(),
                                            SqsRenewalQueue(sqs, get_settings().renewal_queue_url), shards=[shard])
    assert (answer["due"], answer["enqueued"], sizes) == (12, 12, [10, 2])
    assert len(renewal_queue()) == 12


def test_a_scheduler_run_then_its_messages_renew_the_contracts(seed, renewal_queue):
    seed()
    scheduler(SCHEDULE_EVENT, LambdaContext())
    bodies = renewal_queue()
    assert worker(sqs_event(*bodies), LambdaContext()) == {"batchItemFailures": []}
    assert scheduler(SCHEDULE_EVENT, LambdaContext())["due"] == 0


def test_an_event_without_a_time_runs_as_of_now(seed, renewal_queue):
    seed()
    answer = scheduler({}, LambdaContext())
    assert answer["as_of"] == "2026-11-29T10:00:00.000Z"  # SEATS_NOW
    assert answer["due"] == 0


def test_a_change_between_charge_and_write_is_written_over_with_the_same_charge(seed):
    seed()
    gateway = bootstrap.payment_gateway()
    mastercard = bootstrap.repository().get_payment_method("acme", "pm_acme_mc")

    class CardChangedMeanwhile:
        def confirm_payment(self, provider_ref, request):
            state = gateway.confirm_payment(provider_ref, request)
            change(ACME, payment_method=mastercard)  # the manager picks another card for next year
            return state

        def __getattr__(self, name):
            return getattr(gateway, name)

    outcome = renew.renew_contract(ACME, datetime(2027, 3, 1, 2, tzinfo=UTC), bootstrap.repository(),
                                   CardChangedMeanwhile())
    assert (outcome.renewed, len(charges())) == (1, 1)
    renewed = contract()
    assert (renewed.renewal_date, renewed.payment_method.payment_method_id) == (date(2028, 3, 1), "pm_acme_mc")
    assert renewal_orders()[0].payment_method.payment_method_id == "pm_acme_visa"  # the card charged


class SeatsAddedMeanwhile:
    """The sandbox, except that a submit lands between the first renewal charge and its write, and that
    the first refund can be made to die with the worker."""

    def __init__(self, refund_dies: bool = False) -> None:
        self.gateway = bootstrap.payment_gateway()
        self.confirmed = 0
        self.refund_dies = refund_dies

    def confirm_payment(self, provider_ref, request):
        state = self.gateway.confirm_payment(provider_ref, request)
        self.confirmed += 1
        if self.confirmed == 1:
            record = contract()
            record.subscriptions[0].seats += 2
            change(ACME, subscriptions=record.subscriptions)
        return state

    def refund(self, provider_ref, idempotency_key):
        if self.refund_dies:
            self.refund_dies = False
            raise RuntimeError("worker killed")
        self.gateway.refund(provider_ref, idempotency_key)

    def __getattr__(self, name):
        return getattr(self.gateway, name)


def test_a_seat_change_between_charge_and_write_refunds_that_charge_and_charges_the_new_total(seed):
    seed()
    before = contract().renewal_total
    outcome = renew.renew_contract(ACME, datetime(2027, 3, 1, 2, tzinfo=UTC), bootstrap.repository(),
                                   SeatsAddedMeanwhile())

    assert outcome.renewed == 1
    first, second = sorted(charges(), key=lambda c: c.status != "refunded")
    assert (first.amount, first.status) == (before, "refunded")
    assert (second.amount, second.status) == (contract().renewal_total - renewal_orders()[0].total + second.amount,
                                              "succeeded")
    assert renewal_orders()[0].total == second.amount and renewal_orders()[0].charge_id == second.charge_id
    assert payment_of(first).status == "refunded" and "payment_refunded" in history()


def test_a_refund_cut_short_by_a_crash_is_made_by_the_next_run(seed):
    seed()
    as_of = datetime(2027, 3, 1, 2, tzinfo=UTC)
    with pytest.raises(RuntimeError):
        renew.renew_contract(ACME, as_of, bootstrap.repository(), SeatsAddedMeanwhile(refund_dies=True))
    [stale] = charges()
    assert stale.status == "succeeded" and payment_of(stale).status == "refunding"  # owed back, recorded

    outcome = renew.renew_contract(ACME, as_of, bootstrap.repository(), bootstrap.payment_gateway())

    assert outcome.renewed == 1 and contract().renewal_date == date(2028, 3, 1)
    stale, fresh = sorted(charges(), key=lambda c: c.status != "refunded")
    assert (stale.status, payment_of(stale).status, fresh.status) == ("refunded", "refunded", "succeeded")
