"""services/ledger.py on the in-memory repository and sandbox provider: a payment recorded before the provider
hears of it, its provider id recorded before any money moves, confirmed at most once, and settled after
(succeeded elsewhere; here refunded, or failed)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from seats.domain.errors import ConcurrentUpdate, InvalidPaymentToken, PaymentProviderUnavailable
from seats.domain.money import Money
from seats.domain.payments import Payment, below_minimum, minimum_charge, new_payment
from seats.services import ledger
from tests.conftest import NOW
from tests.fakes import Meanwhile, kept_charges, refunded_charges
from tests.unit.services.support import ACME, contract, payment, store_card

AT = datetime.fromisoformat(NOW.replace("Z", "+00:00"))
LATER = datetime(2026, 11, 29, 10, 30, tzinfo=UTC)
AMOUNT = Money.parse("1493.42", "USD")


def recorded(repo: Any, token: str | None = None, amount: Money = AMOUNT) -> Payment:
    """A new add-seats payment of Acme's, with the card on file or a new card from `token`, saved."""
    card = contract(repo).payment_method if token is None else store_card(repo, f"pm_{token}", token)
    assert card is not None
    made = new_payment("add_seats", order_id="ord_1", contract=contract(repo), amount=amount, payment_method=card,
                       at=AT)
    ledger.save(repo, made)
    return made


# -- the record ----------------------------------------------------------------------------------------------

def test_a_payment_asks_the_provider_under_its_own_key_with_its_card_and_terms(repo):
    made = recorded(repo)

    request = ledger.request_of(made)

    assert (request.key, request.amount, request.payment_method_ref, request.payment_method_id) == (
        f"seats:payment:{made.payment_id}", AMOUNT, "tok_visa", "pm_acme_visa")
    assert (request.off_session, request.customer_ref, request.description) == (
        False, None, f"Seats added by order ord_1, contract {ACME}")
    assert made.refund_key == f"seats:refund:{made.payment_id}" and made.payment_id.startswith("pay_")


def test_a_renewal_payment_is_off_session_and_names_its_period(repo):
    made = new_payment("renewal", order_id="ren_1", contract=contract(repo), amount=AMOUNT,
                       payment_method=contract(repo).payment_method, at=AT, period=date(2027, 3, 1))

    request = ledger.request_of(made)

    assert request.off_session is True and request.description == f"Renewal of contract {ACME} from 2027-03-01"


@pytest.mark.parametrize(("amount", "below"), [
    ("0.00", False), ("0.01", True), ("0.49", True), ("0.50", False), ("19750.00", False)])
def test_an_amount_above_zero_but_under_the_providers_minimum_is_below_the_minimum(amount, below):
    assert below_minimum(Money.parse(amount, "USD")) is below
    assert minimum_charge("GBP") == Money.parse("0.30", "GBP") and below_minimum(Money.parse("0.29", "GBP"))


# -- taking the money ------------------------------------------------------------------------------------------

def test_take_records_the_provider_id_before_confirming_and_captures_once(repo, gateway):
    made = recorded(repo)
    seen = []
    counting = Meanwhile(gateway, before_confirm=lambda: seen.append(payment(repo, made.payment_id).provider_ref))

    state = ledger.take(repo, counting, made)
    again = ledger.take(repo, counting, payment(repo, made.payment_id))

    [charge] = gateway.list_charges()
    assert seen == [charge.charge_id] and len(counting.confirmed) == 1  # asked the second time, not confirmed
    assert (state.status, state.provider_ref, again.status) == ("succeeded", charge.charge_id, "succeeded")
    stored = payment(repo, made.payment_id)
    assert (stored.status, stored.provider_ref) == ("pending", charge.charge_id)  # settling is the caller's


def test_take_answers_a_decline_without_settling_it(repo, gateway):
    made = recorded(repo, "tok_chargeCustomerFail")

    state = ledger.take(repo, gateway, made)

    assert (state.status, state.decline_code) == ("failed", "card_declined")
    assert payment(repo, made.payment_id).status == "pending"


