"""Domain errors: each carries the API's code (an ErrorCode) and HTTP status; one place maps them to
answers (seats.api.problems)."""

from __future__ import annotations

from typing import Any

from seats.domain.codes import ErrorCode


class DomainError(Exception):
    code: ErrorCode  # each concrete error names its own (docs/api.md, Error codes)
    status = 400
    title = "Request failed"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra


class NotFound(DomainError):
    status = 404
    title = "Not found"


class ContractNotFound(NotFound):
    code, title = ErrorCode.CONTRACT_NOT_FOUND, "Contract not found"


class SubscriptionNotFound(NotFound):
    code, title = ErrorCode.SUBSCRIPTION_NOT_FOUND, "Subscription not found"


class OrderNotFound(NotFound):
    code, title = ErrorCode.ORDER_NOT_FOUND, "Order not found"


class PaymentMethodNotFound(NotFound):
    code, title = ErrorCode.PAYMENT_METHOD_NOT_FOUND, "Payment method not found"


class AccountNotFound(NotFound):
    code, title = ErrorCode.ACCOUNT_NOT_FOUND, "Account not found"


class NoPendingReduction(NotFound):
    code, title = ErrorCode.NO_PENDING_REDUCTION, "No pending reduction"


class NotContractManager(DomainError):
    code, status, title = ErrorCode.NOT_CONTRACT_MANAGER, 403, "Only the contract manager may change this contract"


class Conflict(DomainError):
    status = 409
    title = "Conflict"


class NotEligible(Conflict):
    """An eligibility failure other than the 403 of rule 1 (docs/api.md, Eligibility); `code` is the reason."""

    def __init__(self, reason: ErrorCode, detail: str | None = None, **extra: Any) -> None:
        self.code = ErrorCode(reason)
        super().__init__(detail or f"Not allowed: {reason}", **extra)


class DraftExists(Conflict):
    code, title = ErrorCode.DRAFT_EXISTS, "An add-seats draft is already open for this subscription"


class OrderNotDraft(Conflict):
    code, title = ErrorCode.ORDER_NOT_DRAFT, "The order is not a draft"


class ConcurrentUpdate(Conflict):
    code, title = ErrorCode.CONCURRENT_UPDATE, "The subscription changed at the same time; read it again and retry"


class QuoteExpired(Conflict):
    code, title = ErrorCode.QUOTE_EXPIRED, "The quote expired and the order was re-priced"


class PaymentMethodExpired(Conflict):
    code, title = ErrorCode.PAYMENT_METHOD_EXPIRED, "The payment method has expired"


class BelowAssignedSeats(Conflict):
    code, title = ErrorCode.BELOW_ASSIGNED_SEATS, "Cannot reduce below the seats currently assigned"


class RequestInProgress(Conflict):
    code, title = ErrorCode.REQUEST_IN_PROGRESS, "A request with this Idempotency-Key is still in progress"


class NothingDue(Conflict):
    code, title = ErrorCode.NOTHING_DUE, "No renewal payment is due on this contract"


class Unprocessable(DomainError):
    status = 422
    title = "Unprocessable request"


class SeatLimitExceeded(Unprocessable):
    code, title = ErrorCode.SEAT_LIMIT_EXCEEDED, "A subscription cannot have more than 10000 seats"


class InvalidReduction(Unprocessable):
    code, title = ErrorCode.INVALID_REDUCTION, "The seats at renewal must be at least 1 and fewer than today"


class InvalidPaymentToken(Unprocessable):
    code, title = ErrorCode.INVALID_PAYMENT_TOKEN, "The payment token is not valid"


class IdempotencyKeyReused(Unprocessable):
    code, title = ErrorCode.IDEMPOTENCY_KEY_REUSED, "This Idempotency-Key was used for another request"


class IdempotencyKeyRequired(DomainError):
    code, status, title = ErrorCode.IDEMPOTENCY_KEY_REQUIRED, 400, "The Idempotency-Key header is required"


class ServiceUnavailable(DomainError):
    code, status, title = ErrorCode.SERVICE_UNAVAILABLE, 503, "A dependency did not answer; retry later"


class InvalidSignature(DomainError):
    code, status, title = ErrorCode.INVALID_SIGNATURE, 400, "The webhook's Stripe-Signature is missing, wrong or too old"


class PaymentDeclined(DomainError):
    code, status, title = ErrorCode.PAYMENT_DECLINED, 402, "The payment was declined"


class PaymentProviderUnavailable(DomainError):
    code, status, title = ErrorCode.PAYMENT_PROVIDER_UNAVAILABLE, 503, "The payment provider did not answer; retry"
