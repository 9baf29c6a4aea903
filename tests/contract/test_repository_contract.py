"""The Repository port's contract: what the services rely on, held by the DynamoDB adapter and the
in-memory fake alike (each test runs on both; see conftest.py)."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from botocore.exceptions import ClientError

from seats.adapters.dynamodb import keys
from seats.domain import events, history, renewal
from seats.domain.errors import ConcurrentUpdate
from seats.domain.history import HistoryEvent
from seats.domain.model import (
    Account,
    Contract,
    Order,
    PaymentError,
    PaymentMethod,
    PendingReduction,
    SeatOrder,
    User,
)
from seats.domain.money import Money
from seats.domain.payments import Payment, new_payment
from seats.domain.seat_orders import new_draft
from seats.services.ports import Repository
from tests.conftest import BASE_SEED

ACME, GLOBEX = "110000000001", "220000000001"
AT = datetime(2026, 11, 29, 10, tzinfo=UTC)


# -- helpers -------------------------------------------------------------------------------------------

def contract(repo: Repository, contract_id: str = ACME) -> Contract:
    found = repo.get_contract(contract_id)
    assert found is not None
    return found


def order(repo: Repository, order_id: str) -> Order:
    found = repo.get_order(order_id)
    assert found is not None
    return found


def draft(repo: Repository, order_id: str | None = None, at: datetime = AT, contract_id: str = ACME) -> SeatOrder:
    """A new add-seats draft for 3 seats of the contract's first subscription (not saved)."""
    owner = contract(repo, contract_id)
    made = new_draft(owner, owner.subscriptions[0], 3, owner.contract_manager, at)
    if order_id is not None:
        made.order_id = order_id
    return made


def saved_draft(repo: Repository, **kwargs: Any) -> SeatOrder:
    made = draft(repo, **kwargs)
    work = repo.unit_of_work()
    work.save_order(made)
    work.commit()
    return made


def entry(at: datetime = AT, seats_after: int = 8, event_id: str | None = None,
          contract_id: str = ACME) -> HistoryEvent:
    made = HistoryEvent.of(history.ReductionScheduled(seats_before=10, seats_after=seats_after,
                                                      renewal_date=date(2027, 3, 1)),
                           contract_id=contract_id, at=at, actor="u-alice", subscription_id="sub-acad")
    return made if event_id is None else HistoryEvent(event_id, made.contract_id, made.type, made.at, made.actor,
                                                      made.subscription_id, made.details)


def seats_added(order_id: str = "ord_1") -> events.SeatsAdded:
    return events.SeatsAdded(contract_id=ACME, account_id="acme", subscription_id="sub-acad", product="AutoCAD",
                             order_id=order_id, seats_before=10, seats_after=13, seats_added=3,
                             total=Money.parse("1493.42", "USD"), currency="USD", charge_id="ch_1")


def with_contracts(seed: dict[str, Any], *contracts: dict[str, Any], account: int = 0) -> dict[str, Any]:
    """The seed plus contracts like Acme's first (annual, 10 AutoCAD seats), changed by `contracts`."""
    template = BASE_SEED["accounts"][0]["contracts"][0]
    for n, fields in enumerate(contracts):
        added = copy.deepcopy(template)
        added.update(fields)
        added["subscriptions"] = [{**added["subscriptions"][0], "subscription_id": f"sub-{n}"}]
        seed["accounts"][account]["contracts"].append(added)
    return seed


def renewal_on(day: str, contract_id: str) -> dict[str, Any]:
    return {"contract_id": contract_id, "term_start": str(date.fromisoformat(day) - timedelta(days=365)),
            "renewal_date": day}


# -- records round trip, as copies ----------------------------------------------------------------------