def test_take_of_a_card_the_provider_does_not_know_records_nothing_at_the_provider(repo, gateway):
    made = recorded(repo, "tok_forgotten")

    with pytest.raises(InvalidPaymentToken):
        ledger.take(repo, gateway, made)

    assert payment(repo, made.payment_id).provider_ref is None and gateway.list_charges() == []


def test_a_time_out_after_capture_leaves_the_payment_pending_and_the_next_take_finds_the_money(repo, gateway):
    made = recorded(repo, "tok_timeoutAfterCapture")

    with pytest.raises(PaymentProviderUnavailable):
        ledger.take(repo, gateway, made)
    assert payment(repo, made.payment_id).status == "pending"

    assert ledger.take(repo, gateway, payment(repo, made.payment_id)).captured
    assert len(gateway.list_charges()) == 1


def test_a_stale_copy_carries_on_with_the_provider_id_another_request_recorded(repo, gateway):
    made = recorded(repo)
    stale = payment(repo, made.payment_id)
    ledger.take(repo, gateway, made)  # the other request: provider id recorded, money taken

    state = ledger.take(repo, gateway, stale)  # created again under the same key: the same payment

    assert state.captured and stale.provider_ref == made.provider_ref and stale.version == made.version
    assert len(gateway.list_charges()) == 1


def test_a_stale_copy_whose_provider_id_differs_from_the_record_is_a_concurrent_update(repo, gateway):
    made = recorded(repo)
    stale = payment(repo, made.payment_id)
    made.provider_ref = "ch_sandbox_recorded_elsewhere"
    ledger.save(repo, made)

    with pytest.raises(ConcurrentUpdate):
        ledger.take(repo, gateway, stale)
    assert gateway.list_charges() == []  # never confirmed


def test_look_up_answers_the_providers_state_by_the_id_recorded(repo, gateway):
    made = recorded(repo)
    assert ledger.look_up(repo, gateway, made).status == "requires_confirmation"  # created, recorded, no money
    assert payment(repo, made.payment_id).provider_ref is not None and gateway.list_charges() == []

    ledger.take(repo, gateway, made)
    assert ledger.look_up(repo, gateway, made).captured


# -- settling without seats ------------------------------------------------------------------------------------

def test_give_back_refunds_the_capture_and_records_it_with_its_history_entry(repo, gateway, clock_at):
    made = recorded(repo)
    ledger.take(repo, gateway, made)
    clock_at("2026-11-29T10:30:00Z")

    ledger.give_back(repo, gateway, made, "order_cancelled", LATER)

    stored = payment(repo, made.payment_id)
    assert (stored.status, stored.settled_at) == ("refunded", LATER)
    [refunded] = refunded_charges(gateway)
    assert (refunded.charge_id, refunded.refunded_at) == (made.provider_ref, LATER)
    [entry] = repo.list_history(ACME)
    assert (entry.type, entry.actor, entry.at) == ("payment_refunded", "system", LATER)
    assert entry.details == {"charge_id": made.provider_ref, "amount": "1493.42", "order_id": "ord_1",
                             "reason": "order_cancelled"}


def test_a_give_back_cut_short_leaves_the_payment_refunding_and_the_next_one_refunds_it_once(repo, gateway):
    made = recorded(repo)
    ledger.take(repo, gateway, made)

    with pytest.raises(RuntimeError):
        ledger.give_back(repo, Meanwhile(gateway, refund_fails=True), made, "order_cancelled", LATER)
    assert payment(repo, made.payment_id).status == "refunding" and kept_charges(gateway) != []

    ledger.give_back(repo, gateway, payment(repo, made.payment_id), "order_cancelled", LATER)

    assert payment(repo, made.payment_id).status == "refunded" and kept_charges(gateway) == []
    assert [e.type for e in repo.list_history(ACME)] == ["payment_refunded"]


