"""localstripe for the Stripe adapter tests: one server per test session (per xdist worker)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
import stripe
from boto3.dynamodb.types import TypeDeserializer

from infra.local.localstripe import LocalStripe, LocalStripeError, start_localstripe
from seats.adapters.payments.stripe_gateway import StripeGateway
from tests.e2e.conftest import RunningStack


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


# -- The ledger behind a local runtime in stripe mode (tests.e2e.conftest.start_stack) ---------------------------

BANNER_MOTO = re.compile(r"AWS \(moto\)\s+(http://127\.0\.0\.1:\d+)")
SEATS_TABLE = "SeatsTable"


def runtime_dynamodb(stack: RunningStack) -> Any:
    """A DynamoDB client on a runtime's embedded moto server (its address is in the start-up banner)."""
    found = stack.wait_for(lambda: BANNER_MOTO.search(stack.log()), what="the banner's moto line")
    return boto3.client(
        "dynamodb",
        endpoint_url=found.group(1),
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def payments_of(dynamodb: Any, order_id: str) -> list[dict[str, Any]]:
    """The ledger's payments (as stored) for an add-seats order, or for the renewal order of a period."""
    deserializer = TypeDeserializer()
    found: list[dict[str, Any]] = []
    for page in dynamodb.get_paginator("scan").paginate(
        TableName=SEATS_TABLE,
        FilterExpression="kind = :payment AND order_id = :order",
        ExpressionAttributeValues={":payment": {"S": "payment"}, ":order": {"S": order_id}},
        ConsistentRead=True,
    ):
        found += [{k: deserializer.deserialize(v) for k, v in item.items()} for item in page["Items"]]
    return found


def payment_key(payment: dict[str, Any]) -> str:
    """The idempotency key a payment is created under at Stripe (its PaymentIntent's metadata too)."""
    return f"seats:payment:{payment['payment_id']}"


def intents_keyed(inspector: stripe.StripeClient, key: str) -> list[dict[str, Any]]:
    """The PaymentIntents localstripe holds whose metadata idempotency_key is `key`."""
    listed = [pi.to_dict() for pi in inspector.v1.payment_intents.list({"limit": 100}).auto_paging_iter()]
    return [pi for pi in listed if (pi.get("metadata") or {}).get("idempotency_key") == key]


def local_charge(stack: RunningStack, charge_id: str) -> dict[str, Any]:
    """The runtime's `/_local/charges` entry of one PaymentIntent."""
    answer = stack.request("GET", "/_local/charges")
    assert answer.status == 200, answer.body
    [charge] = [c for c in answer.body["charges"] if c["charge_id"] == charge_id]
    return charge