def test_a_contract_saved_at_the_version_it_was_read_is_stored_one_version_on(repo):
    changed = contract(repo)
    assert changed.version == 1  # as seeded
    changed.status = "past_due"
    changed.failed_renewal_attempts = 2
    changed.subscriptions[0].pending_reduction = PendingReduction(8, "u-alice", AT)
    changed.subscriptions[0].open_order_id = "ord_open"
    changed.payment_method = repo.get_payment_method("acme", "pm_acme_mc")
    work = repo.unit_of_work()
    work.save_contract(changed)
    work.commit()

    assert changed.version == 2
    assert contract(repo) == changed


def test_a_seat_order_and_a_renewal_order_read_back_as_they_were_saved(repo):
    seat_order = draft(repo)
    seat_order.last_payment_error = PaymentError("payment_declined", "insufficient_funds", "The card was declined")
    seat_order.payment_attempt = 1
    period = renewal.renew(contract(repo), charge_id="ch_1", at=AT)
    work = repo.unit_of_work()
    work.save_order(seat_order)
    work.save_order(period.order)
    work.commit()

    assert order(repo, seat_order.order_id) == seat_order
    assert order(repo, period.order.order_id) == period.order
    assert (seat_order.version, period.order.version) == (1, 1)


def test_instants_are_kept_in_utc_to_the_millisecond(repo):
    eastern = timezone(timedelta(hours=-5))
    made = draft(repo, at=datetime(2026, 11, 29, 5, 0, 0, 123456, tzinfo=eastern))
    noted = entry(at=datetime(2026, 11, 29, 10, 0, 0, 999999, tzinfo=UTC))
    work = repo.unit_of_work()
    work.save_order(made)
    work.add_history(noted)
    work.commit()

    created_at = order(repo, made.order_id).created_at
    assert (created_at, created_at.utcoffset()) == (datetime(2026, 11, 29, 10, 0, 0, 123000, tzinfo=UTC),
                                                    timedelta(0))
    assert repo.list_history(ACME)[0].at == datetime(2026, 11, 29, 10, 0, 0, 999000, tzinfo=UTC)


def test_what_a_caller_reads_is_a_copy_that_changes_nothing_until_saved(repo):
    read = contract(repo)
    read.status = "cancelled"
    read.subscriptions[0].seats = 99

    again = contract(repo)
    assert (again.status, again.subscriptions[0].seats) == ("active", 10)
    assert again is not contract(repo)


def test_a_record_is_written_as_it_was_when_saved_not_as_it_is_at_commit(repo):
    changed = contract(repo)
    changed.status = "past_due"
    work = repo.unit_of_work()
    work.save_contract(changed)
    changed.status = "suspended"
    changed.subscriptions[0].seats = 99
    work.commit()

    stored = contract(repo)
    assert (stored.status, stored.subscriptions[0].seats, stored.version) == ("past_due", 10, 2)


def test_a_user_reads_back_with_a_role_per_team(repo):
    assert repo.get_user("u-paula") == User("u-paula", "paula@acme.test", {"acme": "primary_admin"})
    assert repo.get_user("u-stranger") is None


# -- versions: all or nothing ----------------------------------------------------------------------------

def test_a_save_from_a_stale_read_fails_and_writes_nothing_of_its_unit(backend, repo):
    first, second = contract(repo), contract(repo)
    first.status = "past_due"
    work = repo.unit_of_work()
    work.save_contract(first)
    work.commit()

    second.status = "suspended"
    new_order = draft(repo)
    stale = repo.unit_of_work()
    stale.save_order(new_order)
    stale.add_history(entry())
    stale.add_event(seats_added())
    stale.save_contract(second)
    with pytest.raises(ConcurrentUpdate):
        stale.commit()

    assert (contract(repo).status, contract(repo).version) == ("past_due", 2)
    assert repo.get_order(new_order.order_id) is None
    assert repo.list_history(ACME) == [] and backend.events() == []
    assert (second.version, new_order.version) == (1, 0)  # nothing was written: no version moved on


