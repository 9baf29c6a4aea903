"""The OpenAPI document: built from the resolvers, committed as openapi.json, true to the template and to
what the handlers answer; and its offline Swagger UI pages."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from infra import openapi, template
from infra.local import docs
from seats.domain.codes import ADD_SEATS_CONFLICTS, REDUCE_SEATS_CONFLICTS, ErrorCode
from seats.domain.errors import DomainError
from tests.conftest import http_event, invoke

DOCUMENT_URI = "urn:seats:openapi"
WEBHOOK = ("POST", "/webhooks/stripe")  # the one route without the JWT authorizer (template.yaml)


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi.build()


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def response_validator(document: dict[str, Any], method: str, path: str, status: int,
                       media_type: str) -> Draft202012Validator:
    """A JSON Schema validator for one documented response body, resolving the document's $refs."""
    registry = Registry().with_resource(DOCUMENT_URI, Resource.from_contents(document, DRAFT202012))
    pointer = _pointer("paths", path, method.lower(), "responses", str(status), "content", media_type, "schema")
    return Draft202012Validator({"$ref": f"{DOCUMENT_URI}#/{pointer}"}, registry=registry)


def test_the_committed_openapi_json_is_the_one_the_code_generates(document):
    assert openapi.DOCUMENT.exists(), "openapi.json is missing: run `python -m infra.openapi --write`"
    assert openapi.DOCUMENT.read_text(encoding="utf-8") == openapi.render(document), \
        "openapi.json is out of date: run `python -m infra.openapi --write`"


def test_the_document_is_a_valid_openapi_3_1_document(document):
    assert document["openapi"].startswith("3.1.")
    validate_openapi(document)
    assert document["servers"][0]["url"] == "http://127.0.0.1:3000"


def test_every_template_route_has_an_operation_and_every_operation_a_route(document):
    routes = {(r.method, r.path) for r in template.routes()}
    documented = set(openapi.operations(document))
    assert routes - documented == set(), "routes of template.yaml without an operation"
    assert documented - routes == set(), "operations that no route of template.yaml reaches"


def test_operation_ids_are_the_template_event_names_and_name_the_function(document):
    for (method, path), operation in openapi.operations(document).items():
        function, event_name = openapi.route_owners()[(method, path)]
        assert operation["operationId"] == event_name
        assert operation["x-function"] == function


def test_every_operation_but_the_webhook_requires_a_bearer_jwt(document):
    scheme = document["components"]["securitySchemes"][openapi.SECURITY_SCHEME]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    assert document["security"] == [{openapi.SECURITY_SCHEME: []}]
    for key, operation in openapi.operations(document).items():
        if key == WEBHOOK:
            continue
        assert "security" not in operation, f"{key}: the global bearer security applies"
        assert operation.get("security", document["security"]) == [{openapi.SECURITY_SCHEME: []}], key


def test_the_webhook_operation_has_no_security_and_no_401_as_the_template_says(document):
    assert openapi.unauthenticated_routes() == {WEBHOOK}, "routes with `Auth: {Authorizer: NONE}` in template.yaml"
    operation = openapi.operations(document)[WEBHOOK]
    assert operation["operationId"] == "StripeWebhook"
    assert operation["x-function"] == "PaymentWebhookFunction"
    assert operation["security"] == [], "Stripe calls it without a token: its Stripe-Signature authenticates it"
    assert "401" not in operation["responses"], "no authorizer runs: the gateway never answers 401 here"
    assert "invalid_signature" in openapi.documented_codes(operation)[400]
    assert "`POST /webhooks/stripe`" in document["info"]["description"]


def test_a_route_the_template_leaves_without_authorizer_is_documented_without_security(monkeypatch, document):
    """Derived from the template, not from the path: another public route would get `security: []` too."""
    monkeypatch.setattr(openapi, "unauthenticated_routes", lambda: {("GET", "/contracts"), WEBHOOK})
    built = openapi.build()
    for key in (("GET", "/contracts"), WEBHOOK):
        operation = openapi.operations(built)[key]
        assert operation["security"] == [], key
        assert "GatewayUnauthorized" not in json.dumps(operation["responses"].get("401", {})), key
    assert "security" not in openapi.operations(built)[("GET", "/contracts/{contract_id}")]
    assert "`GET /contracts` and `POST /webhooks/stripe`" in built["info"]["description"]


