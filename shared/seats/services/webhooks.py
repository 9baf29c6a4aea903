"""The payment provider's webhook (docs/payments.md, "Authentication"; docs/stripe.md, "Webhooks"): a
verified event about a payment that waits for the cardholder settles it, through the same code the
reconciler uses (services/settlement.py), and so through the same completion as the submit.

- `payment_intent.succeeded` completes the order (or the renewal) the payment is for;
- `payment_intent.payment_failed` returns the order to draft with `last_payment_error` (a renewal paid
  now: its order cancelled);
- any other event, an event about a payment that is not ours, and one about a payment already settled
  (an event delivered twice) change nothing. The provider is asked by the id recorded: what the event
  says is a signal, the provider's state of the payment is the fact.

Payments not waiting for the cardholder are left to the request that started them, or the reconciler.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from seats.services.ports import PaymentEvent, PaymentGateway, Repository
from seats.services.settlement import settle

SETTLING_EVENTS = frozenset({"payment_intent.succeeded", "payment_intent.payment_failed"})
Handled = Literal["ignored", "unknown", "already_settled", "completed", "refunded", "failed", "waiting", "moving"]


def on_payment_event(repo: Repository, gateway: PaymentGateway, event: PaymentEvent, at: datetime) -> Handled:
    """What the event did. Raises PaymentProviderUnavailable or ConcurrentUpdate when it could not be settled
    now: the provider delivers it again (an error answer asks it to)."""
    if event.type not in SETTLING_EVENTS:
        return "ignored"
    payment = repo.get_payment(event.payment_id) if event.payment_id else None
    if payment is None or payment.provider_ref is None or payment.provider_ref != event.provider_ref:
        return "unknown"
    if payment.status != "requires_action":
        return "already_settled" if not payment.unsettled else "ignored"
    return settle(repo, gateway, payment, at, final=False) or "moving"
