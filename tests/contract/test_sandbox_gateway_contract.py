"""The sandbox payment provider's behaviour, with its payments in the table (what the local runtime and the
integration tests use) and in memory (the unit tests' fake): the same provider either way. Payments come in
two steps, as the PaymentGateway port has them: `create_payment` (no money), then `confirm_payment`."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from seats.adapters.payments.sandbox import ChargeStore, Sandbox, SandboxPayment, charge_id_for
from seats.domain.errors import InvalidPaymentToken, PaymentDeclined, PaymentProviderUnavailable
from seats.domain.money import Money
from seats.services.ports import PaymentRequest
from tests.conftest import NOW

AMOUNT = Money.parse("1493.42", "USD")
AT_NOW = datetime.fromisoformat(NOW.replace("Z", "+00:00"))


def request(token: str = "tok_visa", key: str = "seats:payment:pay_1", amount: Money = AMOUNT,
            off_session: bool = False) -> PaymentRequest:
    return PaymentRequest(key=key, amount=amount, customer_ref=None, payment_method_ref=token,
                          payment_method_id="pm_acme_visa", description="Seats added by order ord_1",
                          off_session=off_session)


def paid(gateway: Sandbox, token: str = "tok_visa", key: str = "seats:payment:pay_1") -> str:
    """A payment created and confirmed; its provider id."""
    made = request(token, key)
    provider_ref = gateway.create_payment(made)
    gateway.confirm_payment(provider_ref, made)
    return provider_ref


# -- creating: no money yet --------------------------------------------------------------------------------

def test_a_payment_created_twice_with_one_key_is_the_same_payment_and_takes_nothing(gateway):
    first = gateway.create_payment(request())
    again = gateway.create_payment(request(amount=Money.parse("1.00", "USD")))  # the key decides, not the terms

    assert again == first == charge_id_for("seats:payment:pay_1") and first.startswith("ch_sandbox_")
    created = gateway.get_payment(first)
    assert created is not None
    assert (created.status, created.amount, created.payment_method_ref, created.refunded) == (
        "requires_confirmation", AMOUNT, "tok_visa", False)
    assert gateway.list_charges() == []  # nothing taken, nothing listed


def test_different_keys_are_different_payments(gateway):
    assert gateway.create_payment(request(key="k1")) != gateway.create_payment(request(key="k2"))


def test_an_amount_below_the_providers_minimum_is_refused_and_nothing_is_created(gateway):
    with pytest.raises(PaymentProviderUnavailable):
        gateway.create_payment(request(amount=Money.parse("0.49", "USD")))
    assert gateway.get_payment(charge_id_for("seats:payment:pay_1")) is None

    smallest = gateway.create_payment(request(key="k-min", amount=Money.parse("0.50", "USD")))
    assert gateway.get_payment(smallest).amount == Money.parse("0.50", "USD")


def test_an_unknown_card_is_an_invalid_payment_token_and_creates_nothing(gateway):
    with pytest.raises(InvalidPaymentToken):
        gateway.create_payment(request("tok_unknown"))
    with pytest.raises(InvalidPaymentToken):
        gateway.attach("acme", None, "tok_unknown")
    assert gateway.get_payment(charge_id_for("seats:payment:pay_1")) is None and gateway.list_charges() == []


def test_a_payment_the_provider_never_made_is_none_and_cannot_be_confirmed_cancelled_or_refunded(gateway):
    assert gateway.get_payment("ch_sandbox_unknown") is None
    for call in (lambda: gateway.confirm_payment("ch_sandbox_unknown", request()),
                 lambda: gateway.cancel_payment("ch_sandbox_unknown"),
                 lambda: gateway.refund("ch_sandbox_unknown", "seats:refund:pay_x")):
        with pytest.raises(PaymentProviderUnavailable):
            call()
    assert gateway.list_charges() == []


# -- confirming: the money -----------------------------------------------------------------------------------

def test_confirming_takes_the_money_once_and_the_payment_reads_succeeded(gateway):
    made = request()
    provider_ref = gateway.create_payment(made)

    first = gateway.confirm_payment(provider_ref, made)
    again = gateway.confirm_payment(provider_ref, made)  # answered, nothing more taken

    assert (first.status, first.captured, first.provider_ref, first.amount) == ("succeeded", True, provider_ref, AMOUNT)
    assert again == first == gateway.get_payment(provider_ref)
    [charge] = gateway.list_charges()
    assert (charge.charge_id, charge.status, charge.amount, charge.idempotency_key) == (
        provider_ref, "succeeded", AMOUNT, "seats:payment:pay_1")
    assert (charge.payment_method_ref, charge.payment_method_id, charge.refunded_at) == ("tok_visa", "pm_acme_visa", None)
    assert charge.created_at == AT_NOW


@pytest.mark.parametrize(("token", "decline_code"), [
    ("tok_chargeCustomerFail", "card_declined"),
    ("tok_chargeDeclinedInsufficientFunds", "insufficient_funds"),
])
def test_a_declining_card_fails_at_confirmation_with_its_code_and_stays_failed(gateway, token, decline_code):
    made = request(token)
    provider_ref = gateway.create_payment(made)

    declined = gateway.confirm_payment(provider_ref, made)
    again = gateway.confirm_payment(provider_ref, made)

    assert (declined.status, declined.decline_code, declined.captured) == ("failed", decline_code, False)
    assert again == declined == gateway.get_payment(provider_ref)
    [failed] = gateway.list_charges()
    assert (failed.status, failed.decline_code, failed.payment_method_ref) == ("failed", decline_code, token)


def test_a_time_out_after_capture_took_the_money_and_the_provider_answers_it_afterwards(gateway):
    made = request("tok_timeoutAfterCapture")
    provider_ref = gateway.create_payment(made)

    with pytest.raises(PaymentProviderUnavailable):
        gateway.confirm_payment(provider_ref, made)

    assert gateway.get_payment(provider_ref).status == "succeeded"
    assert gateway.confirm_payment(provider_ref, made).status == "succeeded"  # no second capture, no time-out
    [taken] = gateway.list_charges()
    assert (taken.charge_id, taken.status) == (provider_ref, "succeeded")


# -- cancelling and refunding ---------------------------------------------------------------------------------

def test_cancelling_an_unconfirmed_payment_cancels_it_and_it_can_no_longer_take_money(gateway):
    made = request()
    provider_ref = gateway.create_payment(made)

    cancelled = gateway.cancel_payment(provider_ref)

    assert (cancelled.status, cancelled.captured) == ("canceled", False)
    assert gateway.confirm_payment(provider_ref, made).status == "canceled"
    [charge] = gateway.list_charges()
    assert (charge.charge_id, charge.status) == (provider_ref, "canceled")


def test_cancelling_a_payment_that_took_money_leaves_it_as_it_is(gateway):
    provider_ref = paid(gateway)

    answered = gateway.cancel_payment(provider_ref)

    assert (answered.status, answered.captured) == ("succeeded", True)
    assert [c.status for c in gateway.list_charges()] == ["succeeded"]


def test_a_refund_gives_that_payment_back_once_and_lists_it_refunded_with_its_time(gateway, fixed_clock):
    refunded, kept = paid(gateway, key="k1"), paid(gateway, key="k2")
    fixed_clock("2026-11-29T10:05:00.123456Z")

    gateway.refund(refunded, "seats:refund:pay_1")
    fixed_clock("2026-11-29T11:00:00Z")
    gateway.refund(refunded, "seats:refund:pay_1")  # again: nothing more

    state = gateway.get_payment(refunded)
    assert (state.status, state.refunded) == ("succeeded", True)
    assert gateway.get_payment(kept).refunded is False
    by_id = {c.charge_id: c for c in gateway.list_charges()}
    assert (by_id[refunded].status, by_id[refunded].refunded_at) == (
        "refunded", datetime(2026, 11, 29, 10, 5, 0, 123000, tzinfo=UTC))
    assert (by_id[kept].status, by_id[kept].refunded_at) == ("succeeded", None)


def test_refunding_a_payment_that_took_no_money_changes_nothing(gateway):
    made = request("tok_chargeCustomerFail")
    provider_ref = gateway.create_payment(made)
    gateway.confirm_payment(provider_ref, made)

    gateway.refund(provider_ref, "seats:refund:pay_1")

    assert gateway.get_payment(provider_ref).refunded is False
    assert [(c.status, c.refunded_at) for c in gateway.list_charges()] == [("failed", None)]


# -- cards -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("token", "brand", "last4"), [
    ("tok_visa", "visa", "4242"), ("tok_mastercard", "mastercard", "4444"),
    ("tok_chargeCustomerFail", "visa", "0341"),  # attaches, declines when charged
])
def test_attaching_a_token_gives_its_card(gateway, token, brand, last4):
    card = gateway.attach("acme", None, token)
    assert (card.brand, card.last4, card.provider_ref, card.customer_ref) == (brand, last4, token, None)


@pytest.mark.parametrize(("token", "decline_code"), [
    ("tok_chargeDeclined", "card_declined"), ("tok_chargeDeclinedExpiredCard", "expired_card")])
def test_a_card_the_provider_refuses_is_not_attached(gateway, token, decline_code):
    with pytest.raises(PaymentDeclined) as declined:
        gateway.attach("acme", None, token)
    assert declined.value.extra == {"decline_code": decline_code}


# -- listing ----------------------------------------------------------------------------------------------------

def test_charges_are_listed_oldest_first_by_the_millisecond_then_by_charge_id(gateway, fixed_clock):
    fixed_clock("2026-11-29T10:00:00.500999Z")  # kept to the millisecond
    later = paid(gateway, key="later")
    fixed_clock("2026-11-29T10:00:00Z")
    first_two = sorted([paid(gateway, key="one"), paid(gateway, key="two")])

    listed = gateway.list_charges()
    assert [c.charge_id for c in listed] == [*first_two, later]
    assert str(listed[-1].created_at) == "2026-11-29 10:00:00.500000+00:00"


# -- the store itself -------------------------------------------------------------------------------------------

def sandbox_payment(charge_id: str = "ch_sandbox_1", status: str = "requires_confirmation") -> SandboxPayment:
    return SandboxPayment(charge_id=charge_id, idempotency_key=f"key-{charge_id}", amount=AMOUNT,
                          payment_method_ref="tok_visa", payment_method_id=None, status=status,  # type: ignore[arg-type]
                          created_at=datetime(2026, 11, 29, 10, 0, 0, 123456, tzinfo=UTC))


def test_the_store_adds_a_charge_id_once_and_put_replaces_it(store: ChargeStore):
    assert store.add(sandbox_payment()) is True
    assert store.add(sandbox_payment(status="succeeded")) is False
    assert store.get("ch_sandbox_1").status == "requires_confirmation"

    store.put(sandbox_payment(status="succeeded"))

    kept = store.get("ch_sandbox_1")
    assert (kept.status, kept.created_at, kept.payment_method_id) == (
        "succeeded", datetime(2026, 11, 29, 10, 0, 0, 123000, tzinfo=UTC), None)
    assert store.get("ch_sandbox_2") is None


def test_the_store_lists_every_payment_by_charge_id(store: ChargeStore):
    for charge_id in ("ch_sandbox_b", "ch_sandbox_a", "ch_sandbox_c"):
        store.add(sandbox_payment(charge_id))
    assert [p.charge_id for p in store.all()] == ["ch_sandbox_a", "ch_sandbox_b", "ch_sandbox_c"]
