"""Access to an add-seats draft: the caller's draft with its contract and subscription."""

from __future__ import annotations

from collections.abc import Callable

from seats import clock
from seats.domain.errors import OrderNotDraft
from seats.domain.model import OPEN_ORDER, Contract, SeatOrder, Subscription
from seats.domain.payments import Payment
from seats.services import ledger
from seats.services.access import managed_order
from seats.services.authentication import reopen_if_over
from seats.services.ports import PaymentGateway, Repository


def draft_of(repo: Repository, order_id: str, caller_id: str, *,
             pending_too: bool = False) -> tuple[SeatOrder, Contract, Subscription]:
    """404 for an order the caller cannot see, then 403 for one they cannot manage, then 409 order_not_draft
    (`pending_too`: an order waiting for the cardholder's authentication is taken too, to be cancelled). An
    order shown waiting whose payment was settled meanwhile is a draft again (authentication.reopen_if_over)."""
    order, contract, _ = managed_order(repo, order_id, caller_id)
    if isinstance(order, SeatOrder):
        order = reopen_if_over(repo, order)
    allowed = OPEN_ORDER if pending_too else ("draft",)
    if order.status not in allowed or not isinstance(order, SeatOrder):
        raise OrderNotDraft(f"Order {order_id} is {order.status}")
    return order, contract, contract.subscription(order.subscription_id)


def settle_open_payment(repo: Repository, gateway: PaymentGateway, order: SeatOrder, reason: str,
                        keep_if: Callable[[Payment], bool] = lambda _: False) -> None:
    """Before a draft is changed or dropped, the payment it has in progress is settled with the provider
    (a capture refunded, anything else canceled), unless it still fits the changed draft (`keep_if`).
    The provider not answering is 503 payment_provider_unavailable, and nothing changes."""
    payment = ledger.open_payment(repo, order.payment_id)
    if payment is None or keep_if(payment):
        return
    ledger.settle_unused(repo, gateway, payment, reason, clock.utc_now())
    order.payment_id = None
