"""Payment methods (docs/api.md, Adding seats and HTTP API): an account's cards, an order's card, a contract's card on file.

Cards come from provider tokens only; this system keeps brand, last4 and expiry for display.
An expired card may be chosen for a draft (submitting it answers 409 payment_method_expired);
the card on file of a contract, which renewals charge, must not be expired.
"""

from __future__ import annotations

from dataclasses import replace

from seats import clock
from seats.domain import history
from seats.domain.eligibility import Change, require_eligible
from seats.domain.errors import (
    AccountNotFound,
    NotContractManager,
    PaymentMethodExpired,
    PaymentMethodNotFound,
)
from seats.domain.history import HistoryEvent
from seats.domain.model import Account, Contract, PaymentMethod, SeatOrder, new_id
from seats.services.access import managed_contract
from seats.services.drafts import draft_of, settle_open_payment
from seats.services.ports import PaymentGateway, Repository
from seats.services.retry import retrying


def _account_seen_by(repo: Repository, account_id: str, caller_id: str) -> tuple[Account, bool]:
    """The account and whether the caller manages one of its contracts; 404 if the caller sees neither."""
    account = repo.get_account(account_id)
    user = repo.get_user(caller_id)
    if account is None or user is None:
        raise AccountNotFound(f"No account {account_id}")
    manager = repo.manages_contract_in(caller_id, account_id)
    if not manager and not user.is_primary_admin_of(account_id):
        raise AccountNotFound(f"No account {account_id}")
    return account, manager


def list_payment_methods(repo: Repository, account_id: str, caller_id: str) -> list[PaymentMethod]:
    _account_seen_by(repo, account_id, caller_id)
    return sorted(repo.list_payment_methods(account_id), key=lambda pm: pm.payment_method_id)


def add_payment_method(repo: Repository, gateway: PaymentGateway, account_id: str, token: str, caller_id: str) -> PaymentMethod:
    account, manager = _account_seen_by(repo, account_id, caller_id)
    if not manager:
        raise NotContractManager("Only a contract manager of this account may add a payment method")
    card = gateway.attach(account_id, account.provider_customer_id, token)
    method = PaymentMethod(
        payment_method_id=new_id("pm"), account_id=account_id, brand=card.brand, last4=card.last4,
        exp_month=card.exp_month, exp_year=card.exp_year, provider_ref=card.provider_ref,
        customer_ref=card.customer_ref,
    )
    work = repo.unit_of_work()
    work.add_payment_method(method)
    if card.customer_ref and card.customer_ref != account.provider_customer_id:
        work.save_account(replace(account, provider_customer_id=card.customer_ref))
    work.commit()
    return method


def _method_of(repo: Repository, account_id: str, payment_method_id: str) -> PaymentMethod:
    method = repo.get_payment_method(account_id, payment_method_id)
    if method is None:
        raise PaymentMethodNotFound(f"No payment method {payment_method_id} in this account")
    return method


def set_order_payment_method(repo: Repository, gateway: PaymentGateway, order_id: str, payment_method_id: str,
                             caller_id: str) -> SeatOrder:
    """Choose the card a draft is charged to; part of adding seats, so §4.1 is checked again."""

    def attempt() -> SeatOrder:
        order, contract, subscription = draft_of(repo, order_id, caller_id)
        require_eligible(Change.ADD, contract, subscription, caller_id, clock.today())
        method = _method_of(repo, order.account_id, payment_method_id)
        previous = order.payment_method.payment_method_id if order.payment_method else None
        settle_open_payment(repo, gateway, order, "payment_method_changed",
                            keep_if=lambda p: p.payment_method.payment_method_id == method.payment_method_id)
        order.payment_method = method
        work = repo.unit_of_work()
        work.save_order(order)
        work.add_history(HistoryEvent.of(
            history.OrderPaymentMethodChanged(order_id=order.order_id, payment_method_id=method.payment_method_id,
                                              previous_payment_method_id=previous),
            contract_id=contract.contract_id, at=clock.utc_now(), actor=caller_id,
            subscription_id=order.subscription_id,
        ))
        work.commit()
        return order

    return retrying(attempt)


def set_contract_payment_method(repo: Repository, contract_id: str, payment_method_id: str, caller_id: str) -> Contract:
    """Change the card on file that renewals charge. Allowed in any status: it is how a past-due
    contract gets a working card."""

    def attempt() -> Contract:
        contract, _ = managed_contract(repo, contract_id, caller_id)
        method = _method_of(repo, contract.account_id, payment_method_id)
        if method.expired_on(clock.today()):
            raise PaymentMethodExpired("An expired card cannot be the card on file")
        previous = contract.payment_method.payment_method_id if contract.payment_method else None
        contract.payment_method = method
        work = repo.unit_of_work()
        work.save_contract(contract)
        work.add_history(HistoryEvent.of(
            history.PaymentMethodChanged(payment_method_id=method.payment_method_id,
                                         previous_payment_method_id=previous),
            contract_id=contract.contract_id, at=clock.utc_now(), actor=caller_id,
        ))
        work.commit()
        return contract

    return retrying(attempt)
