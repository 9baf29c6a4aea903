"""Domain records -> response bodies. Visibility is decided before this; this only shapes."""

from __future__ import annotations

from datetime import date
from typing import Any

from seats.api import schemas
from seats.clock import iso
from seats.domain.eligibility import Change, ineligibility
from seats.domain.history import HistoryEvent
from seats.domain.model import (
    Contract,
    Order,
    PaymentAction,
    PaymentMethod,
    RenewalOrder,
    SeatOrder,
    Subscription,
)
from seats.domain.preview import RenewalPreview


def payment_method(pm: PaymentMethod) -> schemas.PaymentMethodOut:
    return schemas.PaymentMethodOut(
        payment_method_id=pm.payment_method_id, brand=pm.brand, last4=pm.last4,
        exp_month=pm.exp_month, exp_year=pm.exp_year,
    )


def _permission(reason: str | None) -> schemas.Permission:
    return schemas.Permission(allowed=reason is None, reason=reason)


def subscription(contract: Contract, sub: Subscription, caller: str, today: date) -> schemas.SubscriptionOut:
    reduction = sub.pending_reduction
    return schemas.SubscriptionOut(
        subscription_id=sub.subscription_id,
        product=sub.product,
        plan_type=sub.plan_type,
        seats=sub.seats,
        assigned_seats=sub.assigned_seats,
        unit_price=str(sub.unit_price),
        pending_reduction=schemas.PendingReductionOut(
            seats=reduction.seats, requested_by=reduction.requested_by, requested_at=iso(reduction.requested_at)
        ) if reduction else None,
        renewal_seats=sub.renewal_seats,
        renewal_price=str(sub.renewal_price),
        open_order_id=sub.open_order_id,
        eligibility=schemas.EligibilityOut(
            add_seats=_permission(ineligibility(Change.ADD, contract, sub, caller, today)),
            reduce_seats=_permission(ineligibility(Change.REDUCE, contract, sub, caller, today)),
        ),
    )


def contract(c: Contract, caller: str, today: date) -> schemas.ContractOut:
    return schemas.ContractOut(
        contract_id=c.contract_id,
        account_id=c.account_id,
        account_name=c.account_name,
        status=c.status,
        purchase_channel=c.purchase_channel,
        auto_renew=c.auto_renew,
        term=c.term.value,
        term_start=c.term_start.isoformat(),
        renewal_date=c.renewal_date.isoformat(),
        currency=c.currency,
        contract_manager=schemas.ContractManagerOut(user_id=c.contract_manager, email=c.manager_email),
        payment_method=payment_method(c.payment_method) if c.payment_method else None,
        can_manage=c.managed_by(caller),
        subscriptions=[subscription(c, s, caller, today) for s in c.subscriptions],
        renewal_total=str(c.renewal_total),
    )


def order(o: Order) -> schemas.OrderOut:
    """Both kinds share one shape: an add-seats order has no lines or period, a renewal no seat fields."""
    return schemas.OrderOut(
        order_id=o.order_id, type=o.type, status=o.status, contract_id=o.contract_id, account_id=o.account_id,
        currency=o.currency, total=str(o.total),
        payment_method=payment_method(o.payment_method) if o.payment_method else None,
        charge_id=o.charge_id, created_by=o.created_by, created_at=iso(o.created_at),
        submitted_at=iso(o.submitted_at) if o.submitted_at else None,
        carried_to_renewal=isinstance(o, SeatOrder) and o.carried_to_renewal,
        payment_action=_action(o.payment_action) if o.payment_action else None,
        **(_seat_order(o) if isinstance(o, SeatOrder) else {}),
        **(_renewal(o) if isinstance(o, RenewalOrder) else {}),
    )


def _action(a: PaymentAction) -> schemas.PaymentActionOut:
    return schemas.PaymentActionOut(type=a.type, charge_id=a.charge_id, client_secret=a.client_secret,
                                    redirect_url=a.redirect_url, expires_at=iso(a.expires_at))


def _seat_order(o: SeatOrder) -> dict[str, Any]:
    error = o.last_payment_error
    return {
        "subscription_id": o.subscription_id, "product": o.product, "seats_before": o.seats_before,
        "seats_to_add": o.seats_to_add, "seats_after": o.seats_after, "unit_price": str(o.unit_price),
        "proration": schemas.ProrationOut(days_remaining=o.proration.days_remaining,
                                          term_days=o.proration.term_days),
        "quoted_on": o.quoted_on.isoformat(), "quote_expires_at": iso(o.quote_expires_at),
        "last_payment_error": schemas.PaymentErrorOut(code=error.code, decline_code=error.decline_code,
                                                      message=error.message) if error else None,
    }


_SEAT_FIELDS = ("subscription_id", "product", "seats_before", "seats_to_add", "seats_after", "unit_price",
                "proration", "quoted_on", "quote_expires_at", "last_payment_error")


def _renewal(o: RenewalOrder) -> dict[str, Any]:
    return {
        **dict.fromkeys(_SEAT_FIELDS),
        "lines": [schemas.OrderLineOut(subscription_id=line.subscription_id, seats=line.seats,
                                       unit_price=str(line.unit_price), amount=str(line.amount))
                  for line in o.lines],
        "carried_over": [schemas.CarriedAmountOut(order_id=c.order_id, amount=str(c.amount)) for c in o.carried_over],
        "period": schemas.PeriodOut(term_start=o.period.term_start.isoformat(),
                                    renewal_date=o.period.renewal_date.isoformat()),
    }


def history_event(e: HistoryEvent) -> schemas.HistoryEventOut:
    return schemas.HistoryEventOut(
        event_id=e.event_id, type=e.type, at=iso(e.at), actor=e.actor,
        subscription_id=e.subscription_id, details=e.details,
    )


def renewal_preview(p: RenewalPreview) -> schemas.RenewalPreviewOut:
    return schemas.RenewalPreviewOut(
        contract_id=p.contract_id, currency=p.currency, renewal_date=p.renewal_date.isoformat(),
        next_period=schemas.PeriodOut(term_start=p.next_period.term_start.isoformat(),
                                      renewal_date=p.next_period.renewal_date.isoformat()),
        lines=[schemas.RenewalPreviewLineOut(
            subscription_id=entry.line.subscription_id, product=entry.product, seats=entry.line.seats,
            unit_price=str(entry.line.unit_price), amount=str(entry.line.amount),
            reduction_applied=entry.reduction_applied,
        ) for entry in p.lines],
        carried_over=[schemas.CarriedAmountOut(order_id=c.order_id, amount=str(c.amount)) for c in p.carried_over],
        total=str(p.total),
        payment_method=payment_method(p.payment_method) if p.payment_method else None,
        warnings=list(p.warnings),
    )
