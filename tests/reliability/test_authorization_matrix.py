"""The authorization matrix: every route × every caller × (own team's resource, another team's).

Each cell has the exact answer docs/api.md gives it ("People and roles", "HTTP API"):
- the contract manager (of that resource) changes it: the route's success status;
- a primary admin of the team sees it (reads: 200) but may not change it: 403 not_contract_manager;
- anyone else (secondary admin, plain user, another team's manager, a user of no team) cannot see
  it: 404 with the resource's not-found code, never 403, for reads and changes alike;
- payment methods: visible to the team's primary admin and its contract managers, added by a
  contract manager only;
- no token, an expired token, a wrong audience, issuer or signature: 401 {"message": "Unauthorized"}
  from the gateway's JWT check (infra.local.jwt_tokens through infra.local.gateway), whatever the
  route and target;
- submit and PAY NOW charged to a card that needs 3-D Secure: the manager's success is 202 (the order
  payment_pending, waiting for the cardholder); everyone else is answered as for the 200 paths;
- the routes without a JWT authorizer (template.yaml `Auth: {Authorizer: NONE}`: POST /webhooks/stripe)
  never answer 401, whatever the token; their authentication is the `Stripe-Signature` header, and a
  valid JWT makes no unsigned event acceptable (400 invalid_signature).

Every request goes through the in-process gateway (see conftest.Api); every cell starts from the
seed again (conftest.Scene), with a fresh draft for order routes, a pending reduction for its
DELETE and a declined renewal (past_due) for PAY NOW, so that the manager's cell can succeed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest

from infra import template
from infra.local import jwt_tokens
from infra.local.gateway import api_routes
from seats import bootstrap
from seats.adapters.payments.webhooks import signature_header, signed
from seats.settings import LOCAL_WEBHOOK_SECRET
from tests.reliability.conftest import (
    CARD_A,
    CARD_B,
    CONTRACT_A,
    CONTRACT_B,
    MANAGER_A,
    MANAGER_B,
    NO_TEAM,
    PLAIN_USER_A,
    PRIMARY_ADMIN_A,
    SECOND_CARD_A,
    SECONDARY_ADMIN_A,
    SUBSCRIPTION_A,
    SUBSCRIPTION_B,
    TEAM_A,
    TEAM_B,
    Answer,
    Api,
    Scene,
    add_sca_cards,
    charge_to_sca_card,
    declined_renewal,
    path_of,
)

CALLERS = {
    "contract manager": MANAGER_A,
    "primary admin": PRIMARY_ADMIN_A,
    "secondary admin": SECONDARY_ADMIN_A,
    "plain user": PLAIN_USER_A,
    "another team's manager": MANAGER_B,
    "user of no team": NO_TEAM,
}
TARGETS = {  # "own": the team of the callers above (but MANAGER_B); "other": MANAGER_B's team
    "own": {"contract_id": CONTRACT_A, "subscription_id": SUBSCRIPTION_A, "account_id": TEAM_A,
            "card": SECOND_CARD_A, "foreign_card": CARD_B, "reduce_to": 8},  # 10 seats, 7 assigned
    "other": {"contract_id": CONTRACT_B, "subscription_id": SUBSCRIPTION_B, "account_id": TEAM_B,
              "card": CARD_B, "foreign_card": CARD_A, "reduce_to": 2},  # 3 seats, none assigned
}
MANAGER_OF = {"own": MANAGER_A, "other": MANAGER_B}
PRIMARY_ADMIN_OF = {"own": PRIMARY_ADMIN_A, "other": None}


@dataclass(frozen=True)
class RouteSpec:
    operation: str  # the template's event name
    method: str
    path: str
    success: int
    not_found: str  # the code when the caller cannot see the resource
    change: bool  # True: a visible non-manager gets 403 not_contract_manager
    body: Callable[[dict[str, str]], Any] | None = None
    needs: str = ""  # "draft": a fresh draft on the target; "reduction": a pending reduction; "past_due": declined
    headers: Callable[[], dict[str, str]] = field(default=lambda: {})
    sca: bool = False  # charged to the target team's card that needs 3-D Secure: the manager's 202

    @property
    def id(self) -> str:
        return f"{self.operation}-3DS" if self.sca else self.operation

    @property
    def name(self) -> str:
        return f"{self.operation} with a 3-D Secure card" if self.sca else self.operation


_keys = iter(range(10**9))


def idempotency_key() -> dict[str, str]:
    return {"Idempotency-Key": f"matrix-{time.monotonic_ns()}-{next(_keys)}"}


SUBSCRIPTION = "/contracts/{contract_id}/subscriptions/{subscription_id}"
ROUTES = [
    RouteSpec("GetContract", "GET", "/contracts/{contract_id}", 200, "contract_not_found", change=False),
    RouteSpec("ListOrders", "GET", "/contracts/{contract_id}/orders", 200, "contract_not_found", change=False),
    RouteSpec("ListHistory", "GET", "/contracts/{contract_id}/history", 200, "contract_not_found", change=False),
    RouteSpec("GetRenewalPreview", "GET", "/contracts/{contract_id}/renewal-preview", 200, "contract_not_found",
              change=False),
    RouteSpec("GetOrder", "GET", "/orders/{order_id}", 200, "order_not_found", change=False, needs="draft"),
    RouteSpec("CreateSeatOrder", "POST", SUBSCRIPTION + "/seat-orders", 201, "contract_not_found", change=True,
              body=lambda t: {"seats_to_add": 1}),
    RouteSpec("UpdateOrder", "PATCH", "/orders/{order_id}", 200, "order_not_found", change=True,
              body=lambda t: {"seats_to_add": 3}, needs="draft"),
    RouteSpec("CancelOrder", "DELETE", "/orders/{order_id}", 204, "order_not_found", change=True, needs="draft"),
    RouteSpec("SetOrderPaymentMethod", "PUT", "/orders/{order_id}/payment-method", 200, "order_not_found",
              change=True, body=lambda t: {"payment_method_id": t["card"]}, needs="draft"),
    RouteSpec("SubmitOrder", "POST", "/orders/{order_id}/submit", 200, "order_not_found", change=True,
              needs="draft", headers=idempotency_key),
    RouteSpec("PayRenewalNow", "POST", "/contracts/{contract_id}/renewal-payment", 200, "contract_not_found",
              change=True, needs="past_due", headers=idempotency_key),
    # The same two, charged to a card that needs the cardholder: 202 payment_pending for the manager.
    RouteSpec("SubmitOrder", "POST", "/orders/{order_id}/submit", 202, "order_not_found", change=True,
              needs="draft", headers=idempotency_key, sca=True),
    RouteSpec("PayRenewalNow", "POST", "/contracts/{contract_id}/renewal-payment", 202, "contract_not_found",
              change=True, needs="past_due", headers=idempotency_key, sca=True),
    RouteSpec("SetPendingReduction", "PUT", SUBSCRIPTION + "/pending-reduction", 200, "contract_not_found",
              change=True, body=lambda t: {"seats": t["reduce_to"]}),
    RouteSpec("CancelPendingReduction", "DELETE", SUBSCRIPTION + "/pending-reduction", 204, "contract_not_found",
              change=True, needs="reduction"),
    RouteSpec("SetContractPaymentMethod", "PUT", "/contracts/{contract_id}/payment-method", 200,
              "contract_not_found", change=True, body=lambda t: {"payment_method_id": t["card"]}),
    RouteSpec("ListPaymentMethods", "GET", "/accounts/{account_id}/payment-methods", 200, "account_not_found",
              change=False),
    RouteSpec("AddPaymentMethod", "POST", "/accounts/{account_id}/payment-methods", 201, "account_not_found",
              change=True, body=lambda t: {"token": "tok_visa"}),
]
LIST_CONTRACTS = "ListContracts"
# Routes without the JWT authorizer (template.yaml `Auth: {Authorizer: NONE}`): operation -> (method, path).
NO_JWT_ROUTES = {"StripeWebhook": ("POST", "/webhooks/stripe")}
VISIBLE_CONTRACTS = {  # GET /contracts: what each caller is shown (docs/api.md, People and roles)
    "contract manager": [CONTRACT_A], "primary admin": [CONTRACT_A], "secondary admin": [],
    "plain user": [], "another team's manager": [CONTRACT_B], "user of no team": [],
}


def bad_tokens() -> dict[str, str | None]:
    now = int(time.time())
    return {
        "no token": None,
        "expired token": jwt_tokens.issue(MANAGER_A, ttl_seconds=-60),
        "wrong audience": jwt_tokens.issue(MANAGER_A, aud="another-api"),
        "wrong issuer": jwt_tokens.issue(MANAGER_A, iss="someone-else"),
        "wrong signature": jwt.encode({"sub": MANAGER_A, "iss": jwt_tokens.ISSUER, "aud": jwt_tokens.AUDIENCE,
                                       "exp": now + 3600}, "not-the-secret-of-this-api-at-all", "HS256"),
        "unsigned (alg none)": jwt.encode({"sub": MANAGER_A, "iss": jwt_tokens.ISSUER, "aud": jwt_tokens.AUDIENCE,
                                           "exp": now + 3600}, None, "none"),
        "no expiry": jwt.encode({"sub": MANAGER_A, "iss": jwt_tokens.ISSUER, "aud": jwt_tokens.AUDIENCE},
                                jwt_tokens.secret(), "HS256"),
        "not a JWT": "hello",
    }


def expected(route: RouteSpec, caller: str, target: str) -> tuple[int, str | None]:
    user = CALLERS[caller]
    if user == MANAGER_OF[target]:
        return route.success, None
    if user == PRIMARY_ADMIN_OF[target]:
        return (403, "not_contract_manager") if route.change else (route.success, None)
    return 404, route.not_found


def request_for(route: RouteSpec, target: str, scene: Scene) -> tuple[str, Any, dict[str, str]]:
    ids = dict(TARGETS[target])
    contract_id = ids["contract_id"]
    made = scene.reset(drafts=(contract_id,) if route.needs == "draft" else (),
                       reductions=(contract_id,) if route.needs == "reduction" else ())
    if route.needs == "draft":
        ids["order_id"] = made[contract_id]
    if route.needs == "past_due":
        declined_renewal(contract_id)
    if route.sca:
        charge_to_sca_card(contract_id, ids["order_id"] if route.needs == "draft" else None)
    path = path_of(route.path, **{k: v for k, v in ids.items() if "{" + k + "}" in route.path})
    return path, route.body(ids) if route.body else None, route.headers()


def describe(answer: Answer) -> tuple[int, str | None]:
    return answer.status, answer.code


def test_the_matrix_covers_every_route_of_the_template():
    covered = {(r.method, r.path) for r in ROUTES} | {("GET", "/contracts")} | set(NO_JWT_ROUTES.values())
    assert covered == {(r.method, r.path) for r in template.routes()}
    assert {(r.method, r.path) for r in api_routes() if not r.authorized} == set(NO_JWT_ROUTES.values())


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.id)
def test_each_caller_gets_exactly_the_answer_of_the_spec(route, api, figures):
    if route.sca:
        add_sca_cards()
    scene = Scene()
    wrong = []
    cells = 0
    for target in TARGETS:
        path, body, headers = request_for(route, target, scene)
        for name, token in bad_tokens().items():  # refused by the gateway: the handler never runs
            answer = api.call(route.method, path, token=token, body=body, headers=headers)
            cells += 1
            if (answer.status, answer.body) != (401, {"message": "Unauthorized"}):
                wrong.append(f"{name} on {target}: got {answer.status} {answer.body}")
        for caller, user in CALLERS.items():
            path, body, headers = request_for(route, target, scene)
            answer = api.call(route.method, path, user=user, body=body, headers=headers)
            want = expected(route, caller, target)
            cells += 1
            got = describe(answer)
            if got != want:
                wrong.append(f"{caller} on {target} {path}: got {got}, want {want} ({answer.body})")
            elif answer.status == 202 and (answer.body["status"], answer.body["payment_action"]["type"]) != (
                    "payment_pending", "authenticate"):
                wrong.append(f"{caller} on {target}: 202 without a pending payment: {answer.body}")
            elif answer.status >= 400:
                problem = answer.body
                if answer.content_type != "application/problem+json" or problem.get("status") != answer.status:
                    wrong.append(f"{caller} on {target}: not a problem+json answer: {answer.headers} {problem}")
    assert not wrong, "\n".join(wrong)
    figures.row(
        f"{route.name} ({route.method} {route.path}): 6 callers and 8 bad tokens × own / other team's",
        cells,
        f"manager {route.success}{' payment_pending' if route.sca else ''}; primary admin "
        f"{'403 not_contract_manager' if route.change else route.success}; others 404 {route.not_found}; "
        "bad tokens 401 Unauthorized",
    )


def test_the_contract_list_shows_each_caller_only_what_they_may_see(api, figures):
    cells = 0
    for caller, user in CALLERS.items():
        answer = api.call("GET", "/contracts", user=user)
        assert answer.status == 200
        assert [c["contract_id"] for c in answer.body["contracts"]] == VISIBLE_CONTRACTS[caller], caller
        managed = [c["can_manage"] for c in answer.body["contracts"]]
        assert managed == [caller in ("contract manager", "another team's manager")] * len(managed), caller
        cells += 1
    for name, token in bad_tokens().items():
        answer = api.call("GET", "/contracts", token=token)
        assert (answer.status, answer.body) == (401, {"message": "Unauthorized"}), name
        cells += 1
    figures.row(f"{LIST_CONTRACTS} (GET /contracts): 6 callers and 8 bad tokens", cells,
                "each caller lists only the contracts they manage or administer (can_manage only for the "
                "manager); bad tokens 401 Unauthorized")


@pytest.mark.parametrize("route", [r for r in ROUTES if r.operation in ("SetOrderPaymentMethod",
                                                                         "SetContractPaymentMethod")],
                         ids=lambda r: r.operation)
def test_a_payment_method_of_another_account_is_not_found(route, api, figures):
    scene = Scene()
    cells = 0
    for target in TARGETS:
        path, _, _ = request_for(route, target, scene)
        answer = api.call(route.method, path, user=MANAGER_OF[target],
                          body={"payment_method_id": TARGETS[target]["foreign_card"]})
        assert describe(answer) == (404, "payment_method_not_found"), answer.body
        cells += 1
    figures.row(f"{route.operation}: the manager names a card of the other team", cells,
                "404 payment_method_not_found")


def test_the_webhook_takes_no_jwt_and_a_jwt_makes_no_unsigned_event_acceptable(api, figures):
    """POST /webhooks/stripe with every bad token, none, and every caller's valid JWT: never 401 (no
    authorizer), never 403/404 (no caller is looked up); unsigned or forged, 400 invalid_signature; signed
    with the endpoint secret, 200, whatever the token. The event is about a payment waiting for the
    cardholder, which the sandbox still has waiting: "waiting", and nothing changes."""
    [(method, path)] = NO_JWT_ROUTES.values()
    add_sca_cards()
    order_id = Scene().reset(drafts=(CONTRACT_A,))[CONTRACT_A]
    charge_to_sca_card(CONTRACT_A, order_id)
    pending = api.call("POST", f"/orders/{order_id}/submit", user=MANAGER_A, headers=idempotency_key())
    assert (pending.status, pending.body["status"]) == (202, "payment_pending"), pending.body
    charge_id = pending.body["payment_action"]["charge_id"]
    event = bootstrap.payment_gateway().notification(charge_id, int(time.time()))  # type: ignore[attr-defined]
    event["type"] = "payment_intent.succeeded"  # what a forger would claim
    payload, signature = signed(event, LOCAL_WEBHOOK_SECRET)
    tokens: dict[str, str | None] = {**bad_tokens(), **{f"{caller}'s valid JWT": Api.token(user)
                                                        for caller, user in CALLERS.items()}}
    signatures: dict[str, str | None] = {
        "unsigned": None,
        "forged": f"t={int(time.time())},v1={'0' * 64}",
        "signed with another secret": signature_header(payload, "whsec_not_ours", int(time.time())),
    }
    wrong = []
    cells = 0
    for name, token in tokens.items():
        for kind, forged in signatures.items():
            answer = api.call(method, path, token=token, raw_body=payload,
                              headers={} if forged is None else {"Stripe-Signature": forged})
            cells += 1
            if describe(answer) != (400, "invalid_signature") or answer.content_type != "application/problem+json":
                wrong.append(f"{kind} with {name}: got {answer.status} {answer.body}")
        answer = api.call(method, path, token=token, raw_body=payload, headers={"Stripe-Signature": signature})
        cells += 1
        if (answer.status, answer.body) != (200, {"received": True, "handled": "waiting"}):
            wrong.append(f"signed with {name}: got {answer.status} {answer.body}")
    assert not wrong, "\n".join(wrong)
    order = api.call("GET", f"/orders/{order_id}", user=MANAGER_A).body
    assert (order["status"], order["charge_id"]) == ("payment_pending", None)
    [charge] = [c for c in bootstrap.payment_gateway().list_charges() if c.charge_id == charge_id]
    assert charge.status == "requires_action"
    figures.row(f"StripeWebhook ({method} {path}, no JWT authorizer): {len(tokens)} tokens (none, 8 bad, "
                f"{len(CALLERS)} callers' valid JWTs) × unsigned / forged / another secret's / signed event",
                cells, "never 401 (nor 403/404); unsigned or forged 400 invalid_signature whatever the JWT; "
                "signed 200 whatever the JWT; nothing changed")
