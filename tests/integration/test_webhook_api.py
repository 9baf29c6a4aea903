"""PaymentWebhookFunction (POST /webhooks/stripe) on moto, configured as template.yaml configures it in AWS:
no STRIPE_WEBHOOK_SECRET, the endpoint secret in the SSM SecureString STRIPE_WEBHOOK_SECRET_PARAMETER names
(read decrypted through Powertools parameters). Events are API Gateway HTTP API events without an authorizer
(the route has `Auth: {Authorizer: NONE}`), built from events/stripe_webhook.json.

- an event signed with the secret in SSM settles the payment it is about (completed once, or failed back to
  draft); one signed with the local default secret is refused;
- an SSM without the parameter answers 503 service_unavailable (Stripe delivers again), never 500; once the
  parameter exists, the same delivery is accepted;
- a body over 64 KiB answers 413 before anything is read; one of exactly 64 KiB is verified and handled;
- no (or an empty) Stripe-Signature answers 400 invalid_signature;
- a base64-encoded body (isBase64Encoded) is verified over its decoded bytes.
"""

from __future__ import annotations

import base64
import copy
import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters

from infra import template
from infra.handlers import handler_of
from seats import bootstrap
from seats.adapters.payments.webhooks import MAX_BODY_BYTES, signature_header, signed
from seats.settings import LOCAL_WEBHOOK_SECRET
from tests.conftest import EVENTS, invoke
from tests.integration.add_seats_support import draft_paid_with, history_types, seats_of, submit

SECRET_PARAMETER = "/seats/stripe/webhook-secret"  # template.yaml's default StripeWebhookSecretParameter
SSM_SECRET = "whsec_from_ssm_0123456789abcdef"
SAMPLE = json.loads((EVENTS / "stripe_webhook.json").read_text(encoding="utf-8"))


