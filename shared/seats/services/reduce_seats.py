"""Reduce seats (docs/api.md, Reducing seats): schedule, replace or cancel the seat count a
subscription renews with.

No payment is taken; the reduction is applied by the renewal. Each change is one read (the contract
and the caller, one BatchGetItem) and one write (the contract, version-checked, with its history
entry and domain event, one TransactWriteItems), under the one retry policy (services/retry.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from seats.clock import utc_now
from seats.domain import events, history
from seats.domain.eligibility import Change, require_eligible
from seats.domain.errors import BelowAssignedSeats, InvalidReduction, NoPendingReduction
from seats.domain.history import HistoryEvent
from seats.domain.model import Contract, PendingReduction, Subscription
from seats.services.access import visible_contract
from seats.services.ports import Repository
from seats.services.retry import retrying


def _eligible_subscription(repo: Repository, contract_id: str, subscription_id: str, caller_id: str,
                           change: Change, now: datetime) -> tuple[Contract, Subscription]:
    """The eligibility rules in order (403 for rule 1, 409 with the reason for the others), after the 404s."""
    contract, _ = visible_contract(repo, contract_id, caller_id)
    subscription = contract.subscription(subscription_id)
    require_eligible(change, contract, subscription, caller_id, now.date())
    return contract, subscription


def _record(repo: Repository, contract: Contract, entry: history.Entry, event: events.DomainEvent,
            subscription_id: str, caller_id: str, now: datetime) -> None:
    """The contract, its history entry and the domain event, in one conditional commit."""
    work = repo.unit_of_work()
    work.save_contract(contract)
    work.add_history(HistoryEvent.of(entry, contract_id=contract.contract_id, at=now, actor=caller_id,
                                     subscription_id=subscription_id))
    work.add_event(event)
    work.commit()


def schedule_reduction(repo: Repository, contract_id: str, subscription_id: str, caller_id: str, seats: int,
                       now: datetime | None = None) -> tuple[Contract, Subscription]:
    """Record (or replace) the seats wanted at renewal: 1 ≤ seats < current seats, ≥ assigned seats."""
    def attempt() -> tuple[Contract, Subscription]:
        at = now or utc_now()
        contract, subscription = _eligible_subscription(repo, contract_id, subscription_id, caller_id,
                                                        Change.REDUCE, at)
        if not 1 <= seats < subscription.seats:
            raise InvalidReduction(f"seats must be between 1 and {subscription.seats - 1}")
        if seats < subscription.assigned_seats:
            raise BelowAssignedSeats(f"{subscription.assigned_seats} seats are assigned")
        previous = subscription.pending_reduction
        subscription.pending_reduction = PendingReduction(seats=seats, requested_by=caller_id, requested_at=at)
        entry: history.ReductionScheduled = history.ReductionScheduled(
            seats_before=subscription.seats, seats_after=seats, renewal_date=contract.renewal_date)
        if previous is not None:
            entry = history.ReductionChanged(seats_before=subscription.seats, seats_after=seats,
                                             renewal_date=contract.renewal_date, previous_seats_after=previous.seats)
        event = events.SeatReductionScheduled(
            **_reduction(contract, subscription, seats, caller_id),
            previous_seats_after=previous.seats if previous else None)
        _record(repo, contract, entry, event, subscription_id, caller_id, at)
        return contract, subscription

    return retrying(attempt)


def cancel_reduction(repo: Repository, contract_id: str, subscription_id: str, caller_id: str,
                     now: datetime | None = None) -> Contract:
    """Drop the pending reduction: the subscription renews with its current seats."""
    def attempt() -> Contract:
        at = now or utc_now()
        contract, subscription = _eligible_subscription(repo, contract_id, subscription_id, caller_id,
                                                        Change.CANCEL_REDUCTION, at)
        previous = subscription.pending_reduction
        if previous is None:
            raise NoPendingReduction(f"Subscription {subscription_id} has no pending reduction")
        subscription.pending_reduction = None
        entry = history.ReductionCancelled(seats_before=subscription.seats, cancelled_seats_after=previous.seats,
                                           renewal_date=contract.renewal_date)
        event = events.SeatReductionCancelled(**_reduction(contract, subscription, subscription.seats, caller_id),
                                              cancelled_seats_after=previous.seats)
        _record(repo, contract, entry, event, subscription_id, caller_id, at)
        return contract

    return retrying(attempt)


def _reduction(contract: Contract, subscription: Subscription, seats_after: int, caller_id: str) -> dict[str, Any]:
    """The fields both reduction events share."""
    return {
        "contract_id": contract.contract_id, "account_id": contract.account_id,
        "subscription_id": subscription.subscription_id, "seats_before": subscription.seats,
        "seats_after": seats_after, "renewal_date": contract.renewal_date,
        "renewal_price": subscription.unit_price.times(seats_after), "currency": contract.currency,
        "requested_by": caller_id,
    }
