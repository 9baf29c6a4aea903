"""SEATS_PAYMENTS=sandbox (default) or stripe."""

from __future__ import annotations

import os
from typing import Any

from seats.settings import Settings


def stripe_api_key(settings: Settings) -> str:
    """STRIPE_API_KEY for local runs; in AWS, the SSM SecureString named by STRIPE_API_KEY_PARAMETER."""
    key = os.environ.get("STRIPE_API_KEY")
    if key:
        return key
    if not settings.stripe_api_key_parameter:
        raise RuntimeError("SEATS_PAYMENTS=stripe needs STRIPE_API_KEY or STRIPE_API_KEY_PARAMETER")
    from aws_lambda_powertools.utilities import parameters

    return str(parameters.get_parameter(settings.stripe_api_key_parameter, decrypt=True, max_age=300))


def build_gateway(settings: Settings) -> Any:
    if settings.payments == "stripe":
        from seats.adapters.payments.stripe_gateway import StripeGateway

        # The key is read on first use, not at cold start, and again after a 401 (a rotated key).
        return StripeGateway(lambda: stripe_api_key(settings), api_base=settings.stripe_api_base)
    if settings.payments == "sandbox":
        from seats.adapters.payments.sandbox import SandboxGateway
        from seats.bootstrap import aws_client

        return SandboxGateway(aws_client("dynamodb"), settings.table_name)
    raise RuntimeError(f"SEATS_PAYMENTS must be sandbox or stripe, not {settings.payments!r}")
