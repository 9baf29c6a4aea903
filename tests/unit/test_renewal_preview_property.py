"""The renewal preview is what the renewal charges (docs/api.md, Renewal preview), over random contracts: random
subscriptions, seats, prices in every supported currency, pending reductions, carried amounts, terms and
statuses. The preview is read through services.read on the in-memory repository, then the contract is renewed
on its renewal date (services.renew on the in-memory sandbox); nothing changes in between."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seats.domain.model import CarriedAmount, Contract, PendingReduction, RenewalOrder
from seats.domain.money import MINOR_UNIT_DIGITS, Money
from seats.domain.payments import MINIMUM_CHARGE, below_minimum
from seats.domain.renewal import renewal_order_id
from seats.domain.terms import Term, next_renewal_date
from seats.services import read
from seats.services.renew import renew_contract
from tests import fakes

CONTRACT, MANAGER = "510000000001", "u-alice"
REQUESTED_AT = datetime(2024, 12, 1, 9, tzinfo=UTC)


@st.composite
def subscriptions(draw: st.DrawFn, index: int) -> dict[str, Any]:
    """A seed subscription with, sometimes, a pending reduction (its seats under "reduce_to")."""
    seats = draw(st.one_of(st.integers(1, 3), st.integers(1, 10_000)))
    minor_units = draw(st.one_of(st.integers(0, 60), st.integers(0, 10**7)))
    reduce_to = draw(st.none() | st.integers(1, seats - 1)) if seats > 1 else None
    return {"subscription_id": f"sub-{index}", "product": f"Product {index}", "seats": seats,
            "minor_units": minor_units, "reduce_to": reduce_to}


@st.composite
def contracts(draw: st.DrawFn) -> dict[str, Any]:
    currency = draw(st.sampled_from(sorted(MINOR_UNIT_DIGITS)))
    term = draw(st.sampled_from(list(Term)))
    term_start = draw(st.dates(min_value=date(2025, 1, 1), max_value=date(2030, 12, 31)))
    anchor = draw(st.one_of(st.just(term_start.day), st.integers(term_start.day, 31)))
    count = draw(st.integers(1, 4))
    smallest = Money(MINIMUM_CHARGE[currency], currency).minor_units
    carried = draw(st.lists(st.integers(1, smallest - 1), max_size=3))
    return {
        "currency": currency, "term": term, "term_start": term_start,
        "renewal_date": next_renewal_date(term_start, term, anchor), "anchor": anchor,
        "status": draw(st.sampled_from(["active", "past_due", "suspended"])),
        "subscriptions": [draw(subscriptions(i)) for i in range(count)], "carried": carried,
    }


def seed_of(drawn: dict[str, Any]) -> dict[str, Any]:
    currency = drawn["currency"]
    return {"accounts": [{
        "account_id": "acct", "name": "Random Ltd", "country": "US", "currency": currency,
        "users": [{"user_id": MANAGER, "email": "alice@random.test", "role": "user"}],
        "payment_methods": [{"payment_method_id": "pm_visa", "token": "tok_visa"}],
        "contracts": [{
            "contract_id": CONTRACT, "contract_manager": MANAGER, "purchase_channel": "online", "auto_renew": True,
            "term": drawn["term"].value, "term_start": drawn["term_start"].isoformat(),
            "renewal_date": drawn["renewal_date"].isoformat(), "billing_anchor_day": drawn["anchor"],
            "status": drawn["status"], "payment_method_id": "pm_visa",
            "subscriptions": [{"subscription_id": s["subscription_id"], "product": s["product"], "seats": s["seats"],
                               "unit_price": str(Money.from_minor_units(s["minor_units"], currency))}
                              for s in drawn["subscriptions"]],
        }],
    }]}


def with_reductions_and_carried(contract: Contract, drawn: dict[str, Any]) -> None:
    for subscription, spec in zip(contract.subscriptions, drawn["subscriptions"], strict=True):
        if spec["reduce_to"] is not None:
            subscription.pending_reduction = PendingReduction(spec["reduce_to"], MANAGER, REQUESTED_AT)
    contract.carried_over = [CarriedAmount(f"ord_small_{n}", Money.from_minor_units(units, contract.currency))
                             for n, units in enumerate(drawn["carried"])]


def world(drawn: dict[str, Any]) -> fakes.MemoryRepository:
    repo = fakes.seed(fakes.MemoryRepository(), seed_of(drawn))
    contract = repo.get_contract(CONTRACT)
    assert contract is not None
    with_reductions_and_carried(contract, drawn)
    work = repo.unit_of_work()
    work.save_contract(contract)
    work.commit()
    return repo


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drawn=contracts())
def test_the_renewal_charges_exactly_the_previews_total_and_orders_its_lines(clock_at: Callable[[str], None],
                                                                             drawn: dict[str, Any]) -> None:
    repo, gateway = world(drawn), fakes.memory_gateway()
    preview = read.renewal_preview(repo, CONTRACT, MANAGER)

    outcome = renew_contract(CONTRACT, datetime.combine(preview.renewal_date, datetime.min.time(), UTC).replace(
        hour=2), repo, gateway)

    assert (outcome.renewed, outcome.declines) == (1, 0)
    order = repo.get_order(renewal_order_id(CONTRACT, preview.renewal_date))
    assert isinstance(order, RenewalOrder)
    assert order.total == preview.total
    assert [(line.subscription_id, line.seats, line.unit_price, line.amount) for line in order.lines] == [
        (p.line.subscription_id, p.line.seats, p.line.unit_price, p.line.amount) for p in preview.lines]
    assert (order.period, order.carried_over) == (preview.next_period, preview.carried_over)
    charges = fakes.kept_charges(gateway)
    renewed = repo.get_contract(CONTRACT)
    assert renewed is not None
    if preview.total.amount == 0 or below_minimum(preview.total):  # no charge; a small amount is carried
        assert (charges, order.charge_id) == ([], None)
        carried = [CarriedAmount(order.order_id, preview.total)] if below_minimum(preview.total) else []
        assert renewed.carried_over == carried
    else:
        assert [(c.charge_id, c.amount) for c in charges] == [(order.charge_id, preview.total)]
        assert renewed.carried_over == []


@settings(max_examples=100, deadline=None)
@given(drawn=contracts())
def test_the_preview_lines_are_the_renewal_seats_at_the_unit_price(drawn: dict[str, Any]) -> None:
    repo = world(drawn)
    preview = read.renewal_preview(repo, CONTRACT, MANAGER)

    assert preview.renewal_date == drawn["renewal_date"] and preview.next_period.term_start == drawn["renewal_date"]
    for entry, spec in zip(preview.lines, drawn["subscriptions"], strict=True):
        seats = spec["reduce_to"] if spec["reduce_to"] is not None else spec["seats"]
        assert (entry.line.seats, entry.reduction_applied) == (seats, spec["reduce_to"] is not None)
        assert entry.line.amount == entry.line.unit_price.times(seats)
    total = sum((e.line.amount.amount for e in preview.lines), start=sum(c.amount.amount for c in preview.carried_over))
    assert preview.total.amount == total