def test_fail_cancels_an_unconfirmed_payment_and_records_it_failed(repo, gateway):
    made = recorded(repo)
    ledger.look_up(repo, gateway, made)  # created at the provider, never confirmed

    ledger.fail(repo, gateway, made, LATER, "abandoned")

    stored = payment(repo, made.payment_id)
    assert (stored.status, stored.decline_code, stored.settled_at) == ("failed", "abandoned", LATER)
    assert [c.status for c in gateway.list_charges()] == ["canceled"]


def test_fail_of_a_payment_the_provider_never_heard_of_needs_no_provider(repo, gateway):
    made = recorded(repo)

    ledger.fail(repo, gateway, made, LATER)

    assert payment(repo, made.payment_id).status == "failed" and gateway.list_charges() == []


def test_fail_of_a_payment_that_was_captured_after_all_is_refused_and_changes_nothing(repo, gateway):
    made = recorded(repo)
    ledger.take(repo, gateway, made)

    with pytest.raises(PaymentProviderUnavailable):
        ledger.fail(repo, gateway, made, LATER)

    assert payment(repo, made.payment_id).status == "pending" and len(kept_charges(gateway)) == 1


def test_settle_unused_refunds_a_capture_and_cancels_anything_else(repo, gateway):
    captured, unconfirmed, declined = recorded(repo), recorded(repo), recorded(repo, "tok_chargeCustomerFail")
    ledger.take(repo, gateway, captured)
    ledger.look_up(repo, gateway, unconfirmed)
    ledger.take(repo, gateway, declined)

    for made in (captured, unconfirmed, declined):
        ledger.settle_unused(repo, gateway, made, "order_changed", LATER)

    assert [payment(repo, p.payment_id).status for p in (captured, unconfirmed, declined)] == [
        "refunded", "failed", "failed"]
    by_id = {c.charge_id: c.status for c in gateway.list_charges()}
    assert [by_id[p.provider_ref] for p in (captured, unconfirmed, declined)] == ["refunded", "canceled", "failed"]


def test_settle_unused_finishes_a_refund_and_leaves_a_settled_payment_alone(repo, gateway):
    refunding, settled = recorded(repo), recorded(repo)
    ledger.take(repo, gateway, refunding)
    refunding.status = "refunding"
    ledger.save(repo, refunding)
    ledger.take(repo, gateway, settled)
    settled.settle("succeeded", AT)
    ledger.save(repo, settled)

    ledger.settle_unused(repo, gateway, refunding, "order_changed", LATER)
    ledger.settle_unused(repo, gateway, settled, "order_changed", LATER)

    assert (payment(repo, refunding.payment_id).status, payment(repo, settled.payment_id).status) == (
        "refunded", "succeeded")
    assert [c.charge_id for c in kept_charges(gateway)] == [settled.provider_ref]


def test_settle_unused_while_the_provider_does_not_answer_changes_nothing(repo, gateway):
    made = recorded(repo)
    ledger.take(repo, gateway, made)

    class Silent:
        def get_payment(self, provider_ref: str) -> Any:
            raise PaymentProviderUnavailable()

        def __getattr__(self, name: str) -> Any:
            return getattr(gateway, name)

    with pytest.raises(PaymentProviderUnavailable):
        ledger.settle_unused(repo, Silent(), made, "order_cancelled", LATER)
    assert payment(repo, made.payment_id).status == "pending" and len(kept_charges(gateway)) == 1


# -- what a record points to --------------------------------------------------------------------------------------

def test_open_payment_is_the_unsettled_payment_a_record_points_to_and_nothing_else(repo):
    pending, refunding, settled = recorded(repo), recorded(repo), recorded(repo)
    refunding.status = "refunding"
    ledger.save(repo, refunding)
    settled.settle("failed", AT)
    ledger.save(repo, settled)

    assert ledger.open_payment(repo, pending.payment_id) == payment(repo, pending.payment_id)
    assert ledger.open_payment(repo, refunding.payment_id).status == "refunding"
    assert ledger.open_payment(repo, settled.payment_id) is None
    assert ledger.open_payment(repo, "pay_unknown") is None and ledger.open_payment(repo, None) is None
