"""POST /contracts/{id}/renewal-payment (PAY NOW) through SubmitOrderFunction, with the nightly run through
RenewalWorkerFunction, on moto: the unpaid period charged once, whoever charges it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest

from functions.renewal_worker.app import lambda_handler as renew_worker
from functions.set_payment.app import lambda_handler as set_payment
from functions.submit_order.app import lambda_handler as submit_order
from infra import seed as seed_loader
from seats import bootstrap
from seats.services import renew
from tests.conftest import LambdaContext, http_event, invoke
from tests.integration.test_renewal import (
    add_contract,
    charges,
    message,
    payment_of,
    renewal_orders,
    sqs_event,
)

ACME = "110000000001"  # annual, renews 2027-03-01, 10 × 1975.00 USD
GLOBEX = "220000000001"  # monthly, renews 2026-12-15, managed by u-gina
SECOND = "330000000001"  # another Acme contract u-alice manages, like ACME
MONTH_END = "330000000031"  # monthly, anchored on the 31st: renews 2027-01-31, then 2027-02-28
NOT_RENEWING = "330000000002"  # like ACME, auto-renew off
MANAGER, PRIMARY_ADMIN, OUTSIDER = "u-alice", "u-paula", "u-gina"


@pytest.fixture
def patch(aws: None) -> Iterator[pytest.MonkeyPatch]:
    """Patches undone before moto stops (and before `bootstrap.reset()`)."""
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@pytest.fixture
def world(aws, seed_data, patch) -> dict[str, Any]:
    """The base seed, Acme's contracts paid with a declining card, plus cards that decline and time out."""
    acme = seed_data["accounts"][0]
    acme["payment_methods"] += [
        {"payment_method_id": "pm_acme_fail", "token": "tok_chargeCustomerFail"},
        {"payment_method_id": "pm_acme_poor", "token": "tok_chargeDeclinedInsufficientFunds"},
        {"payment_method_id": "pm_acme_slow", "token": "tok_timeoutAfterCapture"},
    ]
    acme["contracts"][0]["payment_method_id"] = "pm_acme_fail"
    add_contract(seed_data, SECOND, payment_method_id="pm_acme_fail")
    add_contract(seed_data, MONTH_END, term="monthly", term_start="2026-12-31", renewal_date="2027-01-31",
                 billing_anchor_day=31, payment_method_id="pm_acme_fail")
    add_contract(seed_data, NOT_RENEWING, auto_renew=False, payment_method_id="pm_acme_visa")
    seed_data["accounts"][1]["payment_methods"].append(
        {"payment_method_id": "pm_globex_fail", "token": "tok_chargeCustomerFail"})
    seed_data["accounts"][1]["contracts"][0]["payment_method_id"] = "pm_globex_fail"
    seed_loader.load(bootstrap.repository(), seed_data)
    return seed_data


def at(patch: pytest.MonkeyPatch, instant: str) -> None:
    """Now is `instant` (SEATS_NOW) for every function from here on."""
    patch.setenv("SEATS_NOW", instant)
    bootstrap.reset()


def nightly(patch: pytest.MonkeyPatch, day: str, contract_id: str = ACME) -> dict[str, Any]:
    """The nightly run's message for the contract, delivered at 02:00 UTC on `day`."""
    at(patch, f"{day}T02:00:00Z")
    return renew_worker(sqs_event(message(contract_id, day)), LambdaContext())


def pay_now(contract_id: str = ACME, key: str | None = "pay-1", *, user: str = MANAGER) -> tuple[int, Any, dict]:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return invoke(submit_order, http_event("POST", f"/contracts/{contract_id}/renewal-payment", user=user,
                                           headers=headers))


def change_card(payment_method_id: str, contract_id: str = ACME, user: str = MANAGER) -> None:
    status, body, _ = invoke(set_payment, http_event("PUT", f"/contracts/{contract_id}/payment-method", user=user,
                                                     body={"payment_method_id": payment_method_id}))
    assert status == 200, body


def contract(contract_id: str = ACME):
    found = bootstrap.repository().get_contract(contract_id)
    assert found is not None
    return found


def statuses(contract_id: str = ACME) -> list[str]:
    return [c.status for c in charges(contract_id)]


def history(contract_id: str = ACME) -> list[str]:
    return sorted(e.type for e in bootstrap.repository().list_history(contract_id))


