"""The settings as the functions read them, and the payment gateway the composition root builds from
them: the Stripe key read from SSM as in AWS (moto), the timeout, the refusals at start, the clock."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters

from seats import bootstrap, clock
from seats.domain.errors import PaymentProviderUnavailable
from seats.services.messages import RenewalMessage
from seats.settings import SettingsError
from tests.conftest import NOW

PARAMETER = "/seats/stripe/api-key"


class _Stripe:
    """Answers every request with an empty list of PaymentIntents and keeps the Authorization headers."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        stripe = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                stripe.keys.append(self.headers.get("Authorization", "").removeprefix("Bearer "))
                body = json.dumps({"object": "list", "data": [], "has_more": False,
                                   "url": "/v1/payment_intents"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def _forget_settings() -> Iterator[None]:
    yield
    bootstrap.reset()  # after the environment is restored: nothing read from this test's is kept


@pytest.fixture
def fake_stripe() -> Iterator[_Stripe]:
    server = _Stripe()
    yield server
    server.close()


@pytest.fixture
def ssm_reads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Every read of an SSM parameter through Powertools (which still goes to moto's SSM)."""
    reads: list[tuple[str, dict[str, Any]]] = []
    read = parameters.get_parameter

    def spy(name: str, **options: Any) -> Any:
        reads.append((name, options))
        return read(name, **options)

    monkeypatch.setattr(parameters, "get_parameter", spy)
    return reads


@pytest.fixture
def stripe_in_aws(aws: None, monkeypatch: pytest.MonkeyPatch, fake_stripe: _Stripe) -> Iterator[None]:
    """SEATS_PAYMENTS=stripe as the template sets it: the key's SSM parameter name, no key."""
    monkeypatch.setenv("SEATS_PAYMENTS", "stripe")
    monkeypatch.setenv("STRIPE_API_KEY_PARAMETER", PARAMETER)
    monkeypatch.setenv("STRIPE_API_BASE", fake_stripe.url)
    for name in ("STRIPE_API_KEY", "STRIPE_TIMEOUT_S"):
        monkeypatch.delenv(name, raising=False)
    parameters.clear_caches()  # no provider (nor cached value) from another test or mock
    bootstrap.reset()
    yield
    parameters.clear_caches()


def _put_key(value: str) -> None:
    boto3.client("ssm").put_parameter(Name=PARAMETER, Value=value, Type="SecureString", Overwrite=True)


# -- the Stripe key, as in AWS --------------------------------------------------------------------------


def test_in_aws_the_stripe_key_is_read_from_ssm_decrypted_on_first_use_only(
        stripe_in_aws, fake_stripe, ssm_reads):
    gateway = bootstrap.payment_gateway()
    assert ssm_reads == []  # building it reads nothing: the parameter does not even exist yet
    _put_key("sk_test_from_ssm")

    assert gateway.list_charges() == []
    _put_key("sk_test_rotated_later")
    assert gateway.list_charges() == []

    # the key as stored, decrypted (moto answers "kms:alias/aws/ssm:sk_..." without decryption)
    assert fake_stripe.keys == ["sk_test_from_ssm", "sk_test_from_ssm"]
    assert ssm_reads == [(PARAMETER, {"decrypt": True, "max_age": 300})]
    assert bootstrap.payment_gateway() is gateway


def test_a_missing_ssm_parameter_answers_provider_unavailable_until_it_exists(
        stripe_in_aws, fake_stripe, ssm_reads):
    gateway = bootstrap.payment_gateway()

    with pytest.raises(PaymentProviderUnavailable):
        gateway.list_charges()
    assert fake_stripe.keys == []  # nothing was sent to Stripe

    _put_key("sk_test_created_since")
    assert gateway.list_charges() == []
    assert fake_stripe.keys == ["sk_test_created_since"]
    assert len(ssm_reads) == 2  # a failed read is not kept: the next call reads again


def test_an_empty_key_in_ssm_answers_provider_unavailable(stripe_in_aws, fake_stripe, monkeypatch, caplog):
    monkeypatch.setattr(parameters, "get_parameter", lambda name, **options: "")  # SSM itself refuses ""
    gateway = bootstrap.payment_gateway()

    with pytest.raises(PaymentProviderUnavailable):
        gateway.list_charges()

    assert fake_stripe.keys == []
    assert "Cannot read the Stripe API key: ValueError" in caplog.text


def test_a_local_stripe_key_is_used_as_is_and_ssm_is_never_read(
        stripe_in_aws, fake_stripe, ssm_reads, monkeypatch):
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_local")
    bootstrap.reset()

    assert bootstrap.payment_gateway().list_charges() == []

    assert fake_stripe.keys == ["sk_test_local"]
    assert ssm_reads == []


def test_stripe_without_a_key_or_its_parameter_is_refused_when_the_gateway_is_built(
        stripe_in_aws, monkeypatch):
    monkeypatch.delenv("STRIPE_API_KEY_PARAMETER")
    bootstrap.reset()

    with pytest.raises(RuntimeError, match="SEATS_PAYMENTS=stripe needs STRIPE_API_KEY_PARAMETER"):
        bootstrap.payment_gateway()


def test_the_stripe_timeout_reaches_the_gateway_the_functions_use(stripe_in_aws, monkeypatch):
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        monkeypatch.setenv("STRIPE_API_BASE", f"http://127.0.0.1:{silent.getsockname()[1]}")
        monkeypatch.setenv("STRIPE_TIMEOUT_S", "0.3")
        _put_key("sk_test_from_ssm")
        bootstrap.reset()
        gateway = bootstrap.payment_gateway()

        started = time.monotonic()
        with pytest.raises(PaymentProviderUnavailable):
            gateway.list_charges()
        waited = time.monotonic() - started

    assert 0.3 <= waited < 3  # not the default 10 s


def test_the_sandbox_is_the_default_gateway(aws, monkeypatch):
    monkeypatch.delenv("SEATS_PAYMENTS")
    bootstrap.reset()

    assert type(bootstrap.payment_gateway()).__name__ == "SandboxGateway"


def test_the_renewal_queue_sends_to_the_queue_the_settings_name(aws, monkeypatch):
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="RenewalQueue")["QueueUrl"]
    monkeypatch.setenv("RENEWAL_QUEUE_URL", url)
    bootstrap.reset()
    message = RenewalMessage("110000000001", clock.utc_now())

    assert bootstrap.renewal_queue().send([message]) == 1

    (received,) = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert RenewalMessage.from_json(received["Body"]) == message
    assert bootstrap.renewal_queue() is bootstrap.renewal_queue()  # built once


# -- refused at start -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "value", "message"), [
    ("SEATS_PAYMENTS", "paypal", "SEATS_PAYMENTS must be sandbox or stripe, not 'paypal'"),
    ("SEATS_NOW", "29/11/2026", "SEATS_NOW must be an ISO 8601 instant"),
    ("STRIPE_TIMEOUT_S", "-5", "STRIPE_TIMEOUT_S must be a positive number of seconds, not '-5'"),
])
def test_a_bad_setting_stops_the_first_use_of_any_adapter_or_the_clock(
        aws, monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    bootstrap.reset()

    for first_use in (bootstrap.repository, bootstrap.payment_gateway, clock.utc_now):
        with pytest.raises(SettingsError, match=message):
            first_use()

    valid = {"SEATS_PAYMENTS": "sandbox", "SEATS_NOW": NOW, "STRIPE_TIMEOUT_S": "10"}
    monkeypatch.setenv(name, valid[name])
    bootstrap.reset()
    assert clock.utc_now() == clock.parse_instant(NOW)  # nothing of the refused settings was kept


# -- the clock ------------------------------------------------------------------------------------------


def test_the_clock_follows_seats_now_through_the_settings(aws_env, monkeypatch):
    assert clock.utc_now() == datetime(2026, 11, 29, 10, tzinfo=UTC) == clock.parse_instant(NOW)

    monkeypatch.setenv("SEATS_NOW", "2027-01-02T00:30:00+01:00")
    assert clock.utc_now() == datetime(2026, 11, 29, 10, tzinfo=UTC)  # read once: until reset
    bootstrap.reset()
    assert clock.utc_now() == datetime(2027, 1, 1, 23, 30, tzinfo=UTC)
    assert clock.today().isoformat() == "2027-01-01"  # the UTC day, not the offset's
    assert clock.iso(clock.utc_now()) == "2027-01-01T23:30:00.000Z"

    monkeypatch.delenv("SEATS_NOW")
    bootstrap.reset()
    assert abs(clock.utc_now() - datetime.now(UTC)) < timedelta(seconds=5)  # the real clock
