"""services/payment_methods.py on the in-memory repository and sandbox provider: an account's cards,
a draft's card and a contract's card on file."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from seats.domain.codes import ErrorCode
from seats.domain.errors import (
    AccountNotFound,
    ContractNotFound,
    InvalidPaymentToken,
    NotContractManager,
    NotEligible,
    OrderNotDraft,
    PaymentDeclined,
    PaymentMethodExpired,
    PaymentMethodNotFound,
    PaymentProviderUnavailable,
)
from seats.services import add_seats, payment_methods, submit
from seats.services.ports import AttachedCard
from tests.fakes import kept_charges
from tests.unit.services.support import (
    ACME,
    GLOBEX,
    MANAGER,
    OUTSIDER,
    PLAIN_USER,
    PRIMARY_ADMIN,
    SECONDARY_ADMIN,
    change_contract,
    contract,
    payment,
    seat_order,
    store_card,
)


def ids(methods: list[Any]) -> list[str]:
    return [pm.payment_method_id for pm in methods]


# -- an account's cards -------------------------------------------------------------------------------

@pytest.mark.parametrize("caller", [MANAGER, PRIMARY_ADMIN])
def test_the_manager_and_the_primary_admin_see_the_accounts_cards_by_id(repo, caller):
    assert ids(payment_methods.list_payment_methods(repo, "acme", caller)) == ["pm_acme_mc", "pm_acme_visa"]


@pytest.mark.parametrize(("account_id", "caller"), [
    ("acme", SECONDARY_ADMIN), ("acme", PLAIN_USER), ("acme", OUTSIDER), ("acme", "u-unknown"),
    ("nobody", MANAGER),
])
def test_anyone_else_is_told_the_account_does_not_exist(repo, account_id, caller):
    with pytest.raises(AccountNotFound):
        payment_methods.list_payment_methods(repo, account_id, caller)


@pytest.mark.parametrize(("token", "brand", "last4"), [("tok_visa", "visa", "4242"),
                                                       ("tok_mastercard", "mastercard", "4444")])
def test_a_card_token_becomes_a_payment_method_of_the_account(repo, gateway, token, brand, last4):
    added = payment_methods.add_payment_method(repo, gateway, "acme", token, MANAGER)

    assert (added.brand, added.last4, added.provider_ref, added.account_id) == (brand, last4, token, "acme")
    assert added.payment_method_id.startswith("pm_")
    assert repo.get_payment_method("acme", added.payment_method_id) == added
    assert repo.get_account("acme").provider_customer_id is None  # the sandbox has no customers


@pytest.mark.parametrize(("token", "error"), [("tok_chargeDeclined", PaymentDeclined),
                                              ("tok_chargeDeclinedExpiredCard", PaymentDeclined),
                                              ("tok_unknown", InvalidPaymentToken)])
def test_a_card_the_provider_refuses_is_not_added(repo, gateway, token, error):
    with pytest.raises(error):
        payment_methods.add_payment_method(repo, gateway, "acme", token, MANAGER)
    assert ids(repo.list_payment_methods("acme")) == ["pm_acme_mc", "pm_acme_visa"]


def test_only_a_contract_manager_of_the_account_adds_a_card(repo, gateway):
    with pytest.raises(NotContractManager):
        payment_methods.add_payment_method(repo, gateway, "acme", "tok_visa", PRIMARY_ADMIN)
    with pytest.raises(AccountNotFound):
        payment_methods.add_payment_method(repo, gateway, "acme", "tok_visa", OUTSIDER)
    assert len(repo.list_payment_methods("acme")) == 2


class ProviderWithCustomers:
    """A provider that keeps cards under a customer of its own (as Stripe does)."""

    def __init__(self, gateway: Any) -> None:
        self.gateway = gateway

    def attach(self, account_id: str, customer_ref: str | None, token: str) -> AttachedCard:
        return replace(self.gateway.attach(account_id, customer_ref, token), customer_ref=customer_ref or "cus_acme")


def test_the_providers_customer_is_remembered_on_the_account_with_the_card(repo, gateway):
    first = payment_methods.add_payment_method(repo, ProviderWithCustomers(gateway), "acme", "tok_visa", MANAGER)
    second = payment_methods.add_payment_method(repo, ProviderWithCustomers(gateway), "acme", "tok_mastercard", MANAGER)

    assert repo.get_account("acme").provider_customer_id == "cus_acme"
    assert (first.customer_ref, second.customer_ref) == ("cus_acme", "cus_acme")


# -- a draft's card ------------------------------------------------------------------------------------

def draft(repo: Any) -> Any:
    return add_seats.create_draft(repo, ACME, "sub-acad", 3, MANAGER)


def test_a_draft_can_be_paid_with_another_card_of_the_account(repo, gateway):
    order = draft(repo)

    chosen = payment_methods.set_order_payment_method(repo, gateway, order.order_id, "pm_acme_mc", MANAGER)

    assert chosen.payment_method == repo.get_payment_method("acme", "pm_acme_mc")
    assert seat_order(repo, order.order_id) == chosen
    [entry] = repo.list_history(ACME)
    assert (entry.type, entry.subscription_id) == ("payment_method_changed", "sub-acad")
    assert entry.details == {"order_id": order.order_id, "payment_method_id": "pm_acme_mc",
                             "previous_payment_method_id": "pm_acme_visa"}


@pytest.mark.parametrize("payment_method_id", ["pm_globex_visa", "pm_missing"])
def test_a_card_of_another_account_or_no_card_is_not_found(repo, payment_method_id, gateway):
    order = draft(repo)
    with pytest.raises(PaymentMethodNotFound):
        payment_methods.set_order_payment_method(repo, gateway, order.order_id, payment_method_id, MANAGER)


def test_an_expired_card_may_be_chosen_for_a_draft(repo, gateway):
    order = draft(repo)
    store_card(repo, "pm_expired", exp_year=2025)
    chosen = payment_methods.set_order_payment_method(repo, gateway, order.order_id, "pm_expired", MANAGER)
    assert chosen.payment_method.payment_method_id == "pm_expired"


def test_choosing_a_card_is_held_to_eligibility_the_order_and_the_caller(repo, gateway):
    order = draft(repo)
    with pytest.raises(NotContractManager):
        payment_methods.set_order_payment_method(repo, gateway, order.order_id, "pm_acme_mc", PRIMARY_ADMIN)
    change_contract(repo, status="past_due")
    with pytest.raises(NotEligible) as refused:
        payment_methods.set_order_payment_method(repo, gateway, order.order_id, "pm_acme_mc", MANAGER)
    assert refused.value.code == ErrorCode.CONTRACT_NOT_ACTIVE
    add_seats.cancel_draft(repo, gateway, order.order_id, MANAGER)
    with pytest.raises(OrderNotDraft):
        payment_methods.set_order_payment_method(repo, gateway, order.order_id, "pm_acme_mc", MANAGER)


# -- the card on file -----------------------------------------------------------------------------------

def test_the_card_on_file_can_be_changed_for_future_renewals(repo):
    changed = payment_methods.set_contract_payment_method(repo, ACME, "pm_acme_mc", MANAGER)

    assert contract(repo) == changed and changed.payment_method.payment_method_id == "pm_acme_mc"
    [entry] = repo.list_history(ACME)
    assert (entry.type, entry.subscription_id, entry.actor) == ("payment_method_changed", None, MANAGER)
    assert entry.details == {"payment_method_id": "pm_acme_mc", "previous_payment_method_id": "pm_acme_visa"}


def test_the_card_on_file_can_be_changed_on_a_past_due_contract(repo):
    change_contract(repo, status="past_due")
    assert payment_methods.set_contract_payment_method(repo, ACME, "pm_acme_mc", MANAGER).status == "past_due"


def test_an_expired_card_cannot_be_the_card_on_file(repo):
    store_card(repo, "pm_expired", exp_year=2025)
    with pytest.raises(PaymentMethodExpired):
        payment_methods.set_contract_payment_method(repo, ACME, "pm_expired", MANAGER)
    assert contract(repo).payment_method.payment_method_id == "pm_acme_visa"


def test_the_card_on_file_must_belong_to_the_account_and_only_the_manager_changes_it(repo):
    with pytest.raises(PaymentMethodNotFound):
        payment_methods.set_contract_payment_method(repo, ACME, "pm_globex_visa", MANAGER)
    with pytest.raises(NotContractManager):
        payment_methods.set_contract_payment_method(repo, ACME, "pm_acme_mc", PRIMARY_ADMIN)
    with pytest.raises(ContractNotFound):
        payment_methods.set_contract_payment_method(repo, GLOBEX, "pm_globex_visa", MANAGER)


def captured(repo: Any, gateway: Any) -> Any:
    """A draft paid with the card on file whose submit timed out after the capture: its payment pending."""
    order = draft(repo)
    slow = store_card(repo, "pm_slow", "tok_timeoutAfterCapture")
    payment_methods.set_order_payment_method(repo, gateway, order.order_id, slow.payment_method_id, MANAGER)
    with pytest.raises(PaymentProviderUnavailable):
        submit.submit(repo, gateway, order.order_id, MANAGER)
    return seat_order(repo, order.order_id)


def test_choosing_another_card_refunds_the_payment_the_draft_has_in_progress(repo, gateway):
    order = captured(repo, gateway)

    chosen = payment_methods.set_order_payment_method(repo, gateway, order.order_id, "pm_acme_mc", MANAGER)

    assert (chosen.payment_method.payment_method_id, chosen.payment_id) == ("pm_acme_mc", None)
    assert payment(repo, order.payment_id).status == "refunded" and kept_charges(gateway) == []
    [entry] = [e for e in repo.list_history(ACME) if e.type == "payment_refunded"]
    assert entry.details["reason"] == "payment_method_changed"


def test_choosing_the_same_card_again_keeps_the_payment_in_progress(repo, gateway):
    order = captured(repo, gateway)

    chosen = payment_methods.set_order_payment_method(repo, gateway, order.order_id, "pm_slow", MANAGER)

    assert chosen.payment_id == order.payment_id and payment(repo, order.payment_id).status == "pending"
    assert len(kept_charges(gateway)) == 1
