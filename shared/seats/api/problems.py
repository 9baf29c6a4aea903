"""RFC 9457 problem details: the one place that turns exceptions into HTTP answers."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import ValidationException

from seats.api import present
from seats.domain.codes import ErrorCode
from seats.domain.errors import DomainError
from seats.domain.model import Order

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://seats.dev/problems/"


def _body(status: int, code: ErrorCode, title: str, detail: str, **extra: Any) -> str:
    """The problem as JSON text; a code is written as its plain string value."""
    body = {"type": TYPE_BASE + code, "title": title, "status": status, "detail": detail, "code": code, **extra}
    return json.dumps(body, default=str)


def problem(status: int, code: ErrorCode, title: str, detail: str, **extra: Any) -> Response:
    return Response(status_code=status, content_type=PROBLEM_JSON, body=_body(status, code, title, detail, **extra))


def from_domain_error(error: DomainError) -> Response:
    return problem(error.status, error.code, error.title, error.detail, **error.extra)


def kept_answer(error: DomainError) -> dict[str, Any]:
    """A domain error as a final answer to keep and replay: its status and its problem body as JSON values,
    with an order it carries presented as the API shows orders."""
    extra = dict(error.extra)
    if isinstance(extra.get("order"), Order):
        extra["order"] = present.order(extra["order"]).model_dump(mode="json")
    body = _body(error.status, error.code, error.title, error.detail, **extra)
    return {"status": error.status, "body": json.loads(body)}


def _location(loc: Any) -> list[Any]:
    return [part for part in loc] if isinstance(loc, list | tuple) else [loc]


def from_validation_error(error: ValidationException) -> Response:
    errors = [{"loc": _location(e.get("loc", [])), "msg": str(e.get("msg", "invalid"))} for e in error.errors()]
    return problem(422, ErrorCode.VALIDATION_ERROR, "Invalid request", "The request is not valid; see errors.",
                   errors=errors)


def validation_problem(loc: list[Any], msg: str) -> Response:
    return problem(422, ErrorCode.VALIDATION_ERROR, "Invalid request", "The request is not valid; see errors.",
                   errors=[{"loc": loc, "msg": msg}])


def payload_too_large(limit: int) -> Response:
    return problem(413, ErrorCode.PAYLOAD_TOO_LARGE, "Payload too large", f"The request body exceeds {limit} bytes.")


def service_unavailable() -> Response:
    return problem(503, ErrorCode.SERVICE_UNAVAILABLE, "Service unavailable",
                   "A dependency did not answer in time; retry the request (with the same Idempotency-Key).")


def route_not_found(_: NotFoundError) -> Response:
    return problem(404, ErrorCode.NOT_FOUND, "Not found", "No such route.")


def internal_error() -> Response:
    return problem(500, ErrorCode.INTERNAL_ERROR, "Internal error", "The request failed; it is safe to retry.")
