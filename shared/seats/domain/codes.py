"""Every problem `code` the API can answer: the one list. Errors, answers, the OpenAPI document and the
tests take their codes from here (docs/api.md, "Error codes")."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    # Eligibility (docs/api.md "Eligibility"), in the order the rules are checked.
    NOT_CONTRACT_MANAGER = "not_contract_manager"
    CONTRACT_NOT_ACTIVE = "contract_not_active"
    NOT_PURCHASED_ONLINE = "not_purchased_online"
    NOT_AUTO_RENEWING = "not_auto_renewing"
    REGION_NOT_SUPPORTED = "region_not_supported"
    MAINTENANCE_PLAN = "maintenance_plan"
    RENEWAL_DUE = "renewal_due"
    REDUCTION_PENDING = "reduction_pending"
    DRAFT_EXISTS = "draft_exists"
    SEAT_LIMIT_REACHED = "seat_limit_reached"
    SINGLE_SEAT = "single_seat"
    # Not found.
    CONTRACT_NOT_FOUND = "contract_not_found"
    SUBSCRIPTION_NOT_FOUND = "subscription_not_found"
    ORDER_NOT_FOUND = "order_not_found"
    PAYMENT_METHOD_NOT_FOUND = "payment_method_not_found"
    ACCOUNT_NOT_FOUND = "account_not_found"
    NO_PENDING_REDUCTION = "no_pending_reduction"
    # Conflicts.
    ORDER_NOT_DRAFT = "order_not_draft"
    CONCURRENT_UPDATE = "concurrent_update"
    QUOTE_EXPIRED = "quote_expired"
    PAYMENT_METHOD_EXPIRED = "payment_method_expired"
    BELOW_ASSIGNED_SEATS = "below_assigned_seats"
    REQUEST_IN_PROGRESS = "request_in_progress"
    NOTHING_DUE = "nothing_due"
    # Unprocessable.
    SEAT_LIMIT_EXCEEDED = "seat_limit_exceeded"
    INVALID_REDUCTION = "invalid_reduction"
    INVALID_PAYMENT_TOKEN = "invalid_payment_token"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    VALIDATION_ERROR = "validation_error"
    # Payments and the request itself.
    IDEMPOTENCY_KEY_REQUIRED = "idempotency_key_required"
    INVALID_SIGNATURE = "invalid_signature"
    PAYMENT_DECLINED = "payment_declined"
    PAYMENT_PROVIDER_UNAVAILABLE = "payment_provider_unavailable"
    UNAUTHORIZED = "unauthorized"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    NOT_FOUND = "not_found"
    SERVICE_UNAVAILABLE = "service_unavailable"
    INTERNAL_ERROR = "internal_error"


# Rules 2-7 of eligibility, shared by adding and reducing seats (rule 1 is the 403).
ELIGIBILITY_CONFLICTS: tuple[ErrorCode, ...] = (
    ErrorCode.CONTRACT_NOT_ACTIVE, ErrorCode.NOT_PURCHASED_ONLINE, ErrorCode.NOT_AUTO_RENEWING,
    ErrorCode.REGION_NOT_SUPPORTED, ErrorCode.MAINTENANCE_PLAN, ErrorCode.RENEWAL_DUE,
)
ADD_SEATS_CONFLICTS = (*ELIGIBILITY_CONFLICTS, ErrorCode.REDUCTION_PENDING, ErrorCode.SEAT_LIMIT_REACHED)
REDUCE_SEATS_CONFLICTS = (*ELIGIBILITY_CONFLICTS, ErrorCode.DRAFT_EXISTS, ErrorCode.SINGLE_SEAT)