def test_a_new_record_can_be_created_only_once(repo):
    made = draft(repo, order_id="ord_once")
    work = repo.unit_of_work()
    work.save_order(made)
    work.commit()

    again = draft(repo, order_id="ord_once")
    work = repo.unit_of_work()
    work.save_order(again)
    with pytest.raises(ConcurrentUpdate):
        work.commit()
    assert order(repo, "ord_once").version == 1


def test_a_record_saved_at_a_version_that_was_never_stored_fails(repo):
    ghost = contract(repo)
    ghost.contract_id, ghost.version = "990000000009", 4
    work = repo.unit_of_work()
    work.save_contract(ghost)
    with pytest.raises(ConcurrentUpdate):
        work.commit()
    assert repo.get_contract("990000000009") is None


def test_require_contract_version_lets_the_unit_commit_without_writing_the_contract(repo):
    read = contract(repo)
    read.status = "cancelled"  # not written: only its version is checked
    made = draft(repo)
    work = repo.unit_of_work()
    work.save_order(made)
    work.require_contract_version(read)
    work.commit()

    assert (contract(repo).status, contract(repo).version, read.version) == ("active", 1, 1)
    assert order(repo, made.order_id).version == 1


def test_require_contract_version_fails_the_unit_once_the_contract_moved(repo):
    read = contract(repo)
    moved = contract(repo)
    work = repo.unit_of_work()
    work.save_contract(moved)
    work.commit()

    made = draft(repo)
    work = repo.unit_of_work()
    work.save_order(made)
    work.require_contract_version(read)
    with pytest.raises(ConcurrentUpdate):
        work.commit()
    assert repo.get_order(made.order_id) is None


def test_a_unit_that_writes_one_item_twice_is_refused_and_writes_nothing(repo):
    read = contract(repo)
    made = draft(repo)
    work = repo.unit_of_work()
    work.save_order(made)
    work.save_contract(read)
    work.require_contract_version(read)
    with pytest.raises((ClientError, ValueError)):  # a malformed unit, not a lost race
        work.commit()
    assert repo.get_order(made.order_id) is None and contract(repo).version == 1


def test_an_empty_unit_commits_nothing(repo):
    repo.unit_of_work().commit()
    assert contract(repo).version == 1


# -- cancel_draft ----------------------------------------------------------------------------------------

def test_cancel_draft_cancels_a_draft_by_id_and_moves_its_version_on(repo):
    made = saved_draft(repo)
    work = repo.unit_of_work()
    work.cancel_draft(made.order_id)
    work.commit()

    made.status, made.version = "cancelled", 2
    assert order(repo, made.order_id) == made


def test_cancel_draft_of_an_order_that_is_no_longer_a_draft_fails_the_whole_unit(backend, repo):
    made = saved_draft(repo)
    made.status = "completed"
    work = repo.unit_of_work()
    work.save_order(made)
    work.commit()

    renewed = contract(repo)
    renewed.status = "past_due"
    work = repo.unit_of_work()
    work.save_contract(renewed)
    work.add_history(entry())
    work.add_event(seats_added())
    work.cancel_draft(made.order_id)
    with pytest.raises(ConcurrentUpdate):
        work.commit()

    assert order(repo, made.order_id).status == "completed"
    assert contract(repo).status == "active" and repo.list_history(ACME) == [] and backend.events() == []


def test_cancel_draft_of_an_unknown_order_fails_the_unit(repo):
    work = repo.unit_of_work()
    work.add_history(entry())
    work.cancel_draft("ord_missing")
    with pytest.raises(ConcurrentUpdate):
        work.commit()
    assert repo.get_order("ord_missing") is None and repo.list_history(ACME) == []


# -- history and orders, newest first --------------------------------------------------------------------

def test_history_is_newest_first_and_one_units_entries_keep_the_order_they_were_added_in(repo):
    earlier, later = AT, AT + timedelta(seconds=1)
    first, second, third = entry(earlier, 9), entry(earlier, 8), entry(later, 7)
    for added in ([first, second], [third]):
        work = repo.unit_of_work()
        for noted in added:
            work.add_history(noted)
        work.commit()

    assert repo.list_history(ACME) == [third, second, first]
    assert repo.list_history(GLOBEX) == []


