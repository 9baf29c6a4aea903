"""One OpenAPI 3.1 document for the whole HTTP API, built from the code.

Each API function of template.yaml (a function with HttpApi events) has its own Powertools resolver,
`app` in its handler module. Their documents are merged into one: an operation is taken from the
function the template routes it to, and its `operationId` is the template's event name
(`ListContracts`, `SubmitOrder`, `StripeWebhook`, ...). Then what holds for every route, whoever wrote it,
is added:

- bearer JWT security, applied globally (the API's default authorizer guards every route), except on the
  routes whose template event says `Auth: {Authorizer: NONE}` (`POST /webhooks/stripe`: its
  `Stripe-Signature` is checked by the function), which get `security: []`;
- 401 `{"message": "Unauthorized"}`, which API Gateway itself answers without a valid token (not on
  those routes: no authorizer runs);
- 422 `validation_error` as problem+json, which `seats.api.resolver` answers for invalid input
  (Powertools would otherwise document its own validation shape);
- 413 `payload_too_large` on every route (the resolver refuses big bodies first), 503 `service_unavailable`;
- no body for a 204.

Problem codes are the routes' to declare (`responses=` on each route); `--report` lists the codes
an operation can answer (EXPECTED_PROBLEMS, after docs/api.md, Error codes) but does not document.

    python -m infra.openapi --write    # writes openapi.json at the repository root
    python -m infra.openapi --check    # exits 1 when openapi.json differs from the code
    python -m infra.openapi --report   # problem codes the routes do not document yet
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
from importlib import metadata
from typing import Any

from infra import template
from seats.domain.codes import ADD_SEATS_CONFLICTS, REDUCE_SEATS_CONFLICTS, ErrorCode

DOCUMENT = template.ROOT / "openapi.json"
TITLE = "seats"
SERVER = "http://127.0.0.1:3000"
SECURITY_SCHEME = "bearerAuth"
PROBLEM_JSON = "application/problem+json"
SCHEMAS = "#/components/schemas/"
# Powertools' own validation-error shapes, which the problem+json 422 replaces.
POWERTOOLS_VALIDATION_SCHEMAS = ("HTTPValidationError", "ResponseValidationError", "ValidationError")
POWERTOOLS_VALIDATION_DESCRIPTION = "Validation Error"

DESCRIPTION = """\
Add seats (charged now, prorated to the renewal date) or reduce seats (applied at renewal) on
auto-renewing subscriptions.

Every route needs `Authorization: Bearer <JWT>` (locally, `seats-local token <user_id>` prints one; use
**Authorize**){exceptions}. Errors are RFC 9457 problem details (`application/problem+json`) with a
machine-readable `code`; invalid input answers 422 `validation_error` with `errors[{{loc, msg}}]`.
Money is a decimal string with the currency's minor-unit digits. A submit or a renewal paid now whose
card asks for the cardholder (3-D Secure) answers 202 with the order `payment_pending` and its
`payment_action`; the provider's webhook completes it (docs/stripe.md, "3-D Secure and webhooks")."""
# What DESCRIPTION says of the routes without the JWT authorizer (the template's `Auth: {Authorizer: NONE}`).
UNAUTHENTICATED_NOTE = (", except {routes}, which the payment provider calls: it takes no token, its "
                        "`Stripe-Signature` header is checked instead (400 `invalid_signature`)")

SECURITY_SCHEMES = {SECURITY_SCHEME: {
    "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
    "description": "A JWT from the API's issuer (locally: `seats-local token <user_id>`).",
}}

GATEWAY_UNAUTHORIZED = {
    "title": "GatewayUnauthorized",
    "description": "API Gateway's answer when the bearer token is missing or not valid.",
    "type": "object",
    "properties": {"message": {"type": "string", "const": "Unauthorized"}},
    "required": ["message"],
}
UNAUTHORIZED_DESCRIPTION = "Missing or invalid bearer token (answered by the API Gateway JWT authorizer)"

