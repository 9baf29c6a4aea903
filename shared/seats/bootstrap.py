"""The composition root: builds adapters once per process, lazily (nothing at import time).

Tests call `reset()` after changing the environment.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from seats.settings import get_settings


@cache
def aws_client(service: str) -> Any:
    import boto3

    return boto3.client(service, endpoint_url=get_settings().endpoint_url)  # type: ignore[call-overload]


@cache
def repository() -> Any:
    from seats.adapters.dynamodb.repository import Repository

    return Repository(aws_client("dynamodb"), get_settings().table_name)


@cache
def publisher() -> Any:
    from seats.adapters.events import EventBridgePublisher

    return EventBridgePublisher(aws_client("events"), get_settings().event_bus_name)


@cache
def payment_gateway() -> Any:
    from seats.adapters.payments.factory import build_gateway

    return build_gateway(get_settings())


def reset() -> None:
    get_settings.cache_clear()
    for built in (aws_client, repository, publisher, payment_gateway):
        built.cache_clear()
