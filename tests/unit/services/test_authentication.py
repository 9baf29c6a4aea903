"""3-D Secure on the in-memory repository and sandbox provider (services/authentication.py, settlement.py,
webhooks.py): a payment that waits for the cardholder leaves its order payment_pending, and the provider's
webhook or the reconciler settles it exactly once: completed when the money is there, reopened otherwise."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from seats.adapters.payments.sandbox import NotAwaitingAuthentication
from seats.adapters.payments.webhooks import payment_event
from seats.domain.errors import OrderNotDraft, PaymentProviderUnavailable
from seats.domain.model import RenewalOrder
from seats.services import add_seats, ledger, submit
from seats.services.pay_now import pay_renewal_now
from seats.services.payment_methods import set_order_payment_method
from seats.services.ports import PaymentEvent
from seats.services.reconcile import reconcile_payments
from seats.services.renew import renew_contract
from seats.services.webhooks import on_payment_event
from tests.conftest import NOW
from tests.fakes import CompetingWrites, Meanwhile, kept_charges, refunded_charges
from tests.unit.services.support import (
    ACME,
    MANAGER,
    SUBSCRIPTION,
    change_contract,
    contract,
    die,
    pay_with,
    payment_of,
    payments,
    seat_order,
    seats,
    store_card,
)

AT = datetime.fromisoformat(NOW.replace("Z", "+00:00"))
SCA = "tok_threeDSecure2Required"


@pytest.fixture
def pending(repo, gateway):
    """A draft for 2 seats paid with a card that asks for 3-D Secure, submitted once: payment_pending."""
    draft = add_seats.create_draft(repo, ACME, SUBSCRIPTION, 2, MANAGER)
    pay_with(repo, gateway, draft.order_id, SCA)
    return submit.submit(repo, gateway, draft.order_id, MANAGER, submit_key="first")


def webhook(repo: Any, gateway: Any, charge_id: str, success: bool | None, at: datetime = AT) -> str:
    """The cardholder passes or fails the challenge (None: nothing happens at the bank), then the provider's
    event about it, as the sandbox makes it, reaches the webhook."""
    if success is not None:
        gateway.authenticate(charge_id, success)
    event = payment_event(gateway.notification(charge_id, int(at.timestamp())))
    return on_payment_event(repo, gateway, event, at)


def events_of(repo: Any, detail_type: str) -> list[dict[str, Any]]:
    return [detail for kind, detail in repo.events() if kind == detail_type]


# -- submit ----------------------------------------------------------------------------------------------------

def test_a_card_needing_authentication_leaves_the_order_payment_pending_with_its_action(repo, gateway, pending):
    action = pending.payment_action
    waiting = payment_of(repo, pending.order_id)
    [charge] = gateway.list_charges()

    assert (pending.status, seats(repo), pending.charge_id) == ("payment_pending", 10, None)
    assert action is not None and (action.type, action.charge_id) == ("authenticate", charge.charge_id)
    assert action.client_secret is not None and action.client_secret.startswith(f"{charge.charge_id}_secret_")
    assert action.expires_at == AT + timedelta(hours=23) == waiting.expires_at
    assert (waiting.status, waiting.unsettled, charge.status) == ("requires_action", True, "requires_action")
    assert seat_order(repo, pending.order_id) == pending


def test_submitting_a_pending_order_again_answers_the_same_action_and_charges_nothing(repo, gateway, pending):
    again = submit.submit(repo, gateway, pending.order_id, MANAGER, submit_key="another key")

    assert (again.status, again.payment_action) == ("payment_pending", pending.payment_action)
    assert len(gateway.list_charges()) == 1 and len(payments(repo)) == 1


def test_a_pending_order_cannot_be_edited_nor_given_another_card(repo, gateway, pending):
    card = store_card(repo, "pm_other")
    with pytest.raises(OrderNotDraft):
        add_seats.update_draft(repo, gateway, pending.order_id, 3, MANAGER)
    with pytest.raises(OrderNotDraft):
        set_order_payment_method(repo, gateway, pending.order_id, card.payment_method_id, MANAGER)
    assert seat_order(repo, pending.order_id) == pending


def test_off_session_the_same_card_is_declined_authentication_required(repo, gateway):
    change_contract(repo, payment_method=store_card(repo, "pm_sca", SCA), renewal_date=date(2026, 11, 29),
                    term_start=date(2025, 11, 29))

    outcome = renew_contract(ACME, AT, repo, gateway)

    assert (outcome.declines, outcome.decline_code, outcome.status) == (1, "authentication_required", "past_due")
    assert [c.status for c in gateway.list_charges()] == ["failed"]


# -- the webhook -------------------------------------------------------------------------------------------------

def test_authenticated_the_webhook_completes_the_order_once_with_one_charge(repo, gateway, pending):
    charge_id = pending.payment_action.charge_id

    first = webhook(repo, gateway, charge_id, success=True)
    second = webhook(repo, gateway, charge_id, success=None)  # the same event delivered again

    done = seat_order(repo, pending.order_id)
    assert (first, second) == ("completed", "already_settled")
    assert (done.status, done.charge_id, done.payment_action, seats(repo)) == ("completed", charge_id, None, 12)
    assert payment_of(repo, pending.order_id).status == "succeeded"
    assert [c.charge_id for c in kept_charges(gateway)] == [charge_id]
    [added] = events_of(repo, "SeatsAdded")
    assert (added["order_id"], added["seats_after"], added["charge_id"]) == (pending.order_id, 12, charge_id)
    assert contract(repo).subscription(SUBSCRIPTION).open_order_id is None


def test_a_failed_authentication_returns_the_order_to_draft_and_a_new_submit_tries_again(repo, gateway, pending):
    charge_id = pending.payment_action.charge_id

    assert webhook(repo, gateway, charge_id, success=False) == "failed"

    draft = seat_order(repo, pending.order_id)
    error = draft.last_payment_error
    assert (draft.status, draft.payment_action, draft.payment_id, draft.payment_attempt) == ("draft", None, None, 1)
    assert error is not None and (error.code, error.decline_code) == ("payment_declined", "authentication_failed")
    assert [p.status for p in payments(repo)] == ["failed"] and seats(repo) == 10 and kept_charges(gateway) == []
    retried = submit.submit(repo, gateway, pending.order_id, MANAGER, submit_key="second")
    assert retried.status == "payment_pending" and retried.payment_action.charge_id != charge_id


def test_events_that_are_not_ours_or_not_outcomes_change_nothing(repo, gateway, pending):
    charge_id = pending.payment_action.charge_id
    waiting = payment_of(repo, pending.order_id)
    events = [
        PaymentEvent("evt_1", "payment_intent.succeeded", "pi_unknown", None),
        PaymentEvent("evt_2", "payment_intent.succeeded", "pi_other", waiting.payment_id),  # id does not match
        PaymentEvent("evt_3", "payment_intent.created", charge_id, waiting.payment_id),
        PaymentEvent("evt_4", "charge.refunded", charge_id, waiting.payment_id),
    ]

    answers = [on_payment_event(repo, gateway, event, AT) for event in events]

    assert answers == ["unknown", "unknown", "ignored", "ignored"]
    assert seat_order(repo, pending.order_id) == pending and payment_of(repo, pending.order_id) == waiting


def test_an_outcome_event_before_the_cardholder_acted_leaves_the_order_waiting(repo, gateway, pending):
    assert webhook(repo, gateway, pending.payment_action.charge_id, success=None) == "waiting"
    assert seat_order(repo, pending.order_id) == pending


def test_a_payment_not_waiting_for_the_cardholder_is_left_to_its_own_request(repo, gateway):
    draft = add_seats.create_draft(repo, ACME, SUBSCRIPTION, 1, MANAGER)
    pay_with(repo, gateway, draft.order_id, "tok_visa")
    done = submit.submit(repo, gateway, draft.order_id, MANAGER)
    paid = payment_of(repo, done.order_id)

    event = payment_event(gateway.notification(done.charge_id, int(AT.timestamp())))

    assert on_payment_event(repo, gateway, event, AT) == "already_settled"
    assert payment_of(repo, done.order_id) == paid and len(events_of(repo, "SeatsAdded")) == 1


def test_the_sandbox_authenticates_only_a_payment_waiting_for_it(repo, gateway, pending):
    gateway.authenticate(pending.payment_action.charge_id, True)
    with pytest.raises(NotAwaitingAuthentication):
        gateway.authenticate(pending.payment_action.charge_id, True)
    with pytest.raises(NotAwaitingAuthentication):
        gateway.authenticate("ch_sandbox_unknown", False)


# -- cancelling, expiring ------------------------------------------------------------------------------------------

def test_cancelling_a_pending_order_cancels_its_payment(repo, gateway, pending):
    cancelled = add_seats.cancel_draft(repo, gateway, pending.order_id, MANAGER)

    [charge] = gateway.list_charges()
    assert (cancelled.status, cancelled.payment_action, charge.status) == ("cancelled", None, "canceled")
    assert [p.status for p in payments(repo)] == ["failed"] and seats(repo) == 10
    assert webhook(repo, gateway, charge.charge_id, success=None) == "already_settled"


def test_cancelled_after_the_cardholder_authenticated_the_money_is_refunded(repo, gateway, pending):
    gateway.authenticate(pending.payment_action.charge_id, True)  # its webhook not yet delivered

    add_seats.cancel_draft(repo, gateway, pending.order_id, MANAGER)

    assert [c.charge_id for c in refunded_charges(gateway)] == [pending.payment_action.charge_id]
    assert kept_charges(gateway) == [] and seats(repo) == 10
    assert webhook(repo, gateway, pending.payment_action.charge_id, success=None) == "already_settled"


def test_the_reconciler_leaves_a_waiting_payment_alone_until_it_expires_then_cancels_it(repo, gateway, pending):
    early = reconcile_payments(AT + timedelta(hours=22, minutes=59), repo, gateway)
    assert (early.examined, early.oldest_unsettled) == (0, None)
    assert seat_order(repo, pending.order_id) == pending

    late = reconcile_payments(AT + timedelta(hours=23), repo, gateway)

    draft = seat_order(repo, pending.order_id)
    assert (late.examined, late.failed) == (1, 1)
    assert (draft.status, draft.payment_action, draft.last_payment_error.code) == (
        "draft", None, "authentication_expired")
    assert [c.status for c in gateway.list_charges()] == ["canceled"]
    assert [(p.status, p.decline_code) for p in payments(repo)] == [("failed", "authentication_expired")]


def test_at_expiry_an_authenticated_payment_whose_webhook_was_lost_completes(repo, gateway, pending):
    gateway.authenticate(pending.payment_action.charge_id, True)

    late = reconcile_payments(AT + timedelta(hours=23), repo, gateway)

    assert late.completed == 1 and seat_order(repo, pending.order_id).status == "completed" and seats(repo) == 12


def test_the_renewal_cancels_a_pending_order_and_its_payment(repo, gateway, pending, clock_at):
    clock_at("2027-03-01T02:00:00Z")

    renew_contract(ACME, datetime(2027, 3, 1, 2, tzinfo=UTC), repo, gateway)

    assert seat_order(repo, pending.order_id).status == "cancelled"
    assert [c.status for c in gateway.list_charges() if c.charge_id == pending.payment_action.charge_id] == [
        "canceled"]


# -- paying a renewal now --------------------------------------------------------------------------------------------

@pytest.fixture
def past_due(repo, gateway, clock_at):
    """ACME declined authentication_required by the nightly run of 2027-03-01 (its card asks for 3-D Secure)."""
    change_contract(repo, payment_method=store_card(repo, "pm_sca", SCA))
    clock_at("2027-03-01T02:00:00Z")
    assert renew_contract(ACME, datetime(2027, 3, 1, 2, tzinfo=UTC), repo, gateway).decline_code == \
        "authentication_required"
    clock_at("2027-03-01T10:00:00Z")
    return repo


def pay_now(repo: Any, gateway: Any, key: str = "k1") -> Any:
    return pay_renewal_now(repo, gateway, ACME, MANAGER, datetime(2027, 3, 1, 10, tzinfo=UTC), request_key=key)


def test_paying_now_with_authentication_renews_once_the_webhook_says_so(past_due, gateway):
    waiting = pay_now(past_due, gateway)
    again = pay_now(past_due, gateway, key="k2")
    nightly = renew_contract(ACME, datetime(2027, 3, 2, 2, tzinfo=UTC), past_due, gateway)

    assert isinstance(waiting, RenewalOrder) and (waiting.status, waiting.type) == ("payment_pending", "renewal")
    assert again == waiting and nightly.declines == 0 and contract(past_due).status == "past_due"
    assert waiting.period.term_start == date(2027, 3, 1) and waiting.payment_action is not None

    assert webhook(past_due, gateway, waiting.payment_action.charge_id, True, datetime(2027, 3, 1, 10, 5,
                                                                                         tzinfo=UTC)) == "completed"

    renewed = contract(past_due)
    [order] = [o for o in past_due.list_orders(ACME) if isinstance(o, RenewalOrder)]
    assert (renewed.status, renewed.renewal_date) == ("active", date(2028, 3, 1))
    assert (order.order_id, order.status, order.charge_id, order.payment_action) == (
        waiting.order_id, "completed", waiting.payment_action.charge_id, None)
    assert len(kept_charges(gateway)) == 1 and len(events_of(past_due, "SubscriptionRenewed")) == 1


def test_a_failed_authentication_of_a_renewal_cancels_its_order_and_keeps_the_timeline(past_due, gateway):
    before = contract(past_due)
    waiting = pay_now(past_due, gateway)

    assert webhook(past_due, gateway, waiting.payment_action.charge_id, False) == "failed"

    [order] = [o for o in past_due.list_orders(ACME) if isinstance(o, RenewalOrder)]
    after = contract(past_due)
    assert (order.status, order.payment_action) == ("cancelled", None)
    assert (after.status, after.renewal_date, after.failed_renewal_attempts) == (
        before.status, before.renewal_date, before.failed_renewal_attempts)
    assert kept_charges(gateway) == []


def test_authenticated_after_the_contract_was_cancelled_the_money_is_refunded_and_the_order_cancelled(
        past_due, gateway, clock_at):
    waiting = pay_now(past_due, gateway)
    clock_at("2027-04-15T02:00:00Z")  # day 45: the nightly run cancels the unpaid contract
    renew_contract(ACME, datetime(2027, 4, 15, 2, tzinfo=UTC), past_due, gateway)
    assert contract(past_due).status == "cancelled"

    assert webhook(past_due, gateway, waiting.payment_action.charge_id, True,
                   datetime(2027, 4, 15, 3, tzinfo=UTC)) == "refunded"

    [order] = [o for o in past_due.list_orders(ACME) if isinstance(o, RenewalOrder)]
    assert (order.status, order.payment_action) == ("cancelled", None)
    assert [c.charge_id for c in refunded_charges(gateway)] == [waiting.payment_action.charge_id]
    assert contract(past_due).status == "cancelled" and kept_charges(gateway) == []


# -- races -----------------------------------------------------------------------------------------------------------

def test_a_delete_landing_while_the_webhook_completes_leaves_the_money_refunded_once(repo, gateway, pending):
    """The cardholder authenticated; the manager's DELETE lands between the webhook's look at the provider and
    its completion write: the completion loses (the order is cancelled), the capture is refunded once, and the
    event delivered again changes nothing."""
    charge_id = pending.payment_action.charge_id
    gateway.authenticate(charge_id, True)
    racing = CompetingWrites(repo)
    racing.before_next_commit(lambda: add_seats.cancel_draft(repo, gateway, pending.order_id, MANAGER))
    event = payment_event(gateway.notification(charge_id, int(AT.timestamp())))

    assert on_payment_event(racing, gateway, event, AT) == "refunded"
    assert racing.interleaved == 1
    assert on_payment_event(repo, gateway, event, AT) == "already_settled"
    assert seat_order(repo, pending.order_id).status == "cancelled" and seats(repo) == 10
    assert [c.charge_id for c in refunded_charges(gateway)] == [charge_id] and kept_charges(gateway) == []
    assert [p.status for p in payments(repo)] == ["refunded"] and events_of(repo, "SeatsAdded") == []


def test_two_deliveries_of_the_same_event_racing_add_the_seats_once(repo, gateway, pending):
    charge_id = pending.payment_action.charge_id
    gateway.authenticate(charge_id, True)
    event = payment_event(gateway.notification(charge_id, int(AT.timestamp())))
    racing = CompetingWrites(repo)
    racing.before_next_commit(lambda: on_payment_event(repo, gateway, event, AT))

    assert on_payment_event(racing, gateway, event, AT) == "completed"  # the other delivery's, read again

    assert seats(repo) == 12 and len(events_of(repo, "SeatsAdded")) == 1 and len(kept_charges(gateway)) == 1


class SilentAtCancel(Meanwhile):
    """The provider does not answer a cancellation (the outcome unknown)."""

    def cancel_payment(self, provider_ref: str) -> Any:
        raise PaymentProviderUnavailable()


def test_a_provider_silent_at_expiry_leaves_the_order_waiting_for_the_next_run(repo, gateway, pending):
    late = reconcile_payments(AT + timedelta(hours=23), repo, SilentAtCancel(gateway))

    assert (late.failed, late.oldest_unsettled) == (0, payments(repo)[0].created_at)
    assert seat_order(repo, pending.order_id).status == "payment_pending"
    assert reconcile_payments(AT + timedelta(hours=23, minutes=15), repo, gateway).failed == 1
    assert seat_order(repo, pending.order_id).last_payment_error.code == "authentication_expired"


# -- a step that died half-way ---------------------------------------------------------------------------------------

def test_a_challenge_whose_submit_died_before_recording_it_is_canceled_by_the_reconciler(repo, gateway):
    """The provider asked for the cardholder, but the submit died before recording it (no client has the action):
    10 minutes on, the reconciler cancels it; a new submit starts a new attempt."""
    draft = add_seats.create_draft(repo, ACME, SUBSCRIPTION, 2, MANAGER)
    pay_with(repo, gateway, draft.order_id, SCA)
    with pytest.raises(RuntimeError):
        submit.submit(repo, Meanwhile(gateway, during_confirm=die), draft.order_id, MANAGER)
    assert [(p.status, c.status) for p, c in zip(payments(repo), gateway.list_charges(), strict=True)] == [
        ("pending", "requires_action")]

    run = reconcile_payments(AT + timedelta(minutes=11), repo, gateway)

    assert (run.failed, run.oldest_unsettled) == (1, None)
    assert [c.status for c in gateway.list_charges()] == ["canceled"] and payments(repo)[0].status == "failed"
    again = submit.submit(repo, gateway, draft.order_id, MANAGER, submit_key="again")
    assert again.status == "payment_pending" and len(gateway.list_charges()) == 2


@pytest.mark.parametrize("settled_by", ["a DELETE", "a refund"])
def test_an_order_left_waiting_after_its_payment_was_settled_is_a_draft_again_when_touched(
        repo, gateway, pending, settled_by):
    """A step settled the waiting payment (a DELETE canceled it; a webhook refunded a capture the order could not
    take), then died before closing the order: the order is shown payment_pending with a challenge the provider no
    longer holds. The next touch makes it a draft again, told why: a submit then starts a new attempt."""
    waiting = payment_of(repo, pending.order_id)
    if settled_by == "a refund":
        gateway.authenticate(pending.payment_action.charge_id, True)
    ledger.settle_unused(repo, gateway, waiting, "order_cancelled", AT)  # ... and the process died here
    assert seat_order(repo, pending.order_id).status == "payment_pending"

    edited = add_seats.update_draft(repo, gateway, pending.order_id, 3, MANAGER)

    expected = "charge_refunded" if settled_by == "a refund" else "payment_canceled"
    assert (edited.status, edited.payment_action, edited.last_payment_error.code) == ("draft", None, expected)
    retried = submit.submit(repo, gateway, pending.order_id, MANAGER, submit_key="after")
    assert retried.status == "payment_pending" and retried.payment_action.charge_id != pending.payment_action.charge_id
    assert kept_charges(gateway) == [] and seats(repo) == 10
