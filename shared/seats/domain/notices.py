"""Renewal notices (docs/api.md, Renewal): which notices of a contract's current period are due.

An online, auto-renewing, active contract is told of its renewal 30 and 7 days before it (annual and
three-year terms) or 7 days before it (monthly terms), once per period and lead time. A notice is due
when `renewal_date − today ≤ lead` and the renewal date is still ahead; a missed one is sent late, with
its own lead as `days_before`. `Contract.notices_sent` holds the leads of the current period already
sent (the renewal empties it). Pure: no clock, no table.
"""

from __future__ import annotations

from datetime import date, timedelta

from seats.domain.model import Contract
from seats.domain.terms import Term

LEADS: dict[Term, tuple[int, ...]] = {Term.MONTHLY: (7,), Term.ANNUAL: (30, 7), Term.THREE_YEAR: (30, 7)}
ALL_LEADS: tuple[int, ...] = tuple(sorted({lead for leads in LEADS.values() for lead in leads}, reverse=True))


def notified(contract: Contract) -> bool:
    """Only online, auto-renewing, active contracts get notices."""
    return contract.purchase_channel == "online" and contract.auto_renew and contract.status == "active"


def unsent_leads(contract: Contract) -> list[int]:
    """The current period's leads not yet sent, largest first ([] for a contract that gets no notices)."""
    if not notified(contract):
        return []
    return [lead for lead in LEADS[contract.term] if lead not in contract.notices_sent]


def next_notice(contract: Contract) -> tuple[int, date] | None:
    """(lead, date) of the next notice to send: the largest unsent lead, on renewal_date − lead; None when
    every notice of the period was sent or the contract gets none."""
    unsent = unsent_leads(contract)
    if not unsent:
        return None
    return unsent[0], contract.renewal_date - timedelta(days=unsent[0])


def due_notices(contract: Contract, today: date) -> list[int]:
    """The leads whose notice is due on `today` and not yet sent, largest first: each one with
    `renewal_date − today ≤ lead`, while the renewal date is still ahead."""
    days_left = (contract.renewal_date - today).days
    if days_left <= 0:
        return []
    return [lead for lead in unsent_leads(contract) if days_left <= lead]
