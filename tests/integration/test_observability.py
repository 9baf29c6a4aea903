"""Logs, metrics and traces of the real flows, run in-process: JSON logs carrying the API request id,
no token and no card data anywhere in the output, the business metrics in EMF, tracing and alarms in
the template."""

from __future__ import annotations

import io
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from infra import seed as seed_loader
from infra import template
from infra.local import jwt_tokens
from seats import bootstrap
from seats.observability import logger
from tests.conftest import LambdaContext, http_event, invoke

BUSINESS_METRICS = {"SeatsAdded", "OrderValue", "ReductionsScheduled", "RenewalsSucceeded", "RenewalsFailed",
                    "PaymentDeclines"}
SANDBOX_TOKENS = ("tok_visa", "tok_mastercard", "tok_chargeCustomerFail", "tok_chargeDeclinedInsufficientFunds",
                  "tok_chargeDeclined", "tok_chargeDeclinedExpiredCard", "tok_timeoutAfterCapture")
# The card numbers behind Stripe's test tokens: none may ever appear (the system never sees one).
TEST_CARD_NUMBERS = ("4242424242424242", "5555555555554444", "4000000000000341", "4000000000009995",
                     "4000000000000002", "4000000000000069", "4000000000001881")
PAN_LIKE = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")


@dataclass
class Output:
    """Everything the functions wrote: log lines (the Powertools logger's stream) and stdout (EMF)."""

    log: io.StringIO = field(default_factory=io.StringIO)
    requests: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)

    def lines_since(self, position: int) -> list[dict[str, Any]]:
        text = self.log.getvalue()[position:]
        lines = [line for line in text.splitlines() if line.strip()]
        parsed = []
        for line in lines:
            try:
                parsed.append(json.loads(line))
            except json.JSONDecodeError:
                pytest.fail(f"a log line is not JSON: {line[:200]}")
        return parsed


@pytest.fixture
def output(monkeypatch) -> Iterator[Output]:
    captured = Output()
    monkeypatch.setattr(logger.registered_handler, "stream", captured.log)
    yield captured


@pytest.fixture
def world(aws, seed_data, monkeypatch) -> dict[str, Any]:
    """The tests' seed, with Globex's card declining renewals; and the renewal queue of the template."""
    globex = seed_data["accounts"][1]
    globex["payment_methods"] = [{"payment_method_id": "pm_globex_fail", "token": "tok_chargeCustomerFail"}]
    globex["contracts"][0]["payment_method_id"] = "pm_globex_fail"
    seed_loader.load(bootstrap.repository(), seed_data)
    monkeypatch.setenv("RENEWAL_QUEUE_URL", boto3.client("sqs").create_queue(QueueName="RenewalQueue")["QueueUrl"])
    bootstrap.reset()
    return seed_data


def call_api(output: Output, handler: Any, method: str, path: str, token: str, **kwargs: Any) -> tuple[int, Any]:
    """One API request through a handler, as the gateway sends it, with a fresh request id;
    checks that what it logged is JSON carrying that id."""
    event = http_event(method, path, headers={"authorization": f"Bearer {token}", **kwargs.pop("headers", {})},
                       **kwargs)
    request_id = str(uuid.uuid4())
    event["requestContext"]["requestId"] = request_id
    position = len(output.log.getvalue())
    status, body, _ = invoke(handler, event)
    lines = output.lines_since(position)
    output.requests.append((request_id, lines))
    assert logger.get_correlation_id() == request_id, f"{method} {path}: correlation id is not the request id"
    for line in lines:
        assert line.get("correlation_id") == request_id, line
    return status, body


def sqs_event(*bodies: str) -> dict[str, Any]:
    return {"Records": [{
        "messageId": f"msg-{n}", "receiptHandle": f"handle-{n}", "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1803866400000",
                       "SenderId": "local", "ApproximateFirstReceiveTimestamp": "1803866400000"},
        "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:RenewalQueue", "awsRegion": "us-east-1",
    } for n, body in enumerate(bodies)]}


