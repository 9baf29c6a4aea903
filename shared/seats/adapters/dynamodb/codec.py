"""Domain records <-> DynamoDB items. Money and dates are stored as strings: exact and sortable."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from seats.adapters.dynamodb import keys
from seats.domain import notices
from seats.domain.history import HistoryEvent
from seats.domain.instants import iso, parse_instant
from seats.domain.model import (
    Account,
    CarriedAmount,
    Contract,
    Order,
    OrderLine,
    PaymentAction,
    PaymentError,
    PaymentMethod,
    PendingReduction,
    Period,
    RenewalOrder,
    SeatOrder,
    Subscription,
    User,
)
from seats.domain.money import Money
from seats.domain.payments import Payment
from seats.domain.proration import Proration
from seats.domain.terms import Term

Item = dict[str, Any]


def _drop_none(item: Item) -> Item:
    return {k: v for k, v in item.items() if v is not None}


def payment_method_to_map(pm: PaymentMethod) -> Item:
    return _drop_none({
        "payment_method_id": pm.payment_method_id,
        "account_id": pm.account_id,
        "brand": pm.brand,
        "last4": pm.last4,
        "exp_month": pm.exp_month,
        "exp_year": pm.exp_year,
        "provider_ref": pm.provider_ref,
        "customer_ref": pm.customer_ref,
    })


def payment_method_from_map(data: Item) -> PaymentMethod:
    return PaymentMethod(
        payment_method_id=data["payment_method_id"],
        account_id=data["account_id"],
        brand=data["brand"],
        last4=data["last4"],
        exp_month=int(data["exp_month"]),
        exp_year=int(data["exp_year"]),
        provider_ref=data["provider_ref"],
        customer_ref=data.get("customer_ref"),
    )


def payment_method_to_item(pm: PaymentMethod) -> Item:
    return {**keys.payment_method_key(pm.account_id, pm.payment_method_id), "kind": "payment_method",
            **payment_method_to_map(pm)}


def _subscription_to_map(sub: Subscription) -> Item:
    reduction = sub.pending_reduction
    return _drop_none({
        "subscription_id": sub.subscription_id,
        "product": sub.product,
        "plan_type": sub.plan_type,
        "seats": sub.seats,
        "assigned_seats": sub.assigned_seats,
        "unit_price": str(sub.unit_price),
        "pending_reduction": {
            "seats": reduction.seats,
            "requested_by": reduction.requested_by,
            "requested_at": iso(reduction.requested_at),
        } if reduction else None,
        "open_order_id": sub.open_order_id,
    })


def _subscription_from_map(data: Item, currency: str) -> Subscription:
    reduction = data.get("pending_reduction")
    return Subscription(
        subscription_id=data["subscription_id"],
        product=data["product"],
        plan_type=data["plan_type"],
        seats=int(data["seats"]),
        assigned_seats=int(data["assigned_seats"]),
        unit_price=Money.parse(data["unit_price"], currency),
        pending_reduction=PendingReduction(
            seats=int(reduction["seats"]),
            requested_by=reduction["requested_by"],
            requested_at=parse_instant(reduction["requested_at"]),
        ) if reduction else None,
        open_order_id=data.get("open_order_id"),
    )


def contract_to_item(c: Contract) -> Item:
    renewal = keys.renewal_sort_key(c.renewal_date.isoformat(), c.contract_id)
    item: Item = {
        **keys.contract_key(c.contract_id),
        "kind": "contract",
        "GSI1PK": f"MANAGER#{c.contract_manager}",
        "GSI1SK": renewal,
        "GSI2PK": f"ACCOUNT#{c.account_id}",
        "GSI2SK": renewal,
        "contract_id": c.contract_id,
        "account_id": c.account_id,
        "account_name": c.account_name,
        "country": c.country,
        "currency": c.currency,
        "contract_manager": c.contract_manager,
        "manager_email": c.manager_email,
        "purchase_channel": c.purchase_channel,
        "auto_renew": c.auto_renew,
        "term": c.term.value,
        "term_start": c.term_start.isoformat(),
        "renewal_date": c.renewal_date.isoformat(),
        "billing_anchor_day": c.billing_anchor_day,
        "status": c.status,
        "payment_method": payment_method_to_map(c.payment_method) if c.payment_method else None,
        "subscriptions": [_subscription_to_map(s) for s in c.subscriptions],
        "version": c.version,
        "failed_renewal_attempts": c.failed_renewal_attempts,
        "renewal_attempted_on": c.renewal_attempted_on.isoformat() if c.renewal_attempted_on else None,
        "renewal_payment_id": c.renewal_payment_id,
        "carried_over": _carried_to_list(c.carried_over) or None,
        "notices_sent": sorted(c.notices_sent, reverse=True) or None,
        **_sparse_index_keys(c, renewal),
    }
    return _drop_none(item)


def _sparse_index_keys(c: Contract, renewal: str) -> Item:
    """The keys of the sparse indexes the contract is in now."""
    item: Item = {}
    if c.purchase_channel == "online" and c.status != "cancelled":
        # Only contracts the renewal function still has work for are in the due index.
        item["DuePK"] = keys.due_shard(c.contract_id)
        item["DueSK"] = renewal
    upcoming = notices.next_notice(c)
    if upcoming is not None:  # only contracts with a renewal notice of this period still to send
        item["NoticePK"] = keys.notice_shard(c.contract_id)
        item["NoticeSK"] = keys.notice_sort_key(*upcoming, c.contract_id)
    return item


def contract_from_item(item: Item) -> Contract:
    currency = item["currency"]
    pm = item.get("payment_method")
    return Contract(
        contract_id=item["contract_id"],
        account_id=item["account_id"],
        account_name=item["account_name"],
        country=item["country"],
        currency=currency,
        contract_manager=item["contract_manager"],
        manager_email=item["manager_email"],
        purchase_channel=item["purchase_channel"],
        auto_renew=bool(item["auto_renew"]),
        term=Term(item["term"]),
        term_start=date.fromisoformat(item["term_start"]),
        renewal_date=date.fromisoformat(item["renewal_date"]),
        billing_anchor_day=int(item["billing_anchor_day"]),
        status=item["status"],
        payment_method=payment_method_from_map(pm) if pm else None,
        subscriptions=[_subscription_from_map(s, currency) for s in item["subscriptions"]],
        version=int(item.get("version", 0)),
        failed_renewal_attempts=int(item.get("failed_renewal_attempts", 0)),
        renewal_attempted_on=date.fromisoformat(item["renewal_attempted_on"]) if item.get("renewal_attempted_on")
        else None,
        renewal_payment_id=item.get("renewal_payment_id"),
        carried_over=_carried_from_list(item.get("carried_over"), currency),
        notices_sent=[int(lead) for lead in item.get("notices_sent") or []],
    )


def order_to_item(o: Order) -> Item:
    kind_fields = _seat_order_fields(o) if isinstance(o, SeatOrder) else _renewal_fields(o) \
        if isinstance(o, RenewalOrder) else {}
    return _drop_none({
        **keys.order_key(o.order_id),
        "kind": "order",
        "GSI1PK": f"ORDERS#{o.contract_id}",
        "GSI1SK": f"{iso(o.created_at)}#{o.order_id}",
        "order_id": o.order_id,
        "type": o.type,
        "status": o.status,
        "contract_id": o.contract_id,
        "account_id": o.account_id,
        "currency": o.currency,
        "total": str(o.total),
        "created_by": o.created_by,
        "created_at": iso(o.created_at),
        "payment_method": payment_method_to_map(o.payment_method) if o.payment_method else None,
        "charge_id": o.charge_id,
        "submitted_at": iso(o.submitted_at) if o.submitted_at else None,
        "payment_action": _action_to_map(o.payment_action),
        "version": o.version,
        **kind_fields,
    })


def _action_to_map(action: PaymentAction | None) -> Item | None:
    if action is None:
        return None
    return _drop_none({"type": action.type, "charge_id": action.charge_id, "client_secret": action.client_secret,
                       "redirect_url": action.redirect_url, "expires_at": iso(action.expires_at)})


def _action_from_map(data: Item | None) -> PaymentAction | None:
    if not data:
        return None
    return PaymentAction(charge_id=data["charge_id"], client_secret=data.get("client_secret"),
                         redirect_url=data.get("redirect_url"), expires_at=parse_instant(data["expires_at"]))


def _seat_order_fields(o: SeatOrder) -> Item:
    error = o.last_payment_error
    return {
        "subscription_id": o.subscription_id, "product": o.product, "seats_before": o.seats_before,
        "seats_to_add": o.seats_to_add, "seats_after": o.seats_after, "unit_price": str(o.unit_price),
        "days_remaining": o.proration.days_remaining, "term_days": o.proration.term_days,
        "quoted_on": o.quoted_on.isoformat(), "quote_expires_at": iso(o.quote_expires_at),
        "last_payment_error": {"code": error.code, "decline_code": error.decline_code, "message": error.message}
        if error else None,
        "payment_attempt": o.payment_attempt, "submitted_with": o.submitted_with, "payment_id": o.payment_id,
        "carried_to_renewal": o.carried_to_renewal or None,
    }


def _renewal_fields(o: RenewalOrder) -> Item:
    return {
        "lines": [{"subscription_id": line.subscription_id, "seats": line.seats,
                   "unit_price": str(line.unit_price), "amount": str(line.amount)} for line in o.lines],
        "period_start": o.period.term_start.isoformat(), "period_end": o.period.renewal_date.isoformat(),
        "carried_over": _carried_to_list(o.carried_over) or None, "payment_id": o.payment_id,
        "submitted_with": o.submitted_with,
    }


def order_from_item(item: Item) -> Order:
    currency = item["currency"]
    pm = item.get("payment_method")
    common: dict[str, Any] = {
        "order_id": item["order_id"], "status": item["status"], "contract_id": item["contract_id"],
        "account_id": item["account_id"], "currency": currency, "total": Money.parse(item["total"], currency),
        "created_by": item["created_by"], "created_at": parse_instant(item["created_at"]),
        "payment_method": payment_method_from_map(pm) if pm else None, "charge_id": item.get("charge_id"),
        "submitted_at": parse_instant(item["submitted_at"]) if item.get("submitted_at") else None,
        "payment_action": _action_from_map(item.get("payment_action")),
        "version": int(item.get("version", 0)),
    }
    if item["type"] == "renewal":
        return RenewalOrder(**common, lines=[
            OrderLine(subscription_id=line["subscription_id"], seats=int(line["seats"]),
                      unit_price=Money.parse(line["unit_price"], currency), amount=Money.parse(line["amount"], currency))
            for line in item["lines"]
        ], period=Period(date.fromisoformat(item["period_start"]), date.fromisoformat(item["period_end"])),
            carried_over=_carried_from_list(item.get("carried_over"), currency), payment_id=item.get("payment_id"),
            submitted_with=item.get("submitted_with"))
    return _seat_order_from_item(item, common)


def _seat_order_from_item(item: Item, common: dict[str, Any]) -> SeatOrder:
    error = item.get("last_payment_error")
    return SeatOrder(
        **common, subscription_id=item["subscription_id"], product=item["product"],
        seats_before=int(item["seats_before"]), seats_to_add=int(item["seats_to_add"]),
        seats_after=int(item["seats_after"]), unit_price=Money.parse(item["unit_price"], common["currency"]),
        proration=Proration(days_remaining=int(item["days_remaining"]), term_days=int(item["term_days"])),
        quoted_on=date.fromisoformat(item["quoted_on"]), quote_expires_at=parse_instant(item["quote_expires_at"]),
        last_payment_error=PaymentError(code=error["code"], decline_code=error.get("decline_code"),
                                        message=error["message"]) if error else None,
        payment_attempt=int(item.get("payment_attempt", 0)), submitted_with=item.get("submitted_with"),
        payment_id=item.get("payment_id"), carried_to_renewal=bool(item.get("carried_to_renewal", False)),
    )


def history_to_item(e: HistoryEvent, sequence: int = 0) -> Item:
    return _drop_none({
        **keys.history_key(e.contract_id, iso(e.at), e.event_id, sequence),
        "kind": "history",
        "event_id": e.event_id,
        "contract_id": e.contract_id,
        "type": e.type,
        "at": iso(e.at),
        "actor": e.actor,
        "subscription_id": e.subscription_id,
        "details": e.details,
    })


def history_from_item(item: Item) -> HistoryEvent:
    return HistoryEvent(
        event_id=item["event_id"],
        contract_id=item["contract_id"],
        type=item["type"],
        at=parse_instant(item["at"]),
        actor=item["actor"],
        subscription_id=item.get("subscription_id"),
        details=_plain(item.get("details", {})),
    )


def _plain(value: Any) -> Any:
    """DynamoDB gives numbers back as Decimal; history details are plain JSON."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    return value