def test_entries_of_separate_units_at_the_same_instant_are_ordered_by_event_id_descending(repo):
    for event_id in ("evt_b", "evt_a", "evt_c"):
        work = repo.unit_of_work()
        work.add_history(entry(event_id=event_id))
        work.commit()

    assert [e.event_id for e in repo.list_history(ACME)] == ["evt_c", "evt_b", "evt_a"]


def test_orders_are_listed_newest_first_then_by_order_id_descending(repo):
    older_a = draft(repo, "ord_a", AT)
    older_b = draft(repo, "ord_b", AT)
    newer = draft(repo, "ord_0", AT + timedelta(milliseconds=1))
    elsewhere = draft(repo, "ord_z", AT, contract_id=GLOBEX)
    work = repo.unit_of_work()
    for made in (older_a, newer, elsewhere, older_b):
        work.save_order(made)
    work.commit()

    assert [o.order_id for o in repo.list_orders(ACME)] == ["ord_0", "ord_b", "ord_a"]
    assert [o.order_id for o in repo.list_orders(GLOBEX)] == ["ord_z"]
    assert repo.list_orders("990000000009") == []


# -- contracts a user can see ----------------------------------------------------------------------------

@pytest.fixture
def team(backend, seed_data):
    """Acme with five contracts (two managed by u-paula, its primary admin), and a Globex contract managed by
    u-paula too; renewal dates out of id order."""
    seed_data["accounts"][1]["users"].append({"user_id": "u-paula", "email": "paula@acme.test", "role": "user"})
    with_contracts(seed_data, renewal_on("2027-01-10", "110000000005"),
                   {**renewal_on("2027-01-10", "110000000004"), "contract_manager": "u-paula"},
                   {**renewal_on("2026-12-01", "110000000009"), "purchase_channel": "reseller"},
                   {**renewal_on("2027-06-30", "110000000002"), "contract_manager": "u-paula"})
    seed_data["accounts"][1]["contracts"].append(
        {**copy.deepcopy(seed_data["accounts"][1]["contracts"][0]), "contract_id": "220000000002",
         "contract_manager": "u-paula", "term_start": "2026-11-02", "renewal_date": "2026-12-02",
         "subscriptions": [{"subscription_id": "sub-x", "product": "Revit", "seats": 1, "unit_price": "300.00"}]})
    backend.load(seed_data)
    return backend.repo


def listed(repo: Repository, user_id: str, limit: int = 50, after: str | None = None) -> tuple[list[str], str | None]:
    user = repo.get_user(user_id)
    assert user is not None
    contracts, next_key = repo.list_contracts(user, limit, after)
    return [c.contract_id for c in contracts], next_key


def test_a_manager_lists_the_contracts_they_manage_by_renewal_date_then_id(team):
    assert listed(team, "u-alice") == (["110000000009", "110000000005", ACME], None)


def test_a_primary_admin_lists_every_contract_of_the_team_once_and_the_ones_they_manage_elsewhere(team):
    assert listed(team, "u-paula") == (
        ["110000000009", "220000000002", "110000000004", "110000000005", ACME, "110000000002"], None)


@pytest.mark.parametrize("user_id", ["u-sam", "u-nobody", "u-stranger"])
def test_a_secondary_admin_a_plain_user_or_an_unknown_user_lists_nothing(team, user_id):
    user = team.get_user(user_id) or User(user_id, "x@example.test", {})
    assert team.list_contracts(user, 50, None) == ([], None)


def test_pages_resume_after_the_last_sort_key_and_say_when_more_follow(team):
    pages, after = [], None
    while True:
        page, after = listed(team, "u-paula", 2, after)
        pages.append(page)
        if after is None:
            break
        assert after == keys.renewal_sort_key(contract(team, page[-1]).renewal_date.isoformat(), page[-1])

    assert pages == [["110000000009", "220000000002"], ["110000000004", "110000000005"], [ACME, "110000000002"]]


