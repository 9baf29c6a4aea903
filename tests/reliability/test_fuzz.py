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
from tests.conftest import ROOT
from tests.reliability.conftest import (
    CONTRACT_A,
    CONTRACT_B,
    MANAGER_A,
    NO_TEAM,
    PRIMARY_ADMIN_A,
    SUBSCRIPTION_A,
    SUBSCRIPTION_B,
    TEAM_A,
    TEAM_B,
    Api,
    Scene,
)

DEFAULT_EXAMPLES = 5
BUDGET = os.environ.get("SEATS_FUZZ_EXAMPLES")
EXAMPLES = int(BUDGET or DEFAULT_EXAMPLES)
BASE_URL = "http://127.0.0.1:3000"
DOCUMENT = json.loads((ROOT / "openapi.json").read_text(encoding="utf-8"))
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)
OPERATIONS = sorted(op.get("operationId", f"{method.upper()} {path}")
                    for path, item in DOCUMENT["paths"].items() for method, op in item.items())
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
              "tok_chargeDeclinedExpiredCard", "tok_timeoutAfterCapture"],
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
    """EXAMPLES cases of `mode`, each with a valid token of one of CALLERS (never negated: fixed)."""
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

    def run_one(case: Any, target: str, with_reduction: bool, plausible: int | None) -> None:
        drafts = scene.reset(drafts=(CONTRACT_A, CONTRACT_B) if "{order_id}" in operation.path else (),
                             reductions=(CONTRACT_A,) if with_reduction and "{order_id}" not in operation.path else ())
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
    statuses = ", ".join(f"{status}×{n}" for status, n in sorted(seen.items()))
    figures.row(
        f"{operation_id} ({operation.method.upper()} {operation.path}): generated requests, "
        f"{counts['positive']} valid + {counts['negative'] or 'no'} invalid"
        f"{'' if counts['negative'] else ' (nothing to make invalid but the token, which is kept valid)'}, "
        "as manager / primary admin / "
        "user of no team, on generated, own and other team's ids",
        sum(counts.values()),
        f"no 5xx; every status documented; content type, headers and body as documented; "
        f"invalid input refused with 4xx (statuses: {statuses})",
    )


PLATFORM_STATUSES = {  # what any operation can answer, whatever its route does
    "401": "the gateway's JWT authorizer",
    "413": "seats.api.resolver: a body over MAX_BODY_BYTES",
    "422": "seats.api.resolver: invalid input (validation_error)",
    "503": "seats.api.resolver: a throttled or unreachable AWS dependency (service_unavailable)",
}


@pytest.mark.parametrize("status", sorted(PLATFORM_STATUSES))
def test_every_operation_documents_the_statuses_the_platform_answers(status, figures):
    missing = sorted(f"{op.get('operationId', method.upper() + ' ' + path)}"
                     for path, item in DOCUMENT["paths"].items() for method, op in item.items()
                     if status not in op.get("responses", {}))
    assert not missing, f"openapi.json does not document {status} ({PLATFORM_STATUSES[status]}) on: {missing}"
    figures.row(f"openapi.json declares {status} ({PLATFORM_STATUSES[status]}) on every operation", len(OPERATIONS),
                "all operations declare it")


def test_the_document_covers_every_route_of_the_template(figures):
    from infra import template

    routes = {(r.method, r.path) for r in template.routes()}
    documented = {(method.upper(), path) for path, item in DOCUMENT["paths"].items() for method in item}
    assert routes == documented
    figures.row("openapi.json has one operation per route of template.yaml", len(routes),
                "the same set of (method, path)")
