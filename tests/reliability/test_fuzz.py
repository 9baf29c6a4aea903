"""Fuzzing every operation of openapi.json with schemathesis, in this process, with valid tokens.

Each generated case becomes an HTTP request to the API as the local runtime serves it (routing of
template.yaml, JWT check, payload 2.0 event, the function's handler, moto): no socket, so hundreds
of examples run in seconds. Every answer must be no 5xx, a status the document declares for the
operation, with a declared content type and a body that matches the declared schema; a case
generated to be invalid (negative mode) must be refused with a 4xx.

Path ids are either generated, or (often) the real ids of the caller's team or of another team, so
that cases reach the code behind the 404s; a valid body's fields are sometimes swapped for plausible
values (a few seats, a card of the account, a sandbox token) so that cases reach the success paths. Every example starts from the seed again, with a fresh
draft for operations on an order.

Operations without bearer security (`security: []`: POST /webhooks/stripe, authenticated by its
`Stripe-Signature`) are fuzzed without a token, and must refuse every generated request with 400, 413 or
422; their bodies, which the document leaves open, are fuzzed by a test of their own (arbitrary bytes, JSON
and Stripe-shaped events, unsigned, forged, stale or signed with another secret). Drafts are sometimes
charged to a card that needs 3-D Secure, so that submit's 202 payment_pending answer is checked against
the document too; a test of its own checks submit's and PAY NOW's 202 every run.

Budget: SEATS_FUZZ_EXAMPLES examples per operation and generation mode (default 5, derandomized:
the same cases every run); `make fuzz` runs 100 of each, randomly.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from infra.local.serving import Request
from seats import bootstrap
from seats.adapters.payments.webhooks import signature_header, signed
from seats.api.resolver import MAX_BODY_BYTES
from seats.settings import LOCAL_WEBHOOK_SECRET
from tests.conftest import ROOT
from tests.reliability.conftest import (
    CONTRACT_A,
    CONTRACT_B,
    MANAGER_A,
    MANAGER_B,
    NO_TEAM,
    PRIMARY_ADMIN_A,
    SUBSCRIPTION_A,
    SUBSCRIPTION_B,
    TEAM_A,
    TEAM_B,
    Api,
    Scene,
    add_sca_cards,
    charge_to_sca_card,
    declined_renewal,
)

DEFAULT_EXAMPLES = 5
BUDGET = os.environ.get("SEATS_FUZZ_EXAMPLES")
EXAMPLES = int(BUDGET or DEFAULT_EXAMPLES)
BASE_URL = "http://127.0.0.1:3000"
DOCUMENT = json.loads((ROOT / "openapi.json").read_text(encoding="utf-8"))
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)
OPERATIONS = sorted(op.get("operationId", f"{method.upper()} {path}")
                    for path, item in DOCUMENT["paths"].items() for method, op in item.items())
# Operations the gateway lets through without a JWT (`security: []`): their own check refuses what is not theirs.
NO_JWT = {op["operationId"] for item in DOCUMENT["paths"].values() for op in item.values() if op.get("security") == []}
NO_JWT_STATUSES = {400, 413, 422}  # all a generated request can get from them: none carries a valid signature
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]
NEGATIVE_CHECKS = [*CHECKS, negative_data_rejection]
CALLERS = [MANAGER_A, MANAGER_A, PRIMARY_ADMIN_A, NO_TEAM]  # mostly the manager; a read-only admin; no team
TARGETS = ["own", "own", "own", "other", "generated"]  # mostly the ids that reach past the 404s
PLAUSIBLE = {  # values a generated valid body may take instead, to reach the success paths too
    "seats_to_add": [1, 2, 3, 9990],
    "seats": [7, 8, 9, 2],
    "payment_method_id": ["pm_acme_mc", "pm_acme_visa", "pm_globex_visa"],
    "token": ["tok_visa", "tok_mastercard", "tok_chargeCustomerFail", "tok_chargeDeclined",
              "tok_chargeDeclinedExpiredCard", "tok_timeoutAfterCapture", "tok_threeDSecure2Required"],
}


def send(api: Api, case: schemathesis.Case) -> schemathesis.Response:
    """The case as an HTTP request through the in-process gateway; the answer as schemathesis reads it."""
    sent = case.as_transport_kwargs(base_url=BASE_URL)
    prepared = requests.Request(
        method=sent["method"], url=sent["url"], headers=sent.get("headers"), params=sent.get("params"),
        json=sent.get("json"), data=sent.get("data"), cookies=sent.get("cookies"),
    ).prepare()
    body = prepared.body or b""
    started = time.perf_counter()
    answer = api.gateway.handle(Request(
        str(prepared.method), prepared.path_url, list(prepared.headers.items()),
        body.encode() if isinstance(body, str) else body, "127.0.0.1",
    ))
    headers: dict[str, list[str]] = {}
    for name, value in answer.headers:
        headers.setdefault(name.lower(), []).append(value)
    return schemathesis.Response(status_code=answer.status, headers=headers, content=answer.body,
                                 request=prepared, elapsed=time.perf_counter() - started, verify=True)


def fuzz(operation: Any, mode: GenerationMode, run_one: Callable[[Any, str, bool, int | None], None]) -> None:
    """EXAMPLES cases of `mode`, each with a valid token of one of CALLERS (never negated: fixed), or with
    no token at all for an operation without bearer security."""
    if operation.definition.raw.get("operationId") in NO_JWT:
        cases = operation.as_strategy(generation_mode=mode)
    else:
        cases = st.one_of(*(
            operation.as_strategy(generation_mode=mode, headers={"Authorization": f"Bearer {Api.token(caller)}"})
            for caller in CALLERS
        ))
    plausible = st.none() | st.integers(min_value=0, max_value=99) if not mode.is_negative else st.none()
    strategy = st.tuples(cases, st.sampled_from(TARGETS), st.booleans(), plausible)

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=BUDGET is None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def run(drawn: tuple[Any, str, bool, int | None]) -> None:
        run_one(*drawn)

    try:
        run()
    except Unsatisfiable:
        if not mode.is_negative:
            raise
        # Nothing of this operation can be made invalid but the token, which is fixed: no negative cases.


@pytest.mark.parametrize("operation_id", OPERATIONS)
def test_every_operation_answers_as_documented_to_generated_requests(operation_id, world, figures):
    api = Api()
    operation = SCHEMA.find_operation_by_id(operation_id)
    scene = Scene()
    seen: Counter[int] = Counter()
    counts: Counter[str] = Counter()
    add_sca_cards()

    def run_one(case: Any, target: str, either: bool, plausible: int | None) -> None:
        """`either`: on an order, its drafts are charged to a 3-D Secure card; else, a pending reduction."""
        drafts = scene.reset(drafts=(CONTRACT_A, CONTRACT_B) if "{order_id}" in operation.path else (),
                             reductions=(CONTRACT_A,) if either and "{order_id}" not in operation.path else ())
        for contract_id, order_id in drafts.items() if either else ():
            charge_to_sca_card(contract_id, order_id)
        ids = {
            "own": {"contract_id": CONTRACT_A, "subscription_id": SUBSCRIPTION_A, "account_id": TEAM_A},
            "other": {"contract_id": CONTRACT_B, "subscription_id": SUBSCRIPTION_B, "account_id": TEAM_B},
        }
        if drafts:
            ids["own"]["order_id"], ids["other"]["order_id"] = drafts[CONTRACT_A], drafts[CONTRACT_B]
        if target != "generated":
            for name in case.path_parameters or {}:
                case.path_parameters[name] = ids[target].get(name, case.path_parameters[name])
        if plausible is not None and isinstance(case.body, dict):
            for name in case.body.keys() & PLAUSIBLE.keys():
                case.body[name] = PLAUSIBLE[name][plausible % len(PLAUSIBLE[name])]
        response = send(api, case)
        seen[response.status_code] += 1
        mode = case.meta.generation.mode if case.meta else GenerationMode.POSITIVE
        counts[mode.value] += 1
        case.validate_response(response, checks=NEGATIVE_CHECKS if mode.is_negative else CHECKS)

    fuzz(operation, GenerationMode.POSITIVE, run_one)
    fuzz(operation, GenerationMode.NEGATIVE, run_one)

    assert counts["positive"] >= 1 and not any(status >= 500 for status in seen)
    if operation_id in NO_JWT:
        assert set(seen) <= NO_JWT_STATUSES, seen
    statuses = ", ".join(f"{status}×{n}" for status, n in sorted(seen.items()))
    figures.row(
        f"{operation_id} ({operation.method.upper()} {operation.path}): generated requests, "
        f"{counts['positive']} valid + {counts['negative'] or 'no'} invalid"
        f"{'' if counts['negative'] else ' (nothing to make invalid but the token, which is kept valid)'}, "
        + ("without a token (no bearer security)" if operation_id in NO_JWT else
           "as manager / primary admin / user of no team, on generated, own and other team's ids"),
        sum(counts.values()),
        f"no 5xx; every status documented; content type, headers and body as documented; "
        f"invalid input refused with 4xx (statuses: {statuses})",
    )


PLATFORM_STATUSES = {  # what any operation can answer, whatever its route does (401: those with a JWT)
    "401": "the gateway's JWT authorizer",
    "413": "seats.api.resolver: a body over MAX_BODY_BYTES",
    "422": "seats.api.resolver: invalid input (validation_error)",
    "503": "seats.api.resolver: a throttled or unreachable AWS dependency (service_unavailable)",
}


@pytest.mark.parametrize("status", sorted(PLATFORM_STATUSES))
def test_every_operation_documents_the_statuses_the_platform_answers(status, figures):
    concerned = {op.get("operationId", method.upper() + " " + path): op
                 for path, item in DOCUMENT["paths"].items() for method, op in item.items()
                 if status != "401" or op.get("operationId") not in NO_JWT}
    missing = sorted(name for name, op in concerned.items() if status not in op.get("responses", {}))
    assert not missing, f"openapi.json does not document {status} ({PLATFORM_STATUSES[status]}) on: {missing}"
    if status == "401":  # and those without the authorizer do not claim it
        claimed = sorted(name for name in NO_JWT if any(
            op.get("operationId") == name and "401" in op.get("responses", {})
            for item in DOCUMENT["paths"].values() for op in item.values()))
        assert not claimed, f"operations without bearer security document a 401 they never answer: {claimed}"
    figures.row(f"openapi.json declares {status} ({PLATFORM_STATUSES[status]}) on every operation"
                + (f" with bearer security ({len(NO_JWT)} without: not declared)" if status == "401" else ""),
                len(concerned), "all of them declare it")


def test_the_document_covers_every_route_of_the_template(figures):
    from infra import template

    routes = {(r.method, r.path) for r in template.routes()}
    documented = {(method.upper(), path) for path, item in DOCUMENT["paths"].items() for method in item}
    assert routes == documented
    figures.row("openapi.json has one operation per route of template.yaml", len(routes),
                "the same set of (method, path)")


# -- 202: the cardholder is awaited -------------------------------------------------------------------------------

@pytest.mark.parametrize("operation_id", ["SubmitOrder", "PayRenewalNow"])
def test_the_202_answers_of_submit_and_pay_now_are_as_documented(operation_id, world, figures):
    """Charged to a card that needs 3-D Secure, each team's manager gets 202 payment_pending (again, without a
    new charge, to a replay and to a new key): status, content type, headers and body as the document says."""
    api = Api()
    operation = SCHEMA.find_operation_by_id(operation_id)
    add_sca_cards()
    cases = 0
    for contract_id, manager in ((CONTRACT_A, MANAGER_A), (CONTRACT_B, MANAGER_B)):
        drafts = Scene().reset(drafts=(contract_id,) if operation_id == "SubmitOrder" else ())
        if operation_id == "SubmitOrder":
            parameters = {"order_id": drafts[contract_id]}
            charge_to_sca_card(contract_id, drafts[contract_id])
        else:
            parameters = {"contract_id": contract_id}
            declined_renewal(contract_id)
            charge_to_sca_card(contract_id)
        key = f"fuzz-202-{time.monotonic_ns()}"
        answers = []
        for idempotency_key in (key, key, f"{key}-other"):
            case = operation.Case(path_parameters=parameters, headers={
                "Authorization": f"Bearer {Api.token(manager)}", "Idempotency-Key": idempotency_key})
            response = send(api, case)
            case.validate_response(response, checks=CHECKS)
            cases += 1
            answers.append(response.json())
        assert response.status_code == 202
        first = answers[0]
        assert (first["status"], first["payment_action"]["type"]) == ("payment_pending", "authenticate"), first
        assert [a["payment_action"] for a in answers] == [first["payment_action"]] * 3
        pending = [c for c in bootstrap.payment_gateway().list_charges()
                   if c.charge_id == first["payment_action"]["charge_id"]]
        assert [c.status for c in pending] == ["requires_action"]
    figures.row(f"{operation_id} ({operation.method.upper()} {operation.path}) charged to a 3-D Secure card, both "
                "teams' managers, a key, its replay and a new key", cases,
                "202 payment_pending with one payment_action each time; status, content type, headers and body "
                "as openapi.json documents them")


# -- the webhook's bodies -------------------------------------------------------------------------------------------

WEBHOOK = SCHEMA.find_operation_by_id("StripeWebhook")
WEBHOOK_DOCUMENTED = set(DOCUMENT["paths"][WEBHOOK.path][WEBHOOK.method]["responses"])
EVENT_TYPES = ["payment_intent.succeeded", "payment_intent.payment_failed", "payment_intent.canceled",
               "payment_intent.requires_action", "charge.refunded", "customer.updated", ""]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)


def stripe_events(charge_id: str, payment_key: str) -> st.SearchStrategy[dict[str, Any]]:
    """Events shaped as Stripe's, about the pending payment or another, with odd fields here and there."""
    intent = st.fixed_dictionaries({
        "id": st.sampled_from([charge_id, "pi_not_ours", ""]) | st.text(max_size=30),
        "object": st.sampled_from(["payment_intent", "charge", "event"]),
        "status": st.sampled_from(["succeeded", "requires_payment_method", "canceled", "requires_action"]),
        "metadata": st.fixed_dictionaries({"idempotency_key": st.sampled_from([payment_key, "seats:payment:",
                                                                               "other"])}),
    })
    return st.fixed_dictionaries({
        "id": st.text(max_size=30).map(lambda t: f"evt_{t}"),
        "object": st.just("event"),
        "type": st.sampled_from(EVENT_TYPES),
        "created": st.integers(min_value=0, max_value=2**33),
        "data": st.fixed_dictionaries({"object": intent}),
    })