# The problem codes each operation can answer (docs/api.md, Error codes), by operationId; 422
# validation_error is added to every operation by `build`, 401 to every operation behind the JWT authorizer. `--report` and the tests hold the routes'
# `responses=` to this table.
EXPECTED_PROBLEMS: dict[str, dict[int, tuple[ErrorCode, ...]]] = {
    "ListContracts": {},
    "GetContract": {404: (ErrorCode.CONTRACT_NOT_FOUND,)},
    "ListOrders": {404: (ErrorCode.CONTRACT_NOT_FOUND,)},
    "ListHistory": {404: (ErrorCode.CONTRACT_NOT_FOUND,)},
    "GetOrder": {404: (ErrorCode.ORDER_NOT_FOUND,)},
    "GetRenewalPreview": {404: (ErrorCode.CONTRACT_NOT_FOUND,)},
    "CreateSeatOrder": {
        403: (ErrorCode.NOT_CONTRACT_MANAGER,), 404: (ErrorCode.CONTRACT_NOT_FOUND, ErrorCode.SUBSCRIPTION_NOT_FOUND),
        409: (*ADD_SEATS_CONFLICTS, ErrorCode.DRAFT_EXISTS, ErrorCode.CONCURRENT_UPDATE),
        422: (ErrorCode.SEAT_LIMIT_EXCEEDED,),
    },
    "UpdateOrder": {
        403: (ErrorCode.NOT_CONTRACT_MANAGER,), 404: (ErrorCode.ORDER_NOT_FOUND,),
        409: (*ADD_SEATS_CONFLICTS, ErrorCode.ORDER_NOT_DRAFT, ErrorCode.CONCURRENT_UPDATE),
        422: (ErrorCode.SEAT_LIMIT_EXCEEDED,),
    },
    "CancelOrder": {
        403: (ErrorCode.NOT_CONTRACT_MANAGER,), 404: (ErrorCode.ORDER_NOT_FOUND,),
        409: (ErrorCode.ORDER_NOT_DRAFT, ErrorCode.CONCURRENT_UPDATE),
    },
    "SetPendingReduction": {
        403: (ErrorCode.NOT_CONTRACT_MANAGER,), 404: (ErrorCode.CONTRACT_NOT_FOUND, ErrorCode.SUBSCRIPTION_NOT_FOUND),
        409: (*REDUCE_SEATS_CONFLICTS, ErrorCode.BELOW_ASSIGNED_SEATS, ErrorCode.CONCURRENT_UPDATE),
        422: (ErrorCode.INVALID_REDUCTION,),
    },
    "CancelPendingReduction": {
        403: (ErrorCode.NOT_CONTRACT_MANAGER,),
        404: (ErrorCode.CONTRACT_NOT_FOUND, ErrorCode.SUBSCRIPTION_NOT_FOUND, ErrorCode.NO_PENDING_REDUCTION),
        409: (ErrorCode.CONCURRENT_UPDATE,),
    },
    "ListPaymentMethods": {404: (ErrorCode.ACCOUNT_NOT_FOUND,)},
    "AddPaymentMethod": {
        402: (ErrorCode.PAYMENT_DECLINED,), 403: (ErrorCode.NOT_CONTRACT_MANAGER,), 404: (ErrorCode.ACCOUNT_NOT_FOUND,),
        422: (ErrorCode.INVALID_PAYMENT_TOKEN,), 503: (ErrorCode.PAYMENT_PROVIDER_UNAVAILABLE,),
    },
    "SetOrderPaymentMethod": {
        403: (ErrorCode.NOT_CONTRACT_MANAGER,), 404: (ErrorCode.ORDER_NOT_FOUND, ErrorCode.PAYMENT_METHOD_NOT_FOUND),
        409: (ErrorCode.ORDER_NOT_DRAFT, ErrorCode.CONCURRENT_UPDATE),
    },
    "SetContractPaymentMethod": {
        403: (ErrorCode.NOT_CONTRACT_MANAGER,),
        404: (ErrorCode.CONTRACT_NOT_FOUND, ErrorCode.PAYMENT_METHOD_NOT_FOUND),
        409: (ErrorCode.CONCURRENT_UPDATE,),
    },
    "SubmitOrder": {
        400: (ErrorCode.IDEMPOTENCY_KEY_REQUIRED,), 402: (ErrorCode.PAYMENT_DECLINED,),
        403: (ErrorCode.NOT_CONTRACT_MANAGER,), 404: (ErrorCode.ORDER_NOT_FOUND,),
        409: (*ADD_SEATS_CONFLICTS, ErrorCode.QUOTE_EXPIRED, ErrorCode.PAYMENT_METHOD_EXPIRED,
              ErrorCode.REQUEST_IN_PROGRESS, ErrorCode.ORDER_NOT_DRAFT, ErrorCode.CONCURRENT_UPDATE),
        422: (ErrorCode.IDEMPOTENCY_KEY_REUSED,), 503: (ErrorCode.PAYMENT_PROVIDER_UNAVAILABLE,),
    },
    "PayRenewalNow": {
        400: (ErrorCode.IDEMPOTENCY_KEY_REQUIRED,), 402: (ErrorCode.PAYMENT_DECLINED,),
        403: (ErrorCode.NOT_CONTRACT_MANAGER,), 404: (ErrorCode.CONTRACT_NOT_FOUND,),
        409: (ErrorCode.NOTHING_DUE, ErrorCode.CONTRACT_NOT_ACTIVE, ErrorCode.REQUEST_IN_PROGRESS,
              ErrorCode.CONCURRENT_UPDATE),
        422: (ErrorCode.IDEMPOTENCY_KEY_REUSED,), 503: (ErrorCode.PAYMENT_PROVIDER_UNAVAILABLE,),
    },
    "StripeWebhook": {
        400: (ErrorCode.INVALID_SIGNATURE,), 409: (ErrorCode.CONCURRENT_UPDATE,),
        503: (ErrorCode.PAYMENT_PROVIDER_UNAVAILABLE, ErrorCode.SERVICE_UNAVAILABLE),
    },
}

