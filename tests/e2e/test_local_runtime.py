"""The local runtime: `seats-local start` in its own process, spoken to over HTTP and boto3.

The first tests use the shared demo runtime (`local_stack`); renewals and shutdowns get their own
runtime (`start_local_stack`). The last tests drive the emulators in this process with stand-in
functions, for what the real functions cannot show (a module that fails to import, a crash, a
partially failed SQS batch).
"""

from __future__ import annotations

import base64
import copy
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import jwt
import pytest

from infra import template
from infra.local import aws as local_aws
from infra.local import jwt_tokens
from infra.local.functions import FunctionHost
from infra.local.gateway import ApiGateway, api_route
from infra.local.lambda_endpoint import LambdaEndpoint
from infra.local.serving import Request
from infra.local.sqs_delivery import QueuePoller, SqsSource
from seats.domain.codes import ELIGIBILITY_CONFLICTS, ErrorCode
from tests.conftest import BASE_SEED, NOW, ROOT
from tests.e2e.conftest import RunningStack, http, seats_local

pytestmark = pytest.mark.e2e

# Every eligibility reason but those of a contract's state in flight (reduction_pending, draft_exists).
ELIGIBILITY_REASONS = {
    ErrorCode.NOT_CONTRACT_MANAGER, *ELIGIBILITY_CONFLICTS, ErrorCode.SEAT_LIMIT_REACHED, ErrorCode.SINGLE_SEAT,
}


def _ids(answer: Any) -> list[str]:
    return [c["contract_id"] for c in answer.body["contracts"]]


# -- the HTTP API ------------------------------------------------------------------------------------

def test_health_answers_ok_without_a_token(local_stack: RunningStack) -> None:
    answer = http("GET", f"{local_stack.api_url}/_local/health")
    assert (answer.status, answer.body) == (200, {"status": "ok"})


