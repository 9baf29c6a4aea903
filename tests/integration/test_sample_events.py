"""Every sample event in events/ replays through its function (found as events/README.md says) and gets a
sane answer: no 5xx, and the shape the OpenAPI document or the function's contract promises."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import boto3
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from infra import openapi, template
from infra.handlers import handler_of
from seats import bootstrap
from tests.conftest import EVENTS, LambdaContext, invoke

SAMPLES = sorted(EVENTS.glob("*.json"))
DOCUMENT_URI = "urn:seats:openapi"


def _functions_with(event_types: set[str]) -> list[str]:
    return [name for name, fn in template.functions().items()
            if any(e.get("Type") in event_types for e in fn.events.values())]


def target_function(event: dict[str, Any]) -> str:
    """The logical id of the function this event is for (the mapping of events/README.md)."""
    if event.get("version") == "2.0" and "routeKey" in event:
        method, path = event["routeKey"].split(" ", 1)
        owner = openapi.route_owners().get((method, path))
        if owner is None:
            raise LookupError(f"no route {event['routeKey']!r} in template.yaml")
        return owner[0]
    if event.get("detail-type") == "Scheduled Event":
        return _scheduled_function(event)
    records = event.get("Records") or []
    if records and all(r.get("eventSource") == "aws:sqs" for r in records):
        (worker,) = _functions_with({"SQS"})
        return worker
    if records and all(r.get("eventSource") == "aws:dynamodb" for r in records):
        (relay,) = _functions_with({"DynamoDB"})
        return relay
    raise LookupError("neither an HTTP API event, a Scheduled Event, an SQS batch nor a DynamoDB stream batch")


def _scheduled_function(event: dict[str, Any]) -> str:
    """The function whose schedule sent the event: SAM names a ScheduleV2 schedule `<function><event>`, the
    last part of the schedule's ARN in `resources` (a stack-prefixed name ends with it too)."""
    arns = [str(arn) for arn in event.get("resources") or []]
    owners = [name for name, fn in template.functions().items()
              for event_name, source in fn.events.items()
              if source.get("Type") in ("Schedule", "ScheduleV2")
              and any(arn.endswith(f"/{name}{event_name}") or arn.endswith(f"-{name}{event_name}") for arn in arns)]
    if len(owners) != 1:
        raise LookupError(f"no single schedule of template.yaml sends a Scheduled Event from {arns}")
    return owners[0]