def test_a_page_that_ends_with_the_last_contract_says_nothing_follows(team):
    assert listed(team, "u-alice", 3) == (["110000000009", "110000000005", ACME], None)
    assert listed(team, "u-alice", 2)[1] == "2027-01-10#110000000005"
    assert listed(team, "u-alice", 2, "2027-01-10#110000000005") == ([ACME], None)


def test_a_contract_that_changes_manager_moves_to_the_new_managers_list(team):
    moved = contract(team, "110000000005")
    moved.contract_manager = "u-sam"
    work = team.unit_of_work()
    work.save_contract(moved)
    work.commit()

    assert listed(team, "u-alice")[0] == ["110000000009", ACME]
    assert listed(team, "u-sam")[0] == ["110000000005"]


def test_manages_contract_in_is_true_only_for_a_manager_of_a_contract_of_that_account(team):
    assert team.manages_contract_in("u-alice", "acme")
    assert team.manages_contract_in("u-paula", "globex")
    assert not team.manages_contract_in("u-alice", "globex")
    assert not team.manages_contract_in("u-sam", "acme")  # an admin, managing nothing
    assert not team.manages_contract_in("u-gina", "acme")


# -- due for renewal ------------------------------------------------------------------------------------

@pytest.fixture
def due(backend, seed_data):
    with_contracts(
        seed_data,
        renewal_on("2027-03-02", "110000000002"),  # the day after as_of
        renewal_on("2027-02-27", "110000000003"),  # missed days
        {**renewal_on("2027-03-01", "110000000004"), "status": "past_due"},
        {**renewal_on("2027-01-15", "110000000005"), "status": "suspended"},
        {**renewal_on("2027-02-01", "110000000006"), "status": "expired", "auto_renew": False},
        {**renewal_on("2027-02-01", "110000000007"), "status": "cancelled"},
        {**renewal_on("2027-02-01", "110000000008"), "purchase_channel": "reseller"},
    )
    backend.load(seed_data)
    return backend.repo


def all_due(repo: Repository, as_of: date) -> list[str]:
    return sorted(cid for shard in repo.due_shards() for cid in repo.due_contract_ids(as_of, shard))


def test_due_contracts_are_online_not_cancelled_and_renew_on_or_before_the_as_of_date(due):
    assert all_due(due, date(2027, 3, 1)) == [
        ACME, "110000000003", "110000000004", "110000000005", "110000000006", GLOBEX]
    assert all_due(due, date(2026, 12, 14)) == []


def test_each_due_contract_is_found_in_the_shard_its_id_hashes_to_in_renewal_date_order(due):
    assert due.due_shards() == keys.all_due_shards()
    for shard in due.due_shards():
        found = list(due.due_contract_ids(date(2027, 12, 31), shard))
        assert all(keys.due_shard(cid) == shard for cid in found)
        assert found == sorted(found, key=lambda cid: (contract(due, cid).renewal_date, cid))


def test_a_contract_leaves_the_due_list_when_cancelled_or_renewed_past_the_as_of_date(due):
    cancelled, renewed = contract(due, "110000000003"), contract(due, "110000000004")
    cancelled.status = "cancelled"
    renewed.renewal_date = date(2028, 3, 1)
    work = due.unit_of_work()
    work.save_contract(cancelled)
    work.save_contract(renewed)
    work.commit()

    assert all_due(due, date(2027, 3, 1)) == [ACME, "110000000005", "110000000006", GLOBEX]


# -- a record and its caller in one read ------------------------------------------------------------------

def test_a_contract_and_its_caller_are_read_together_and_either_may_be_missing(repo):
    found, user = repo.get_contract_and_user(ACME, "u-alice")
    assert (found, user) == (contract(repo), repo.get_user("u-alice"))
    assert repo.get_contract_and_user(ACME, "u-nope") == (contract(repo), None)
    assert repo.get_contract_and_user("990000000009", "u-alice") == (None, repo.get_user("u-alice"))


