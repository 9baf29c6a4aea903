"""Response bodies of the HTTP API (docs/api.md, HTTP API). Input bodies live with the routes that take them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MoneyStr = Annotated[str, Field(description="Decimal string with the currency's minor-unit digits", examples=["1975.00"])]
DateStr = Annotated[str, Field(description="YYYY-MM-DD (UTC)", examples=["2027-03-01"])]
InstantStr = Annotated[str, Field(description="ISO 8601 instant with Z", examples=["2026-11-29T14:00:00.000Z"])]


class Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PaymentMethodOut(Out):
    payment_method_id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int


class ContractManagerOut(Out):
    user_id: str
    email: str


class PendingReductionOut(Out):
    seats: Annotated[int, Field(description="Seats wanted at renewal")]
    requested_by: str
    requested_at: InstantStr


class Permission(Out):
    allowed: bool
    reason: Annotated[str | None, Field(description="Eligibility reason code when not allowed")]


class EligibilityOut(Out):
    add_seats: Permission
    reduce_seats: Permission


class SubscriptionOut(Out):
    subscription_id: str
    product: str
    plan_type: Literal["subscription", "maintenance"]
    seats: int
    assigned_seats: int
    unit_price: MoneyStr
    pending_reduction: PendingReductionOut | None
    renewal_seats: int
    renewal_price: MoneyStr
    open_order_id: str | None
    eligibility: EligibilityOut


class ContractOut(Out):
    contract_id: str
    account_id: str
    account_name: str
    status: Literal["active", "past_due", "suspended", "expired", "cancelled"]
    purchase_channel: Literal["online", "reseller"]
    auto_renew: bool
    term: Literal["monthly", "annual", "three_year"]
    term_start: DateStr
    renewal_date: DateStr
    currency: str
    contract_manager: ContractManagerOut
    payment_method: PaymentMethodOut | None
    can_manage: bool
    subscriptions: list[SubscriptionOut]
    renewal_total: MoneyStr


class ContractList(Out):
    contracts: list[ContractOut]
    next_token: Annotated[str | None, Field(description="Pass as next_token for the next page; null at the end")]


class ProrationOut(Out):
    days_remaining: int
    term_days: int


class PaymentErrorOut(Out):
    code: str
    decline_code: str | None
    message: str


class CarriedAmountOut(Out):
    order_id: Annotated[str, Field(description="The order whose amount, below the provider's minimum, was carried")]
    amount: MoneyStr


class PaymentActionOut(Out):
    type: Annotated[Literal["authenticate"], Field(description="The cardholder must authenticate the payment")]
    charge_id: Annotated[str, Field(description="The provider's payment (a Stripe PaymentIntent id)")]
    client_secret: Annotated[str | None, Field(
        description="Hand to the provider's SDK (Stripe.js handleNextAction) to show the bank's challenge")]
    redirect_url: Annotated[str | None, Field(description="The bank's challenge page, when the provider gives one")]
    expires_at: Annotated[InstantStr, Field(
        description="23 hours after the submit: then the payment is canceled and the order back to draft")]


class OrderLineOut(Out):
    subscription_id: str
    seats: int
    unit_price: MoneyStr
    amount: MoneyStr


class PeriodOut(Out):
    term_start: DateStr
    renewal_date: DateStr


class OrderOut(Out):
    order_id: str
    type: Literal["add_seats", "renewal"]
    status: Annotated[Literal["draft", "payment_pending", "completed", "cancelled"], Field(
        description="payment_pending: waiting for the cardholder's authentication (see payment_action)")]
    contract_id: str
    subscription_id: str | None
    account_id: str
    product: str | None
    seats_before: int | None
    seats_to_add: int | None
    seats_after: int | None
    unit_price: MoneyStr | None
    currency: str
    proration: ProrationOut | None
    total: MoneyStr
    quoted_on: DateStr | None
    quote_expires_at: InstantStr | None
    payment_method: PaymentMethodOut | None
    charge_id: str | None
    last_payment_error: PaymentErrorOut | None
    carried_to_renewal: Annotated[bool, Field(
        description="Completed below the provider's minimum charge: the total is charged with the next renewal")]
    payment_action: PaymentActionOut | None
    created_by: str
    created_at: InstantStr
    submitted_at: InstantStr | None
    lines: list[OrderLineOut] | None = None
    carried_over: Annotated[list[CarriedAmountOut] | None, Field(
        description="A renewal: the amounts carried from earlier orders, included in its total")] = None
    period: PeriodOut | None = None


class OrderList(Out):
    orders: list[OrderOut]


class HistoryEventOut(Out):
    event_id: str
    type: str
    at: InstantStr
    actor: Annotated[str, Field(description='User id, or "system"')]
    subscription_id: str | None
    details: dict[str, Any]


class HistoryList(Out):
    events: list[HistoryEventOut]


class PaymentMethodList(Out):
    payment_methods: list[PaymentMethodOut]


class RenewalPreviewLineOut(Out):
    subscription_id: str
    product: str
    seats: Annotated[int, Field(description="Seats the renewal charges: the pending reduction's, else the current")]
    unit_price: Annotated[MoneyStr, Field(description="Price per seat per term")]
    amount: Annotated[MoneyStr, Field(description="unit_price × seats")]
    reduction_applied: Annotated[bool, Field(description="The seats are a pending reduction's, at the lower price")]


RenewalWarning = Literal["card_expires_before_renewal", "no_payment_method", "auto_renew_off", "payment_past_due"]


class RenewalPreviewOut(Out):
    contract_id: str
    currency: str
    renewal_date: Annotated[DateStr, Field(description="The day the renewal charges")]
    next_period: Annotated[PeriodOut, Field(description="The term the renewal pays for")]
    lines: list[RenewalPreviewLineOut]
    carried_over: Annotated[list[CarriedAmountOut], Field(description="Amounts owed, charged with this renewal")]
    total: Annotated[MoneyStr, Field(description="What the renewal charges, with nothing changed in between")]
    payment_method: Annotated[PaymentMethodOut | None, Field(description="The card on file the renewal charges")]
    warnings: Annotated[list[RenewalWarning], Field(
        description="What may stop the renewal as shown: card_expires_before_renewal (the card expires before the "
                    "renewal date's month), no_payment_method, auto_renew_off, payment_past_due")]


class ErrorItem(BaseModel):
    loc: list[str | int]
    msg: str


class Problem(BaseModel):
    """RFC 9457 problem details (content type application/problem+json)."""

    model_config = ConfigDict(extra="allow")
    type: str
    title: str
    status: int
    detail: str
    code: Annotated[str, Field(description="Machine-readable error code")]
    errors: list[ErrorItem] | None = None
    order_id: str | None = None
    order: OrderOut | None = None
    decline_code: str | None = None