def user_to_item(u: User) -> Item:
    return {**keys.user_key(u.user_id), "kind": "user", "user_id": u.user_id, "email": u.email,
            "roles": dict(u.roles)}


def user_from_item(item: Item) -> User:
    return User(user_id=item["user_id"], email=item["email"], roles=dict(item.get("roles", {})))


def account_to_item(a: Account) -> Item:
    return _drop_none({**keys.account_key(a.account_id), "kind": "account", "account_id": a.account_id,
                       "name": a.name, "country": a.country, "currency": a.currency,
                       "provider_customer_id": a.provider_customer_id})


def account_from_item(item: Item) -> Account:
    return Account(account_id=item["account_id"], name=item["name"], country=item["country"],
                   currency=item["currency"], provider_customer_id=item.get("provider_customer_id"))


def _carried_to_list(carried: list[CarriedAmount]) -> list[Item]:
    return [{"order_id": c.order_id, "amount": str(c.amount)} for c in carried]


def _carried_from_list(data: list[Item] | None, currency: str) -> list[CarriedAmount]:
    return [CarriedAmount(c["order_id"], Money.parse(c["amount"], currency)) for c in data or []]


def payment_to_item(p: Payment) -> Item:
    item: Item = {
        **keys.payment_key(p.payment_id), "kind": "payment", "payment_id": p.payment_id, "purpose": p.purpose,
        "order_id": p.order_id, "contract_id": p.contract_id, "account_id": p.account_id,
        "amount": str(p.amount), "currency": p.amount.currency,
        "payment_method": payment_method_to_map(p.payment_method), "off_session": p.off_session,
        "created_at": iso(p.created_at), "status": p.status, "provider_ref": p.provider_ref,
        "period": p.period.isoformat() if p.period else None, "decline_code": p.decline_code,
        "settled_at": iso(p.settled_at) if p.settled_at else None, "version": p.version,
        "expires_at": iso(p.expires_at) if p.expires_at else None,
    }
    if p.unsettled:  # sparse: only payments still to settle are in the reconciler's index
        item["UnsettledPK"] = keys.unsettled_shard(p.payment_id)
        item["UnsettledSK"] = f"{iso(p.created_at)}#{p.payment_id}"
    return _drop_none(item)


def payment_from_item(item: Item) -> Payment:
    return Payment(
        payment_id=item["payment_id"], purpose=item["purpose"], order_id=item["order_id"],
        contract_id=item["contract_id"], account_id=item["account_id"],
        amount=Money.parse(item["amount"], item["currency"]),
        payment_method=payment_method_from_map(item["payment_method"]), off_session=bool(item["off_session"]),
        created_at=parse_instant(item["created_at"]), status=item["status"], provider_ref=item.get("provider_ref"),
        period=date.fromisoformat(item["period"]) if item.get("period") else None,
        decline_code=item.get("decline_code"),
        settled_at=parse_instant(item["settled_at"]) if item.get("settled_at") else None,
        expires_at=parse_instant(item["expires_at"]) if item.get("expires_at") else None,
        version=int(item.get("version", 0)),
    )
