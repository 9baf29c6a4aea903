"""The caller's identity, from the JWT claims the API Gateway authorizer verified."""

from __future__ import annotations

from dataclasses import dataclass

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from seats.domain.codes import ErrorCode
from seats.domain.errors import DomainError


class Unauthorized(DomainError):
    code, status, title = ErrorCode.UNAUTHORIZED, 401, "Unauthorized"


@dataclass(frozen=True)
class Caller:
    user_id: str


def current_caller(app: APIGatewayHttpResolver | APIGatewayHttpRouter) -> Caller:
    claims = app.current_event.request_context.authorizer.jwt_claim or {}
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise Unauthorized("No verified identity in the request")
    return Caller(user_id=subject)
