"""The HTTP API emulator: routes of template.yaml, the JWT authorizer, payload format 2.0.

As API Gateway does, it matches the route first (an unknown route is 404 `{"message": "Not Found"}`
whatever the token), then checks the JWT (401 `{"message": "Unauthorized"}`), then hands the
function an HTTP API 2.0 event and turns its answer back into HTTP. Local-only routes (`/_local/...`
and the `extra_routes()` hook) need no token.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

from infra import template
from infra.local import jwt_tokens
from infra.local.cfn import ACCOUNT_ID
from infra.local.functions import FunctionHost, FunctionUnavailable
from infra.local.serving import Request, Response

log = logging.getLogger("seats-local")

API_ID = "local"
NOT_FOUND = {"message": "Not Found"}
UNAUTHORIZED = {"message": "Unauthorized"}
INTERNAL_ERROR = {"message": "Internal Server Error"}
PROBLEM_JSON = "application/problem+json"

LocalRoutes = Mapping[tuple[str, str], Callable[[Request], Response]]


@dataclass(frozen=True)
class ApiRoute:
    method: str  # or ANY
    path: str  # template path, e.g. /contracts/{contract_id}
    function: str
    authorized: bool
    pattern: re.Pattern[str]
    rank: tuple[int, ...]  # per segment: 0 literal, 1 {param}, 2 {proxy+}; the lowest wins

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"


def _compile(path: str) -> tuple[re.Pattern[str], tuple[int, ...]]:
    parts, rank = [], []
    for segment in path.strip("/").split("/"):
        greedy = re.fullmatch(r"\{(\w+)\+\}", segment)
        param = re.fullmatch(r"\{(\w+)\}", segment)
        if greedy:
            parts.append(f"(?P<{greedy.group(1)}>.+)")
            rank.append(2)
        elif param:
            parts.append(f"(?P<{param.group(1)}>[^/]+)")
            rank.append(1)
        else:
            parts.append(re.escape(segment))
            rank.append(0)
    return re.compile("^/" + "/".join(parts) + "$"), tuple(rank)


def _authorized(route: template.Route, functions: Mapping[str, template.Function]) -> bool:
    """Routes use the API's default (JWT) authorizer unless their event says `Auth: {Authorizer: NONE}`."""
    for event in functions[route.function].events.values():
        props = event.get("Properties", {})
        if event.get("Type") == "HttpApi" and props.get("Path") == route.path \
                and str(props.get("Method", "")).upper() == route.method:
            return props.get("Auth", {}).get("Authorizer") != "NONE"
    return True


def api_route(method: str, path: str, function: str, authorized: bool = True) -> ApiRoute:
    pattern, rank = _compile(path)
    return ApiRoute(method.upper(), path, function, authorized, pattern, rank)


def api_routes() -> list[ApiRoute]:
    """The routes of template.yaml (its HttpApi events), with their authorization."""
    functions = template.functions()
    return [api_route(r.method, r.path, r.function, _authorized(r, functions)) for r in template.routes()]


def extra_routes() -> dict[tuple[str, str], Callable[[Request], Response]]:
    """Hook for local-only pages that may or may not exist yet (no token needed).

    - `GET /openapi.json` when a file `openapi.json` exists at the repository root;
    - whatever `infra.local.docs.routes()` returns, when that module exists: a mapping
      `{(method, path): handler}` where a handler takes a `Request` and returns a `Response`
      (for example `GET /docs`). Its entries win over the file above.
    """
    routes: dict[tuple[str, str], Callable[[Request], Response]] = {}
    document = template.ROOT / "openapi.json"
    if document.exists():
        routes[("GET", "/openapi.json")] = lambda _request: Response(
            200, document.read_bytes(), [("Content-Type", "application/json")])
    try:
        if importlib.util.find_spec("infra.local.docs") is not None:
            routes.update(importlib.import_module("infra.local.docs").routes())
    except Exception:  # optional pages must not stop the runtime
        log.exception("infra.local.docs could not be loaded; /docs is not served")
    return routes