_CODE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class OpenApiError(RuntimeError):
    """The resolvers cannot be merged into one document (an import failed, or two schemas clash)."""


def api_functions() -> dict[str, template.Function]:
    return {name: fn for name, fn in template.functions().items()
            if any(e.get("Type") == "HttpApi" for e in fn.events.values())}


def route_owners() -> dict[tuple[str, str], tuple[str, str]]:
    """(method, path) -> (function logical id, event name) for every HttpApi route of the template."""
    owners = {}
    for name, fn in template.functions().items():
        for event_name, event in fn.events.items():
            if event.get("Type") == "HttpApi":
                props = event["Properties"]
                owners[(str(props["Method"]).upper(), props["Path"])] = (name, event_name)
    return owners


def unauthenticated_routes() -> set[tuple[str, str]]:
    """(METHOD, path) of the HttpApi routes that do not use the API's default (JWT) authorizer: their event
    says `Auth: {Authorizer: NONE}` (the rule infra.local.gateway applies too)."""
    found = set()
    for fn in template.functions().values():
        for event in fn.events.values():
            props = event.get("Properties", {})
            if event.get("Type") == "HttpApi" and (props.get("Auth") or {}).get("Authorizer") == "NONE":
                found.add((str(props["Method"]).upper(), props["Path"]))
    return found


def description(unauthenticated: set[tuple[str, str]]) -> str:
    routes = " and ".join(f"`{method} {path}`" for method, path in sorted(unauthenticated, key=lambda r: r[::-1]))
    return DESCRIPTION.format(exceptions=UNAUTHENTICATED_NOTE.format(routes=routes) if routes else "")


def api_version() -> str:
    try:
        return metadata.version("seats")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def resolver_document(fn: template.Function) -> dict[str, Any]:
    """The OpenAPI document of one function's resolver (its handler module's `app`)."""
    try:
        module = importlib.import_module(fn.module)
    except Exception as error:  # any import failure: the document cannot be built
        raise OpenApiError(f"{fn.logical_id}: cannot import {fn.module}: {error!r}") from error
    app = getattr(module, "app", None)
    if app is None or not hasattr(app, "get_openapi_json_schema"):
        raise OpenApiError(f"{fn.logical_id}: {fn.module} has no Powertools resolver named `app`")
    try:
        return json.loads(app.get_openapi_json_schema(title=TITLE, version=api_version()))
    except Exception as error:  # e.g. a route whose types Powertools cannot document
        raise OpenApiError(f"{fn.logical_id}: Powertools cannot document its routes: {error!r}"[:600]) from error


def _merge_components(target: dict[str, dict[str, Any]], source: dict[str, Any], origin: str) -> None:
    for kind, entries in source.items():
        merged = target.setdefault(kind, {})
        for name, value in entries.items():
            if name in merged and merged[name] != value:
                raise OpenApiError(f"components.{kind}.{name} from {origin} differs from another function's: "
                                   "give one of the models another name")
            merged[name] = value