def declined_overnight(patch: pytest.MonkeyPatch, day: str = "2027-03-01", contract_id: str = ACME) -> None:
    nightly(patch, day, contract_id)
    assert (contract(contract_id).status, statuses(contract_id)) == ("past_due", ["failed"])


# -- paying now -----------------------------------------------------------------------------------------

def test_after_a_decline_and_a_card_change_paying_now_the_same_day_renews_the_contract(world, patch, outbox):
    declined_overnight(patch)
    at(patch, "2027-03-01T10:00:00Z")
    change_card("pm_acme_visa")

    status, body, headers = pay_now()

    assert status == 200 and headers["Content-Type"] == "application/json"
    assert (body["status"], body["term_start"], body["renewal_date"]) == ("active", "2027-03-01", "2028-03-01")
    assert body["payment_method"]["payment_method_id"] == "pm_acme_visa" and body["can_manage"] is True
    failed, paid = charges()
    assert (failed.status, paid.status, str(paid.amount)) == ("failed", "succeeded", "19750.00")
    payment = payment_of(paid)
    assert (payment.status, payment.period, payment.off_session) == ("succeeded", date(2027, 3, 1), False)
    [order] = renewal_orders()
    assert (order.charge_id, order.payment_method.payment_method_id, order.payment_id) == (
        paid.charge_id, "pm_acme_visa", payment.payment_id)
    renewed = contract()
    assert (renewed.failed_renewal_attempts, renewed.renewal_attempted_on, renewed.renewal_payment_id) == (0, None, None)
    assert history().count("renewed") == 1 and history().count("status_changed") == 2  # active → past_due → active
    assert [t for t, _ in outbox()].count("SubscriptionRenewed") == 1


def test_the_same_key_replays_the_answer_without_a_second_charge_and_a_new_key_has_nothing_due(world, patch):
    declined_overnight(patch)
    at(patch, "2027-03-01T10:00:00Z")
    change_card("pm_acme_visa")
    first = pay_now(key="once")

    status, body, headers = pay_now(key="once")

    assert (status, body) == (200, first[1]) and headers.get("Idempotent-Replayed") == "true"
    assert statuses() == ["failed", "succeeded"]
    status, problem, headers = pay_now(key="twice")
    assert (status, problem["code"], headers["Content-Type"]) == (409, "nothing_due", "application/problem+json")
    assert statuses() == ["failed", "succeeded"] and contract().renewal_date == date(2028, 3, 1)


def test_the_same_key_still_gets_the_renewed_contract_when_the_first_answer_was_lost_after_the_write(world, patch):
    declined_overnight(patch)
    at(patch, "2027-03-01T10:00:00Z")
    change_card("pm_acme_visa")
    assert pay_now(key="lost-answer")[0] == 200
    # The answer never reached the client and its idempotency record was not kept (a time-out, or the
    # record's final write failed): the retry runs again and must not be told nothing_due.
    ddb = bootstrap.aws_client("dynamodb")
    for item in ddb.scan(TableName="IdempotencyTable")["Items"]:
        ddb.delete_item(TableName="IdempotencyTable", Key={"id": item["id"]})

    status, body, _ = pay_now(key="lost-answer")

    assert (status, body["status"], body["renewal_date"]) == (200, "active", "2028-03-01")
    assert statuses() == ["failed", "succeeded"]
    assert pay_now(key="someone-else")[1]["code"] == "nothing_due"


def test_paying_now_charges_every_unpaid_period_oldest_first_one_charge_each(world, patch):
    declined_overnight(patch, "2027-01-31", MONTH_END)  # unpaid from 2027-01-31; 2027-02-28 is due too on day 28
    at(patch, "2027-02-28T01:00:00Z")
    change_card("pm_acme_visa", MONTH_END)

    status, body, _ = pay_now(MONTH_END)

    assert (status, body["status"], body["renewal_date"]) == (200, "active", "2027-03-31")
    paid = sorted((c for c in charges(MONTH_END) if c.status == "succeeded"), key=lambda c: payment_of(c).period)
    assert [payment_of(c).period for c in paid] == [date(2027, 1, 31), date(2027, 2, 28)]  # a charge each
    assert [(o.period.term_start, o.charge_id) for o in renewal_orders(MONTH_END)] == [
        (date(2027, 1, 31), paid[0].charge_id), (date(2027, 2, 28), paid[1].charge_id)]


