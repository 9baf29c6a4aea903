"""Renewal notices (docs/api.md, Renewal): the nightly run tells each online, auto-renewing, active
contract of its renewal 30 and 7 days before it (annual and three-year terms) or 7 days before it
(monthly), once per contract, period and lead (the rules: seats.domain.notices).

Never a Scan, and no contract read in vain: one Query per shard and lead of the sparse, KEYS_ONLY notice
index finds exactly the contracts with a notice due (all of them before any is written), each read once
(strongly consistent). Its due
notices (a missed one too, while the renewal date is ahead) are recorded in one unit of work conditioned
on the contract's version: the contract's `notices_sent`, and per notice the history entry
`renewal_notice_sent` and the domain event `RenewalUpcoming`. A schedule that fires twice, or two runs
racing, cannot send one twice: the loser's write fails, and its fresh read finds the notice sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime

from seats.clock import utc_now
from seats.domain import events, history, notices
from seats.domain.errors import ConcurrentUpdate
from seats.domain.history import SYSTEM, HistoryEvent
from seats.domain.model import Contract
from seats.domain.preview import renewal_warnings
from seats.domain.renewal import renewal_charge
from seats.services.ports import Repository
from seats.services.retry import retrying

PARALLEL = 8  # within botocore's default pool of 10 connections per client
TIME_RESERVE_S = 10.0  # no contract is started this close to the invocation's end: the next run sends it


@dataclass(frozen=True)
class NoticeRun:
    sent: int  # notices sent (a contract may get two: a missed 30-day one and the 7-day one)
    left: int  # contracts with notices due not started, the invocation's time running short: the next run's


def send_renewal_notices(as_of: datetime, repo: Repository, shards: Iterable[str] | None = None,
                         time_left: Callable[[], float] | None = None) -> NoticeRun:
    """Send every renewal notice due on `as_of`'s UTC date. First the index, every shard in parallel; then
    the contracts found, in parallel. `time_left` (seconds) stops it early; what is left stays due."""
    today = as_of.astimezone(UTC).date()
    shard_list = list(shards if shards is not None else repo.notice_shards())

    def in_time(contract_id: str) -> int | None:
        if time_left is not None and time_left() < TIME_RESERVE_S:
            return None
        return notify(repo, contract_id, today)

    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        found = pool.map(lambda shard: list(repo.notice_contract_ids(today, shard)), shard_list)
        counts = list(pool.map(in_time, [contract_id for ids in found for contract_id in ids]))
    return NoticeRun(sent=sum(c for c in counts if c is not None), left=counts.count(None))


def notify(repo: Repository, contract_id: str, today: date) -> int:
    """The contract's notices due on `today`, each recorded once; how many were sent. A contract that
    keeps changing under the write (three lost races) is left for the next run, its notices unsent."""
    try:
        return retrying(lambda: _notify_once(repo, contract_id, today))
    except ConcurrentUpdate:
        return 0


def _notify_once(repo: Repository, contract_id: str, today: date) -> int:
    contract = repo.get_contract(contract_id)
    due = notices.due_notices(contract, today) if contract is not None else []
    if contract is None or not due:
        return 0
    work, now = repo.unit_of_work(), utc_now()
    for entry, event in _notices(contract, due):
        work.add_history(HistoryEvent.of(entry, contract_id=contract_id, at=now, actor=SYSTEM))
        work.add_event(event)
    contract.notices_sent = sorted({*contract.notices_sent, *due}, reverse=True)
    work.save_contract(contract)  # conditioned on the version read: a notice sent meanwhile fails this write
    work.commit()
    return len(due)


def _notices(contract: Contract, leads: list[int]) -> list[tuple[history.Entry, events.RenewalUpcoming]]:
    """Per lead, the history entry and the event: what the renewal will charge, and what may stop it."""
    total, warnings = renewal_charge(contract).total, renewal_warnings(contract)
    return [(
        history.RenewalNoticeSent(days_before=lead, renewal_date=contract.renewal_date, total=total,
                                  currency=contract.currency, warnings=list(warnings)),
        events.RenewalUpcoming(contract_id=contract.contract_id, account_id=contract.account_id,
                               renewal_date=contract.renewal_date, days_before=lead, total=total,
                               currency=contract.currency, warnings=list(warnings)),
    ) for lead in leads]