def _problem_schema() -> dict[str, dict[str, Any]]:
    """The Problem model (seats.api.schemas) and the models it refers to, as component schemas."""
    from seats.api.schemas import Problem

    schema = Problem.model_json_schema(ref_template=SCHEMAS + "{model}", mode="serialization")
    definitions = schema.pop("$defs", {})
    return {"Problem": schema, **definitions}


def _codes_in(text: str) -> list[str]:
    return _CODE.findall(text or "")


def _problem_content(response: dict[str, Any]) -> dict[str, Any]:
    return {PROBLEM_JSON: response.get("content", {}).get(PROBLEM_JSON) or {"schema": {"$ref": SCHEMAS + "Problem"}}}


def _document_unauthorized(responses: dict[str, Any]) -> None:
    """The gateway's 401; and the function's own problem+json `unauthorized` where the route declares it
    (a function reached without a verified identity, as the local runtime or a direct invoke can)."""
    declared = responses.get("401", {})
    content = {"application/json": {"schema": {"$ref": SCHEMAS + "GatewayUnauthorized"}}}
    description = UNAUTHORIZED_DESCRIPTION
    if PROBLEM_JSON in declared.get("content", {}):
        content[PROBLEM_JSON] = declared["content"][PROBLEM_JSON]
        description += f"; problem+json {ErrorCode.UNAUTHORIZED} when the function finds no verified identity"
    responses["401"] = {"description": description, "content": content}


def _document_validation_error(responses: dict[str, Any]) -> None:
    declared = responses.get("422", {})
    description = declared.get("description", "")
    if description in ("", POWERTOOLS_VALIDATION_DESCRIPTION):
        description = str(ErrorCode.VALIDATION_ERROR)
    elif ErrorCode.VALIDATION_ERROR not in _codes_in(description):
        description = f"{ErrorCode.VALIDATION_ERROR} | {description}"
    responses["422"] = {"description": description, "content": _problem_content(declared)}


def _document_payload_too_large(responses: dict[str, Any]) -> None:
    from seats.api.resolver import MAX_BODY_BYTES

    responses.setdefault("413", {
        "description": f"{ErrorCode.PAYLOAD_TOO_LARGE}: the body is over {MAX_BODY_BYTES} bytes",
        "content": {PROBLEM_JSON: {"schema": {"$ref": SCHEMAS + "Problem"}}},
    })


def _document_unavailable(responses: dict[str, Any]) -> None:
    """503 service_unavailable: DynamoDB throttled or unreachable (the resolver maps it, on any route)."""
    declared = responses.get("503")
    if declared is None:
        responses["503"] = {
            "description": f"{ErrorCode.SERVICE_UNAVAILABLE}: a dependency did not answer; retry",
            "content": {PROBLEM_JSON: {"schema": {"$ref": SCHEMAS + "Problem"}}},
        }
    elif ErrorCode.SERVICE_UNAVAILABLE not in _codes_in(declared.get("description", "")):
        declared["description"] = f"{declared.get('description', '')} | {ErrorCode.SERVICE_UNAVAILABLE}".lstrip(" |")


def _prune_unreferenced(document: dict[str, Any], names: tuple[str, ...]) -> None:
    """Drops the named component schemas that nothing else refers to (any more)."""
    schemas = document["components"]["schemas"]
    pruned = True
    while pruned:
        pruned = False
        for name in [n for n in names if n in schemas]:
            others = {**document, "components": {**document["components"],
                                                 "schemas": {k: v for k, v in schemas.items() if k != name}}}
            if f'"{SCHEMAS}{name}"' not in json.dumps(others):
                del schemas[name]
                pruned = True


