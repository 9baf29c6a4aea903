"""The idempotency keys of money movements. A retried charge or refund reuses its key, so the
provider answers with the payment already made instead of making a second one."""

from __future__ import annotations

from seats.domain.model import Contract, SeatOrder


def order_charge_key(order: SeatOrder) -> str:
    """One key per add-seats order and payment attempt (the attempt moves on after a settled decline)."""
    return f"seats:order:{order.order_id}:attempt:{order.payment_attempt}"


def renewal_charge_key(contract: Contract) -> str:
    """One key per contract, unpaid period and attempt: a redelivered renewal message reuses it."""
    return (
        f"seats:renewal:{contract.contract_id}:{contract.renewal_date.isoformat()}"
        f":attempt:{contract.failed_renewal_attempts}"
    )


def refund_key(charge_id: str) -> str:
    return f"seats:refund:{charge_id}"
