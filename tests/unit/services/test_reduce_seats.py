"""services/reduce_seats.py on the in-memory repository: the seats a subscription renews with."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from seats.domain.codes import ErrorCode
from seats.domain.errors import (
    BelowAssignedSeats,
    ConcurrentUpdate,
    ContractNotFound,
    InvalidReduction,
    NoPendingReduction,
    NotContractManager,
    NotEligible,
    SubscriptionNotFound,
)
from seats.domain.model import PendingReduction
from seats.domain.money import Money
from seats.services import add_seats
from seats.services.reduce_seats import cancel_reduction, schedule_reduction
from tests.fakes import CompetingWrites
from tests.unit.services.support import (
    ACME,
    MANAGER,
    OUTSIDER,
    PRIMARY_ADMIN,
    SECONDARY_ADMIN,
    SUBSCRIPTION,
    change_contract,
    contract,
    history_types,
)

NOW = datetime(2026, 11, 29, 10, tzinfo=UTC)


def reduce(repo, seats: int, caller: str = MANAGER):
    return schedule_reduction(repo, ACME, SUBSCRIPTION, caller, seats)


def test_a_manager_schedules_a_reduction_that_renewal_will_apply(repo):
    reduced, subscription = reduce(repo, 8)

    assert subscription.pending_reduction == PendingReduction(8, MANAGER, NOW)
    assert (subscription.seats, subscription.renewal_seats, subscription.renewal_price) == (
        10, 8, Money.parse("15800.00", "USD"))
    assert contract(repo) == reduced and reduced.version == 2
    [entry] = repo.list_history(ACME)
    assert (entry.type, entry.actor, entry.subscription_id) == ("reduction_scheduled", MANAGER, SUBSCRIPTION)
    assert entry.details == {"seats_before": 10, "seats_after": 8, "renewal_date": "2027-03-01"}
    [(detail_type, detail)] = repo.events()
    assert detail_type == "SeatReductionScheduled"
    assert {k: detail[k] for k in ("seats_before", "seats_after", "renewal_price", "previous_seats_after",
                                   "requested_by", "renewal_date")} == {
        "seats_before": 10, "seats_after": 8, "renewal_price": "15800.00", "previous_seats_after": None,
        "requested_by": MANAGER, "renewal_date": "2027-03-01"}


def test_saving_again_replaces_the_pending_reduction(repo, clock_at):
    reduce(repo, 8)
    clock_at("2026-11-29T10:05:00Z")
    _, subscription = reduce(repo, 9)

    assert subscription.pending_reduction.seats == 9
    assert history_types(repo) == ["reduction_changed", "reduction_scheduled"]
    assert repo.list_history(ACME)[0].details["previous_seats_after"] == 8
    assert [d["previous_seats_after"] for _, d in repo.events()] == [None, 8]


def test_reducing_to_exactly_the_assigned_seats_is_allowed_and_below_is_refused(repo):
    assert reduce(repo, 7)[1].renewal_seats == 7
    with pytest.raises(BelowAssignedSeats) as refused:
        reduce(repo, 6)
    assert refused.value.detail == "7 seats are assigned"


@pytest.mark.parametrize("seats", [0, -1, 10, 11])
def test_a_reduction_must_leave_at_least_one_seat_and_fewer_than_today(repo, seats):
    with pytest.raises(InvalidReduction):
        reduce(repo, seats)
    assert contract(repo).version == 1 and repo.events() == []


@pytest.mark.parametrize(("fields", "reason"), [
    ({"status": "suspended"}, ErrorCode.CONTRACT_NOT_ACTIVE),
    ({"purchase_channel": "reseller"}, ErrorCode.NOT_PURCHASED_ONLINE),
    ({"auto_renew": False}, ErrorCode.NOT_AUTO_RENEWING),
    ({"renewal_date": date(2026, 11, 1)}, ErrorCode.RENEWAL_DUE),
])
def test_an_ineligible_contract_refuses_a_reduction_with_its_reason(repo, fields, reason):
    change_contract(repo, **fields)
    with pytest.raises(NotEligible) as refused:
        reduce(repo, 8)
    assert refused.value.code == reason


def test_an_open_add_seats_draft_blocks_a_reduction(repo):
    add_seats.create_draft(repo, ACME, SUBSCRIPTION, 3, MANAGER)
    with pytest.raises(NotEligible) as refused:
        reduce(repo, 8)
    assert refused.value.code == ErrorCode.DRAFT_EXISTS


def test_a_single_seat_subscription_cannot_be_reduced_and_has_nothing_to_cancel(repo):
    change_contract(repo, change=lambda c: setattr(c.subscriptions[0], "seats", 1))
    with pytest.raises(NotEligible) as refused:
        reduce(repo, 1)
    assert refused.value.code == ErrorCode.SINGLE_SEAT
    with pytest.raises(NoPendingReduction):
        cancel_reduction(repo, ACME, SUBSCRIPTION, MANAGER)


def test_eligibility_is_checked_before_the_requested_seats(repo):
    change_contract(repo, status="past_due")
    with pytest.raises(NotEligible):
        reduce(repo, 0)


def test_a_primary_admin_is_forbidden_and_anyone_else_cannot_tell_the_contract_exists(repo):
    with pytest.raises(NotContractManager):
        reduce(repo, 8, PRIMARY_ADMIN)
    for caller in (SECONDARY_ADMIN, OUTSIDER):
        with pytest.raises(ContractNotFound):
            reduce(repo, 8, caller)
    with pytest.raises(SubscriptionNotFound):
        schedule_reduction(repo, ACME, "sub-nope", MANAGER, 8)


def test_a_manager_cancels_the_pending_reduction(repo, clock_at):
    reduce(repo, 8)
    clock_at("2026-11-29T10:05:00Z")

    cancelled = cancel_reduction(repo, ACME, SUBSCRIPTION, MANAGER)

    assert cancelled.subscription(SUBSCRIPTION).pending_reduction is None and contract(repo) == cancelled
    assert history_types(repo) == ["reduction_cancelled", "reduction_scheduled"]
    assert repo.list_history(ACME)[0].details == {"seats_before": 10, "cancelled_seats_after": 8,
                                                  "renewal_date": "2027-03-01"}
    assert [t for t, _ in repo.events()] == ["SeatReductionScheduled", "SeatReductionCancelled"]
    assert repo.events()[1][1]["cancelled_seats_after"] == 8 and repo.events()[1][1]["seats_after"] == 10


def test_cancelling_when_nothing_is_pending_is_not_found(repo):
    with pytest.raises(NoPendingReduction):
        cancel_reduction(repo, ACME, SUBSCRIPTION, MANAGER)


def test_a_reduction_cannot_be_cancelled_once_the_renewal_is_due(repo, clock_at):
    reduce(repo, 8)
    clock_at("2027-03-01T00:00:00Z")
    with pytest.raises(NotEligible) as refused:
        cancel_reduction(repo, ACME, SUBSCRIPTION, MANAGER)
    assert refused.value.code == ErrorCode.RENEWAL_DUE


def test_a_change_that_lost_a_race_is_made_again_from_a_fresh_read(repo):
    racing = CompetingWrites(repo)
    racing.before_next_commit(lambda: change_contract(repo, change=lambda c: setattr(c.subscriptions[0], "seats", 12)))

    _, subscription = reduce(racing, 8)

    assert racing.interleaved == 1
    assert (subscription.seats, subscription.pending_reduction.seats) == (12, 8)  # the winner's seats, kept
    assert history_types(repo) == ["reduction_scheduled"] and len(repo.events()) == 1
    assert repo.events()[0][1]["seats_before"] == 12


def test_a_change_that_keeps_losing_races_answers_concurrent_update_and_records_nothing(repo):
    racing = CompetingWrites(repo)
    for _ in range(3):
        racing.before_next_commit(lambda: change_contract(repo))

    with pytest.raises(ConcurrentUpdate):
        reduce(racing, 8)

    assert contract(repo).subscription(SUBSCRIPTION).pending_reduction is None
    assert history_types(repo) == [] and repo.events() == []