@pytest.mark.parametrize("key", [("POST", "/orders/{order_id}/submit"),
                                 ("POST", "/contracts/{contract_id}/renewal-payment")])
def test_submit_and_pay_now_document_the_202_of_a_payment_waiting_for_the_cardholder(document, key):
    accepted = openapi.operations(document)[key]["responses"]["202"]
    assert accepted["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/OrderOut"}
    assert "3-D Secure" in accepted["description"]
    order = document["components"]["schemas"]["OrderOut"]
    assert "payment_pending" in order["properties"]["status"]["enum"]
    assert "payment_action" in order["properties"]


def test_a_submit_waiting_for_the_cardholder_answered_by_a_real_handler_matches_the_document(seeded, document):
    from tests.integration.add_seats_support import draft_paid_with, submit

    draft = draft_paid_with("tok_threeDSecure2Required")
    status, body, _ = submit(draft["order_id"], "sca-1")

    assert status == 202 and body["status"] == "payment_pending", body
    assert body["payment_action"]["type"] == "authenticate" and body["payment_action"]["client_secret"]
    validator = response_validator(document, "POST", "/orders/{order_id}/submit", 202, "application/json")
    assert list(validator.iter_errors(body)) == []


def test_every_operation_documents_its_success_body(document):
    undocumented = []
    for (method, path), operation in openapi.operations(document).items():
        successes = {s: r for s, r in operation["responses"].items() if s.startswith("2")}
        for status, response in successes.items():
            if status == "204":
                assert "content" not in response, f"{method} {path}: a 204 has no body"
            elif not response.get("content", {}).get("application/json", {}).get("schema"):
                undocumented.append(f"{operation['operationId']} ({method} {path}) {status}")
        if not successes:
            undocumented.append(f"{operation['operationId']} ({method} {path}): no 2xx response")
    assert undocumented == [], "success bodies not documented: add the success status to the route's responses="


def test_every_operation_documents_the_gateway_401_and_problem_json_4xx_answers(document):
    for key, operation in openapi.operations(document).items():
        responses = operation["responses"]
        if key != WEBHOOK:  # no authorizer on the webhook (above)
            unauthorized = responses["401"]["content"]["application/json"]["schema"]
            assert unauthorized == {"$ref": "#/components/schemas/GatewayUnauthorized"}, key
        validation = responses["422"]
        assert "validation_error" in validation["description"], key
        assert validation["content"][openapi.PROBLEM_JSON]["schema"] == {"$ref": "#/components/schemas/Problem"}, key
        assert "application/json" not in validation["content"], key
        problems = [s for s, r in responses.items()
                    if s.startswith("4") and s not in ("401", "422") and openapi.PROBLEM_JSON in r.get("content", {})]
        if openapi.EXPECTED_PROBLEMS.get(operation["operationId"]):
            assert problems, f"{key}: no problem+json 4xx besides 401 and 422"


def test_every_operation_documents_the_problem_codes_it_can_answer(document):
    assert set(openapi.EXPECTED_PROBLEMS) == {event for _, event in openapi.route_owners().values()}
    missing = openapi.missing_problem_codes(document)
    report = "\n".join(f"{op} {status}: {', '.join(codes)}"
                       for op, gaps in sorted(missing.items()) for status, codes in sorted(gaps.items()))
    assert missing == {}, f"problem codes not documented (add them to the route's responses=):\n{report}"


def _domain_error_classes(root: type[DomainError] = DomainError) -> list[type[DomainError]]:
    """Every subclass of DomainError, at any depth (their modules imported first)."""
    import seats.api.idempotency
    import seats.api.identity
    import seats.services.read  # noqa: F401

    found = []
    for subclass in root.__subclasses__():
        found += [subclass, *_domain_error_classes(subclass)]
    return found


