"""services/notices.py on the in-memory repository: renewal notices 30 and 7 days before a renewal (7 for
monthly terms), once per contract, period and lead, late when missed, never twice."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from typing import Any

import pytest

from seats.domain import renewal
from seats.domain.model import CarriedAmount, PaymentMethod, PendingReduction
from seats.domain.money import Money
from seats.services.notices import NoticeRun, notify, send_renewal_notices
from tests.conftest import BASE_SEED
from tests.fakes import CompetingWrites, MemoryRepository
from tests.unit.services.support import ACME, GLOBEX, change_contract, contract, history_types


def at(day: str) -> datetime:
    return datetime.fromisoformat(f"{day}T02:00:00+00:00")


def with_contracts(seed: dict[str, Any], **changes: dict[str, Any]) -> dict[str, Any]:
    """The seed plus Acme contracts like its first (annual, renews 2027-03-01), changed by `changes`."""
    for contract_id, fields in changes.items():
        added = copy.deepcopy(BASE_SEED["accounts"][0]["contracts"][0])
        added.update(contract_id=contract_id, **fields)
        added["subscriptions"][0]["subscription_id"] = f"sub-{contract_id}"
        seed["accounts"][0]["contracts"].append(added)
    return seed


def notices(repo: MemoryRepository) -> list[tuple[str, int, str]]:
    """The RenewalUpcoming events committed, as (contract, days_before, renewal_date)."""
    return [(d["contract_id"], d["days_before"], d["renewal_date"]) for t, d in repo.events()
            if t == "RenewalUpcoming"]


class CountingReads:
    """A repository that counts the contracts read."""

    def __init__(self, repo: MemoryRepository) -> None:
        self.repo = repo
        self.read: list[str] = []

    def get_contract(self, contract_id: str) -> Any:
        self.read.append(contract_id)
        return self.repo.get_contract(contract_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.repo, name)


# -- when -----------------------------------------------------------------------------------------------

def test_an_annual_contract_is_told_30_days_before_its_renewal_with_what_it_will_charge(repo):
    assert send_renewal_notices(at("2027-01-29"), repo).sent == 0
    assert send_renewal_notices(at("2027-01-30"), repo).sent == 1

    [(detail_type, detail)] = repo.events()
    assert detail_type == "RenewalUpcoming"
    assert {k: v for k, v in detail.items() if k != "event_id"} == {
        "contract_id": ACME, "account_id": "acme", "renewal_date": "2027-03-01", "days_before": 30,
        "total": "19750.00", "currency": "USD", "warnings": []}
    assert detail["event_id"].startswith("evt_")
    [entry] = repo.list_history(ACME)
    assert (entry.type, entry.actor, entry.subscription_id) == ("renewal_notice_sent", "system", None)
    assert entry.details == {"days_before": 30, "renewal_date": "2027-03-01", "total": "19750.00",
                             "currency": "USD", "warnings": []}
    assert contract(repo).notices_sent == [30]


def test_then_7_days_before_and_nothing_in_between_or_after(repo):
    for day in ("2027-01-30", "2027-01-31", "2027-02-15", "2027-02-21", "2027-02-22", "2027-02-23", "2027-02-28"):
        send_renewal_notices(at(day), repo)
    assert notices(repo) == [(ACME, 30, "2027-03-01"), (ACME, 7, "2027-03-01")]
    assert contract(repo).notices_sent == [30, 7]


def test_a_three_year_contract_gets_both_notices_and_a_monthly_one_only_the_7_day_one(load, seed_data):
    repo = load(with_contracts(seed_data, **{"330000000001": {"term": "three_year", "term_start": "2024-03-01"}}))
    for day in ("2026-11-15", "2026-12-08", "2027-01-30", "2027-02-22"):
        send_renewal_notices(at(day), repo)
    assert sorted(notices(repo)) == [
        (ACME, 7, "2027-03-01"), (ACME, 30, "2027-03-01"), (GLOBEX, 7, "2026-12-15"),
        ("330000000001", 7, "2027-03-01"), ("330000000001", 30, "2027-03-01")]


def test_a_missed_notice_is_sent_late_with_its_own_lead_both_in_one_write(repo):
    assert send_renewal_notices(at("2027-02-24"), repo).sent == 2  # 5 days before: the 30-day one was missed
    assert notices(repo) == [(ACME, 30, "2027-03-01"), (ACME, 7, "2027-03-01")]
    assert history_types(repo) == ["renewal_notice_sent", "renewal_notice_sent"]
    assert contract(repo).version == 2  # one write


def test_a_missed_30_day_notice_alone_is_sent_late_before_the_7_day_window(repo):
    assert send_renewal_notices(at("2027-02-10"), repo).sent == 1
    assert notices(repo) == [(ACME, 30, "2027-03-01")]


def test_nothing_on_or_after_the_renewal_date_even_if_never_sent(repo):
    assert send_renewal_notices(at("2027-03-01"), repo).sent == 0
    assert send_renewal_notices(at("2027-03-05"), repo).sent == 0
    assert notices(repo) == [] and contract(repo).notices_sent == []


@pytest.mark.parametrize("fields", [
    {"purchase_channel": "reseller"}, {"auto_renew": False}, {"status": "past_due"}, {"status": "suspended"},
    {"status": "expired"}, {"status": "cancelled"},
], ids=lambda f: "-".join(map(str, f.values())))
def test_no_notice_for_a_contract_that_is_not_online_auto_renewing_and_active(load, seed_data, fields):
    repo = load(with_contracts(seed_data, **{"330000000002": fields}))
    reads = CountingReads(repo)
    send_renewal_notices(at("2027-02-24"), reads)
    assert [c for c, _, _ in notices(repo)] == [ACME, ACME]
    assert set(reads.read) == {ACME}  # not even read


# -- what --------------------------------------------------------------------------------------------

def test_the_total_is_what_the_renewal_will_charge_and_the_warnings_name_what_may_stop_it(repo):
    def reduce_and_carry(c):
        c.subscriptions[0].pending_reduction = PendingReduction(8, "u-alice", datetime(2027, 1, 2, tzinfo=UTC))
        c.carried_over = [CarriedAmount("ord_small", Money.parse("0.40", "USD"))]
        c.payment_method = PaymentMethod("pm_old", "acme", "visa", "4242", 1, 2027, "tok_visa")

    changed = change_contract(repo, change=reduce_and_carry)
    send_renewal_notices(at("2027-01-30"), repo)

    [(_, detail)] = repo.events()
    assert detail["total"] == str(renewal.renewal_charge(changed).total) == "15800.40"
    assert detail["warnings"] == ["card_expires_before_renewal"]
    assert repo.list_history(ACME)[0].details["warnings"] == ["card_expires_before_renewal"]


def test_a_contract_without_a_card_is_warned(repo):
    change_contract(repo, payment_method=None)
    send_renewal_notices(at("2027-02-22"), repo)
    assert {d["warnings"][0] for _, d in repo.events()} == {"no_payment_method"}


# -- never twice ----------------------------------------------------------------------------------------

def test_a_schedule_that_fires_twice_sends_nothing_more(repo):
    assert send_renewal_notices(at("2027-02-22"), repo).sent == 2
    assert send_renewal_notices(at("2027-02-22"), repo).sent == 0
    assert notify(repo, ACME, date(2027, 2, 22)) == 0  # a message delivered twice
    assert len(notices(repo)) == 2


def test_a_run_that_loses_the_race_to_another_finds_the_notice_sent(repo):
    racing = CompetingWrites(repo)
    racing.before_next_commit(lambda: notify(repo, ACME, date(2027, 1, 30)))  # the other run wins

    assert notify(racing, ACME, date(2027, 1, 30)) == 0
    assert racing.interleaved == 1
    assert notices(repo) == [(ACME, 30, "2027-03-01")]
    assert history_types(repo) == ["renewal_notice_sent"]


def test_a_run_that_loses_to_another_change_sends_the_notice_on_the_fresh_contract(repo):
    racing = CompetingWrites(repo)
    racing.before_next_commit(lambda: change_contract(repo, auto_renew=True, manager_email="new@acme.test"))

    assert notify(racing, ACME, date(2027, 1, 30)) == 1
    assert notices(repo) == [(ACME, 30, "2027-03-01")]
    assert contract(repo).manager_email == "new@acme.test" and contract(repo).notices_sent == [30]


def test_a_notice_whose_contract_turned_ineligible_meanwhile_is_not_sent(repo):
    racing = CompetingWrites(repo)
    racing.before_next_commit(lambda: change_contract(repo, auto_renew=False))

    assert notify(racing, ACME, date(2027, 1, 30)) == 0
    assert notices(repo) == []


def test_a_contract_that_keeps_changing_is_left_for_the_next_run(repo):
    racing = CompetingWrites(repo)
    for _ in range(3):
        racing.before_next_commit(lambda: change_contract(repo, manager_email="busy@acme.test"))

    assert send_renewal_notices(at("2027-01-30"), racing).sent == 0
    assert notices(repo) == []
    assert send_renewal_notices(at("2027-01-31"), repo).sent == 1  # the next night: late, still days_before 30
    assert notices(repo) == [(ACME, 30, "2027-03-01")]


# -- cost and periods ------------------------------------------------------------------------------------

def test_only_the_contracts_notified_are_read(load, seed_data):
    repo = load(with_contracts(seed_data, **{
        "330000000003": {"renewal_date": "2027-04-01", "term_start": "2026-04-01"},  # not yet
        "330000000004": {"renewal_date": "2027-02-20", "term_start": "2026-02-20"},  # renewal passed
        "330000000005": {"renewal_date": "2027-03-10", "term_start": "2026-03-10"},  # 30-day notice due
    }))
    reads = CountingReads(repo)
    assert send_renewal_notices(at("2027-02-22"), reads).sent == 3
    assert sorted(reads.read) == [ACME, "330000000005"]


def test_after_the_renewal_the_next_periods_notices_come_again(repo):
    send_renewal_notices(at("2027-02-24"), repo)
    renewed = renewal.renew(contract(repo), charge_id="ch_1", at=at("2027-03-01")).contract
    assert renewed.notices_sent == []
    work = repo.unit_of_work()
    work.save_contract(renewed)
    work.commit()

    assert send_renewal_notices(at("2028-01-31"), repo).sent == 1
    assert send_renewal_notices(at("2028-02-23"), repo).sent == 1
    assert notices(repo)[2:] == [(ACME, 30, "2028-03-01"), (ACME, 7, "2028-03-01")]


def test_the_as_of_instant_is_taken_in_utc(repo):
    evening = datetime.fromisoformat("2027-01-29T22:00:00-05:00")  # 03:00 UTC on 2027-01-30
    assert send_renewal_notices(evening, repo).sent == 1


def test_a_run_short_of_time_starts_no_contract_and_leaves_its_notices_to_the_next_run(load, seed_data):
    repo = load(with_contracts(seed_data, **{"330000000006": {}}))
    clock = iter([60.0, 5.0])  # seconds left: enough for the first contract, not for the second

    run = send_renewal_notices(at("2027-01-30"), repo, time_left=lambda: next(clock))

    assert (run.sent, run.left) == (1, 1)
    assert send_renewal_notices(at("2027-01-31"), repo) == NoticeRun(sent=1, left=0)
    assert sorted(c for c, _, _ in notices(repo)) == sorted([ACME, "330000000006"])