# -- nothing to pay ----------------------------------------------------------------------------------------

def test_an_active_contract_has_nothing_due(world):
    status, problem, _ = pay_now()

    assert (status, problem["code"]) == (409, "nothing_due")
    assert charges() == [] and contract().version == 1


def test_a_contract_that_does_not_auto_renew_has_nothing_due(world, patch):
    nightly(patch, "2027-03-01", NOT_RENEWING)
    assert contract(NOT_RENEWING).status == "expired"
    at(patch, "2027-03-01T10:00:00Z")

    status, problem, _ = pay_now(NOT_RENEWING)

    assert (status, problem["code"]) == (409, "nothing_due")
    assert charges(NOT_RENEWING) == [] and contract(NOT_RENEWING).status == "expired"


# -- who may pay ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("user", "contract_id", "answer"), [
    (PRIMARY_ADMIN, ACME, (403, "not_contract_manager")),
    (OUTSIDER, ACME, (404, "contract_not_found")),
    ("u-nobody", ACME, (404, "contract_not_found")),
    (MANAGER, "990000000009", (404, "contract_not_found")),
])
def test_only_the_contract_manager_may_pay(world, patch, user, contract_id, answer):
    declined_overnight(patch)
    at(patch, "2027-03-01T10:00:00Z")

    status, problem, _ = pay_now(contract_id, user=user)

    assert (status, problem["code"]) == answer
    assert statuses() == ["failed"] and contract().status == "past_due"


# -- declines, the cancellation day -------------------------------------------------------------------------

def test_a_declining_card_is_402_with_its_decline_code_and_the_nightly_run_that_day_tries_no_more(
        world, patch, outbox):
    declined_overnight(patch)
    at(patch, "2027-03-02T01:00:00Z")
    change_card("pm_acme_poor")

    status, problem, headers = pay_now()

    assert (status, problem["code"], problem["decline_code"]) == (402, "payment_declined", "insufficient_funds")
    assert headers["Content-Type"] == "application/problem+json"
    unpaid = contract()
    assert (unpaid.status, unpaid.renewal_attempted_on, unpaid.failed_renewal_attempts) == (
        "past_due", date(2027, 3, 2), 2)
    assert statuses() == ["failed", "failed"] and payment_of(charges()[1]).off_session is False
    assert [d["decline_code"] for t, d in outbox() if t == "RenewalPaymentFailed"] == [
        "card_declined", "insufficient_funds"]
    assert nightly(patch, "2027-03-02") == {"batchItemFailures": []}
    assert statuses() == ["failed", "failed"]  # the day's attempt was made


@pytest.mark.parametrize(("contract_id", "user", "declined_on", "cancellation_day"), [
    (ACME, MANAGER, "2027-03-01", "2027-04-15"),  # annual: day 45
    (GLOBEX, OUTSIDER, "2026-12-15", "2027-01-14"),  # monthly: day 30
])
def test_from_the_cancellation_day_the_contract_is_cancelled_and_nothing_is_charged(
        world, patch, contract_id, user, declined_on, cancellation_day):
    declined_overnight(patch, declined_on, contract_id)
    at(patch, f"{cancellation_day}T01:00:00Z")

    status, problem, _ = pay_now(contract_id, user=user)

    assert (status, problem["code"]) == (409, "contract_not_active")
    assert contract(contract_id).status == "cancelled" and statuses(contract_id) == ["failed"]
    [changed] = [e for e in bootstrap.repository().list_history(contract_id)
                 if e.type == "status_changed" and e.details["to"] == "cancelled"]
    assert changed.details["reason"] == "not_renewed"


def test_the_day_before_the_cancellation_day_a_suspended_contract_can_still_be_paid(world, patch):
    declined_overnight(patch)
    nightly(patch, "2027-03-20")
    assert contract().status == "suspended"
    at(patch, "2027-04-14T10:00:00Z")
    change_card("pm_acme_visa")

    status, body, _ = pay_now()

    assert (status, body["status"], body["term_start"]) == (200, "active", "2027-03-01")
    assert statuses() == ["failed", "failed", "succeeded"]


# -- the provider, and the nightly run racing -----------------------------------------------------------------