def _raised_codes() -> set[str]:
    """The codes a domain error can carry: each class's own, and every reason of NotEligible."""
    codes: set[str] = {*ADD_SEATS_CONFLICTS, *REDUCE_SEATS_CONFLICTS}
    codes |= {cls.code for cls in _domain_error_classes() if hasattr(cls, "code")}
    return codes


def _codes_in_document(document: dict[str, Any]) -> set[str]:
    """The problem codes of every error answer (4xx, 5xx) of every operation, as `--report` finds them."""
    return {code for operation in openapi.operations(document).values()
            for status, codes in openapi.documented_codes(operation).items() if status >= 400 for code in codes}


def _error_codes_named_in_document(document: dict[str, Any]) -> set[str]:
    """The ErrorCode values named, as words, by error answers: also those without an underscore."""
    descriptions = " ".join(response.get("description", "") for operation in openapi.operations(document).values()
                            for status, response in operation["responses"].items() if status[:1] in ("4", "5"))
    words = set(re.findall(r"[a-z][a-z0-9_]*", descriptions))
    return {code.value for code in ErrorCode if code in words} | _codes_in_document(document)


def test_every_code_the_document_names_is_an_error_code(document):
    codes = _codes_in_document(document)
    assert {"contract_not_found", "validation_error", "payment_declined"} <= codes, "codes not found"
    assert codes - {code.value for code in ErrorCode} == set(), \
        "codes in openapi.json that seats.domain.codes.ErrorCode does not list"


def test_every_code_a_domain_error_carries_is_an_error_code_documented_by_an_operation(document):
    raised = _raised_codes()
    assert {"not_contract_manager", "unauthorized", "service_unavailable", "renewal_due"} <= raised, \
        "domain errors not found"
    assert raised - {code.value for code in ErrorCode} == set(), "domain errors with a code ErrorCode lacks"
    assert raised - _error_codes_named_in_document(document) == set(), \
        "codes a domain error carries that no operation of openapi.json documents"


def test_the_gateway_unauthorized_schema_accepts_what_the_gateway_answers(document):
    registry = Registry().with_resource(DOCUMENT_URI, Resource.from_contents(document, DRAFT202012))
    validator = Draft202012Validator({"$ref": f"{DOCUMENT_URI}#/components/schemas/GatewayUnauthorized"},
                                     registry=registry)
    assert validator.is_valid({"message": "Unauthorized"})
    assert not validator.is_valid({"message": "Forbidden"})


def test_a_validation_error_answered_by_a_real_handler_matches_the_document(seeded, document):
    from functions.list_contracts.app import lambda_handler

    status, body, headers = invoke(lambda_handler, http_event("GET", "/contracts", query={"limit": "0"}))

    assert status == 422 and body["code"] == "validation_error"
    assert headers["Content-Type"] == openapi.PROBLEM_JSON
    validator = response_validator(document, "GET", "/contracts", 422, openapi.PROBLEM_JSON)
    assert list(validator.iter_errors(body)) == []
    assert not validator.is_valid({**body, "status": "422"}), "the schema must be able to reject a body"


def test_a_contract_list_answered_by_a_real_handler_matches_the_document(seeded, document):
    from functions.list_contracts.app import lambda_handler

    status, body, _ = invoke(lambda_handler, http_event("GET", "/contracts"))

    assert status == 200 and body["contracts"]
    validator = response_validator(document, "GET", "/contracts", 200, "application/json")
    assert list(validator.iter_errors(body)) == []
    assert not validator.is_valid({**body, "surprise": 1}), "the schema must be able to reject a body"


def test_a_too_large_body_answered_by_a_real_handler_matches_the_document(seeded, document):
    from functions.change_seats.app import lambda_handler

    event = http_event("PATCH", "/orders/ord_x", raw_body='{"seats_to_add": 1, "pad": "' + "x" * 70_000 + '"}')
    status, body, headers = invoke(lambda_handler, event)

    assert status == 413 and body["code"] == "payload_too_large"
    assert headers["Content-Type"] == openapi.PROBLEM_JSON
    validator = response_validator(document, "PATCH", "/orders/{order_id}", 413, openapi.PROBLEM_JSON)
    assert list(validator.iter_errors(body)) == []
    for key, operation in openapi.operations(document).items():  # the resolver checks before routing
        assert "413" in operation["responses"], key