def test_an_order_and_its_caller_are_read_together_and_either_may_be_missing(repo):
    made = saved_draft(repo)
    assert repo.get_order_and_user(made.order_id, "u-paula") == (made, repo.get_user("u-paula"))
    assert repo.get_order_and_user(made.order_id, "u-nope") == (made, None)
    assert repo.get_order_and_user("ord_missing", "u-paula") == (None, repo.get_user("u-paula"))


def test_an_id_too_long_to_be_a_key_is_simply_not_found(repo):
    long_id = "9" * 2000
    assert repo.get_contract(long_id) is None and repo.get_order(long_id) is None
    assert repo.get_user(long_id) is None and repo.get_account(long_id) is None
    assert repo.get_payment_method("acme", long_id) is None and repo.get_payment(long_id) is None
    assert repo.get_contract_and_user(long_id, "u-alice") == (None, repo.get_user("u-alice"))
    assert repo.get_order_and_user(long_id, long_id) == (None, None)


# -- payment methods and accounts ---------------------------------------------------------------------------

def card(payment_method_id: str, brand: str = "visa") -> PaymentMethod:
    return PaymentMethod(payment_method_id, "acme", brand, "4242", 12, 2034, "tok_visa")


def test_payment_methods_are_listed_per_account_by_id(repo):
    work = repo.unit_of_work()
    work.add_payment_method(card("pm_0_first"))
    work.commit()

    assert [pm.payment_method_id for pm in repo.list_payment_methods("acme")] == [
        "pm_0_first", "pm_acme_mc", "pm_acme_visa"]
    assert [pm.payment_method_id for pm in repo.list_payment_methods("globex")] == ["pm_globex_visa"]
    assert repo.get_payment_method("acme", "pm_0_first") == card("pm_0_first")


def test_a_payment_method_id_cannot_be_added_twice_to_an_account(repo):
    seeded = repo.get_payment_method("acme", "pm_acme_visa")
    work = repo.unit_of_work()
    work.add_payment_method(card("pm_acme_visa", brand="mastercard"))
    work.add_history(entry())
    with pytest.raises(ConcurrentUpdate):
        work.commit()
    assert repo.get_payment_method("acme", "pm_acme_visa") == seeded
    assert repo.list_history(ACME) == []


def test_a_payment_method_of_another_account_is_not_found(repo):
    assert repo.get_payment_method("globex", "pm_acme_visa") is None
    assert repo.list_payment_methods("nobody") == []


def test_saving_an_account_replaces_it_whatever_was_read(repo):
    read = repo.get_account("acme")
    assert read == Account("acme", "Acme Corp", "US", "USD", None)
    for customer in ("cus_1", "cus_2"):
        work = repo.unit_of_work()
        work.save_account(Account("acme", "Acme Corp", "US", "USD", customer))
        work.commit()

    assert repo.get_account("acme") == Account("acme", "Acme Corp", "US", "USD", "cus_2")
    assert repo.get_account("nobody") is None


# -- ledger payments --------------------------------------------------------------------------------------

def payment(repo: Repository, at: datetime = AT, payment_id: str | None = None, **fields: Any) -> Payment:
    """A new add-seats payment of Acme's contract with its card on file (not saved)."""
    owner = contract(repo)
    assert owner.payment_method is not None
    made = new_payment("add_seats", order_id="ord_1", contract=owner, amount=Money.parse("1493.42", "USD"),
                       payment_method=owner.payment_method, at=at)
    if payment_id is not None:
        made.payment_id = payment_id
    for name, value in fields.items():
        setattr(made, name, value)
    return made


def saved(repo: Repository, *payments: Payment) -> None:
    work = repo.unit_of_work()
    for made in payments:
        work.save_payment(made)
    work.commit()