def test_a_provider_time_out_is_503_and_the_same_key_then_renews_with_the_one_charge(world, patch):
    declined_overnight(patch)
    at(patch, "2027-03-01T10:00:00Z")
    change_card("pm_acme_slow")

    status, problem, _ = pay_now(key="retry-me")
    assert (status, problem["code"]) == (503, "payment_provider_unavailable")
    assert contract().status == "past_due" and statuses() == ["failed", "succeeded"]  # captured, not yet known

    status, body, _ = pay_now(key="retry-me")

    assert (status, body["status"]) == (200, "active")
    assert statuses() == ["failed", "succeeded"] and len(renewal_orders()) == 1


class NightlyRunMeanwhile:
    """The sandbox, except that while PAY NOW's payment is being confirmed, the nightly run renews the
    same contract (it resumes the payment the contract points to)."""

    def __init__(self, as_of: datetime) -> None:
        self.gateway = bootstrap.payment_gateway()
        self.as_of = as_of
        self.outcomes: list[renew.RenewalOutcome] = []

    def confirm_payment(self, provider_ref, request):
        state = self.gateway.confirm_payment(provider_ref, request)
        if not self.outcomes:
            self.outcomes.append(renew.renew_contract(ACME, self.as_of, bootstrap.repository(), self.gateway))
        return state

    def __getattr__(self, name):
        return getattr(self.gateway, name)


def test_the_nightly_run_renewing_while_pay_now_charges_leaves_one_charge(world, patch):
    declined_overnight(patch)
    at(patch, "2027-03-02T02:00:00Z")
    change_card("pm_acme_visa")
    meanwhile = NightlyRunMeanwhile(datetime(2027, 3, 2, 2, tzinfo=UTC))
    patch.setattr(bootstrap, "payment_gateway", lambda: meanwhile)

    status, body, _ = pay_now()

    assert (status, body["status"], body["renewal_date"]) == (200, "active", "2028-03-01")
    assert [o.renewed for o in meanwhile.outcomes] == [1]  # the nightly run recorded it; PAY NOW found it done
    assert statuses() == ["failed", "succeeded"] and len(renewal_orders()) == 1
    assert history().count("renewed") == 1


def test_pay_now_while_the_nightly_run_charges_leaves_one_charge(world, patch):
    declined_overnight(patch)
    at(patch, "2027-03-02T02:00:00Z")
    change_card("pm_acme_visa")
    gateway = bootstrap.payment_gateway()
    answers: list[tuple[int, Any, dict]] = []

    class PayNowMeanwhile:
        def confirm_payment(self, provider_ref, request):
            state = gateway.confirm_payment(provider_ref, request)
            if not answers:
                answers.append(pay_now())  # the manager pays while the nightly run's charge is confirmed
            return state

        def __getattr__(self, name):
            return getattr(gateway, name)

    outcome = renew.renew_contract(ACME, datetime(2027, 3, 2, 2, tzinfo=UTC), bootstrap.repository(),
                                   PayNowMeanwhile())

    [(status, body, _)] = answers
    assert (status, body["status"]) == (200, "active")  # PAY NOW resumed the nightly run's payment
    assert outcome.renewed == 0 and statuses() == ["failed", "succeeded"] and len(renewal_orders()) == 1
    assert payment_of(charges()[1]).off_session is True  # the nightly run's payment, taken once


# -- the Idempotency-Key -----------------------------------------------------------------------------------

def test_a_missing_key_is_required(world, patch):
    declined_overnight(patch)
    at(patch, "2027-03-01T10:00:00Z")

    status, problem, _ = pay_now(key=None)

    assert (status, problem["code"]) == (400, "idempotency_key_required")
    assert statuses() == ["failed"]


def test_the_same_key_on_another_contract_or_route_is_refused(world, patch):
    declined_overnight(patch)
    declined_overnight(patch, contract_id=SECOND)
    at(patch, "2027-03-01T10:00:00Z")
    assert pay_now(ACME, key="shared")[1]["code"] == "payment_declined"

    status, problem, _ = pay_now(SECOND, key="shared")

    assert (status, problem["code"]) == (422, "idempotency_key_reused")
    assert statuses(SECOND) == ["failed"] and contract(SECOND).failed_renewal_attempts == 1
    submitted = invoke(submit_order, http_event("POST", "/orders/ord_unknown/submit",
                                                headers={"Idempotency-Key": "shared"}))
    assert (submitted[0], submitted[1]["code"]) == (422, "idempotency_key_reused")
