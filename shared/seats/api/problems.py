"""RFC 9457 problem details: the one place that turns exceptions into HTTP answers."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import ValidationException

from seats.domain.errors import DomainError

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://seats.dev/problems/"


def problem(status: int, code: str, title: str, detail: str, **extra: Any) -> Response:
    body = {"type": TYPE_BASE + code, "title": title, "status": status, "detail": detail, "code": code, **extra}
    return Response(status_code=status, content_type=PROBLEM_JSON, body=json.dumps(body, default=str))


def from_domain_error(error: DomainError) -> Response:
    return problem(error.status, error.code, error.title, error.detail, **error.extra)


def _location(loc: Any) -> list[Any]:
    return [part for part in loc] if isinstance(loc, list | tuple) else [loc]


def from_validation_error(error: ValidationException) -> Response:
    errors = [{"loc": _location(e.get("loc", [])), "msg": str(e.get("msg", "invalid"))} for e in error.errors()]
    return problem(422, "validation_error", "Invalid request", "The request is not valid; see errors.", errors=errors)


def validation_problem(loc: list[Any], msg: str) -> Response:
    return problem(422, "validation_error", "Invalid request", "The request is not valid; see errors.",
                   errors=[{"loc": loc, "msg": msg}])


def payload_too_large(limit: int) -> Response:
    return problem(413, "payload_too_large", "Payload too large", f"The request body exceeds {limit} bytes.")


def service_unavailable() -> Response:
    return problem(503, "service_unavailable", "Service unavailable",
                   "A dependency did not answer in time; retry the request (with the same Idempotency-Key).")


def route_not_found(_: NotFoundError) -> Response:
    return problem(404, "not_found", "Not found", "No such route.")


def internal_error() -> Response:
    return problem(500, "internal_error", "Internal error", "The request failed; it is safe to retry.")