def unsettled(repo: Repository, started_before: datetime) -> list[str]:
    return list(repo.unsettled_payment_ids(started_before))


def test_a_payment_reads_back_as_it_was_saved_one_version_on(repo):
    pending = payment(repo)
    renewal_payment = new_payment("renewal", order_id="ren_1", contract=contract(repo),
                                  amount=Money.parse("19750.00", "USD"),
                                  payment_method=contract(repo).payment_method, at=AT, period=date(2027, 3, 1))
    renewal_payment.provider_ref, renewal_payment.decline_code = "ch_sandbox_1", "card_declined"
    renewal_payment.settle("failed", AT + timedelta(seconds=3))
    saved(repo, pending, renewal_payment)

    assert (pending.version, renewal_payment.version) == (1, 1)
    assert repo.get_payment(pending.payment_id) == pending
    assert repo.get_payment(renewal_payment.payment_id) == renewal_payment
    assert (renewal_payment.off_session, renewal_payment.period) == (True, date(2027, 3, 1))
    assert repo.get_payment("pay_missing") is None


def test_a_payments_instants_are_kept_in_utc_to_the_millisecond(repo):
    eastern = timezone(timedelta(hours=-5))
    made = payment(repo, at=datetime(2026, 11, 29, 5, 0, 0, 123456, tzinfo=eastern))
    made.settle("succeeded", datetime(2026, 11, 29, 10, 0, 1, 999999, tzinfo=UTC))
    saved(repo, made)

    read = repo.get_payment(made.payment_id)
    assert (read.created_at, read.settled_at) == (datetime(2026, 11, 29, 10, 0, 0, 123000, tzinfo=UTC),
                                                  datetime(2026, 11, 29, 10, 0, 1, 999000, tzinfo=UTC))


def test_a_new_payment_can_be_created_only_once(repo):
    saved(repo, payment(repo, payment_id="pay_once"))

    work = repo.unit_of_work()
    work.save_payment(payment(repo, payment_id="pay_once", provider_ref="ch_other"))
    with pytest.raises(ConcurrentUpdate):
        work.commit()
    assert repo.get_payment("pay_once").provider_ref is None


def test_a_payment_saved_from_a_stale_read_fails_and_writes_nothing_of_its_unit(backend, repo):
    made = payment(repo)
    saved(repo, made)
    first, second = repo.get_payment(made.payment_id), repo.get_payment(made.payment_id)
    first.provider_ref = "ch_first"
    saved(repo, first)

    second.provider_ref = "ch_second"
    new_order = draft(repo)
    stale = repo.unit_of_work()
    stale.save_order(new_order)
    stale.add_history(entry())
    stale.add_event(seats_added())
    stale.save_payment(second)
    with pytest.raises(ConcurrentUpdate):
        stale.commit()

    read = repo.get_payment(made.payment_id)
    assert (read.provider_ref, read.version) == ("ch_first", 2)
    assert repo.get_order(new_order.order_id) is None and repo.list_history(ACME) == [] and backend.events() == []
    assert (second.version, new_order.version) == (1, 0)


def test_a_payment_saved_at_a_version_that_was_never_stored_fails(repo):
    ghost = payment(repo, payment_id="pay_ghost")
    ghost.version = 3
    work = repo.unit_of_work()
    work.save_payment(ghost)
    with pytest.raises(ConcurrentUpdate):
        work.commit()
    assert repo.get_payment("pay_ghost") is None


def test_a_payment_and_the_order_that_points_to_it_are_written_together_or_not_at_all(repo):
    order_read = saved_draft(repo)
    stale_order = order(repo, order_read.order_id)
    made = payment(repo)
    order_read.payment_id = made.payment_id
    work = repo.unit_of_work()
    work.save_payment(made)
    work.save_order(order_read)
    work.commit()
    assert order(repo, order_read.order_id).payment_id == made.payment_id

    other = payment(repo)
    stale_order.payment_id = other.payment_id
    work = repo.unit_of_work()
    work.save_payment(other)
    work.save_order(stale_order)
    with pytest.raises(ConcurrentUpdate):
        work.commit()
    assert repo.get_payment(other.payment_id) is None
    assert order(repo, order_read.order_id).payment_id == made.payment_id


