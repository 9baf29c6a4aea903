"""One realistic request per API route, on the demo seed, and the state each one needs first.

Every route of template.yaml gets a scenario: the manager `u-alice` acting on her annual contract
110000000001 (AutoCAD `sub-acad` for reductions, Fusion `sub-fusion` for add-seats drafts), and paying
her past-due contract 110000000002 now (PAY NOW, its card first changed to one that pays). The
state is built through the services, before anything is measured.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.common import World

CONTRACT = "110000000001"
PAST_DUE = "110000000002"  # declined on 2026-11-20: PAY NOW pays it, once its card is one that pays
ACCOUNT = "acme"
CALLER, EMAIL = "u-alice", "alice@acme.test"
REDUCE_SUB, ADD_SUB = "sub-acad", "sub-fusion"


@dataclass
class State:
    """Ids made while preparing: a completed order, an open draft."""

    ids: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Scenario:
    route: str  # "METHOD /path" as in template.yaml
    status: int  # the answer a successful request gets
    event: Callable[[State], dict[str, Any]]  # a fresh event for each run
    needs: tuple[str, ...] = ()  # "draft", "reduction", "payable": prepared before the runs

    @property
    def method(self) -> str:
        return self.route.split(" ", 1)[0]


def webhook_event(body: str) -> dict[str, Any]:
    """POST /webhooks/stripe with the provider's event `body`, signed now (good for 5 minutes)."""
    from infra.sign_webhook import resign
    from seats.settings import LOCAL_WEBHOOK_SECRET
    from tests.conftest import http_event

    return resign(http_event("POST", "/webhooks/stripe", user=None, raw_body=body), LOCAL_WEBHOOK_SECRET)


def _webhook(state: State) -> dict[str, Any]:
    """The provider's event about the authenticated payment (prepared)."""
    return webhook_event(state.ids["webhook_body"])


