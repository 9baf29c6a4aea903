"""The sandbox payment provider's behaviour, with its charges in the table (what the local runtime and the
integration tests use) and in memory (the unit tests' fake): the same provider either way."""

from __future__ import annotations

import pytest

from seats.adapters.payments.sandbox import Sandbox
from seats.domain.errors import InvalidPaymentToken, PaymentDeclined, PaymentProviderUnavailable
from seats.domain.money import Money
from seats.services.ports import Charge

AMOUNT = Money.parse("1493.42", "USD")


def charge(gateway: Sandbox, token: str = "tok_visa", key: str = "seats:order:ord_1:attempt:0",
           amount: Money = AMOUNT) -> Charge:
    return gateway.charge(customer_ref=None, payment_method_ref=token, amount=amount, idempotency_key=key,
                          description="3 AutoCAD seat(s)", payment_method_id="pm_acme_visa")


def test_a_charge_retried_with_its_key_is_the_same_charge_and_is_listed_once(gateway):
    first = charge(gateway)
    again = charge(gateway, amount=Money.parse("1.00", "USD"))  # the key decides, not the terms

    assert again == first
    assert (first.status, first.amount, first.payment_method_id) == ("succeeded", AMOUNT, "pm_acme_visa")
    assert first.charge_id.startswith("ch_sandbox_")
    assert gateway.list_charges() == [first]


def test_different_keys_are_different_charges(gateway):
    assert charge(gateway, key="k1").charge_id != charge(gateway, key="k2").charge_id
    assert [c.idempotency_key for c in gateway.list_charges()] == ["k1", "k2"]


@pytest.mark.parametrize(("token", "decline_code"), [
    ("tok_chargeCustomerFail", "card_declined"),
    ("tok_chargeDeclinedInsufficientFunds", "insufficient_funds"),
])
def test_a_declining_card_declines_with_its_code_and_its_key_keeps_the_decline(gateway, token, decline_code):
    for _ in range(2):
        with pytest.raises(PaymentDeclined) as declined:
            charge(gateway, token)
        assert declined.value.extra == {"decline_code": decline_code}

    [failed] = gateway.list_charges()
    assert (failed.status, failed.decline_code, failed.payment_method_ref) == ("failed", decline_code, token)


def test_a_time_out_after_capture_took_the_money_and_the_retry_answers_the_charge(gateway):
    with pytest.raises(PaymentProviderUnavailable):
        charge(gateway, "tok_timeoutAfterCapture")

    [taken] = gateway.list_charges()
    assert taken.status == "succeeded"
    assert charge(gateway, "tok_timeoutAfterCapture") == taken


def test_a_refund_marks_that_charge_refunded_and_no_other(gateway):
    refunded, kept = charge(gateway, key="k1"), charge(gateway, key="k2")

    gateway.refund(refunded.charge_id, f"seats:refund:{refunded.charge_id}")
    gateway.refund(refunded.charge_id, f"seats:refund:{refunded.charge_id}")  # again: nothing more

    assert gateway.is_refunded("k1") and not gateway.is_refunded("k2")
    assert gateway.list_charges() == [refunded, kept]  # still listed, as taken


def test_refunding_a_charge_the_provider_never_made_changes_nothing(gateway):
    made = charge(gateway)
    gateway.refund("ch_sandbox_unknown", "seats:refund:ch_sandbox_unknown")
    assert not gateway.is_refunded(made.idempotency_key) and not gateway.is_refunded("no-such-key")


def test_an_unknown_token_is_an_invalid_payment_token_and_charges_nothing(gateway):
    with pytest.raises(InvalidPaymentToken):
        charge(gateway, "tok_unknown")
    with pytest.raises(InvalidPaymentToken):
        gateway.attach("acme", None, "tok_unknown")
    assert gateway.list_charges() == []


def test_an_unknown_card_reference_replays_the_charge_its_key_already_made(gateway):
    made = charge(gateway)
    assert charge(gateway, "pm_gone") == made


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


def test_charges_are_listed_oldest_first_by_the_millisecond_and_by_key_within_one(gateway, fixed_clock):
    fixed_clock("2026-11-29T10:00:00.500999Z")  # kept to the millisecond
    charge(gateway, key="b-later")
    fixed_clock("2026-11-29T10:00:00Z")
    charge(gateway, key="c-first")
    charge(gateway, key="a-first")

    listed = gateway.list_charges()
    assert [c.idempotency_key for c in listed] == ["a-first", "c-first", "b-later"]
    assert str(listed[-1].created_at) == "2026-11-29 10:00:00.500000+00:00"
