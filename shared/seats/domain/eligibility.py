"""Eligibility of a change (SPEC §4.1): checked in order, the first failure is the reason."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from seats.domain.model import Contract, Subscription

MAX_SEATS = 10_000

EU_MEMBER_STATES = frozenset(
    ["AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE"]
)
SUPPORTED_COUNTRIES = frozenset({"US", "CA", "AU", "GB", "CH", "NO"}) | EU_MEMBER_STATES


class Change(StrEnum):
    ADD = "add_seats"
    REDUCE = "reduce_seats"


def ineligibility(
    change: Change, contract: Contract, subscription: Subscription, caller: str, today: date
) -> str | None:
    """The §4.1 reason code that forbids `change`, or None when it is allowed."""
    if caller != contract.contract_manager:
        return "not_contract_manager"
    if contract.status != "active":
        return "contract_not_active"
    if contract.purchase_channel != "online":
        return "not_purchased_online"
    if not contract.auto_renew:
        return "not_auto_renewing"
    if contract.country not in SUPPORTED_COUNTRIES:
        return "region_not_supported"
    if subscription.plan_type != "subscription":
        return "maintenance_plan"
    if today >= contract.renewal_date:
        return "renewal_due"
    if change is Change.ADD:
        if subscription.pending_reduction is not None:
            return "reduction_pending"
        if subscription.seats >= MAX_SEATS:
            return "seat_limit_reached"
    else:
        if subscription.open_order_id is not None:
            return "draft_exists"
        if subscription.seats <= 1:
            return "single_seat"
    return None