def test_a_manager_sees_their_demo_contracts_with_a_token_from_the_cli(local_stack: RunningStack) -> None:
    token = subprocess.run(seats_local("token", "u-alice"), cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.strip()

    answer = local_stack.request("GET", "/contracts", token=token)

    assert answer.status == 200, answer.body
    assert {"110000000001", "110000000002", "110000000006", "330000000001"} <= set(_ids(answer))
    assert "110000000009" not in _ids(answer)  # managed by u-sam
    assert all(c["can_manage"] for c in answer.body["contracts"])


def test_the_demo_seed_shows_every_eligibility_reason(local_stack: RunningStack) -> None:
    reasons = set()
    for user in ("u-alice", "u-paula"):
        for contract in local_stack.request("GET", "/contracts?limit=100", user=user).body["contracts"]:
            for subscription in contract["subscriptions"]:
                reasons |= {e["reason"] for e in subscription["eligibility"].values()}
    assert reasons >= ELIGIBILITY_REASONS


def test_query_string_and_path_parameters_reach_the_function(local_stack: RunningStack) -> None:
    page = local_stack.request("GET", "/contracts?limit=1", user="u-alice")
    one = local_stack.request("GET", "/contracts/110000000001", user="u-alice")

    assert page.status == 200 and len(page.body["contracts"]) == 1 and page.body["next_token"]
    assert (one.status, one.body["contract_id"]) == (200, "110000000001")


def test_a_user_of_no_contract_sees_an_empty_list(local_stack: RunningStack) -> None:
    answer = local_stack.request("GET", "/contracts", user="u-nobody")
    assert (answer.status, answer.body["contracts"]) == (200, [])


def test_a_json_body_reaches_the_function_and_its_status_comes_back(local_stack: RunningStack) -> None:
    path = "/contracts/220000000001/subscriptions/sub-acad-eu/seat-orders"
    draft = local_stack.request("POST", path, user="u-max", body={"seats_to_add": 2})
    try:
        assert draft.status == 201, draft.body
        assert (draft.body["status"], draft.body["seats_to_add"], draft.body["currency"]) == ("draft", 2, "EUR")
    finally:
        if draft.status == 201:
            local_stack.request("DELETE", f"/orders/{draft.body['order_id']}", user="u-max")


def _token(**claims: Any) -> str:
    return jwt_tokens.issue("u-alice", "alice@acme.test", **claims)


@pytest.mark.parametrize("authorization", [
    pytest.param(None, id="no token"),
    pytest.param("Bearer " + _token(exp=int(time.time()) - 60), id="expired"),
    pytest.param("Bearer " + _token(aud="another-api"), id="wrong audience"),
    pytest.param("Bearer " + _token(iss="someone-else"), id="wrong issuer"),
    pytest.param("Bearer " + _token(exp=None), id="no exp"),
    pytest.param("Bearer " + jwt.encode({"sub": "u-alice", "iss": "seats-local", "aud": "seats-api",
                                         "exp": int(time.time()) + 600}, "not-the-secret-at-all-0123456789",
                                        algorithm="HS256"), id="other secret"),
    pytest.param("Bearer " + jwt.encode({"sub": "u-alice", "iss": "seats-local", "aud": "seats-api",
                                         "exp": int(time.time()) + 600}, None, algorithm="none"), id="alg none"),
    pytest.param("Bearer not-a-jwt", id="garbage"),
])
def test_a_request_without_a_valid_token_is_401_unauthorized(local_stack: RunningStack,
                                                              authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    answer = http("GET", f"{local_stack.api_url}/contracts", headers=headers)

    assert (answer.status, answer.body) == (401, {"message": "Unauthorized"})
    assert answer.headers["content-type"] == "application/json"


@pytest.mark.parametrize(("method", "path"), [("GET", "/nowhere"), ("DELETE", "/contracts"), ("GET", "/contracts/")])
def test_an_unknown_route_is_404_not_found_whatever_the_token(local_stack: RunningStack, method: str,
                                                             path: str) -> None:
    assert http(method, local_stack.api_url + path).body == {"message": "Not Found"}
    answer = local_stack.request(method, path, user="u-alice")
    assert (answer.status, answer.body) == (404, {"message": "Not Found"})


def test_local_charges_and_events_answer_without_a_token(local_stack: RunningStack) -> None:
    charges = http("GET", f"{local_stack.api_url}/_local/charges")
    events = http("GET", f"{local_stack.api_url}/_local/events")

    assert charges.status == 200 and isinstance(charges.body["charges"], list)
    assert events.status == 200 and isinstance(events.body["events"], list)


# -- the Lambda invoke endpoint ----------------------------------------------------------------------

def test_invoking_an_unknown_function_is_resource_not_found(local_stack: RunningStack) -> None:
    client = local_stack.lambda_client()
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.invoke(FunctionName="NoSuchFunction", Payload=b"{}")


def test_a_payload_that_is_not_json_is_refused(local_stack: RunningStack) -> None:
    client = local_stack.lambda_client()
    with pytest.raises(client.exceptions.InvalidRequestContentException):
        client.invoke(FunctionName="RenewalSchedulerFunction", Payload=b"{not json")


def test_a_dry_run_answers_204_without_running_the_function(local_stack: RunningStack) -> None:
    answer = local_stack.lambda_client().invoke(FunctionName="RenewalSchedulerFunction", InvocationType="DryRun")
    assert answer["StatusCode"] == 204


def test_the_payment_reconciler_is_served_by_logical_id_and_runs_at_seats_now(local_stack: RunningStack) -> None:
    # No `time`: the run is at SEATS_NOW, and the demo's payments (made at SEATS_NOW) are too young to settle.
    answer = local_stack.lambda_client().invoke(FunctionName="ReconcilePaymentsFunction", Payload=b"{}")
    result = json.loads(answer["Payload"].read())

    assert answer["StatusCode"] == 200 and "FunctionError" not in answer, result
    assert result == {"as_of": result["as_of"], "examined": 0, "completed": 0, "refunded": 0, "failed": 0}
    assert result["as_of"].startswith(NOW[:19])


RENEWAL_SEED: dict[str, Any] = {"accounts": [{
    "account_id": "renew", "name": "Renew Ltd", "country": "US", "currency": "USD",
    "users": [{"user_id": "u-rita", "email": "rita@renew.test", "role": "user"}],
    "payment_methods": [{"payment_method_id": "pm_renew_visa", "token": "tok_visa"}],
    "contracts": [{
        "contract_id": "550000000001", "contract_manager": "u-rita", "purchase_channel": "online",
        "auto_renew": True, "term": "annual", "term_start": "2025-11-01", "renewal_date": "2026-11-01",
        "payment_method_id": "pm_renew_visa",
        "subscriptions": [{"subscription_id": "sub-r", "product": "AutoCAD", "seats": 2, "unit_price": "100.00"}]}],
}]}


def test_the_scheduler_runs_at_seats_now_and_the_queue_reaches_the_worker(start_local_stack: Any) -> None:
    stack: RunningStack = start_local_stack(seed=RENEWAL_SEED)

    answer = stack.lambda_client().invoke(FunctionName="RenewalSchedulerFunction", Payload=b"{}")
    result = json.loads(answer["Payload"].read())

    assert answer["StatusCode"] == 200 and "FunctionError" not in answer, result
    assert result["as_of"].startswith(NOW[:19]) and (result["due"], result["enqueued"]) == (1, 1)

    def renewed() -> Any:
        events = http("GET", f"{stack.api_url}/_local/events").body["events"]
        return [e for e in events if e["detail-type"] == "SubscriptionRenewed"]

    event = stack.wait_for(renewed, what="SubscriptionRenewed on /_local/events")[0]
    assert (event["source"], event["detail"]["contract_id"]) == ("seats", "550000000001")
    assert event["time"] and set(event) >= {"detail-type", "source", "time", "detail"}
    charges = http("GET", f"{stack.api_url}/_local/charges").body["charges"]
    assert [(c["amount"], c["currency"], c["status"], c["payment_method_id"]) for c in charges] == [
        ("200.00", "USD", "succeeded", "pm_renew_visa")]
    assert set(charges[0]) == {"charge_id", "amount", "currency", "payment_method_id", "idempotency_key", "status",
                               "created_at", "refunded_at"}
    contract = stack.request("GET", "/contracts/550000000001", user="u-rita").body
    assert (contract["term_start"], contract["renewal_date"]) == ("2026-11-01", "2027-11-01")


# -- the command line --------------------------------------------------------------------------------

def test_the_token_command_prints_a_token_the_gateway_accepts() -> None:
    script = Path(sys.executable).with_name("seats-local")
    command = [str(script)] if script.exists() else seats_local()
    token = subprocess.run([*command, "token", "u-alice", "--ttl", "60"], capture_output=True, text=True,
                           check=True).stdout.strip()

    claims = jwt_tokens.verify(f"Bearer {token}")

    assert (claims["sub"], claims["email"], claims["iss"], claims["aud"]) == (
        "u-alice", "alice@acme.test", "seats-local", "seats-api")
    assert claims["exp"] - claims["iat"] == 60


@pytest.mark.parametrize(("change", "field"), [
    (lambda seed: seed["accounts"][0]["contracts"][0].update(term="weekly"), "accounts[0].contracts[0].term"),
    (lambda seed: seed["accounts"][1]["contracts"][0].update(contract_manager="u-ghost"),
     "accounts[1].contracts[0].contract_manager"),
], ids=["wrong value", "unknown manager"])
def test_a_bad_seed_file_exits_non_zero_naming_the_field(tmp_path: Path, change: Any, field: str) -> None:
    seed = copy.deepcopy(BASE_SEED)
    change(seed)
    (tmp_path / "bad.json").write_text(json.dumps(seed))

    run = subprocess.run(seats_local("start", "--seed", str(tmp_path / "bad.json"), "--api-port", "0",
                                     "--lambda-port", "0"), cwd=ROOT, capture_output=True, text=True, timeout=60)

    assert run.returncode == 2
    assert field in run.stderr
    assert "is ready" not in run.stdout


def test_ctrl_c_stops_everything_and_exits_0(start_local_stack: Any) -> None:
    stack: RunningStack = start_local_stack(seed=BASE_SEED)
    port = int(stack.api_url.rsplit(":", 1)[1])

    started = time.monotonic()
    assert stack.stop(signal.SIGINT, timeout=10) == 0, stack.log()[-3000:]

    assert time.monotonic() - started < 5
    assert "seats-local: stopped" in stack.log()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


# -- the emulators in this process, with stand-in functions -------------------------------------------

received: list[tuple[str, int]] = []  # (body, receive count) of each SQS record the flaky handler saw


def echo_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    seen = {"event": event, "context": {"aws_request_id": context.aws_request_id,
                                        "function_name": context.function_name,
                                        "remaining": context.get_remaining_time_in_millis()}}
    return {"statusCode": 207, "headers": {"x-echo": "yes"}, "body": json.dumps(seen)}


def crashing_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    raise ValueError("boom")


def flaky_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    failures = []
    for record in event["Records"]:
        count = int(record["attributes"]["ApproximateReceiveCount"])
        received.append((record["body"], count))
        if record["body"] == "fails once" and count == 1:
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}


def _stand_ins() -> FunctionHost:
    def function(name: str, module: str, handler: str) -> template.Function:
        return template.Function(name, module, handler, {}, {})

    return FunctionHost({
        "EchoFunction": function("EchoFunction", __name__, "echo_handler"),
        "CrashFunction": function("CrashFunction", __name__, "crashing_handler"),
        "MissingFunction": function("MissingFunction", "functions.does_not_exist.app", "lambda_handler"),
        "FlakyFunction": function("FlakyFunction", __name__, "flaky_handler"),
    })


def _gateway(host: FunctionHost) -> ApiGateway:
    ready = threading.Event()
    ready.set()
    return ApiGateway(host, {}, ready, routes=[
        api_route("POST", "/things/{thing_id}/parts/{part_id}", "EchoFunction"),
        api_route("GET", "/things/special", "EchoFunction"),
        api_route("GET", "/things/{thing_id}", "CrashFunction"),
        api_route("GET", "/missing", "MissingFunction"),
        api_route("GET", "/public", "EchoFunction", authorized=False),
    ])


def _request(method: str, target: str, body: bytes = b"", headers: list[tuple[str, str]] | None = None,
             user: str | None = "u-alice") -> Request:
    auth = [("Authorization", f"Bearer {jwt_tokens.issue(user, f'{user}@x.test')}")] if user else []
    return Request(method, target, [*auth, *(headers or [])], body, "10.1.2.3")


def test_the_function_gets_a_payload_2_0_event_with_the_verified_claims() -> None:
    request = _request("POST", "/things/a%20b/parts/7?x=1&x=2&empty=", json.dumps({"n": 1}).encode(),
                       [("Content-Type", "application/json"), ("X-Custom", "A"), ("Cookie", "s=1; t=2")])

    answer = _gateway(_stand_ins()).handle(request)
    seen = json.loads(answer.body)
    event, context = seen["event"], seen["context"]

    assert answer.status == 207 and ("x-echo", "yes") in answer.headers
    assert (event["version"], event["routeKey"], event["rawPath"]) == (
        "2.0", "POST /things/{thing_id}/parts/{part_id}", "/things/a%20b/parts/7")
    assert event["rawQueryString"] == "x=1&x=2&empty="
    assert event["queryStringParameters"] == {"x": "1,2", "empty": ""}
    assert event["pathParameters"] == {"thing_id": "a b", "part_id": "7"}
    assert event["headers"]["x-custom"] == "A" and "cookie" not in event["headers"]
    assert event["cookies"] == ["s=1", "t=2"]
    assert (json.loads(event["body"]), event["isBase64Encoded"]) == ({"n": 1}, False)
    context_fields = event["requestContext"]
    assert context_fields["http"] == {"method": "POST", "path": "/things/a%20b/parts/7", "protocol": "HTTP/1.1",
                                      "sourceIp": "10.1.2.3", "userAgent": ""}
    assert (context_fields["stage"], context_fields["routeKey"]) == ("$default", event["routeKey"])
    claims = context_fields["authorizer"]["jwt"]["claims"]
    assert (claims["sub"], claims["email"], claims["aud"], claims["iss"]) == (
        "u-alice", "u-alice@x.test", "seats-api", "seats-local")
    assert all(isinstance(v, str) for v in claims.values())
    assert context["aws_request_id"] == context_fields["requestId"] and context["function_name"] == "EchoFunction"
    assert 0 < context["remaining"] <= 15_000  # the template's Globals timeout


def test_a_body_that_is_not_utf8_is_passed_base64_encoded() -> None:
    raw = bytes([0xFF, 0x00, 0x80])
    answer = _gateway(_stand_ins()).handle(_request("POST", "/things/1/parts/2", raw))
    event = json.loads(answer.body)["event"]
    assert (event["isBase64Encoded"], base64.b64decode(event["body"])) == (True, raw)


def test_a_literal_segment_wins_over_a_path_parameter() -> None:
    answer = _gateway(_stand_ins()).handle(_request("GET", "/things/special"))
    assert answer.status == 207 and "pathParameters" not in json.loads(answer.body)["event"]


def test_a_route_without_authorizer_gets_no_claims_and_needs_no_token() -> None:
    answer = _gateway(_stand_ins()).handle(_request("GET", "/public", user=None))
    assert answer.status == 207 and "authorizer" not in json.loads(answer.body)["event"]["requestContext"]


def test_a_function_that_cannot_be_imported_answers_a_clear_500_problem() -> None:
    host = _stand_ins()

    answer = _gateway(host).handle(_request("GET", "/missing"))
    problem = json.loads(answer.body)

    assert answer.status == 500 and ("Content-Type", "application/problem+json") in answer.headers
    assert problem["code"] == "function_unavailable"
    assert "MissingFunction" in problem["detail"] and "functions.does_not_exist" in problem["detail"]
    assert host.preload() == ["MissingFunction"]


def test_a_crashing_handler_is_a_500_internal_server_error_from_the_gateway() -> None:
    answer = _gateway(_stand_ins()).handle(_request("GET", "/things/1"))
    assert (answer.status, json.loads(answer.body)) == (500, {"message": "Internal Server Error"})


def test_the_invoke_endpoint_reports_function_errors_as_lambda_does() -> None:
    ready = threading.Event()
    ready.set()
    endpoint = LambdaEndpoint(_stand_ins(), ready)

    def invoke(name: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        answer = endpoint.handle(Request("POST", f"/2015-03-31/functions/{name}/invocations", [], b"{}", "127.0.0.1"))
        return answer.status, json.loads(answer.body), dict(answer.headers)

    crash_status, crash, crash_headers = invoke("CrashFunction")
    missing_status, missing, missing_headers = invoke("MissingFunction")
    arn_status, _, _ = invoke("arn:aws:lambda:us-east-1:123456789012:function:EchoFunction")

    assert (crash_status, crash["errorType"], crash["errorMessage"]) == (200, "ValueError", "boom")
    assert crash_headers["X-Amz-Function-Error"] == "Unhandled"
    assert (missing_status, missing["errorType"]) == (200, "Runtime.ImportModuleError")
    assert "functions.does_not_exist.app" in missing["errorMessage"]
    assert missing_headers["X-Amz-Function-Error"] == "Unhandled"
    assert arn_status == 200


def test_failed_messages_of_a_batch_come_back_within_seconds_and_the_others_are_deleted() -> None:
    received.clear()
    aws = local_aws.start()
    stopping = threading.Event()
    poller = QueuePoller(aws, _stand_ins(), SqsSource("FlakyFunction", "RenewalQueue", 10, True), stopping)
    try:
        sqs = aws.client("sqs")
        for body in ("fails once", "fine"):
            sqs.send_message(QueueUrl=aws.queue_urls["RenewalQueue"], MessageBody=body)
        poller.start()
        deadline = time.monotonic() + 10
        while ("fails once", 2) not in received and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.3)  # let the poller delete the retried message
        left = sqs.get_queue_attributes(QueueUrl=aws.queue_urls["RenewalQueue"], AttributeNames=["All"])["Attributes"]
    finally:
        stopping.set()
        poller.join()
        aws.stop()

    assert sorted(received) == [("fails once", 1), ("fails once", 2), ("fine", 1)]
    assert (left["ApproximateNumberOfMessages"], left["ApproximateNumberOfMessagesNotVisible"]) == ("0", "0")

