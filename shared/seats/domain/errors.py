"""Domain errors: each carries the API's code and HTTP status; one place maps them to answers."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code = "error"
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
    code, title = "contract_not_found", "Contract not found"


class SubscriptionNotFound(NotFound):
    code, title = "subscription_not_found", "Subscription not found"


class OrderNotFound(NotFound):
    code, title = "order_not_found", "Order not found"


class PaymentMethodNotFound(NotFound):
    code, title = "payment_method_not_found", "Payment method not found"


class AccountNotFound(NotFound):
    code, title = "account_not_found", "Account not found"


class NoPendingReduction(NotFound):
    code, title = "no_pending_reduction", "No pending reduction"


class NotContractManager(DomainError):
    code, status, title = "not_contract_manager", 403, "Only the contract manager may change this contract"


class Conflict(DomainError):
    status = 409
    title = "Conflict"


class NotEligible(Conflict):
    """A §4.1 eligibility failure other than the 403 of rule 1; `code` is the reason."""

    def __init__(self, reason: str, detail: str | None = None, **extra: Any) -> None:
        self.code = reason
        super().__init__(detail or f"Not allowed: {reason}", **extra)


class DraftExists(Conflict):
    code, title = "draft_exists", "An add-seats draft is already open for this subscription"


class OrderNotDraft(Conflict):
    code, title = "order_not_draft", "The order is not a draft"


class ConcurrentUpdate(Conflict):
    code, title = "concurrent_update", "The subscription changed at the same time; read it again and retry"


class QuoteExpired(Conflict):
    code, title = "quote_expired", "The quote expired and the order was re-priced"


class PaymentMethodExpired(Conflict):
    code, title = "payment_method_expired", "The payment method has expired"


class BelowAssignedSeats(Conflict):
    code, title = "below_assigned_seats", "Cannot reduce below the seats currently assigned"


class RequestInProgress(Conflict):
    code, title = "request_in_progress", "A request with this Idempotency-Key is still in progress"


class Unprocessable(DomainError):
    status = 422
    title = "Unprocessable request"


class SeatLimitExceeded(Unprocessable):
    code, title = "seat_limit_exceeded", "A subscription cannot have more than 10000 seats"


class InvalidReduction(Unprocessable):
    code, title = "invalid_reduction", "The seats at renewal must be at least 1 and fewer than today"


class InvalidPaymentToken(Unprocessable):
    code, title = "invalid_payment_token", "The payment token is not valid"


class IdempotencyKeyReused(Unprocessable):
    code, title = "idempotency_key_reused", "This Idempotency-Key was used for another request"


class IdempotencyKeyRequired(DomainError):
    code, status, title = "idempotency_key_required", 400, "The Idempotency-Key header is required"


class PaymentDeclined(DomainError):
    code, status, title = "payment_declined", 402, "The payment was declined"


class PaymentProviderUnavailable(DomainError):
    code, status, title = "payment_provider_unavailable", 503, "The payment provider did not answer; retry"