def emf_blobs(stdout: str) -> list[dict[str, Any]]:
    blobs = []
    for line in stdout.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            blobs.append(json.loads(line))
    return blobs


def metric_names(blobs: list[dict[str, Any]]) -> set[str]:
    return {metric["Name"] for blob in blobs for directive in blob["_aws"]["CloudWatchMetrics"]
            for metric in directive["Metrics"]}


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


@pytest.fixture
def flows(world, output, capsys) -> dict[str, Any]:
    """Read, draft, add a card, pay with it, schedule a reduction, renew (one success, one decline, one
    bad message): the whole product, with what it logged and printed."""
    from functions.change_seats.app import lambda_handler as change_seats
    from functions.list_contracts.app import lambda_handler as list_contracts
    from functions.renewal_scheduler.app import lambda_handler as scheduler
    from functions.renewal_worker.app import lambda_handler as worker
    from functions.set_payment.app import lambda_handler as set_payment
    from functions.submit_order.app import lambda_handler as submit_order

    token = jwt_tokens.issue("u-alice", "alice@acme.test")
    status, body = call_api(output, list_contracts, "GET", "/contracts", token)
    assert status == 200 and body["contracts"]

    status, draft = call_api(output, change_seats, "POST", "/contracts/110000000001/subscriptions/sub-acad/seat-orders",
                             token, body={"seats_to_add": 2})
    assert status == 201, draft
    status, card = call_api(output, set_payment, "POST", "/accounts/acme/payment-methods", token,
                            body={"token": "tok_visa"})
    assert status == 201, card
    status, body = call_api(output, set_payment, "PUT", f"/orders/{draft['order_id']}/payment-method", token,
                            body={"payment_method_id": card["payment_method_id"]})
    assert status == 200, body
    status, order = call_api(output, submit_order, "POST", f"/orders/{draft['order_id']}/submit", token,
                             headers={"idempotency-key": f"obs-{uuid.uuid4()}"})
    assert status == 200 and order["status"] == "completed", order
    status, body = call_api(output, change_seats, "PUT",
                            "/contracts/110000000001/subscriptions/sub-acad/pending-reduction", token,
                            body={"seats": 8})
    assert status == 200, body

    context = LambdaContext()
    as_of = "2027-03-01T02:00:00Z"
    run = scheduler({"version": "0", "id": "run-1", "detail-type": "Scheduled Event", "source": "aws.scheduler",
                     "account": "123456789012", "time": as_of, "region": "us-east-1", "resources": [],
                     "detail": {}}, context)
    assert run["due"] == 2 and run["enqueued"] == 2, run
    renewal = worker(sqs_event(json.dumps({"contract_id": "110000000001", "as_of": as_of}),
                               json.dumps({"contract_id": "220000000001", "as_of": as_of}),
                               "not a renewal message"), context)
    assert renewal == {"batchItemFailures": [{"itemIdentifier": "msg-2"}]}, renewal

    captured = capsys.readouterr()
    return {"token": token, "log": output.log.getvalue(), "stdout": captured.out, "stderr": captured.err,
            "requests": output.requests}


def test_api_logs_are_json_and_carry_the_api_request_id_as_correlation_id(flows):
    assert len(flows["requests"]) == 6
    for line in flows["log"].splitlines():
        if line.strip():
            json.loads(line)


def test_an_unexpected_failure_is_logged_once_as_json_with_the_request_id_and_no_trace_in_the_answer(
        world, output):
    from functions.list_contracts.app import lambda_handler as list_contracts

    boto3.client("dynamodb").delete_table(TableName="SeatsTable")
    status, body = call_api(output, list_contracts, "GET", "/contracts", jwt_tokens.issue("u-alice"))

    request_id, lines = output.requests[-1]
    assert status == 500 and body["code"] == "internal_error" and "Traceback" not in json.dumps(body)
    errors = [line for line in lines if line["level"] == "ERROR"]
    assert len(errors) == 1 and errors[0]["correlation_id"] == request_id
    assert "Traceback" in errors[0].get("exception", ""), "the log keeps the stack trace the answer hides"


