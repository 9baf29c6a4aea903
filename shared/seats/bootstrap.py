"""The composition root: builds adapters once per process, lazily (nothing at import time), from the
settings (`seats.settings`). Adapters are given what they need; none of them reads the settings.

Tests call `reset()` after changing the environment.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from seats.domain.errors import ServiceUnavailable
from seats.settings import Settings, get_settings

if TYPE_CHECKING:
    from seats.services.ports import EventPublisher, PaymentEvent, PaymentGateway, RenewalQueue, Repository

# The Stripe key in SSM is read through Powertools' cache: again at most every 5 minutes (a rotated key).
STRIPE_KEY_MAX_AGE_S = 300


@cache
def _botocore_session() -> Any:
    import botocore.session

    return botocore.session.get_session()


@cache
def aws_client(service: str) -> Any:
    """A botocore client, as `boto3.client` would build it, without importing boto3 (~20 ms of a cold
    start: boto3 imports s3transfer). Region and credentials come from the environment as usual."""
    return _botocore_session().create_client(service, endpoint_url=get_settings().endpoint_url)


@cache
def repository() -> Repository:
    from seats import clock
    from seats.adapters.dynamodb.repository import Repository as DynamoDbRepository

    return DynamoDbRepository(aws_client("dynamodb"), get_settings().table_name, clock.utc_now)


@cache
def publisher() -> EventPublisher:
    from seats.adapters.events import EventBridgePublisher

    return EventBridgePublisher(aws_client("events"), get_settings().event_bus_name)


@cache
def renewal_queue() -> RenewalQueue:
    from seats.adapters.queue import SqsRenewalQueue

    return SqsRenewalQueue(aws_client("sqs"), get_settings().renewal_queue_url)


@cache
def payment_gateway() -> PaymentGateway:
    """SEATS_PAYMENTS=sandbox (the default, no network) or stripe."""
    settings = get_settings()
    if settings.payments == "stripe":
        return _stripe_gateway(settings)
    from seats import clock
    from seats.adapters.payments.sandbox import SandboxGateway

    return SandboxGateway(aws_client("dynamodb"), settings.table_name, clock.utc_now)


def _stripe_gateway(settings: Settings) -> PaymentGateway:
    from seats.adapters.payments.stripe_gateway import StripeGateway

    # The key is read on first use, not at cold start, and again after a 401 (a rotated key).
    api_key = settings.stripe_api_key or _ssm_key(settings.stripe_api_key_parameter)
    return StripeGateway(api_key, api_base=settings.stripe_api_base, timeout_s=settings.stripe_timeout_s)


def _ssm_key(parameter: str | None) -> Callable[[], str]:
    """Reads the Stripe key from the SSM SecureString `parameter` (STRIPE_API_KEY_PARAMETER), when called."""
    if not parameter:
        raise RuntimeError(
            "SEATS_PAYMENTS=stripe needs STRIPE_API_KEY_PARAMETER (the SSM parameter holding the Stripe key) "
            "or, for local runs, STRIPE_API_KEY"
        )

    def read_key() -> str:
        from aws_lambda_powertools.utilities import parameters

        value = parameters.get_parameter(parameter, decrypt=True, max_age=STRIPE_KEY_MAX_AGE_S)
        if not isinstance(value, str) or not value:
            raise ValueError(f"SSM parameter {parameter} holds no Stripe key")
        return value

    return read_key


def verify_webhook(payload: bytes, signature: str | None) -> PaymentEvent:
    """The provider's event, once its Stripe-Signature is checked with the endpoint secret (InvalidSignature
    otherwise; ServiceUnavailable when the secret cannot be read)."""
    from seats.adapters.payments.webhooks import verify

    return verify(payload, signature, webhook_secret())


def webhook_secret() -> str:
    """The Stripe webhook endpoint secret: STRIPE_WEBHOOK_SECRET (local runs), else the SSM SecureString
    STRIPE_WEBHOOK_SECRET_PARAMETER names (AWS; cached for a while, so that a rotated secret is picked up).
    Neither: ServiceUnavailable (no secret is guessed). An SSM that does not answer is ServiceUnavailable too
    (503: Stripe delivers again)."""
    settings = get_settings()
    if settings.stripe_webhook_secret:
        return settings.stripe_webhook_secret
    if settings.stripe_webhook_secret_parameter is None:
        from seats.observability import logger

        logger.error("No webhook endpoint secret: set STRIPE_WEBHOOK_SECRET_PARAMETER (AWS) or STRIPE_WEBHOOK_SECRET")
        raise ServiceUnavailable("No webhook endpoint secret is configured")
    from aws_lambda_powertools.utilities import parameters

    try:
        value = parameters.get_parameter(settings.stripe_webhook_secret_parameter, decrypt=True,
                                         max_age=STRIPE_KEY_MAX_AGE_S)
    except parameters.exceptions.GetParameterError as unread:
        raise ServiceUnavailable("The webhook secret could not be read") from unread
    if not isinstance(value, str) or not value:
        raise ServiceUnavailable(f"SSM parameter {settings.stripe_webhook_secret_parameter} holds no webhook secret")
    return value


def reset() -> None:
    get_settings.cache_clear()
    for built in (_botocore_session, aws_client, repository, publisher, renewal_queue, payment_gateway):
        built.cache_clear()