def _event(method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> dict[str, Any]:
    from tests.conftest import http_event

    return http_event(method, path, user=CALLER, email=EMAIL, body=body, headers=headers)


_SUBS = f"/contracts/{CONTRACT}/subscriptions"

SCENARIOS = [
    Scenario("GET /contracts", 200, lambda s: _event("GET", "/contracts")),
    Scenario("GET /contracts/{contract_id}", 200, lambda s: _event("GET", f"/contracts/{CONTRACT}")),
    Scenario("GET /contracts/{contract_id}/orders", 200, lambda s: _event("GET", f"/contracts/{CONTRACT}/orders")),
    Scenario("GET /contracts/{contract_id}/history", 200,
             lambda s: _event("GET", f"/contracts/{CONTRACT}/history")),
    Scenario("GET /contracts/{contract_id}/renewal-preview", 200,
             lambda s: _event("GET", f"/contracts/{CONTRACT}/renewal-preview")),
    Scenario("GET /orders/{order_id}", 200, lambda s: _event("GET", f"/orders/{s.ids['completed']}")),
    Scenario("POST /contracts/{contract_id}/subscriptions/{subscription_id}/seat-orders", 201,
             lambda s: _event("POST", f"{_SUBS}/{ADD_SUB}/seat-orders", {"seats_to_add": 2})),
    Scenario("PATCH /orders/{order_id}", 200,
             lambda s: _event("PATCH", f"/orders/{s.ids['draft']}", {"seats_to_add": 2}), ("draft",)),
    Scenario("DELETE /orders/{order_id}", 204, lambda s: _event("DELETE", f"/orders/{s.ids['draft']}"), ("draft",)),
    Scenario("PUT /orders/{order_id}/payment-method", 200,
             lambda s: _event("PUT", f"/orders/{s.ids['draft']}/payment-method",
                              {"payment_method_id": "pm_acme_mc"}), ("draft",)),
    Scenario("POST /orders/{order_id}/submit", 200,
             lambda s: _event("POST", f"/orders/{s.ids['draft']}/submit",
                              headers={"Idempotency-Key": str(uuid.uuid4())}), ("draft",)),
    Scenario("POST /contracts/{contract_id}/renewal-payment", 200,
             lambda s: _event("POST", f"/contracts/{PAST_DUE}/renewal-payment",
                              headers={"Idempotency-Key": str(uuid.uuid4())}), ("payable",)),
    Scenario("PUT /contracts/{contract_id}/subscriptions/{subscription_id}/pending-reduction", 200,
             lambda s: _event("PUT", f"{_SUBS}/{REDUCE_SUB}/pending-reduction", {"seats": 8})),
    Scenario("DELETE /contracts/{contract_id}/subscriptions/{subscription_id}/pending-reduction", 204,
             lambda s: _event("DELETE", f"{_SUBS}/{REDUCE_SUB}/pending-reduction"), ("reduction",)),
    Scenario("PUT /contracts/{contract_id}/payment-method", 200,
             lambda s: _event("PUT", f"/contracts/{CONTRACT}/payment-method", {"payment_method_id": "pm_acme_mc"})),
    Scenario("POST /webhooks/stripe", 200, _webhook, ("authenticated",)),
    Scenario("GET /accounts/{account_id}/payment-methods", 200,
             lambda s: _event("GET", f"/accounts/{ACCOUNT}/payment-methods")),
    Scenario("POST /accounts/{account_id}/payment-methods", 201,
             lambda s: _event("POST", f"/accounts/{ACCOUNT}/payment-methods", {"token": "tok_visa"})),
]


def scenarios() -> list[tuple[Scenario | None, str, str]]:
    """(scenario or None when there is none yet, route, function logical id) for every template route."""
    from infra import template

    known = {s.route: s for s in SCENARIOS}
    return [(known.get(f"{r.method} {r.path}"), f"{r.method} {r.path}", r.function) for r in template.routes()]


def prepare(world: World, needs: tuple[str, ...] = ()) -> State:
    """Fresh tables, the demo seed, some history (an order completed, a reduction scheduled and
    cancelled), then what the scenario needs."""
    from seats import bootstrap
    from seats.services import add_seats, payment_methods, reduce_seats, submit

    world.reset_tables()
    world.load_demo_seed()
    repo, gateway = bootstrap.repository(), bootstrap.payment_gateway()
    state = State()
    completed = add_seats.create_draft(repo, CONTRACT, "sub-rvt", 1, CALLER)
    state.ids["completed"] = submit.submit(repo, gateway, completed.order_id, CALLER).order_id
    reduce_seats.schedule_reduction(repo, CONTRACT, REDUCE_SUB, CALLER, 9)
    reduce_seats.cancel_reduction(repo, CONTRACT, REDUCE_SUB, CALLER)
    if "draft" in needs:
        state.ids["draft"] = add_seats.create_draft(repo, CONTRACT, ADD_SUB, 1, CALLER).order_id
    if "reduction" in needs:
        reduce_seats.schedule_reduction(repo, CONTRACT, REDUCE_SUB, CALLER, 8)
    if "payable" in needs:  # the past-due contract's declining card replaced by one that pays
        payment_methods.set_contract_payment_method(repo, PAST_DUE, "pm_acme_visa", CALLER)
    if "authenticated" in needs:
        state.ids["webhook_body"] = authenticated(repo, gateway)
    return state


def authenticated(repo: Any, gateway: Any) -> str:
    """A draft paid with a card that asks for 3-D Secure, submitted (payment_pending) and authenticated at the
    sandbox: the body of the provider's payment_intent.succeeded event, which completes it."""
    from seats.services import add_seats, payment_methods, submit

    order = add_seats.create_draft(repo, CONTRACT, ADD_SUB, 1, CALLER)
    card = payment_methods.add_payment_method(repo, gateway, ACCOUNT, "tok_threeDSecure2Required", CALLER)
    payment_methods.set_order_payment_method(repo, gateway, order.order_id, card.payment_method_id, CALLER)
    pending = submit.submit(repo, gateway, order.order_id, CALLER)
    if pending.payment_action is None:
        raise RuntimeError(f"the order is {pending.status}, not waiting for authentication")
    gateway.authenticate(pending.payment_action.charge_id, True)
    return json.dumps(gateway.notification(pending.payment_action.charge_id, int(time.time())))


def status_of(answer: dict[str, Any]) -> int:
    return int(answer.get("statusCode", 0))


def problem_of(answer: dict[str, Any]) -> str:
    try:
        return json.loads(answer.get("body") or "{}").get("code", "")
    except ValueError:
        return ""
