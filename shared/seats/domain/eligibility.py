"""Eligibility of a change (docs/api.md, Eligibility): checked in order, the first failure is the reason."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from seats.domain.codes import ErrorCode
from seats.domain.errors import NotContractManager, NotEligible
from seats.domain.model import Contract, Subscription

MAX_SEATS = 10_000

EU_MEMBER_STATES = frozenset(
    ["AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE"]
)
SUPPORTED_COUNTRIES = frozenset({"US", "CA", "AU", "GB", "CH", "NO"}) | EU_MEMBER_STATES


class Change(StrEnum):
    ADD = "add_seats"
    REDUCE = "reduce_seats"
    CANCEL_REDUCTION = "cancel_reduction"  # rules 1-7 only: 8b and 9b are about making a reduction


def ineligibility(
    change: Change, contract: Contract, subscription: Subscription, caller: str, today: date
) -> ErrorCode | None:
    """The reason code that forbids `change`, or None when it is allowed."""
    reason = _contract_ineligibility(contract, subscription, caller, today)
    if reason is not None or change is Change.CANCEL_REDUCTION:
        return reason
    if change is Change.ADD:
        if subscription.pending_reduction is not None:
            return ErrorCode.REDUCTION_PENDING
        if subscription.seats >= MAX_SEATS:
            return ErrorCode.SEAT_LIMIT_REACHED
        return None
    if subscription.open_order_id is not None:
        return ErrorCode.DRAFT_EXISTS
    if subscription.seats <= 1:
        return ErrorCode.SINGLE_SEAT
    return None


def _contract_ineligibility(contract: Contract, subscription: Subscription, caller: str,
                            today: date) -> ErrorCode | None:
    """Rules 1-7, common to every seat change."""
    if caller != contract.contract_manager:
        return ErrorCode.NOT_CONTRACT_MANAGER
    if contract.status != "active":
        return ErrorCode.CONTRACT_NOT_ACTIVE
    if contract.purchase_channel != "online":
        return ErrorCode.NOT_PURCHASED_ONLINE
    if not contract.auto_renew:
        return ErrorCode.NOT_AUTO_RENEWING
    if contract.country not in SUPPORTED_COUNTRIES:
        return ErrorCode.REGION_NOT_SUPPORTED
    if subscription.plan_type != "subscription":
        return ErrorCode.MAINTENANCE_PLAN
    if today >= contract.renewal_date:
        return ErrorCode.RENEWAL_DUE
    return None


def require_eligible(change: Change, contract: Contract, subscription: Subscription, caller: str,
                     today: date) -> None:
    """Raise the first failed rule: 403 not_contract_manager for rule 1, 409 with the reason for the others."""
    reason = ineligibility(change, contract, subscription, caller, today)
    if reason is ErrorCode.NOT_CONTRACT_MANAGER:
        raise NotContractManager()
    if reason is not None:
        raise NotEligible(reason)
