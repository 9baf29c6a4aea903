"""Renew one contract (docs/api.md, Renewal; docs/payments.md): charge each due period once, or move it
along the overdue timeline.

Per period: a ledger payment recorded with the contract's pointer to it (one conditional write), the
money taken by the provider id recorded, then the renewed period, its order and the settled payment in
one transaction conditioned on the contract read. A message delivered twice, or a worker that crashed
after the charge, resumes the payment the contract points to; a declining card is tried once per as-of
date; a provider that does not answer raises (the payment stays pending; the message is retried).

`on_session`: the manager pays now (seats.services.pay_now), the same way, except that the one automatic
attempt per as-of date does not apply and new payments are on-session.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from seats.clock import utc_now
from seats.domain import renewal
from seats.domain.errors import ConcurrentUpdate, InvalidPaymentToken
from seats.domain.model import Contract, RenewalOrder, SeatOrder, new_id
from seats.domain.payments import Payment, below_minimum, new_payment
from seats.services import ledger
from seats.services.authentication import await_authentication
from seats.services.messages import RenewalMessage
from seats.services.ports import PaymentGateway, ProviderPayment, RenewalQueue, Repository
from seats.services.renewal_records import RenewalOutcome, record_decline, record_lapse, record_renewal
from seats.services.retry import WRITE_ATTEMPTS

PERIODS_PER_DELIVERY = 24  # a contract further behind is handed on at once, as a new message


@dataclass
class _Run:
    repo: Repository
    gateway: PaymentGateway
    as_of: datetime
    outcome: RenewalOutcome
    on_session: bool = False  # the customer is present: no one-attempt-a-day limit, on-session payments
    submitted_with: str | None = None  # the manager's request paying now (its periods' orders record it)

    @property
    def today(self) -> date:
        return self.as_of.astimezone(UTC).date()


def renew_contract(contract_id: str, as_of: datetime, repo: Repository, gateway: PaymentGateway,
                   queue: RenewalQueue | None = None, *, on_session: bool = False,
                   submitted_with: str | None = None) -> RenewalOutcome:
    """Renew every period of the contract due on `as_of`'s date; reseller contracts are untouched.
    `on_session`: the customer's own attempt (PAY NOW), not limited to one a day."""
    run = _Run(repo, gateway, as_of, RenewalOutcome(contract_id), on_session, submitted_with)
    contract: Contract | None = repo.get_contract(contract_id)
    run.outcome.status = contract.status if contract else None
    for _ in range(PERIODS_PER_DELIVERY):
        if contract is None or not renewal.is_due(contract, run.today):
            return run.outcome
        if not renewal.is_charged(contract, run.today):
            record_lapse(run.repo, contract, run.today, run.outcome)
            return run.outcome
        contract = _renew_period(run, contract)
    if contract is not None and renewal.is_due(contract, run.today) and queue is not None:
        run.outcome.handed_on = queue.send([RenewalMessage(contract_id, as_of)]) == 1
    return run.outcome


def _renew_period(run: _Run, contract: Contract) -> Contract | None:
    """One due period: resumed, or charged anew. The contract to carry on with, or None to stop."""
    payment = ledger.open_payment(run.repo, contract.renewal_payment_id)
    if payment is not None and payment.status == "requires_action":
        _awaiting(run, payment)
        return None
    if payment is None:
        if contract.renewal_attempted_on == run.today and not run.on_session:
            return None  # today's automatic attempt for this period was made
        amount = contract.renewal_total
        if amount.amount == 0 or below_minimum(amount):
            return _record(run, contract, None)
        decline_code = _uncharged_card(contract, run.today)
        if decline_code is not None:
            return _decline(run, contract, decline_code, None)
        try:
            payment = _start(run, contract)
        except ConcurrentUpdate:
            return run.repo.get_contract(contract.contract_id)  # changed meanwhile: look again
    return _pay(run, contract, payment)


def _uncharged_card(contract: Contract, today: date) -> str | None:
    """The decline code of a card on file that cannot be charged at all (no provider call)."""
    card = contract.payment_method
    if card is None:
        return "no_payment_method"
    return "expired_card" if card.expired_on(today) else None


def _start(run: _Run, contract: Contract) -> Payment:
    """The period's payment, recorded with the contract's pointer to it before the provider hears of it."""
    assert contract.payment_method is not None  # checked by _uncharged_card
    # Paid now, its order may wait for the cardholder, and be cancelled: a fresh id, not the period's.
    order_id = new_id("ord") if run.on_session else renewal.renewal_order_id(contract.contract_id, contract.renewal_date)
    payment = new_payment("renewal", order_id=order_id, contract=contract, amount=contract.renewal_total,
                          payment_method=contract.payment_method, at=utc_now(), period=contract.renewal_date,
                          off_session=not run.on_session)
    contract.renewal_payment_id = payment.payment_id
    work = run.repo.unit_of_work()
    work.save_payment(payment)
    work.save_contract(contract)
    work.commit()
    return payment


