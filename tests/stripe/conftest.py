"""localstripe for the Stripe adapter tests: one server per test session (per xdist worker)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import stripe

from infra.local.localstripe import LocalStripe, LocalStripeError, start_localstripe
from seats.adapters.payments.stripe_gateway import StripeGateway


@pytest.fixture(scope="session")
def localstripe() -> Iterator[LocalStripe]:
    try:
        server = start_localstripe()
    except LocalStripeError as err:
        pytest.fail(f"cannot start localstripe: {err}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def stripe_api_key() -> str:
    """A fresh secret per test, so a leak test can look for it."""
    return f"sk_test_seats_{secrets.token_hex(12)}"


@pytest.fixture
def gateway(localstripe: LocalStripe, stripe_api_key: str) -> StripeGateway:
    return StripeGateway(stripe_api_key, api_base=localstripe.url, timeout_s=5)


@pytest.fixture
def stripe_client(localstripe: LocalStripe) -> stripe.StripeClient:
    """A plain SDK client on localstripe, to look behind the adapter."""
    return stripe.StripeClient(
        "sk_test_seats_inspector", base_addresses={"api": localstripe.url}, max_network_retries=0
    )


@pytest.fixture
def card_token(stripe_client: stripe.StripeClient) -> Callable[..., str]:
    """A card token from localstripe's tokens API, as Stripe.js would make it in the browser."""

    def make(number: str, exp_month: int = 12, exp_year: int = 2034) -> str:
        card: Any = {"number": number, "exp_month": exp_month, "exp_year": exp_year, "cvc": "123"}
        return stripe_client.v1.tokens.create({"card": card}).id

    return make


@pytest.fixture
def account_id() -> str:
    return f"acct-{secrets.token_hex(6)}"
