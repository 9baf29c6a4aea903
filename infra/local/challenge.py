"""POST /_local/payments/{charge_id}/authenticate: the cardholder passing (`{"success": true}`) or failing
(`{"success": false}`) the bank's 3-D Secure challenge for a payment waiting for it (docs/local-runtime.md).

Then the provider notifies the webhook, as it would in AWS:
- sandbox: the sandbox settles its payment, and its signed `payment_intent.*` event is POSTed to
  `/webhooks/stripe` through this very gateway (the same route, function and signature check as Stripe's);
  the answer comes after the webhook has been handled;
- Stripe mode (localstripe): forwarded to localstripe's `/v1/payment_intents/{id}/_authenticate`;
  localstripe then sends its own signed event to the webhook URL the stack registered with it (in the
  background: the answer may come before the webhook has been handled).

Answers 200 with the charge as /_local/charges lists it; 409 when the charge is not waiting for
authentication; 422 for a body that is not `{"success": true|false}`.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from infra.local.serving import Request, Response
from seats import bootstrap
from seats.adapters.payments import webhooks
from seats.clock import iso

log = logging.getLogger("seats-local")

PATH = re.compile(r"^/_local/payments/(?P<charge_id>[A-Za-z0-9_]{1,255})/authenticate$")
WEBHOOK_PATH = "/webhooks/stripe"
PROBLEM_JSON = "application/problem+json"


def charge_out(charge: Any) -> dict[str, Any]:
    """A charge as /_local/charges lists it."""
    return {
        "charge_id": charge.charge_id, "amount": str(charge.amount), "currency": charge.amount.currency,
        "payment_method_id": charge.payment_method_id or charge.payment_method_ref,
        "idempotency_key": charge.idempotency_key, "status": charge.status, "created_at": iso(charge.created_at),
        "refunded_at": iso(charge.refunded_at) if charge.refunded_at else None,
    }


def _problem(status: int, code: str, detail: str) -> Response:
    return Response.json(status, {"type": f"https://seats.dev/problems/{code}", "title": detail, "status": status,
                                  "detail": detail, "code": code}, content_type=PROBLEM_JSON)


def _success(body: bytes) -> bool | None:
    try:
        data = json.loads(body or b"null")
    except ValueError:
        return None
    value = data.get("success") if isinstance(data, dict) and set(data) == {"success"} else None
    return value if isinstance(value, bool) else None


class CardholderChallenge:
    """The local route; `deliver` hands a request to the HTTP API (ApiGateway.handle)."""

    def __init__(self, deliver: Callable[[Request], Response], localstripe_url: Callable[[], str | None]) -> None:
        self.deliver = deliver
        self.localstripe_url = localstripe_url

    def handle(self, request: Request) -> Response:
        found = PATH.match(request.path)
        success = _success(request.body)
        if found is None or success is None:
            return _problem(422, "validation_error", 'The body must be {"success": true} or {"success": false}')
        charge_id = found["charge_id"]
        localstripe = self.localstripe_url()
        refused = self._at_localstripe(localstripe, charge_id, success) if localstripe else \
            self._in_sandbox(charge_id, success)
        if refused is not None:
            return refused
        charge = next((c for c in bootstrap.payment_gateway().list_charges() if c.charge_id == charge_id), None)
        return Response.json(200, charge_out(charge) if charge else {"charge_id": charge_id})

    def _in_sandbox(self, charge_id: str, success: bool) -> Response | None:
        from seats.adapters.payments.sandbox import NotAwaitingAuthentication

        gateway: Any = bootstrap.payment_gateway()
        try:
            gateway.authenticate(charge_id, success)
        except NotAwaitingAuthentication:
            return _problem(409, "not_awaiting_authentication", f"Charge {charge_id} is not waiting for authentication")
        payload, signature = webhooks.signed(gateway.notification(charge_id, int(time.time())),
                                             bootstrap.webhook_secret())
        answer = self.deliver(Request("POST", WEBHOOK_PATH, [
            ("Content-Type", "application/json; charset=utf-8"), ("Stripe-Signature", signature),
            ("User-Agent", "seats-sandbox-webhooks"), ("X-Request-Id", uuid.uuid4().hex)], payload, "127.0.0.1"))
        log.info("sandbox webhook for %s -> %s", charge_id, answer.status)
        return None

    def _at_localstripe(self, url: str, charge_id: str, success: bool) -> Response | None:
        from infra.local import localstripe

        try:
            localstripe.authenticate(url, charge_id, success)
        except localstripe.LocalStripeError as refused:
            log.info("localstripe refused to authenticate %s: %s", charge_id, refused)
            return _problem(409, "not_awaiting_authentication", f"Charge {charge_id} is not waiting for authentication")
        return None
