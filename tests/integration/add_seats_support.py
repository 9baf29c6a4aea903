"""Steps of the add-seats flow through the function handlers, shared by the add-seats API tests."""

from __future__ import annotations

from typing import Any

from functions.change_seats.app import lambda_handler as change_seats
from functions.set_payment.app import lambda_handler as set_payment
from functions.submit_order.app import lambda_handler as submit_order
from seats import bootstrap, clock
from seats.domain.model import PaymentMethod, PendingReduction
from tests.conftest import http_event, invoke

ACME = "acme"
CONTRACT = "110000000001"
SUBSCRIPTION = "sub-acad"
MANAGER = "u-alice"
PRIMARY_ADMIN = "u-paula"
OUTSIDER = "u-gina"  # primary admin of another team


def seat_orders_path(contract_id: str = CONTRACT, subscription_id: str = SUBSCRIPTION) -> str:
    return f"/contracts/{contract_id}/subscriptions/{subscription_id}/seat-orders"


def create_draft(seats: Any = 3, *, user: str = MANAGER, contract_id: str = CONTRACT,
                 subscription_id: str = SUBSCRIPTION) -> tuple[int, Any]:
    status, body, _ = invoke(change_seats, http_event("POST", seat_orders_path(contract_id, subscription_id),
                                                      user=user, body={"seats_to_add": seats}))
    return status, body


def new_draft(seats: int = 3, **kwargs: Any) -> dict[str, Any]:
    status, body = create_draft(seats, **kwargs)
    assert status == 201, body
    return body


def patch_draft(order_id: str, body: Any, *, user: str = MANAGER) -> tuple[int, Any]:
    status, answer, _ = invoke(change_seats, http_event("PATCH", f"/orders/{order_id}", user=user, body=body))
    return status, answer


def cancel_draft(order_id: str, *, user: str = MANAGER) -> tuple[int, Any]:
    status, answer, _ = invoke(change_seats, http_event("DELETE", f"/orders/{order_id}", user=user))
    return status, answer


def submit(order_id: str, key: str | None = "key-1", *, user: str = MANAGER) -> tuple[int, Any, dict[str, str]]:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return invoke(submit_order, http_event("POST", f"/orders/{order_id}/submit", user=user, headers=headers))


def add_card(token: str, *, account_id: str = ACME, user: str = MANAGER) -> tuple[int, Any]:
    status, body, _ = invoke(set_payment, http_event("POST", f"/accounts/{account_id}/payment-methods",
                                                     user=user, body={"token": token}))
    return status, body


def choose_card(order_id: str, payment_method_id: str, *, user: str = MANAGER) -> tuple[int, Any]:
    status, body, _ = invoke(set_payment, http_event("PUT", f"/orders/{order_id}/payment-method", user=user,
                                                     body={"payment_method_id": payment_method_id}))
    return status, body


def draft_paid_with(token: str, seats: int = 3) -> dict[str, Any]:
    """A draft whose payment method is a new card made from `token`."""
    status, card = add_card(token)
    assert status == 201, card
    draft = new_draft(seats)
    status, chosen = choose_card(draft["order_id"], card["payment_method_id"])
    assert status == 200, chosen
    return chosen


def store_expired_card(account_id: str = ACME, payment_method_id: str = "pm_expired") -> str:
    """A card that expired last year, written straight to the table (providers refuse to attach those)."""
    work = bootstrap.repository().unit_of_work()
    work.add_payment_method(PaymentMethod(payment_method_id, account_id, "visa", "0002", 10, 2025, "tok_visa"))
    work.commit()
    return payment_method_id


def schedule_reduction(seats: int = 8) -> None:
    repo = bootstrap.repository()
    contract = repo.get_contract(CONTRACT)
    contract.subscription(SUBSCRIPTION).pending_reduction = PendingReduction(seats, MANAGER, clock.utc_now())
    work = repo.unit_of_work()
    work.save_contract(contract)
    work.commit()


def set_status(status: str) -> None:
    """Change the contract's status behind the API's back (as renewal would)."""
    repo = bootstrap.repository()
    contract = repo.get_contract(CONTRACT)
    contract.status = status
    work = repo.unit_of_work()
    work.save_contract(contract)
    work.commit()


def charges() -> list[Any]:
    return bootstrap.payment_gateway().list_charges()


def seats_of(contract_id: str = CONTRACT, subscription_id: str = SUBSCRIPTION) -> int:
    contract = bootstrap.repository().get_contract(contract_id)
    return contract.subscription(subscription_id).seats


def history_types(contract_id: str = CONTRACT) -> list[str]:
    return [event.type for event in bootstrap.repository().list_history(contract_id)]
