"""The composition root: builds adapters once per process, lazily (nothing at import time).

Tests call `reset()` after changing the environment.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from seats.settings import get_settings


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
    for built in (_botocore_session, aws_client, repository, publisher, payment_gateway):
        built.cache_clear()