def _load(sample: Path) -> dict[str, Any]:
    return json.loads(sample.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi.build()


@pytest.fixture
def function_environment(seeded, monkeypatch):
    """What the template gives each function beyond the shared settings: its queues (`!Ref <Queue>`)."""
    sqs = boto3.client("sqs")
    for fn in template.functions().values():
        for name, value in fn.environment.items():
            queue = value.get("Ref") if isinstance(value, dict) else None
            if queue in template.queue_definitions() and name not in os.environ:
                monkeypatch.setenv(name, sqs.create_queue(QueueName=queue)["QueueUrl"])
    tap = sqs.create_queue(QueueName="bus-tap")["QueueUrl"]
    tap_arn = sqs.get_queue_attributes(QueueUrl=tap, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = boto3.client("events")
    events.put_rule(Name="bus-tap", EventBusName="seats-bus", EventPattern=json.dumps({"source": ["seats"]}))
    events.put_targets(Rule="bus-tap", EventBusName="seats-bus", Targets=[{"Id": "tap", "Arn": tap_arn}])
    bootstrap.reset()


def _validate(document: dict[str, Any], method: str, path: str, status: int, media_type: str, body: Any) -> None:
    responses = openapi.operations(document)[(method, path)]["responses"]
    assert str(status) in responses, f"{method} {path} answered {status}, which its operation does not document"
    if status == 204:
        assert body is None
        return
    assert media_type in responses[str(status)].get("content", {}), f"{status} {media_type} is not documented"
    registry = Registry().with_resource(DOCUMENT_URI, Resource.from_contents(document, DRAFT202012))
    pointer = "/".join(p.replace("~", "~0").replace("/", "~1")
                       for p in ("paths", path, method.lower(), "responses", str(status), "content", media_type,
                                 "schema"))
    errors = list(Draft202012Validator({"$ref": f"{DOCUMENT_URI}#/{pointer}"}, registry=registry).iter_errors(body))
    assert errors == [], f"{method} {path} {status} body does not match the document: {errors[0].message}"


def test_there_are_sample_events_and_each_maps_to_a_function():
    assert SAMPLES, "events/ has no samples"
    for sample in SAMPLES:
        assert target_function(_load(sample)) in template.functions(), sample.name


def test_every_function_has_a_sample_event():
    covered = {target_function(_load(sample)) for sample in SAMPLES}
    assert set(template.functions()) - covered == set()


def test_the_mapping_refuses_an_event_it_does_not_know():
    with pytest.raises(LookupError):
        target_function({"Records": [{"eventSource": "aws:s3"}]})
    with pytest.raises(LookupError, match="no route"):
        target_function({"version": "2.0", "routeKey": "GET /nowhere"})
    with pytest.raises(LookupError, match="no single schedule"):
        target_function({"detail-type": "Scheduled Event", "resources": ["arn:aws:scheduler:r:1:schedule/default/x"]})


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.name for s in SAMPLES])
def test_a_sample_event_replays_through_its_function_with_a_sane_answer(sample, function_environment, document):
    event = _load(sample)
    logical_id = target_function(event)
    handler = handler_of(logical_id)

    if "routeKey" in event:
        status, body, headers = invoke(handler, event)
        method, path = event["routeKey"].split(" ", 1)
        media_type = headers.get("Content-Type", "").split(";")[0]
        assert status < 500, body
        if status >= 400:
            assert media_type == openapi.PROBLEM_JSON and body["status"] == status and body["code"], body
            assert body["code"] != "not_found", "the function has no route for this event's path"
        _validate(document, method, path, status, media_type or "application/json", body)
    elif "detail-type" in event:
        answer = handler(event, _context(logical_id))
        assert answer["as_of"].startswith(event["time"][:16]), answer
        if logical_id == "ReconcilePaymentsFunction":  # the seed has no payment in progress
            assert answer == {"as_of": answer["as_of"], "examined": 0, "completed": 0, "refunded": 0, "failed": 0}
        else:
            assert set(answer) == {"as_of", "due", "enqueued", "notices"}, answer
            assert isinstance(answer["due"], int) and answer["enqueued"] == answer["due"]
            assert isinstance(answer["notices"], int)
    elif event["Records"][0]["eventSource"] == "aws:dynamodb":
        answer = handler(event, _context(logical_id))
        assert answer == {"batchItemFailures": []}, answer
        relayed = [json.loads(m["Body"]) for m in bus_tap()]
        outbox = [r for r in event["Records"] if r["dynamodb"]["Keys"]["PK"]["S"].startswith("OUTBOX#")]
        assert [e["detail-type"] for e in relayed] == [r["dynamodb"]["NewImage"]["detail_type"]["S"] for r in outbox]
    else:
        answer = handler(event, _context(logical_id))
        assert set(answer) == {"batchItemFailures"}, answer
        message_ids = {r["messageId"] for r in event["Records"]}
        assert {f["itemIdentifier"] for f in answer["batchItemFailures"]} <= message_ids


def bus_tap() -> list[dict[str, Any]]:
    """What reached the bus since the tap was made (a rule forwarding every `seats` event to a queue)."""
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName="bus-tap")["QueueUrl"]
    return sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])


def _context(logical_id: str) -> LambdaContext:
    context = LambdaContext()
    context.function_name = logical_id
    return context


# --- the signed webhook sample (events/stripe_webhook.json) ------------------------------------------------

WEBHOOK_SAMPLE = EVENTS / "stripe_webhook.json"


