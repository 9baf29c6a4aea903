"""The resolver every API function uses: validation on, problem+json errors, bearer auth documented."""

from __future__ import annotations

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from seats.api import problems
from seats.domain.errors import DomainError

logger = Logger(service="seats")


def build_resolver() -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver(enable_validation=True)

    @app.exception_handler(DomainError)
    def _domain(error: DomainError) -> Response:
        return problems.from_domain_error(error)

    @app.exception_handler(RequestValidationError)
    def _invalid(error: RequestValidationError) -> Response:
        return problems.from_validation_error(error)

    @app.not_found
    def _no_route(error: NotFoundError) -> Response:
        return problems.route_not_found(error)

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response:
        logger.exception("unhandled error")
        return problems.internal_error()

    return app
