"""services/add_seats.py on the in-memory repository: creating, editing and cancelling add-seats drafts."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from seats.domain.codes import ErrorCode
from seats.domain.errors import (
    ConcurrentUpdate,
    ContractNotFound,
    DraftExists,
    NotContractManager,
    NotEligible,
    OrderNotDraft,
    OrderNotFound,
    PaymentProviderUnavailable,
    SeatLimitExceeded,
    SubscriptionNotFound,
)
from seats.domain.model import PendingReduction, SeatOrder
from seats.domain.money import Money
from seats.domain.proration import Proration
from seats.domain.seat_orders import quote_expiry
from seats.services import add_seats, submit
from tests.fakes import CompetingWrites, Meanwhile, kept_charges, refunded_charges
from tests.unit.services.support import (
    ACME,
    MANAGER,
    OUTSIDER,
    PLAIN_USER,
    PRIMARY_ADMIN,
    SECONDARY_ADMIN,
    SUBSCRIPTION,
    change_contract,
    contract,
    die,
    history_types,
    pay_with,
    payment,
    seat_order,
    seats,
)


def draft(repo: Any, seats_to_add: int = 3, caller: str = MANAGER, subscription_id: str = SUBSCRIPTION):
    return add_seats.create_draft(repo, ACME, subscription_id, seats_to_add, caller)


# -- creating a draft -----------------------------------------------------------------------------------

def test_a_draft_is_priced_to_the_renewal_date_and_holds_the_subscription(repo):
    order = draft(repo)

    assert (order.status, order.seats_before, order.seats_to_add, order.seats_after) == ("draft", 10, 3, 13)
    assert (order.unit_price, order.proration) == (Money.parse("1975.00", "USD"), Proration(92, 365))
    assert order.total == Money.parse("1493.42", "USD")  # 1975.00 × 3 × 92 / 365, rounded once
    assert (order.quoted_on, order.quote_expires_at) == (date(2026, 11, 29), datetime(2026, 11, 30, tzinfo=UTC))
    assert order.payment_method is not None and order.payment_method.payment_method_id == "pm_acme_visa"
    assert seat_order(repo, order.order_id) == order and order.version == 1
    held = contract(repo)
    assert (held.subscription(SUBSCRIPTION).open_order_id, held.version) == (order.order_id, 2)
    assert history_types(repo) == [] and repo.outbox == []  # a draft is nobody's business yet


def test_a_second_draft_for_the_subscription_names_the_open_one(repo):
    first = draft(repo)

    with pytest.raises(DraftExists) as exists:
        draft(repo, 2)

    assert exists.value.extra == {"order_id": first.order_id}
    assert [o.order_id for o in repo.list_orders(ACME)] == [first.order_id]


def test_each_subscription_has_its_own_draft(repo, load, seed_data):
    seed_data["accounts"][0]["contracts"][0]["subscriptions"].append(
        {"subscription_id": "sub-inv", "product": "Inventor", "seats": 5, "unit_price": "2400.00"})
    repo = load(seed_data)

    draft(repo)
    other = draft(repo, 1, subscription_id="sub-inv")

    assert other.seats_after == 6 and contract(repo).subscription("sub-inv").open_order_id == other.order_id


@pytest.mark.parametrize("seats_to_add", [0, -1, 9991])
def test_seats_to_add_must_keep_the_subscription_within_10000_seats(repo, seats_to_add):
    with pytest.raises(SeatLimitExceeded):
        draft(repo, seats_to_add)
    assert repo.list_orders(ACME) == [] and contract(repo).version == 1


def test_a_draft_may_bring_the_subscription_to_exactly_10000_seats(repo):
    assert draft(repo, 9990).seats_after == 10_000


@pytest.mark.parametrize(("fields", "reason"), [
    ({"status": "past_due"}, ErrorCode.CONTRACT_NOT_ACTIVE),
    ({"purchase_channel": "reseller"}, ErrorCode.NOT_PURCHASED_ONLINE),
    ({"auto_renew": False}, ErrorCode.NOT_AUTO_RENEWING),
    ({"country": "BR"}, ErrorCode.REGION_NOT_SUPPORTED),
    ({"renewal_date": date(2026, 11, 29)}, ErrorCode.RENEWAL_DUE),
])
def test_an_ineligible_contract_refuses_a_draft_with_the_reason(repo, fields, reason):
    change_contract(repo, **fields)

    with pytest.raises(NotEligible) as refused:
        draft(repo)

    assert refused.value.code == reason and repo.list_orders(ACME) == []


@pytest.mark.parametrize(("change", "reason"), [
    (lambda sub: setattr(sub, "plan_type", "maintenance"), ErrorCode.MAINTENANCE_PLAN),
    (lambda sub: setattr(sub, "pending_reduction", PendingReduction(8, MANAGER, datetime(2026, 11, 1, tzinfo=UTC))),
     ErrorCode.REDUCTION_PENDING),
    (lambda sub: setattr(sub, "seats", 10_000), ErrorCode.SEAT_LIMIT_REACHED),
])
def test_an_ineligible_subscription_refuses_a_draft_with_the_reason(repo, change, reason):
    change_contract(repo, change=lambda c: change(c.subscription(SUBSCRIPTION)))

    with pytest.raises(NotEligible) as refused:
        draft(repo, 1)

    assert refused.value.code == reason


def test_the_first_failing_rule_is_the_reason(repo):
    change_contract(repo, status="suspended", purchase_channel="reseller", auto_renew=False)

    with pytest.raises(NotEligible) as refused:
        draft(repo)

    assert refused.value.code == ErrorCode.CONTRACT_NOT_ACTIVE


def test_eligibility_comes_before_the_seat_range(repo):
    change_contract(repo, status="past_due")
    with pytest.raises(NotEligible):
        draft(repo, 0)


def test_a_primary_admin_who_does_not_manage_the_contract_is_forbidden(repo):
    with pytest.raises(NotContractManager):
        draft(repo, caller=PRIMARY_ADMIN)


@pytest.mark.parametrize("caller", [SECONDARY_ADMIN, PLAIN_USER, OUTSIDER, "u-unknown"])
def test_someone_who_cannot_see_the_contract_is_told_it_does_not_exist(repo, caller):
    with pytest.raises(ContractNotFound):
        draft(repo, caller=caller)


def test_an_unknown_contract_or_subscription_is_not_found(repo):
    with pytest.raises(ContractNotFound):
        add_seats.create_draft(repo, "990000000009", SUBSCRIPTION, 3, MANAGER)
    with pytest.raises(SubscriptionNotFound):
        draft(repo, subscription_id="sub-nope")


def test_two_drafts_at_once_leave_one_and_the_other_is_told_which(repo):
    racing = CompetingWrites(repo)
    racing.before_next_commit(lambda: draft(repo, 5))

    with pytest.raises(DraftExists) as exists:
        draft(racing, 3)

    [winner] = repo.list_orders(ACME)
    assert exists.value.extra == {"order_id": winner.order_id}
    assert (winner.seats_to_add, contract(repo).subscription(SUBSCRIPTION).open_order_id) == (5, winner.order_id)


def test_a_draft_that_keeps_losing_races_answers_concurrent_update_and_writes_nothing(repo):
    racing = CompetingWrites(repo)
    for _ in range(3):
        racing.before_next_commit(lambda: change_contract(repo))  # e.g. the card on file changing each time

    with pytest.raises(ConcurrentUpdate):
        draft(racing)

    assert racing.interleaved == 3 and repo.list_orders(ACME) == []
    assert contract(repo).subscription(SUBSCRIPTION).open_order_id is None


# -- editing a draft ---------------------------------------------------------------------------------------

def test_editing_a_draft_prices_it_again_today(repo, clock_at, gateway):
    order = draft(repo, 3)
    clock_at("2026-12-01T08:00:00Z")

    edited = add_seats.update_draft(repo, gateway, order.order_id, 5, MANAGER)

    assert (edited.seats_to_add, edited.seats_after, edited.proration) == (5, 15, Proration(90, 365))
    assert edited.total == Money.parse("2434.93", "USD")  # 1975.00 × 5 × 90 / 365
    assert (edited.quoted_on, edited.quote_expires_at) == (date(2026, 12, 1), quote_expiry(date(2026, 12, 1)))
    assert seat_order(repo, order.order_id) == edited and edited.version == 2
    assert contract(repo).version == 2  # only checked, not written


def test_editing_a_draft_is_held_to_the_seat_limit_and_eligibility(repo, gateway):
    order = draft(repo)
    with pytest.raises(SeatLimitExceeded):
        add_seats.update_draft(repo, gateway, order.order_id, 9991, MANAGER)
    change_contract(repo, status="past_due")
    with pytest.raises(NotEligible):
        add_seats.update_draft(repo, gateway, order.order_id, 4, MANAGER)
    assert seat_order(repo, order.order_id).seats_to_add == 3


def test_a_draft_priced_against_a_contract_that_moved_is_priced_again_from_a_fresh_read(repo, gateway):
    order = draft(repo, 3)
    racing = CompetingWrites(repo)
    racing.before_next_commit(lambda: change_contract(repo, change=lambda c: setattr(c.subscriptions[0], "seats", 12)))

    edited = add_seats.update_draft(racing, gateway, order.order_id, 4, MANAGER)

    assert (edited.seats_before, edited.seats_after) == (12, 16)
    assert seat_order(repo, order.order_id).seats_before == 12


def test_only_the_manager_edits_a_draft_and_others_cannot_see_it(repo, gateway):
    order = draft(repo)
    with pytest.raises(NotContractManager):
        add_seats.update_draft(repo, gateway, order.order_id, 4, PRIMARY_ADMIN)
    for caller in (SECONDARY_ADMIN, OUTSIDER):
        with pytest.raises(OrderNotFound):
            add_seats.update_draft(repo, gateway, order.order_id, 4, caller)
    with pytest.raises(OrderNotFound):
        add_seats.update_draft(repo, gateway, "ord_missing", 4, MANAGER)


def test_a_cancelled_order_cannot_be_edited(repo, gateway):
    order = draft(repo)
    add_seats.cancel_draft(repo, gateway, order.order_id, MANAGER)
    with pytest.raises(OrderNotDraft):
        add_seats.update_draft(repo, gateway, order.order_id, 4, MANAGER)


# -- cancelling a draft --------------------------------------------------------------------------------

def test_cancelling_a_draft_frees_the_subscription_and_is_recorded(repo, gateway):
    order = draft(repo)

    cancelled = add_seats.cancel_draft(repo, gateway, order.order_id, MANAGER)

    assert cancelled.status == "cancelled" and seat_order(repo, order.order_id).status == "cancelled"
    assert contract(repo).subscription(SUBSCRIPTION).open_order_id is None and seats(repo) == 10
    [entry] = repo.list_history(ACME)
    assert (entry.type, entry.actor, entry.subscription_id) == ("order_cancelled", MANAGER, SUBSCRIPTION)
    assert entry.details == {"order_id": order.order_id, "seats_to_add": 3, "total": "1493.42", "currency": "USD"}
    assert repo.outbox == []
    assert draft(repo).order_id != order.order_id  # the subscription takes a new draft


def test_a_draft_can_be_cancelled_even_when_the_contract_is_no_longer_eligible(repo, gateway):
    order = draft(repo)
    change_contract(repo, status="past_due")
    assert add_seats.cancel_draft(repo, gateway, order.order_id, MANAGER).status == "cancelled"


def test_cancelling_twice_answers_order_not_draft(repo, gateway):
    order = draft(repo)
    add_seats.cancel_draft(repo, gateway, order.order_id, MANAGER)
    with pytest.raises(OrderNotDraft):
        add_seats.cancel_draft(repo, gateway, order.order_id, MANAGER)
    assert history_types(repo) == ["order_cancelled"]


def test_only_the_manager_cancels_a_draft(repo, gateway):
    order = draft(repo)
    with pytest.raises(NotContractManager):
        add_seats.cancel_draft(repo, gateway, order.order_id, PRIMARY_ADMIN)
    with pytest.raises(OrderNotFound):
        add_seats.cancel_draft(repo, gateway, order.order_id, OUTSIDER)
    assert seat_order(repo, order.order_id).status == "draft"


# -- a draft with a payment in progress ----------------------------------------------------------------

def captured(repo: Any, gateway: Any, seats_to_add: int = 3) -> SeatOrder:
    """A draft whose payment took the money while its submit timed out: the payment pending, captured."""
    order = draft(repo, seats_to_add)
    pay_with(repo, gateway, order.order_id, "tok_timeoutAfterCapture")
    with pytest.raises(PaymentProviderUnavailable):
        submit.submit(repo, gateway, order.order_id, MANAGER)
    return seat_order(repo, order.order_id)


def never_confirmed(repo: Any, gateway: Any) -> SeatOrder:
    """A draft whose submit recorded its payment at the provider and died before confirming it."""
    order = draft(repo)
    with pytest.raises(RuntimeError):
        submit.submit(repo, Meanwhile(gateway, before_confirm=die), order.order_id, MANAGER)
    return seat_order(repo, order.order_id)


def test_cancelling_a_draft_refunds_the_money_its_payment_took_first(repo, gateway):
    order = captured(repo, gateway)

    cancelled = add_seats.cancel_draft(repo, gateway, order.order_id, MANAGER)

    refunded = payment(repo, order.payment_id)
    assert (cancelled.status, cancelled.payment_id, refunded.status) == ("cancelled", None, "refunded")
    assert kept_charges(gateway) == [] and [c.charge_id for c in refunded_charges(gateway)] == [refunded.provider_ref]
    [entry] = [e for e in repo.list_history(ACME) if e.type == "payment_refunded"]
    assert (entry.details["reason"], entry.details["order_id"]) == ("order_cancelled", order.order_id)
    assert seats(repo) == 10 and repo.outbox == []


def test_cancelling_a_draft_cancels_a_payment_that_took_no_money(repo, gateway):
    order = never_confirmed(repo, gateway)

    add_seats.cancel_draft(repo, gateway, order.order_id, MANAGER)

    assert payment(repo, order.payment_id).status == "failed"
    assert [c.status for c in gateway.list_charges()] == ["canceled"]
    assert history_types(repo) == ["order_cancelled"]


def test_editing_a_draft_to_another_total_settles_its_payment_in_progress(repo, gateway):
    order = captured(repo, gateway)
    first_payment = order.payment_id

    edited = add_seats.update_draft(repo, gateway, order.order_id, 5, MANAGER)

    assert (edited.seats_to_add, edited.payment_id) == (5, None) and seat_order(repo, order.order_id) == edited
    assert payment(repo, first_payment).status == "refunded" and kept_charges(gateway) == []


def test_editing_a_draft_to_the_same_total_keeps_its_payment_in_progress(repo, gateway):
    order = captured(repo, gateway)

    edited = add_seats.update_draft(repo, gateway, order.order_id, 3, MANAGER)

    assert (edited.payment_id, payment(repo, order.payment_id).status) == (order.payment_id, "pending")
    completed = submit.submit(repo, gateway, order.order_id, MANAGER)
    [charge] = gateway.list_charges()
    assert (completed.payment_id, completed.charge_id, charge.status) == (order.payment_id, charge.charge_id,
                                                                          "succeeded")


def test_a_draft_is_neither_edited_nor_cancelled_while_the_provider_does_not_answer_for_its_payment(repo, gateway):
    order = captured(repo, gateway)

    class Silent:
        def get_payment(self, provider_ref: str) -> Any:
            raise PaymentProviderUnavailable()

        def __getattr__(self, name: str) -> Any:
            return getattr(gateway, name)

    with pytest.raises(PaymentProviderUnavailable):
        add_seats.update_draft(repo, Silent(), order.order_id, 5, MANAGER)
    with pytest.raises(PaymentProviderUnavailable):
        add_seats.cancel_draft(repo, Silent(), order.order_id, MANAGER)

    assert seat_order(repo, order.order_id) == order and payment(repo, order.payment_id).status == "pending"
    assert len(kept_charges(gateway)) == 1
