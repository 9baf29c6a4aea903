"""Settings: the one reader of the environment under `seats`, read once per process and validated there.

The template sets the variables in AWS, the local runtime sets them locally (docs/local-runtime.md,
docs/stripe.md). A bad value stops the first `get_settings()` with a `SettingsError` naming the variable.
Tests change the environment, then call `seats.bootstrap.reset()` (which clears this cache too).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

from seats.domain.instants import parse_instant

PAYMENTS = ("sandbox", "stripe")
DEFAULT_STRIPE_TIMEOUT_S = 10.0
LOCAL_WEBHOOK_SECRET = "whsec_seats_local"  # the local runtime's and the tests' webhook endpoint secret


class SettingsError(RuntimeError):
    """An environment variable holds a value the functions cannot run with."""


@dataclass(frozen=True)
class Settings:
    table_name: str
    idempotency_table_name: str
    event_bus_name: str
    renewal_queue_url: str | None
    payments: str  # one of PAYMENTS
    stripe_api_key_parameter: str | None  # name of the SSM SecureString holding the key (AWS)
    stripe_api_base: str | None  # only to point at a Stripe emulator (localstripe)
    endpoint_url: str | None  # AWS endpoint override: the local runtime's embedded moto server
    fixed_now: datetime | None  # SEATS_NOW: "now" fixed for local runs and tests (aware, UTC)
    stripe_api_key: str | None = field(repr=False)  # the key itself, local runs only: never shown
    stripe_timeout_s: float
    # The webhook endpoint secret: STRIPE_WEBHOOK_SECRET itself (local runs), else in AWS the SSM
    # SecureString STRIPE_WEBHOOK_SECRET_PARAMETER names, else LOCAL_WEBHOOK_SECRET.
    stripe_webhook_secret_parameter: str | None = None
    stripe_webhook_secret: str | None = field(default=None, repr=False)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return read_settings(os.environ)


def read_settings(env: Mapping[str, str]) -> Settings:
    """Settings from `env`, validated; raises SettingsError naming the first bad variable."""
    return Settings(
        table_name=env.get("TABLE_NAME", "SeatsTable"),
        idempotency_table_name=env.get("IDEMPOTENCY_TABLE_NAME", "IdempotencyTable"),
        event_bus_name=env.get("EVENT_BUS_NAME", "default"),
        renewal_queue_url=env.get("RENEWAL_QUEUE_URL") or None,
        payments=_payments(env.get("SEATS_PAYMENTS", "sandbox")),
        stripe_api_key_parameter=env.get("STRIPE_API_KEY_PARAMETER") or None,
        stripe_api_base=env.get("STRIPE_API_BASE") or None,
        endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
        fixed_now=_fixed_now(env.get("SEATS_NOW")),
        stripe_api_key=env.get("STRIPE_API_KEY") or None,
        stripe_timeout_s=_timeout(env.get("STRIPE_TIMEOUT_S")),
        stripe_webhook_secret_parameter=env.get("STRIPE_WEBHOOK_SECRET_PARAMETER") or None,
        stripe_webhook_secret=env.get("STRIPE_WEBHOOK_SECRET") or None,
    )


def _payments(value: str) -> str:
    if value not in PAYMENTS:
        raise SettingsError(f"SEATS_PAYMENTS must be sandbox or stripe, not {value!r}")
    return value


def _fixed_now(value: str | None) -> datetime | None:
    if not value:
        return None  # the real clock
    try:
        return parse_instant(value)
    except (ValueError, OverflowError):
        raise SettingsError(
            f"SEATS_NOW must be an ISO 8601 instant such as 2026-11-29T10:00:00Z, not {value!r}"
        ) from None


def _timeout(value: str | None) -> float:
    if not value:
        return DEFAULT_STRIPE_TIMEOUT_S
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise SettingsError(f"STRIPE_TIMEOUT_S must be a positive number of seconds, not {value!r}")
    return seconds
