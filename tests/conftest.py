"""Shared fixtures: moto with the tables of template.yaml, a fixed clock, the demo seed, API events."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core.botocore_stubber import BotocoreStubber

from infra import seed as seed_loader
from infra import template
from infra.handlers import LambdaContext
from seats import bootstrap

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
NOW = "2026-11-29T10:00:00Z"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "TABLE_NAME": "SeatsTable", "IDEMPOTENCY_TABLE_NAME": "IdempotencyTable", "EVENT_BUS_NAME": "seats-bus",
        "SEATS_PAYMENTS": "sandbox", "SEATS_NOW": NOW, "POWERTOOLS_SERVICE_NAME": "seats",
        "POWERTOOLS_METRICS_NAMESPACE": "Seats", "POWERTOOLS_TRACE_DISABLED": "true",
        "STRIPE_WEBHOOK_SECRET": "whsec_seats_local",  # seats.settings.LOCAL_WEBHOOK_SECRET, as the local runtime
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    bootstrap.reset()


@pytest.fixture
def aws(aws_env: None) -> Iterator[None]:
    """moto with every table, queue and the bus of template.yaml."""
    with mock_aws():
        template.create_tables(boto3.client("dynamodb"))
        boto3.client("events").create_event_bus(Name="seats-bus")
        bootstrap.reset()
        yield
    bootstrap.reset()


@pytest.fixture
def relay_outbox(aws) -> Callable[[], int]:
    """The outbox's way to the bus, as in AWS: the seats table's stream, filtered as the template's
    event source says, into EventRelayFunction. `relay()` delivers what is new; returns how many records."""
    from botocore.config import Config

    from functions.event_relay.app import lambda_handler
    from infra.local.stream_delivery import StreamReader, deliver, stream_sources

    source = next(s for s in stream_sources() if s.function == "EventRelayFunction")
    streams = boto3.client("dynamodbstreams", config=Config(account_id_endpoint_mode="disabled"))
    reader = StreamReader(boto3.client("dynamodb"), streams, source.table)

    def relay() -> int:
        records = reader.read()
        given_up = deliver(source, records, reader.arn, lambda event: lambda_handler(event, LambdaContext()))
        assert not given_up, given_up
        return len(records)

    return relay


@pytest.fixture
def outbox(aws) -> Callable[[], list[tuple[str, dict[str, Any]]]]:
    """The domain events committed so far, oldest first, as (detail type, detail): read straight from the
    table (a test may Scan; the code never does)."""
    def committed() -> list[tuple[str, dict[str, Any]]]:
        items = boto3.resource("dynamodb").Table("SeatsTable").scan(
            FilterExpression="begins_with(PK, :outbox)", ExpressionAttributeValues={":outbox": "OUTBOX#"},
            ConsistentRead=True)["Items"]
        items.sort(key=lambda item: (item["created_at"], item["event_id"]))
        return [(str(item["detail_type"]), json.loads(str(item["detail"]))) for item in items]

    return committed


@pytest.fixture
def domain_events(aws, relay_outbox):
    """Domain events as they reach the bus (outbox → stream → EventRelayFunction → EventBridge): a rule
    on the bus forwards them to a queue, read after relaying what the stream holds."""
    sqs, events = boto3.client("sqs"), boto3.client("events")
    url = sqs.create_queue(QueueName="events-tap")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="tap", EventBusName="seats-bus", EventPattern=json.dumps({"source": ["seats"]}))
    events.put_targets(Rule="tap", EventBusName="seats-bus", Targets=[{"Id": "tap", "Arn": arn}])

    def drain() -> list[dict[str, Any]]:
        relay_outbox()
        found = []
        while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
            for message in messages:
                found.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return found

    return drain


@pytest.fixture
def atomic_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto is not thread-safe; DynamoDB applies each request atomically. One request at a time, then,
    while the code under test interleaves freely between requests, as separate Lambdas would."""
    lock = threading.RLock()
    process = BotocoreStubber.process_request

    def one_at_a_time(self: BotocoreStubber, request: Any) -> Any:
        with lock:
            return process(self, request)

    monkeypatch.setattr(BotocoreStubber, "process_request", one_at_a_time)