def test_no_token_and_no_card_data_ever_reach_the_logs_or_stdout(flows):
    written = "\n".join((flows["log"], flows["stdout"], flows["stderr"]))
    assert written.strip(), "nothing was captured: the check would prove nothing"
    assert flows["token"] not in written
    assert flows["token"].split(".")[2] not in written, "a JWT signature was logged"
    for secret in (*SANDBOX_TOKENS, *TEST_CARD_NUMBERS):
        assert secret not in written, f"{secret} was written to the logs"
    card_like = [m for m in PAN_LIKE.findall(written) if luhn_valid(re.sub(r"\D", "", m))
                 and re.sub(r"\D", "", m)[0] in "3456"]
    assert card_like == [], f"card-number-like digits in the logs: {card_like}"


def test_the_business_metrics_are_emitted_in_emf_under_the_seats_namespace(flows):
    blobs = emf_blobs(flows["stdout"])
    assert blobs, "no EMF blob was printed"
    assert {d["Namespace"] for blob in blobs for d in blob["_aws"]["CloudWatchMetrics"]} == {"Seats"}
    missing = BUSINESS_METRICS - metric_names(blobs)
    assert missing == set(), f"metrics never emitted: {sorted(missing)}"


def test_each_emf_metric_has_a_value_and_the_service_dimension(flows):
    for blob in emf_blobs(flows["stdout"]):
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            assert ["service"] in directive["Dimensions"] or any("service" in d for d in directive["Dimensions"])
            for metric in directive["Metrics"]:
                assert metric["Name"] in blob, metric
        assert blob["service"] == "seats"


def test_every_function_is_traced_with_x_ray():
    loaded = template.load()
    default = loaded.get("Globals", {}).get("Function", {}).get("Tracing")
    for name, resource in template.resources("AWS::Serverless::Function").items():
        assert resource["Properties"].get("Tracing", default) == "Active", name


def test_functions_log_json_without_events_under_the_seats_service_and_namespace():
    variables = template.load()["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["POWERTOOLS_SERVICE_NAME"] == "seats"
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "Seats"
    assert variables["POWERTOOLS_LOGGER_LOG_EVENT"] == "false", "events carry the Authorization header"


def _alarms() -> list[dict[str, Any]]:
    return [r["Properties"] for r in template.resources("AWS::CloudWatch::Alarm").values()]


def _dimension_refs(alarm: dict[str, Any]) -> set[str]:
    refs = set()
    for dimension in alarm.get("Dimensions", []):
        value = dimension["Value"]
        if "Ref" in value:
            refs.add(value["Ref"])
        elif "Fn::GetAtt" in value:
            refs.add(value["Fn::GetAtt"][0])
    return refs


def test_an_alarm_watches_the_depth_of_every_dead_letter_queue():
    queues = template.queue_definitions()
    dead_letter_queues = {q["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
                          for q in queues.values() if "RedrivePolicy" in q}
    assert dead_letter_queues
    for dlq in dead_letter_queues:
        watching = [a for a in _alarms() if a["Namespace"] == "AWS/SQS"
                    and a["MetricName"] == "ApproximateNumberOfMessagesVisible" and dlq in _dimension_refs(a)]
        assert watching, f"no alarm on the depth of {dlq}"
        assert watching[0]["Threshold"] == 0 and watching[0]["ComparisonOperator"] == "GreaterThanThreshold"


def test_an_alarm_watches_the_errors_of_every_function():
    for name in template.functions():
        watching = [a for a in _alarms() if a["Namespace"] == "AWS/Lambda" and a["MetricName"] == "Errors"
                    and name in _dimension_refs(a)]
        assert watching, f"no Errors alarm for {name}"
