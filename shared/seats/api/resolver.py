"""The resolver every API function uses: validation on, problem+json errors, bearer auth documented.

Before Powertools parses anything, a request is screened for what no route should ever see, so that
no input can make a handler answer 5xx: a body over MAX_BODY_BYTES (413 payload_too_large); a body
that is not UTF-8, a body of another content type than JSON, a header value with control characters
(422 validation_error). JSON that the parser cannot take (nested thousands deep, integers of
thousands of digits) is invalid JSON (422 validation_error) rather than a crash. An AWS dependency
that throttles or does not answer is 503 service_unavailable (docs/api.md, HTTP API: the only 5xx),
not a 500.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from seats.api import problems
from seats.domain.errors import DomainError
from seats.observability import logger, metrics, tracer

JSON = "application/json"  # the only body this API takes
MAX_BODY_BYTES = 64 * 1024  # the largest request of this API is a few hundred bytes
# Error codes of an AWS service that is throttling or failing for a while: the request may be retried.
TRANSIENT_AWS_ERRORS = frozenset({
    "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
    "LimitExceededException", "InternalServerError", "ServiceUnavailable", "ServiceUnavailableException",
    "TransactionInProgressException",
})
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # C0 controls but HTAB, and DEL: CR/LF split headers


def _parse_json(text: str) -> Any:
    """json.loads, with what it cannot take reported as invalid JSON (Powertools answers 422)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise json.JSONDecodeError("JSON nested too deeply", text, 0) from None
    except json.JSONDecodeError:
        raise
    except ValueError as error:  # e.g. an integer beyond Python's digit limit for str -> int
        raise json.JSONDecodeError(str(error), text, 0) from None


def _body_bytes(event: Mapping[str, Any]) -> bytes | None:
    """The body as sent; None when the event says base64 but it is not."""
    body = event.get("body")
    if not body:
        return b""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            return None
    return body.encode("utf-8", "surrogatepass")


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def refusal(event: Mapping[str, Any]) -> Response | None:
    """The answer to a request no route should see, or None."""
    body = _body_bytes(event)
    if body is not None and len(body) > MAX_BODY_BYTES:
        return problems.payload_too_large(MAX_BODY_BYTES)
    if body is None or not _is_utf8(body):
        return problems.validation_problem(["body"], "The body is not valid UTF-8 text")
    headers = event.get("headers") or {}
    for name, value in headers.items():
        if _CONTROL.search(str(name)) or _CONTROL.search(str(value)):
            return problems.validation_problem(["header", _CONTROL.sub("?", str(name))],
                                               "Header values may not contain control characters")
    content_type = next((str(v) for k, v in headers.items() if str(k).lower() == "content-type"), None)
    if body and content_type is not None and content_type.split(";")[0].strip().lower() != JSON:
        return problems.validation_problem(["header", "content-type"], f"The body must be {JSON}")
    return None


def _proxy_answer(response: Response) -> dict[str, Any]:
    """A Response as API Gateway HTTP API (payload 2.0) expects it back from the function."""
    return {"statusCode": response.status_code, "headers": {"Content-Type": problems.PROBLEM_JSON},
            "body": response.body, "isBase64Encoded": False, "cookies": []}


class SeatsResolver(APIGatewayHttpResolver):
    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        refused = refusal(event)
        if refused is not None:
            logger.info("request refused before routing", extra={"status": refused.status_code})
            return _proxy_answer(refused)
        return super().resolve(event, context)


def build_resolver() -> APIGatewayHttpResolver:
    app = SeatsResolver(enable_validation=True, json_body_deserializer=_parse_json)

    @app.exception_handler(DomainError)
    def _domain(error: DomainError) -> Response:
        return problems.from_domain_error(error)

    @app.exception_handler([RequestValidationError, RequestUnsupportedContentType])
    def _invalid(error: RequestValidationError | RequestUnsupportedContentType) -> Response:
        return problems.from_validation_error(error)

    @app.not_found
    def _no_route(error: NotFoundError) -> Response:
        return problems.route_not_found(error)

    @app.exception_handler(ClientError)
    def _aws(error: ClientError) -> Response:
        if error.response.get("Error", {}).get("Code") in TRANSIENT_AWS_ERRORS:
            logger.warning("AWS dependency unavailable", extra={"error": str(error)})
            return problems.service_unavailable()
        logger.exception("unhandled AWS error")
        return problems.internal_error()

    @app.exception_handler([EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, ConnectionClosedError])
    def _unreachable(error: Exception) -> Response:
        logger.warning("AWS dependency unreachable", extra={"error": str(error)})
        return problems.service_unavailable()

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response:
        logger.exception("unhandled error")
        return problems.internal_error()

    return app


def api_function(*routers: APIGatewayHttpRouter) -> tuple[APIGatewayHttpResolver, Callable[[dict, LambdaContext], dict]]:
    """An API function of template.yaml: its resolver (`app`, which infra/openapi.py documents) with its routes,
    and its Lambda handler (the request's correlation id logged, traced, its metrics flushed)."""
    app = build_resolver()
    for router in routers:
        app.include_router(router)

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
    @tracer.capture_lambda_handler(capture_response=False)
    @metrics.log_metrics
    def lambda_handler(event: dict, context: LambdaContext) -> dict:
        return app.resolve(event, context)

    return app, lambda_handler