def _webhook(event: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
    return invoke(handler_of("PaymentWebhookFunction"), event)


def test_the_webhook_sample_is_a_payment_intent_event_signed_over_its_body_with_the_local_secret():
    import stripe

    from seats.adapters.payments import webhooks
    from seats.settings import LOCAL_WEBHOOK_SECRET

    sample = _load(WEBHOOK_SAMPLE)
    assert target_function(sample) == "PaymentWebhookFunction"
    assert "authorizer" not in sample["requestContext"], "no JWT authorizer on this route"
    body = json.loads(sample["body"])
    assert body["type"] == "payment_intent.succeeded" and body["data"]["object"]["object"] == "payment_intent"
    event = webhooks.payment_event(stripe.Event.construct_from(body, "sk_test_local").to_dict())
    assert (event.type, event.provider_ref, event.payment_id) == (
        "payment_intent.succeeded", body["data"]["object"]["id"], "pay_demo00000000000001")
    signature = sample["headers"]["stripe-signature"]
    assert stripe.WebhookSignature.verify_header(sample["body"], signature, LOCAL_WEBHOOK_SECRET, tolerance=None)
    assert int(sample["headers"]["content-length"]) == len(sample["body"].encode())


def test_the_webhook_sample_as_stored_is_refused_its_signature_is_stale(seeded, document):
    status, body, headers = _webhook(_load(WEBHOOK_SAMPLE))

    assert (status, body["code"]) == (400, "invalid_signature"), body
    _validate(document, "POST", "/webhooks/stripe", status, headers["Content-Type"].split(";")[0], body)


def test_the_webhook_sample_re_signed_is_accepted(seeded, document):
    from infra.sign_webhook import resign
    from seats.settings import LOCAL_WEBHOOK_SECRET

    status, body, _ = _webhook(resign(_load(WEBHOOK_SAMPLE), LOCAL_WEBHOOK_SECRET))

    assert (status, body) == (200, {"received": True, "handled": "unknown"})  # the seed has no such payment
    _validate(document, "POST", "/webhooks/stripe", status, "application/json", body)


def test_the_webhook_sample_re_signed_about_a_payment_waiting_for_the_cardholder_completes_its_order(seeded):
    """The sample's event, pointed at a real payment: a submit answered 202, then the cardholder authenticated
    at the (sandbox) provider; its order completes once, a second delivery is already settled."""
    from infra.sign_webhook import resign
    from seats.settings import LOCAL_WEBHOOK_SECRET
    from tests.integration.add_seats_support import draft_paid_with, submit

    draft = draft_paid_with("tok_threeDSecure2Required")
    status, pending, _ = submit(draft["order_id"], "sca-sample")
    assert (status, pending["status"]) == (202, "payment_pending"), pending
    charge_id = pending["payment_action"]["charge_id"]
    payment_id = bootstrap.repository().get_order(draft["order_id"]).payment_id
    bootstrap.payment_gateway().authenticate(charge_id, True)  # type: ignore[attr-defined]

    sample = _load(WEBHOOK_SAMPLE)
    body = json.loads(sample["body"])
    body["data"]["object"]["id"] = charge_id
    body["data"]["object"]["metadata"]["idempotency_key"] = f"seats:payment:{payment_id}"
    sample["body"] = json.dumps(body)
    delivery = resign(sample, LOCAL_WEBHOOK_SECRET)

    assert _webhook(delivery)[:2] == (200, {"received": True, "handled": "completed"})
    order = bootstrap.repository().get_order(draft["order_id"])
    assert (order.status, order.charge_id, order.payment_action) == ("completed", charge_id, None)
    assert _webhook(delivery)[:2] == (200, {"received": True, "handled": "already_settled"})


def test_the_signing_command_prints_the_sample_signed_now(capsys, monkeypatch):
    import time

    import stripe

    from infra import sign_webhook

    monkeypatch.delenv("STRIPE_WEBHOOK_SECRET", raising=False)
    assert sign_webhook.main([str(WEBHOOK_SAMPLE)]) == 0
    printed = json.loads(capsys.readouterr().out)
    stored = _load(WEBHOOK_SAMPLE)
    assert json.loads(printed["body"]) == json.loads(stored["body"])
    assert stripe.WebhookSignature.verify_header(printed["body"], printed["headers"]["stripe-signature"],
                                                 "whsec_seats_local", tolerance=300)
    assert abs(printed["requestContext"]["timeEpoch"] / 1000 - time.time()) < 60
    assert {k: v for k, v in printed.items() if k not in ("body", "headers", "requestContext")} == \
        {k: v for k, v in stored.items() if k not in ("body", "headers", "requestContext")}

    assert sign_webhook.main([str(WEBHOOK_SAMPLE), "--secret", "whsec_other", "--at", "1795946430"]) == 0
    other = json.loads(capsys.readouterr().out)
    assert stripe.WebhookSignature.verify_header(other["body"], other["headers"]["stripe-signature"],
                                                 "whsec_other", tolerance=None)
    assert other["headers"]["stripe-signature"].startswith("t=1795946430,")

    assert sign_webhook.main([str(EVENTS / "reconcile_schedule.json")]) == 2
    assert "not an API Gateway HTTP API event" in capsys.readouterr().err