def _pay(run: _Run, contract: Contract, payment: Payment) -> Contract | None:
    if payment.status == "refunding":
        ledger.give_back(run.repo, run.gateway, payment, "renewal_not_applicable", utc_now())
        return run.repo.get_contract(contract.contract_id)
    try:
        state = ledger.take(run.repo, run.gateway, payment)
    except InvalidPaymentToken:
        return _decline(run, contract, "invalid_payment_method", payment)
    if state.captured:
        return _record(run, contract, payment)
    if state.status == "requires_action" and run.on_session:
        _await(run, contract, payment, state)
        return None
    if state.status in ("failed", "requires_action"):
        return _decline(run, contract, state.decline_code or "authentication_required", payment)
    return None  # processing: the next delivery, or the reconciler, learns the outcome


def _awaiting(run: _Run, payment: Payment) -> None:
    """The period's payment waits for the cardholder (paid now, 3-D Secure): no automatic attempt while it
    does; the manager paying now again is answered with its order, as it stands (nothing charged)."""
    if run.on_session:
        order = run.repo.get_order(payment.order_id)
        run.outcome.pending = order if isinstance(order, RenewalOrder) else None


def _await(run: _Run, contract: Contract, payment: Payment, state: ProviderPayment) -> None:
    """The card asks for the cardholder: the period's order payment_pending, its payment requires_action,
    until the provider's webhook says how it ended (services/settlement.py). The run stops here."""
    assert contract.payment_method is not None  # it was charged
    now = utc_now()
    order = renewal.pending_order(contract, order_id=payment.order_id, at=now, paid_with=payment.payment_method,
                                  payment_id=payment.payment_id)
    order.created_by, order.submitted_with = contract.contract_manager, run.submitted_with
    try:
        await_authentication(run.repo, order, payment, state, now)
    except ConcurrentUpdate:
        return  # settled meanwhile: the manager asks again
    run.outcome.pending = order


def _record(run: _Run, contract: Contract, payment: Payment | None) -> Contract | None:
    """The period renewed (paid by `payment`, or nothing to charge); a lost race read again. A payment
    that no longer fits the period as it stands (the total changed since it was taken) is refunded."""
    for _ in range(WRITE_ATTEMPTS):
        if payment is not None and not applicable(contract, payment):
            ledger.give_back(run.repo, run.gateway, payment, "renewal_not_applicable", utc_now())
            return run.repo.get_contract(contract.contract_id)
        settle_drafts(run.repo, run.gateway, contract)
        try:
            return record_renewal(run.repo, contract, payment, run.outcome, run.submitted_with)
        except ConcurrentUpdate:
            fresh = run.repo.get_contract(contract.contract_id)
            if fresh is None or fresh.renewal_date != contract.renewal_date:
                return fresh  # another worker recorded this period
            contract = fresh
    raise ConcurrentUpdate()


def applicable(contract: Contract, payment: Payment) -> bool:
    """The payment still pays for the contract's unpaid period as it stands."""
    return (payment.usable and contract.status in renewal.CHARGEABLE and contract.renewal_payment_id == payment.payment_id
            and contract.renewal_date == payment.period and contract.renewal_total == payment.amount)


def settle_drafts(repo: Repository, gateway: PaymentGateway, contract: Contract) -> None:
    """The renewal cancels the open add-seats drafts: a payment one of them has in progress is settled
    first (a capture refunded), so that no money is kept for seats that will not come."""
    for subscription in contract.subscriptions:
        draft = repo.get_order(subscription.open_order_id) if subscription.open_order_id else None
        if isinstance(draft, SeatOrder):
            payment = ledger.open_payment(repo, draft.payment_id)
            if payment is not None:
                ledger.settle_unused(repo, gateway, payment, "order_cancelled_by_renewal", utc_now())


def _decline(run: _Run, contract: Contract, decline_code: str, payment: Payment | None) -> Contract | None:
    """The day's attempt declined, recorded once; nothing more today. Always None: the run stops."""
    for _ in range(WRITE_ATTEMPTS):
        try:
            record_decline(run.repo, contract, decline_code, payment, run.today, run.outcome)
            return None
        except ConcurrentUpdate:
            fresh = run.repo.get_contract(contract.contract_id)
            if fresh is None or fresh.renewal_date != contract.renewal_date or fresh.renewal_attempted_on == run.today:
                return None  # another worker recorded this period, or today's attempt
            contract = fresh
    raise ConcurrentUpdate()
