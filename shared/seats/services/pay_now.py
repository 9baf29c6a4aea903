"""PAY NOW (docs/api.md, Renewal, "Paying a failed renewal now"): the contract manager pays a past_due or
suspended auto-renewing contract's unpaid period(s) at once, to the card on file.

Exactly as the nightly run would: through the same renewal (seats.services.renew.renew_contract), oldest
unpaid period first, one ledger payment per period recorded with the contract's pointer to it, so that
this request and a nightly run racing on one period leave one charge for it. It is the customer's own
attempt (`on_session`): the one automatic attempt a day does not apply, and a decline counts like the
nightly run's (an attempt made today, the overdue status). From the cancellation day on nothing is
charged: the contract is cancelled as the nightly run would do it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from seats.domain import renewal
from seats.domain.codes import ErrorCode
from seats.domain.errors import (
    ConcurrentUpdate,
    ContractNotFound,
    NotEligible,
    NothingDue,
    PaymentDeclined,
    PaymentProviderUnavailable,
)
from seats.domain.model import Contract, RenewalOrder
from seats.services import ledger
from seats.services.access import managed_contract
from seats.services.ports import PaymentGateway, Repository
from seats.services.renew import renew_contract
from seats.services.renewal_records import RenewalOutcome, record_lapse

OVERDUE = ("past_due", "suspended")


def pay_renewal_now(repo: Repository, gateway: PaymentGateway, contract_id: str, caller_id: str,
                    as_of: datetime, request_key: str | None = None) -> Contract | RenewalOrder:
    """The contract renewed by charging its unpaid period(s) now; or the period's renewal order waiting for
    the cardholder's authentication (3-D Secure: 202, the provider's webhook completes it).
    NotFound/NotContractManager (rule 1), NothingDue, NotEligible(contract_not_active) at the cancellation day, PaymentDeclined (402),
    PaymentProviderUnavailable (503: the payment stays pending, a retry resumes it), ConcurrentUpdate.
    `request_key` names the request (a digest of the caller and its Idempotency-Key): a period it paid is
    its answer again, even when its first answer was lost after the write."""
    contract, _ = managed_contract(repo, contract_id, caller_id)
    today = as_of.astimezone(UTC).date()
    if not unpaid(contract, today):
        if request_key is not None and _paid_by(repo, contract_id, request_key):
            return contract
        raise NothingDue(f"Contract {contract_id} has no unpaid renewal to pay now")
    if not renewal.is_charged(contract, today):  # the cancellation day: no charge from that day on
        record_lapse(repo, contract, today, RenewalOutcome(contract_id))
        raise NotEligible(ErrorCode.CONTRACT_NOT_ACTIVE, f"Contract {contract_id} is cancelled: it was not paid")
    outcome = renew_contract(contract_id, as_of, repo, gateway, on_session=True, submitted_with=request_key)
    if outcome.pending is not None:
        return outcome.pending
    if outcome.decline_code is not None:
        raise PaymentDeclined(f"The card was declined ({outcome.decline_code})", decline_code=outcome.decline_code)
    return _paid(repo, contract_id, today)


def unpaid(contract: Contract, today: date) -> bool:
    """An auto-renewing contract whose renewal was declined and is due: what PAY NOW pays."""
    return contract.auto_renew and contract.status in OVERDUE and renewal.is_due(contract, today)


def _paid(repo: Repository, contract_id: str, today: date) -> Contract:
    """The contract as the run left it, renewed (by this request, or by a nightly run that won the race)."""
    contract = repo.get_contract(contract_id)
    if contract is None:
        raise ContractNotFound(f"No contract {contract_id}")
    if unpaid(contract, today):  # not renewed: the provider has not answered yet, or a lost race
        if ledger.open_payment(repo, contract.renewal_payment_id) is not None:
            raise PaymentProviderUnavailable()
        raise ConcurrentUpdate()
    return contract


def _paid_by(repo: Repository, contract_id: str, request_key: str) -> bool:
    """A renewal order of the contract was paid by this very request (read only when nothing is due)."""
    return any(isinstance(order, RenewalOrder) and order.submitted_with == request_key
               for order in repo.list_orders(contract_id))
