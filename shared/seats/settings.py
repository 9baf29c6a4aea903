"""Settings read once from the environment (the template sets them in AWS; the local runtime locally)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Settings:
    table_name: str
    idempotency_table_name: str
    event_bus_name: str
    renewal_queue_url: str | None
    payments: str  # "sandbox" | "stripe"
    stripe_api_key_parameter: str | None
    stripe_api_base: str | None
    endpoint_url: str | None  # AWS endpoint override: the local runtime's embedded moto server


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    env = os.environ
    return Settings(
        table_name=env.get("TABLE_NAME", "SeatsTable"),
        idempotency_table_name=env.get("IDEMPOTENCY_TABLE_NAME", "IdempotencyTable"),
        event_bus_name=env.get("EVENT_BUS_NAME", "default"),
        renewal_queue_url=env.get("RENEWAL_QUEUE_URL") or None,
        payments=env.get("SEATS_PAYMENTS", "sandbox"),
        stripe_api_key_parameter=env.get("STRIPE_API_KEY_PARAMETER") or None,
        stripe_api_base=env.get("STRIPE_API_BASE") or None,
        endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
    )