@pytest.fixture
def webhook_in_aws(seeded: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The function's environment as in AWS: the secret's SSM parameter name, no secret."""
    monkeypatch.delenv("STRIPE_WEBHOOK_SECRET", raising=False)
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET_PARAMETER", SECRET_PARAMETER)
    parameters.clear_caches()  # no provider (nor cached secret) from another test or mock
    bootstrap.reset()
    yield
    parameters.clear_caches()


def put_secret(value: str = SSM_SECRET) -> None:
    boto3.client("ssm").put_parameter(Name=SECRET_PARAMETER, Value=value, Type="SecureString", Overwrite=True)


def http_event(payload: bytes, signature: str | None, *, base64_encoded: bool = False) -> dict[str, Any]:
    """The HTTP API event API Gateway hands the function for a POST /webhooks/stripe (no authorizer)."""
    event = copy.deepcopy(SAMPLE)
    headers = {k: v for k, v in event["headers"].items() if k not in ("stripe-signature", "content-length")}
    if signature is not None:
        headers["stripe-signature"] = signature
    headers["content-length"] = str(len(payload))
    event["headers"] = headers
    event["body"] = base64.b64encode(payload).decode() if base64_encoded else payload.decode("utf-8")
    event["isBase64Encoded"] = base64_encoded
    return event


def deliver(event: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
    return invoke(handler_of("PaymentWebhookFunction"), event)


def pending_payment(key: str = "sca-1") -> tuple[str, str]:
    """A draft paid with the 3-D Secure card, submitted: (order id, charge id) of its payment waiting."""
    draft = draft_paid_with("tok_threeDSecure2Required")
    status, pending, _ = submit(draft["order_id"], key)
    assert (status, pending["status"]) == (202, "payment_pending"), pending
    return draft["order_id"], pending["payment_action"]["charge_id"]


def cardholder(charge_id: str, success: bool) -> dict[str, Any]:
    """The cardholder answers the bank's challenge at the (sandbox) provider: the event it then sends."""
    gateway: Any = bootstrap.payment_gateway()
    gateway.authenticate(charge_id, success)
    event: dict[str, Any] = gateway.notification(charge_id, int(time.time()))
    return event


def assert_problem(answer: tuple[int, Any, dict[str, str]], status: int, code: str) -> None:
    got_status, body, headers = answer
    assert (got_status, body["code"]) == (status, code), body
    assert headers["Content-Type"] == "application/problem+json"
    assert body["status"] == status and "Traceback" not in json.dumps(body)


def test_the_template_configures_the_function_as_these_tests_do():
    function = template.functions()["PaymentWebhookFunction"]
    variables = function.environment
    assert "STRIPE_WEBHOOK_SECRET" not in variables
    assert variables["STRIPE_WEBHOOK_SECRET_PARAMETER"] == {"Fn::Sub": "/${StripeWebhookSecretParameter}"}
    default = template.load()["Parameters"]["StripeWebhookSecretParameter"]["Default"]
    assert f"/{default}" == SECRET_PARAMETER


def test_an_event_signed_with_the_secret_in_ssm_completes_the_order_once(webhook_in_aws):
    put_secret()  # read without decryption, moto's value would be "kms:alias/aws/ssm:whsec_...": refused
    order_id, charge_id = pending_payment()
    payload, _ = signed(cardholder(charge_id, True), SSM_SECRET)
    now = int(time.time())

    wrong = deliver(http_event(payload, signature_header(payload, LOCAL_WEBHOOK_SECRET, now)))
    assert_problem(wrong, 400, "invalid_signature")  # the local default is not the endpoint's secret
    assert bootstrap.repository().get_order(order_id).status == "payment_pending"

    first = deliver(http_event(payload, signature_header(payload, SSM_SECRET, now)))
    again = deliver(http_event(payload, signature_header(payload, SSM_SECRET, now)))

    assert first[:2] == (200, {"received": True, "handled": "completed"})
    assert first[2]["Content-Type"] == "application/json"
    assert again[:2] == (200, {"received": True, "handled": "already_settled"})
    order = bootstrap.repository().get_order(order_id)
    assert (order.status, order.charge_id, order.payment_action) == ("completed", charge_id, None)
    assert seats_of() == 13
    assert history_types().count("seats_added") == 1


def test_an_event_of_a_failed_authentication_returns_the_order_to_draft(webhook_in_aws):
    put_secret()
    order_id, charge_id = pending_payment()
    payload, signature = signed(cardholder(charge_id, False), SSM_SECRET)

    answer = deliver(http_event(payload, signature))

    assert answer[:2] == (200, {"received": True, "handled": "failed"})
    order = bootstrap.repository().get_order(order_id)
    assert (order.status, order.payment_action, order.charge_id) == ("draft", None, None)
    assert order.last_payment_error.decline_code == "authentication_failed"
    assert seats_of() == 10


def test_an_ssm_without_the_parameter_is_503_until_it_exists(webhook_in_aws):
    order_id, charge_id = pending_payment()
    payload, signature = signed(cardholder(charge_id, True), SSM_SECRET)
    delivery = http_event(payload, signature)

    assert_problem(deliver(delivery), 503, "service_unavailable")  # not 500: Stripe delivers it again

    assert bootstrap.repository().get_order(order_id).status == "payment_pending"
    put_secret()  # the operator creates it; Stripe's next attempt is accepted
    assert deliver(delivery)[:2] == (200, {"received": True, "handled": "completed"})
    assert bootstrap.repository().get_order(order_id).status == "completed"


def test_a_body_over_64_kib_is_413_and_one_of_exactly_64_kib_is_read(webhook_in_aws):
    put_secret()
    event = {"id": "evt_big", "object": "event", "type": "customer.updated", "created": int(time.time()),
             "data": {"object": {"id": "cus_1", "object": "customer", "description": ""}}}
    text = json.dumps(event, separators=(",", ":"))
    padding = MAX_BODY_BYTES - len(text.encode())
    at_limit = text.replace('"description":""', '"description":"' + "x" * padding + '"').encode()
    assert len(at_limit) == MAX_BODY_BYTES
    over = at_limit.replace(b'"description":"', b'"description":"y', 1)
    now = int(time.time())

    assert_problem(deliver(http_event(over, signature_header(over, SSM_SECRET, now))), 413, "payload_too_large")
    assert_problem(deliver(http_event(over, None)), 413, "payload_too_large")
    huge = b'{"id":"' + b"z" * (10 * MAX_BODY_BYTES) + b'"}'
    assert_problem(deliver(http_event(huge, signature_header(huge, SSM_SECRET, now), base64_encoded=True)),
                   413, "payload_too_large")
    read = deliver(http_event(at_limit, signature_header(at_limit, SSM_SECRET, now)))
    assert read[:2] == (200, {"received": True, "handled": "ignored"})


def test_no_stripe_signature_is_400_invalid_signature(webhook_in_aws):
    put_secret()
    order_id, charge_id = pending_payment()
    payload, _ = signed(cardholder(charge_id, True), SSM_SECRET)

    for signature in (None, "", " "):
        assert_problem(deliver(http_event(payload, signature)), 400, "invalid_signature")

    assert bootstrap.repository().get_order(order_id).status == "payment_pending"


def test_a_base64_encoded_body_is_verified_over_its_decoded_bytes(webhook_in_aws):
    put_secret()
    order_id, charge_id = pending_payment()
    payload, signature = signed(cardholder(charge_id, True), SSM_SECRET)
    encoded = base64.b64encode(payload)
    over_the_encoding = signature_header(encoded, SSM_SECRET, int(time.time()))

    assert_problem(deliver(http_event(payload, over_the_encoding, base64_encoded=True)), 400, "invalid_signature")
    answer = deliver(http_event(payload, signature, base64_encoded=True))

    assert answer[:2] == (200, {"received": True, "handled": "completed"})
    assert bootstrap.repository().get_order(order_id).status == "completed"


def _event_about(key: Any) -> bytes:
    return json.dumps({"id": "evt_odd", "object": "event", "type": "payment_intent.succeeded", "created": 1,
                       "data": {"object": {"id": "pi_odd", "object": "payment_intent",
                                           "metadata": {"idempotency_key": key}}}}).encode()


@pytest.mark.parametrize(("payload", "answer"), [
    (b"[]", 400), (b"1", 400), (b"null", 400), (b'"event"', 400),  # JSON, but not an event object
    (b"[" * 5000 + b"]" * 5000, 400),  # nested deeper than the parser goes
    (_event_about(5), 200), (_event_about(None), 200), (_event_about(["seats:payment:pay_x"]), 200),
    (_event_about("seats:payment:\ud800"), 200), (_event_about("seats:payment:pay_" + "0" * 20 + "\n"), 200),
])
def test_a_correctly_signed_but_odd_body_is_refused_or_ignored_never_a_5xx(seeded: dict[str, Any], payload: bytes,
                                                                           answer: int) -> None:
    status, body, _ = deliver(http_event(payload, signature_header(payload, LOCAL_WEBHOOK_SECRET, int(time.time()))))

    assert status == answer, body
    assert body["code"] == "invalid_signature" if answer == 400 else body == {"received": True, "handled": "unknown"}