def _joined(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Repeated names joined with commas, as API Gateway does for headers and query parameters."""
    joined: dict[str, str] = {}
    for name, value in pairs:
        joined[name] = f"{joined[name]},{value}" if name in joined else value
    return joined


def _body(raw: bytes) -> tuple[str | None, bool]:
    if not raw:
        return None, False
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii"), True


def build_event(request: Request, route: ApiRoute, path_parameters: dict[str, str],
                claims: dict[str, Any] | None) -> dict[str, Any]:
    """An API Gateway HTTP API event, payload format 2.0."""
    headers = _joined([(name.lower(), value) for name, value in request.headers if name.lower() != "cookie"])
    cookies = [c.strip() for name, value in request.headers if name.lower() == "cookie"
               for c in value.split(";") if c.strip()]
    query = _joined(parse_qsl(request.query_string, keep_blank_values=True))
    now = datetime.now(UTC)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": request.path,
        "rawQueryString": request.query_string,
        "headers": headers,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "domainName": headers.get("host", "127.0.0.1"),
            "domainPrefix": headers.get("host", "127.0.0.1").split(".")[0],
            "http": {
                "method": request.method, "path": request.path, "protocol": "HTTP/1.1",
                "sourceIp": request.client_ip, "userAgent": headers.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route.route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = path_parameters
    if claims is not None:
        scope = claims.get("scope")
        event["requestContext"]["authorizer"] = {"jwt": {
            "claims": jwt_tokens.gateway_claims(claims),
            "scopes": scope.split() if isinstance(scope, str) else None,
        }}
    body, encoded = _body(request.body)
    if body is not None:
        event["body"] = body
        event["isBase64Encoded"] = encoded
    return event


def http_response(result: Any) -> Response:
    """The function's answer as API Gateway turns it into HTTP (payload 2.0, with its format inference)."""
    if not (isinstance(result, dict) and "statusCode" in result):
        text = result if isinstance(result, str) else json.dumps(result)
        return Response(200, text.encode(), [("Content-Type", "application/json")])
    raw = result.get("body") or ""
    body = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
    headers = [(name, str(value)) for name, value in (result.get("headers") or {}).items()]
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers.extend((name, str(v)) for v in values)
    headers.extend(("Set-Cookie", cookie) for cookie in result.get("cookies") or [])
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))
    return Response(int(result["statusCode"]), body, headers)


def function_unavailable(error: FunctionUnavailable) -> Response:
    code = "function_unavailable"
    return Response.json(500, {
        "type": f"https://seats.dev/problems/{code}", "title": "Function unavailable", "status": 500,
        "detail": f"{error.logical_id} could not be loaded by the local runtime: {error.reason}",
        "code": code,
    }, content_type=PROBLEM_JSON)


class ApiGateway:
    def __init__(self, host: FunctionHost, local_routes: LocalRoutes, ready: threading.Event,
                 routes: list[ApiRoute] | None = None) -> None:
        self.host = host
        self.routes = api_routes() if routes is None else routes
        self.local_routes = dict(local_routes)
        # Local-only routes with a path parameter: (method, pattern of the whole path, handler).
        self.local_patterns: list[tuple[str, re.Pattern[str], Callable[[Request], Response]]] = []
        self.ready = ready

    def match(self, method: str, path: str) -> tuple[ApiRoute, dict[str, str]] | None:
        matches = []
        for route in self.routes:
            found = route.pattern.match(path)
            if found and route.method in (method, "ANY"):
                matches.append((route.rank, route.method == "ANY", route, found))
        if not matches:
            return None
        *_, route, found = min(matches, key=lambda m: (m[0], m[1]))
        return route, {name: unquote(value) for name, value in found.groupdict().items()}

    def handle(self, request: Request) -> Response:
        local = self.local_routes.get((request.method, request.path)) or next(
            (handler for method, pattern, handler in self.local_patterns
             if method == request.method and pattern.match(request.path)), None)
        if local is not None:
            return local(request)
        if not self.ready.is_set():
            return Response.json(503, {"message": "Service Unavailable"})
        matched = self.match(request.method, request.path)
        if matched is None:
            return Response.json(404, NOT_FOUND)
        route, path_parameters = matched
        claims = None
        if route.authorized:
            try:
                claims = jwt_tokens.verify(request.header("authorization"))
            except jwt_tokens.InvalidToken as error:
                log.info("401 %s %s: %s", request.method, request.path, error)
                return Response.json(401, UNAUTHORIZED)
        event = build_event(request, route, path_parameters, claims)
        started = time.monotonic()
        try:
            result = self.host.invoke(route.function, event, event["requestContext"]["requestId"])
        except FunctionUnavailable as error:
            return function_unavailable(error)
        except Exception:  # a handler crash is a 500 from the gateway, as in AWS
            log.exception("%s raised on %s", route.function, route.route_key)
            return Response.json(500, INTERNAL_ERROR)
        response = http_response(result)
        log.info("%s %s -> %s %s (%.0f ms)", request.method, request.target, response.status, route.function,
                 (time.monotonic() - started) * 1000)
        return response
