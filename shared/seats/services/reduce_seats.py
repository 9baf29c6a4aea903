"""Reduce seats (SPEC §4.3): schedule, replace or cancel the seat count a subscription renews with.

No payment is taken; the reduction is applied by the renewal. Each change is one read (the
contract and the caller, one BatchGetItem) and one write (the contract, version-checked, with
its history event, one TransactWriteItems).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from seats.clock import utc_now
from seats.domain.eligibility import Change, ineligibility
from seats.domain.errors import (
    BelowAssignedSeats,
    InvalidReduction,
    NoPendingReduction,
    NotContractManager,
    NotEligible,
)
from seats.domain.model import Contract, HistoryEvent, PendingReduction, Subscription, new_id
from seats.services.access import visible_contract

# Rules 8b and 9b are about making a reduction; cancelling one only needs rules 1-7.
_ABOUT_NEW_REDUCTIONS = frozenset({"draft_exists", "single_seat"})


def _eligible_subscription(repo: Any, contract_id: str, subscription_id: str, caller_id: str,
                           now: datetime, *, cancelling: bool = False) -> tuple[Contract, Subscription]:
    """§4.1 in order (403 for rule 1, 409 with the reason for the others), after the 404s of §2."""
    contract, _ = visible_contract(repo, contract_id, caller_id)
    subscription = contract.subscription(subscription_id)
    reason = ineligibility(Change.REDUCE, contract, subscription, caller_id, now.date())
    if cancelling and reason in _ABOUT_NEW_REDUCTIONS:
        reason = None
    if reason == "not_contract_manager":
        raise NotContractManager()
    if reason is not None:
        raise NotEligible(reason)
    return contract, subscription


def _record(repo: Any, contract: Contract, event: HistoryEvent, detail_type: str, detail: dict[str, Any]) -> None:
    """The contract, its history event and the domain event, in one conditional commit."""
    uow = repo.unit_of_work()
    uow.save_contract(contract)
    uow.add_history(event)
    uow.add_event(detail_type, detail)
    uow.commit()


def _event_detail(contract: Contract, subscription: Subscription, seats_after: int) -> dict[str, Any]:
    return {
        "contract_id": contract.contract_id,
        "account_id": contract.account_id,
        "subscription_id": subscription.subscription_id,
        "seats_before": subscription.seats,
        "seats_after": seats_after,
        "renewal_date": contract.renewal_date.isoformat(),
        "renewal_price": str(subscription.unit_price.times(seats_after)),
        "currency": contract.currency,
    }


def schedule_reduction(repo: Any, contract_id: str, subscription_id: str, caller_id: str, seats: int, now: datetime | None = None) -> tuple[Contract, Subscription]:
    """Record (or replace) the seats wanted at renewal: 1 ≤ seats < current seats, ≥ assigned seats."""
    now = now or utc_now()
    contract, subscription = _eligible_subscription(repo, contract_id, subscription_id, caller_id, now)
    if not 1 <= seats < subscription.seats:
        raise InvalidReduction(f"seats must be between 1 and {subscription.seats - 1}")
    if seats < subscription.assigned_seats:
        raise BelowAssignedSeats(f"{subscription.assigned_seats} seats are assigned")
    previous = subscription.pending_reduction
    subscription.pending_reduction = PendingReduction(seats=seats, requested_by=caller_id, requested_at=now)
    details: dict[str, Any] = {"seats_before": subscription.seats, "seats_after": seats,
                               "renewal_date": contract.renewal_date.isoformat()}
    if previous is not None:
        details["previous_seats_after"] = previous.seats
    kind = "reduction_changed" if previous is not None else "reduction_scheduled"
    _record(repo, contract, HistoryEvent(new_id("evt"), contract_id, kind, now, caller_id, subscription_id, details),
            "SeatReductionScheduled", {
                **_event_detail(contract, subscription, seats),
                "previous_seats_after": previous.seats if previous else None,
                "requested_by": caller_id,
            })
    return contract, subscription


def cancel_reduction(repo: Any, contract_id: str, subscription_id: str, caller_id: str, now: datetime | None = None) -> Contract:
    """Drop the pending reduction: the subscription renews with its current seats."""
    now = now or utc_now()
    contract, subscription = _eligible_subscription(repo, contract_id, subscription_id, caller_id, now,
                                                    cancelling=True)
    previous = subscription.pending_reduction
    if previous is None:
        raise NoPendingReduction(f"Subscription {subscription_id} has no pending reduction")
    subscription.pending_reduction = None
    details = {"seats_before": subscription.seats, "cancelled_seats_after": previous.seats,
               "renewal_date": contract.renewal_date.isoformat()}
    _record(repo, contract, HistoryEvent(new_id("evt"), contract_id, "reduction_cancelled", now, caller_id,
                                         subscription_id, details),
            "SeatReductionCancelled", {
                **_event_detail(contract, subscription, subscription.seats),
                "cancelled_seats_after": previous.seats,
                "requested_by": caller_id,
            })
    return contract