def test_only_unsettled_payments_are_listed_as_unsettled(repo):
    pending, refunding = payment(repo), payment(repo, status="refunding")
    succeeded, failed, refunded = payment(repo), payment(repo), payment(repo)
    succeeded.settle("succeeded", AT)
    failed.settle("failed", AT)
    refunded.settle("refunded", AT)
    saved(repo, pending, refunding, succeeded, failed, refunded)

    assert sorted(unsettled(repo, AT + timedelta(hours=1))) == sorted([pending.payment_id, refunding.payment_id])


def test_unsettled_payments_are_those_started_strictly_before_the_instant_to_the_millisecond(repo):
    early = payment(repo, at=AT - timedelta(minutes=11))
    on_the_dot = payment(repo, at=AT - timedelta(minutes=10))
    late = payment(repo, at=AT - timedelta(minutes=9))
    saved(repo, early, on_the_dot, late)
    cutoff = AT - timedelta(minutes=10)

    assert unsettled(repo, cutoff) == [early.payment_id]
    assert unsettled(repo, cutoff + timedelta(microseconds=999)) == [early.payment_id]  # the same millisecond
    assert sorted(unsettled(repo, cutoff + timedelta(milliseconds=1))) == sorted(
        [early.payment_id, on_the_dot.payment_id])
    assert unsettled(repo, AT - timedelta(hours=1)) == []


def test_unsettled_payments_come_shard_by_shard_oldest_first_within_each(repo):
    made = [payment(repo, at=AT - timedelta(minutes=n), payment_id=f"pay_{n:02d}") for n in range(40)]
    saved(repo, *made)

    expected = sorted(made, key=lambda p: (keys.unsettled_shard(p.payment_id), p.created_at, p.payment_id))
    assert len({keys.unsettled_shard(p.payment_id) for p in made}) > 1
    assert unsettled(repo, AT + timedelta(seconds=1)) == [p.payment_id for p in expected]


def test_a_payment_leaves_the_unsettled_list_once_settled_and_stays_while_refunding(repo):
    made = payment(repo)
    saved(repo, made)
    later = AT + timedelta(hours=1)

    made.status = "refunding"
    saved(repo, made)
    assert unsettled(repo, later) == [made.payment_id]

    made.settle("refunded", later)
    saved(repo, made)
    assert unsettled(repo, later) == [] and repo.get_payment(made.payment_id).status == "refunded"


# -- domain events: the outbox --------------------------------------------------------------------------

def test_a_units_domain_events_are_committed_with_it_once_each_as_json_with_their_id(backend, repo):
    changed = contract(repo)
    work = repo.unit_of_work()
    work.save_contract(changed)
    work.add_event(seats_added("ord_1"))
    work.add_event(seats_added("ord_2"))
    work.commit()

    committed = sorted(backend.events(), key=lambda event: event[1]["order_id"])
    assert [(t, d["order_id"]) for t, d in committed] == [("SeatsAdded", "ord_1"), ("SeatsAdded", "ord_2")]
    detail = committed[0][1]
    assert detail == {**events.detail(seats_added("ord_1")), "event_id": detail["event_id"]}
    assert detail["event_id"].startswith("evt_") and committed[1][1]["event_id"] != detail["event_id"]
    assert detail["total"] == "1493.42"


def test_a_unit_that_fails_commits_none_of_its_events(backend, repo):
    stale = contract(repo)
    work = repo.unit_of_work()
    work.save_contract(contract(repo))
    work.commit()

    work = repo.unit_of_work()
    work.save_contract(stale)
    work.add_event(seats_added())
    with pytest.raises(ConcurrentUpdate):
        work.commit()
    assert backend.events() == []