def build(*, skip_unavailable: bool = False) -> dict[str, Any]:
    """The merged document. With `skip_unavailable`, a function whose module fails to import is left
    out (and named in `x-unavailable-functions`) instead of failing the build: for serving docs while
    the code is being written, never for the committed file."""
    owners = route_owners()
    unauthenticated = unauthenticated_routes()
    paths: dict[str, dict[str, Any]] = {}
    components: dict[str, dict[str, Any]] = {}
    unavailable: list[str] = []
    for logical_id, fn in sorted(api_functions().items()):
        try:
            part = resolver_document(fn)
        except OpenApiError as error:
            if not skip_unavailable:
                raise
            unavailable.append(str(error))
            continue
        for path, item in part.get("paths", {}).items():
            for method, operation in item.items():
                owner = owners.get((method.upper(), path))
                if owner is not None and owner[0] != logical_id:
                    continue  # the gateway never sends this route to this function
                if method in paths.get(path, {}):
                    raise OpenApiError(f"{method.upper()} {path} is documented by two functions")
                if owner is not None:
                    operation["operationId"] = owner[1]
                operation["x-function"] = logical_id
                paths.setdefault(path, {})[method] = operation
        _merge_components(components, part.get("components", {}), logical_id)

    schemas = components.setdefault("schemas", {})
    for name, schema in _problem_schema().items():
        schemas.setdefault(name, schema)
    schemas["GatewayUnauthorized"] = GATEWAY_UNAUTHORIZED
    components["securitySchemes"] = SECURITY_SCHEMES

    for path, item in paths.items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                responses = operation.setdefault("responses", {})
                if (method.upper(), path) in unauthenticated:
                    operation["security"] = []  # no authorizer: the gateway never answers 401 here
                else:
                    _document_unauthorized(responses)
                _document_validation_error(responses)
                _document_payload_too_large(responses)
                _document_unavailable(responses)
                if "204" in responses:
                    responses["204"].pop("content", None)  # No Content: Powertools describes the return type

    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": api_version(), "description": description(unauthenticated)},
        "servers": [{"url": SERVER, "description": "The local runtime (seats-local start)"}],
        "security": [{SECURITY_SCHEME: []}],
        "paths": paths,
        "components": components,
    }
    if unavailable:
        document["x-unavailable-functions"] = unavailable
    _prune_unreferenced(document, POWERTOOLS_VALIDATION_SCHEMAS)
    return document


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(METHOD, path) -> operation."""
    return {(method.upper(), path): operation
            for path, item in document.get("paths", {}).items()
            for method, operation in item.items() if method in HTTP_METHODS}


def documented_codes(operation: dict[str, Any]) -> dict[int, set[str]]:
    """Problem codes an operation documents, per status: codes named in a response's description,
    or given as `code` in the examples of its problem+json content."""
    found: dict[int, set[str]] = {}
    for status, response in operation.get("responses", {}).items():
        if not str(status).isdigit():
            continue
        codes = set(_codes_in(response.get("description", "")))
        media = response.get("content", {}).get(PROBLEM_JSON, {})
        examples = [e.get("value", {}) for e in media.get("examples", {}).values()]
        if "example" in media:
            examples.append(media["example"])
        codes.update(e["code"] for e in examples if isinstance(e, dict) and isinstance(e.get("code"), str))
        found[int(status)] = codes
    return found


def missing_problem_codes(document: dict[str, Any]) -> dict[str, dict[int, list[str]]]:
    """operationId -> {status: [codes of EXPECTED_PROBLEMS the operation does not document]}."""
    missing: dict[str, dict[int, list[str]]] = {}
    for operation in operations(document).values():
        expected = EXPECTED_PROBLEMS.get(operation.get("operationId", ""), {})
        documented = documented_codes(operation)
        gaps = {status: [c.value for c in codes if c not in documented.get(status, set())]
                for status, codes in expected.items()}
        gaps = {status: codes for status, codes in gaps.items() if codes}
        if gaps:
            missing[operation["operationId"]] = gaps
    return missing


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.openapi", description=__doc__.split("\n\n")[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help=f"write {DOCUMENT.name}")
    action.add_argument("--check", action="store_true", help=f"exit 1 when {DOCUMENT.name} differs from the code")
    action.add_argument("--report", action="store_true", help="list the problem codes routes do not document")
    args = parser.parse_args(argv)
    try:
        document = build()
    except OpenApiError as error:
        print(f"openapi: {error}", file=sys.stderr)
        return 2
    text = render(document)
    if args.write:
        DOCUMENT.write_text(text, encoding="utf-8")
        print(f"wrote {DOCUMENT} ({len(operations(document))} operations)")
        return 0
    if args.check:
        current = DOCUMENT.read_text(encoding="utf-8") if DOCUMENT.exists() else ""
        if current != text:
            print(f"{DOCUMENT.name} is out of date: run `python -m infra.openapi --write`", file=sys.stderr)
            return 1
        print(f"{DOCUMENT.name} is up to date")
        return 0
    missing = missing_problem_codes(document)
    for operation_id, gaps in sorted(missing.items()):
        for status, codes in sorted(gaps.items()):
            print(f"{operation_id} {status}: {', '.join(codes)}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