def test_the_webhook_refuses_every_body_without_a_valid_signature(world, figures):
    """No JWT, or any: arbitrary bytes, JSON and Stripe-shaped events (about the payment waiting for the
    cardholder, too), of up to a little over 64 KiB, unsigned, forged, signed with another secret, signed too
    long ago, or signed over another body, with various content types: 400, 413 or 422 as documented, a
    problem+json answer, and the payment still waits."""
    api = Api()
    add_sca_cards()
    order_id = Scene().reset(drafts=(CONTRACT_A,))[CONTRACT_A]
    charge_to_sca_card(CONTRACT_A, order_id)
    pending = api.call("POST", f"/orders/{order_id}/submit", user=MANAGER_A, headers={"Idempotency-Key": "wh"})
    assert pending.status == 202, pending.body
    charge_id = pending.body["payment_action"]["charge_id"]
    payment_key = next(c.idempotency_key for c in bootstrap.payment_gateway().list_charges()
                       if c.charge_id == charge_id)
    seen: Counter[int] = Counter()
    sizes = st.integers(min_value=MAX_BODY_BYTES - 64, max_value=MAX_BODY_BYTES + 64)
    bodies = st.one_of(
        st.binary(max_size=400),
        JSON_VALUES.map(lambda value: json.dumps(value).encode()),
        stripe_events(charge_id, payment_key).map(lambda event: json.dumps(event).encode()),
        stripe_events(charge_id, payment_key).map(lambda event: signed(event, "unused")[0]),
        sizes.map(lambda size: b'{"id":"evt_big","pad":"' + b"x" * max(0, size - 23) + b'"}'),
    )
    signatures = st.one_of(
        st.none(),
        st.just(""),
        st.text(max_size=200),
        st.tuples(st.integers(min_value=0, max_value=2**33), st.binary(min_size=32, max_size=32)).map(
            lambda forged: f"t={forged[0]},v1={forged[1].hex()}"),
        st.sampled_from(["other secret", "stale", "another body", "v0 scheme"]),
    )
    content_types = st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain",
                                     "application/x-www-form-urlencoded", None])
    tokens = st.sampled_from([None, "valid", "not a jwt"])

    @settings(max_examples=max(10 * EXAMPLES, 50), deadline=None, derandomize=BUDGET is None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(bodies, signatures, content_types, tokens)
    def run(body: bytes, signature: str | None, content_type: str | None, token: str | None) -> None:
        now = int(time.time())
        signature = {
            "other secret": signature_header(body, "whsec_not_this_endpoints", now),
            "stale": signature_header(body, LOCAL_WEBHOOK_SECRET, now - 301),
            "another body": signature_header(body + b" ", LOCAL_WEBHOOK_SECRET, now),
            "v0 scheme": signature_header(body, LOCAL_WEBHOOK_SECRET, now).replace("v1=", "v0="),
        }.get(signature or "", signature)
        headers = [("Host", "127.0.0.1:3000")]
        if signature is not None:
            headers.append(("Stripe-Signature", signature))
        if content_type is not None:
            headers.append(("Content-Type", content_type))
        if token is not None:
            headers.append(("Authorization", f"Bearer {Api.token(MANAGER_A) if token == 'valid' else token}"))
        answer = api.send(WEBHOOK.method.upper(), WEBHOOK.path, headers, body)
        seen[answer.status] += 1
        assert answer.status in NO_JWT_STATUSES, (answer.status, answer.body, body[:200], signature)
        assert str(answer.status) in WEBHOOK_DOCUMENTED
        assert answer.content_type == "application/problem+json" and answer.body["status"] == answer.status

    run()

    order = api.call("GET", f"/orders/{order_id}", user=MANAGER_A).body
    assert (order["status"], order["payment_action"]["charge_id"]) == ("payment_pending", charge_id)
    assert [c.status for c in bootstrap.payment_gateway().list_charges() if c.charge_id == charge_id] == [
        "requires_action"]
    statuses = ", ".join(f"{status}×{n}" for status, n in sorted(seen.items()))
    figures.row(f"StripeWebhook (POST /webhooks/stripe): generated bodies (bytes, JSON, Stripe-shaped events about "
                f"the payment waiting for the cardholder, up to {MAX_BODY_BYTES + 64} B) × no / forged / other "
                "secret's / stale / other body's signature × content types × no, a valid or a broken JWT",
                sum(seen.values()),
                f"400 / 413 / 422 problem+json as documented, never 5xx; the payment still waits (statuses: "
                f"{statuses})")