BASE_SEED: dict[str, Any] = {"accounts": [{
    "account_id": "acme", "name": "Acme Corp", "country": "US", "currency": "USD",
    "users": [
        {"user_id": "u-alice", "email": "alice@acme.test", "role": "user"},
        {"user_id": "u-paula", "email": "paula@acme.test", "role": "primary_admin"},
        {"user_id": "u-sam", "email": "sam@acme.test", "role": "secondary_admin"},
        {"user_id": "u-nobody", "email": "nobody@acme.test", "role": "user"},
    ],
    "payment_methods": [
        {"payment_method_id": "pm_acme_visa", "token": "tok_visa"},
        {"payment_method_id": "pm_acme_mc", "token": "tok_mastercard"},
    ],
    "contracts": [{
        "contract_id": "110000000001", "contract_manager": "u-alice",
        "purchase_channel": "online", "auto_renew": True, "term": "annual",
        "term_start": "2026-03-01", "renewal_date": "2027-03-01", "billing_anchor_day": 1,
        "status": "active", "payment_method_id": "pm_acme_visa",
        "subscriptions": [{"subscription_id": "sub-acad", "product": "AutoCAD",
                           "plan_type": "subscription", "seats": 10, "assigned_seats": 7,
                           "unit_price": "1975.00"}]}],
}, {
    "account_id": "globex", "name": "Globex", "country": "GB", "currency": "GBP",
    "users": [{"user_id": "u-gina", "email": "gina@globex.test", "role": "primary_admin"}],
    "payment_methods": [{"payment_method_id": "pm_globex_visa", "token": "tok_visa"}],
    "contracts": [{
        "contract_id": "220000000001", "contract_manager": "u-gina",
        "purchase_channel": "online", "auto_renew": True, "term": "monthly",
        "term_start": "2026-11-15", "renewal_date": "2026-12-15",
        "payment_method_id": "pm_globex_visa",
        "subscriptions": [{"subscription_id": "sub-rvt", "product": "Revit",
                           "seats": 3, "unit_price": "300.00"}]}],
}]}


@pytest.fixture
def seed_data() -> dict[str, Any]:
    """A small two-team seed; tests copy and change it."""
    return copy.deepcopy(BASE_SEED)


@pytest.fixture
def seeded(aws: None, seed_data: dict[str, Any]) -> dict[str, Any]:
    seed_loader.load(bootstrap.repository(), seed_data)
    return seed_data


def http_event(method: str, path: str, *, user: str | None = "u-alice", email: str | None = None,
               body: Any = None, headers: dict[str, str] | None = None,
               query: dict[str, str] | None = None, raw_body: str | None = None) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event as the JWT authorizer passes it on."""
    event = json.loads((EVENTS / "http_api_request.json").read_text())
    event["rawPath"] = path
    event["requestContext"]["http"]["method"] = method
    event["requestContext"]["http"]["path"] = path
    event["routeKey"] = f"{method} {path}"
    event["headers"] = {"content-type": "application/json", **(headers or {})}
    event["queryStringParameters"] = query
    event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in (query or {}).items())
    if user is None:
        event["requestContext"]["authorizer"] = {"jwt": {"claims": {}, "scopes": None}}
    else:
        event["requestContext"]["authorizer"]["jwt"]["claims"] = {
            "sub": user, "email": email or f"{user}@example.test", "iss": "seats-local", "aud": "seats-api",
        }
    if raw_body is not None:
        event["body"] = raw_body
    elif body is not None:
        event["body"] = json.dumps(body)
    else:
        event.pop("body", None)
    return event


def invoke(handler: Any, event: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
    """Call a Lambda handler; returns (status, parsed JSON body or None, headers)."""
    answer = handler(event, LambdaContext())
    body = answer.get("body")
    return answer["statusCode"], json.loads(body) if body else None, answer.get("headers", {})