def test_check_fails_when_the_file_differs_from_the_code(tmp_path, monkeypatch, document, capsys):
    target = tmp_path / "openapi.json"
    monkeypatch.setattr(openapi, "DOCUMENT", target)
    monkeypatch.setattr(openapi, "build", lambda **_: document)

    target.write_text(openapi.render(document).replace('"seats"', '"stale"', 1), encoding="utf-8")
    assert openapi.main(["--check"]) == 1
    assert "out of date" in capsys.readouterr().err

    assert openapi.main(["--write"]) == 0
    assert openapi.main(["--check"]) == 0
    assert json.loads(target.read_text(encoding="utf-8")) == document


def test_the_rendering_is_stable_whatever_the_key_order():
    one = {"b": 1, "a": {"d": 2, "c": 3}}
    other = {"a": {"c": 3, "d": 2}, "b": 1}
    assert openapi.render(one) == openapi.render(other)
    assert openapi.render(one).endswith("}\n")


def test_two_functions_defining_one_schema_name_differently_is_an_error():
    merged: dict[str, dict[str, Any]] = {}
    openapi._merge_components(merged, {"schemas": {"OrderOut": {"type": "object"}}}, "A")
    openapi._merge_components(merged, {"schemas": {"OrderOut": {"type": "object"}}}, "B")
    with pytest.raises(openapi.OpenApiError, match="OrderOut"):
        openapi._merge_components(merged, {"schemas": {"OrderOut": {"type": "string"}}}, "C")


def test_codes_are_found_in_descriptions_and_problem_examples():
    operation = {"responses": {
        "404": {"description": "contract_not_found | subscription_not_found"},
        "409": {"description": "Conflict", "content": {openapi.PROBLEM_JSON: {
            "examples": {"a": {"value": {"code": "draft_exists"}}}}}},
    }}
    assert openapi.documented_codes(operation) == {
        404: {"contract_not_found", "subscription_not_found"}, 409: {"draft_exists"}}


def test_the_docs_page_loads_swagger_ui_from_this_server_only():
    status, content_type, body = docs.handle("/docs")
    page = body.decode()
    assert status == 200 and content_type.startswith("text/html")
    assert 'src="/docs/swagger-ui-bundle.js"' in page and 'href="/docs/swagger-ui.css"' in page
    assert "persistAuthorization: true" in page and 'url: "/openapi.json"' in page
    assert "http://" not in page and "https://" not in page


def test_the_swagger_ui_assets_are_served_from_the_repository():
    for path, expected_type in (("/docs/swagger-ui-bundle.js", "application/javascript"),
                                ("/docs/swagger-ui.css", "text/css")):
        status, content_type, body = docs.handle(path)
        assert status == 200 and content_type.startswith(expected_type)
        assert len(body) > 100_000
    assert (docs.STATIC / "LICENSE").read_text().find("Apache License") >= 0


def test_the_served_document_points_try_it_out_at_the_server_the_browser_used(document):
    status, content_type, body = docs.handle("/openapi.json", host="127.0.0.1:43210")
    served = json.loads(body)
    assert (status, content_type) == (200, "application/json")
    assert served["servers"][0]["url"] == "http://127.0.0.1:43210"
    assert served["paths"] == document["paths"]


def test_other_paths_are_not_the_docs():
    assert docs.handle("/contracts") is None
    assert docs.handle("/docs/../openapi.py") is None


def test_the_gateway_hook_serves_the_docs_without_a_token():
    from infra.local.serving import Request

    served = docs.routes()
    assert {("GET", "/docs"), ("GET", "/openapi.json"), ("GET", "/docs/swagger-ui-bundle.js")} <= set(served)
    response = served[("GET", "/docs")](Request("GET", "/docs", [("Host", "127.0.0.1:3000")], b"", "127.0.0.1"))
    assert response.status == 200 and ("Content-Type", "text/html; charset=utf-8") in response.headers
