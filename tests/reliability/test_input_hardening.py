"""Hostile requests get a problem+json 4xx, never a 5xx, and change nothing.

Through the in-process gateway (conftest.Api: the local runtime's routing, JWT check and event
building) with a valid token, at every route that takes a body (and some that do not):
- a body over the limit (seats.api.resolver.MAX_BODY_BYTES, 64 KiB): 413 payload_too_large; one
  exactly at the limit is read normally;
- bodies that are not UTF-8: 422 validation_error;
- JSON nested thousands deep, integers of thousands of digits, NaN and Infinity, floats and
  strings where integers belong: 422;
- unknown fields: 422 validation_error naming the field;
- control characters (CR, LF, NUL...) in Idempotency-Key and other headers: 422, and nothing of
  the injected text comes back as a header;
- other content types, empty and non-object bodies, odd path ids and query strings: 4xx;
- the webhook (POST /webhooks/stripe, no JWT), with a valid signature where one can be made: bodies over
  the limit 413, bodies that are not UTF-8 422 (signed over their bytes or not), Stripe-Signature headers
  of up to 1 MiB and with control characters 422, other content types 422, empty or non-event bodies 400;
  the payment waiting for the cardholder still waits.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from functions.change_seats.app import lambda_handler as change_seats
from seats import bootstrap
from seats.adapters.payments.webhooks import signature_header, signed
from seats.api.resolver import MAX_BODY_BYTES
from seats.settings import LOCAL_WEBHOOK_SECRET
from tests.conftest import http_event, invoke
from tests.reliability.conftest import (
    CONTRACT_A,
    MANAGER_A,
    SUBSCRIPTION_A,
    TEAM_A,
    Answer,
    Api,
    Scene,
    add_sca_cards,
    charge_to_sca_card,
)

SEAT_ORDERS = f"/contracts/{CONTRACT_A}/subscriptions/{SUBSCRIPTION_A}/seat-orders"
REDUCTION = f"/contracts/{CONTRACT_A}/subscriptions/{SUBSCRIPTION_A}/pending-reduction"


def body_routes(draft: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, a valid body) for every route that takes a body."""
    return [
        ("POST", SEAT_ORDERS, {"seats_to_add": 1}),
        ("PATCH", f"/orders/{draft}", {"seats_to_add": 1}),
        ("PUT", f"/orders/{draft}/payment-method", {"payment_method_id": "pm_acme_mc"}),
        ("PUT", REDUCTION, {"seats": 8}),
        ("PUT", f"/contracts/{CONTRACT_A}/payment-method", {"payment_method_id": "pm_acme_mc"}),
        ("POST", f"/accounts/{TEAM_A}/payment-methods", {"token": "tok_visa"}),
    ]


def assert_refused(answer: Answer, status: int | tuple[int, ...], code: str | None = None) -> None:
    statuses = status if isinstance(status, tuple) else (status,)
    assert answer.status in statuses, (answer.status, answer.body)
    assert answer.content_type == "application/problem+json", answer.headers
    assert isinstance(answer.body, dict) and answer.body["status"] == answer.status
    assert "Traceback" not in json.dumps(answer.body)
    if code is not None:
        assert answer.code == code, answer.body


class Tally:
    def __init__(self, api: Api) -> None:
        self.api = api
        self.cases = 0

    def send(self, method: str, path: str, raw: bytes, headers: dict[str, str] | None = None) -> Answer:
        self.cases += 1
        headers = {"Content-Type": "application/json", **(headers or {})}
        sent = [("Authorization", f"Bearer {self.api.token(MANAGER_A)}"), *headers.items()]
        return self.api.send(method, path, sent, raw)


@pytest.fixture
def draft(api: Api) -> str:
    return Scene().reset(drafts=(CONTRACT_A,))[CONTRACT_A]


def state() -> tuple[Any, ...]:
    """What a refused request must leave as it was: orders, the subscription, the cards, the charges."""
    repo = bootstrap.repository()
    contract = repo.get_contract(CONTRACT_A)
    subscription = contract.subscription(SUBSCRIPTION_A)
    return (
        sorted((o.order_id, o.status, o.seats_to_add, o.version) for o in repo.list_orders(CONTRACT_A)),
        (contract.version, subscription.seats, subscription.pending_reduction, subscription.open_order_id),
        sorted(pm.payment_method_id for pm in repo.list_payment_methods(TEAM_A)),
        len(bootstrap.payment_gateway().list_charges()),
    )


def test_a_body_over_the_limit_is_413_and_one_at_the_limit_is_read(api, draft, figures):
    tally = Tally(api)
    for method, path, valid in body_routes(draft):
        text = json.dumps(valid)
        at_limit = text[:-1] + " " * (MAX_BODY_BYTES - len(text)) + "}"
        assert len(at_limit.encode()) == MAX_BODY_BYTES
        over = at_limit[:-1] + " }"
        before = state()
        assert_refused(tally.send(method, path, over.encode()), 413, "payload_too_large")
        assert_refused(tally.send(method, path, b"x" * (10 * MAX_BODY_BYTES)), 413, "payload_too_large")
        assert state() == before
        read = tally.send(method, path, at_limit.encode())  # read and validated: the route's own answer
        assert read.status < 500 and read.status not in (413, 422), (method, path, read.body)
        draft = Scene().reset(drafts=(CONTRACT_A,))[CONTRACT_A]
    assert_refused(tally.send("GET", f"/contracts/{CONTRACT_A}", b"x" * (MAX_BODY_BYTES + 1)), 413)
    figures.row(f"bodies of {MAX_BODY_BYTES + 1} B and 640 KiB on the 6 routes with a body (and a GET); "
                f"a body of exactly {MAX_BODY_BYTES} B", tally.cases,
                "over the limit: 413 payload_too_large problem+json, nothing written; at the limit: read and "
                "answered by the route")


NOT_UTF8 = {
    "a lone 0xff byte": b'{"seats_to_add": 1\xff}',
    "latin-1 text": '{"seats_to_add": "é"}'.encode("latin-1"),
    "an overlong encoding of /": b'{"seats_to_add": "\xc0\xaf"}',
    "a UTF-8-encoded surrogate": b'{"seats_to_add": "\xed\xa0\x80"}',
    "a truncated sequence": b'{"seats_to_add": "\xe2\x82"}',
    "UTF-16": '{"seats_to_add": 1}'.encode("utf-16"),
}


def test_a_body_that_is_not_utf8_is_422(api, draft, figures):
    tally = Tally(api)
    before = state()
    for method, path, _ in body_routes(draft):
        for name, raw in NOT_UTF8.items():
            assert_refused(tally.send(method, path, raw), 422, "validation_error"), name
    assert state() == before
    figures.row(f"non-UTF-8 bodies ({', '.join(NOT_UTF8)}) on the 6 routes with a body", tally.cases,
                "422 validation_error problem+json, nothing written")


def nested(depth: int, opener: str = "[", closer: str = "]") -> str:
    return opener * depth + closer * depth


def field_body(valid: dict[str, Any], raw_value: str) -> str:
    """`valid` with its one field's value replaced by the raw JSON text `raw_value`."""
    [name] = valid
    return "{" + json.dumps(name) + ": " + raw_value + "}"


MALFORMED_VALUES: dict[str, Callable[[], str]] = {  # not a value of the field's type, or not JSON at all
    "arrays nested 100 deep": lambda: nested(100),
    "arrays nested 30000 deep": lambda: nested(30_000),
    "objects nested 8000 deep": lambda: '{"a": ' * 8_000 + "1" + "}" * 8_000,
    "an integer of 5000 digits": lambda: "9" * 5000,
    "a negative integer of 5000 digits": lambda: "-" + "9" * 5000,
    "a float beyond double range": lambda: "1e400",
    "NaN": lambda: "NaN",
    "Infinity": lambda: "-Infinity",
    "a float": lambda: "1.0",
    "a string of digits": lambda: '"3"',  # where an integer belongs
    "a boolean": lambda: "true",
    "null": lambda: "null",
}
HUGE_NUMBERS = {  # well-formed integers the domain refuses by its own rules (or, as ids, by type)
    "an integer of 40 digits": "1" + "0" * 39,
    "an integer of 4000 digits": "7" * 4000,
    "a negative integer of 40 digits": "-" + "1" * 40,
}


def test_hostile_json_values_are_refused_with_422_or_the_rule_they_break(api, draft, figures):
    tally = Tally(api)
    before = state()
    for method, path, valid in body_routes(draft):
        for name, value in MALFORMED_VALUES.items():
            if name == "a string of digits" and isinstance(next(iter(valid.values())), str):
                continue  # a string is what a string field takes
            assert_refused(tally.send(method, path, field_body(valid, value()).encode()), 422, "validation_error"), \
                (method, path, name)
        for name, raw in {"a document nested 30000 deep": nested(30_000),
                          "an object nested 9000 deep": '{"a":' * 9_000 + "1" + "}" * 9_000}.items():
            assert_refused(tally.send(method, path, raw.encode()), 422, "validation_error"), name
        for name, number in HUGE_NUMBERS.items():
            # Validated first, then eligibility (a draft is open: 409), then the numbers (422).
            assert_refused(tally.send(method, path, field_body(valid, number).encode()), (409, 422)), name
    assert state() == before
    figures.row(f"hostile JSON on the 6 routes with a body: {', '.join(MALFORMED_VALUES)}, whole documents "
                f"nested 9000-30000 deep; {', '.join(HUGE_NUMBERS)}", tally.cases,
                "malformed: 422 validation_error; huge integers: the rule they break (409/422); never 5xx; "
                "nothing written")


def test_unknown_fields_are_422_naming_the_field(api, draft, figures):
    tally = Tally(api)
    extras = {"unknown": 1, "__proto__": {"admin": True}, "seats_to_add ": 1, "SEATS": 1, "constructor": None}
    before = state()
    for method, path, valid in body_routes(draft):
        for name, value in extras.items():
            if name in valid:
                continue
            answer = tally.send(method, path, json.dumps({**valid, name: value}).encode())
            assert_refused(answer, 422, "validation_error")
            assert any(name in error["loc"] for error in answer.body["errors"]), answer.body
    assert state() == before
    figures.row(f"unknown fields ({', '.join(repr(k) for k in extras)}) next to valid ones, 6 routes", tally.cases,
                "422 validation_error with the field in errors[].loc, nothing written")


INJECTIONS = {
    "CR LF and a header": "key\r\nX-Injected: yes",
    "LF alone": "key\nX-Injected: yes",
    "CR alone": "key\rX-Injected: yes",
    "NUL": "key\x00tail",
    "ESC sequence": "key\x1b[31m",
    "DEL": "key\x7f",
    "a response split": "key\r\n\r\n<html>",
}


def test_control_characters_in_headers_are_422_and_never_echoed(api, draft, figures):
    tally = Tally(api)
    before = state()
    for name, value in INJECTIONS.items():
        for header in ("Idempotency-Key", "X-Request-Note", "Content-Type"):
            headers = {header: value} if header != "Content-Type" else {"Content-Type": "application/json" + value}
            answer = tally.send("POST", f"/orders/{draft}/submit", b"", headers)
            assert_refused(answer, 422, "validation_error"), (name, header)
            assert not any("injected" in k.lower() or "injected" in v.lower() for k, v in answer.headers.items())
        answer = tally.send("PATCH", f"/orders/{draft}", b'{"seats_to_add": 1}', {"X-Note": value})
        assert_refused(answer, 422, "validation_error"), name
    assert state() == before
    figures.row(f"control characters in Idempotency-Key, Content-Type and other headers "
                f"({', '.join(INJECTIONS)})", tally.cases,
                "422 validation_error problem+json; nothing injected comes back as a header; nothing charged")


def test_odd_content_types_shapes_ids_and_queries_are_4xx(api, draft, figures):
    tally = Tally(api)
    before = state()
    for method, path, valid in body_routes(draft):
        text = json.dumps(valid)
        for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                             "multipart/form-data", "application/xml", "application/JSON-patch"):
            assert_refused(tally.send(method, path, text.encode(), {"Content-Type": content_type}),
                           422, "validation_error")
        for raw in (b"", b"null", b"[]", b"[1, 2]", b'"text"', b"42", b"{", b"{}", b'{"a":1', b"\x00"):
            assert_refused(tally.send(method, path, raw), (400, 422)), raw
    for odd in ("%00", "%FF%FE", "a" * 4000, "..%2F..%2Fetc", "%F0%9F%92%A5", "%20", "'%20OR%201=1"):
        assert_refused(tally.send("GET", f"/contracts/{odd}", b""), 404, "contract_not_found")
        assert_refused(tally.send("GET", f"/orders/{odd}", b""), 404, "order_not_found")
        assert_refused(tally.send("PATCH", f"/orders/{odd}", b'{"seats_to_add": 1}'), 404, "order_not_found")
    for query in ("limit=0", "limit=101", "limit=-1", "limit=1e3", "limit=" + "9" * 5000, "limit=abc",
                  "next_token=%00", "next_token=" + "a" * 5000, "next_token=eyJ4IjoxfQ", "limit=1&limit=2"):
        assert_refused(tally.send("GET", f"/contracts?{query}", b""), 422, "validation_error"), query
    assert state() == before
    figures.row("other content types (text, form, multipart with and without boundary, XML), empty / null / array / scalar / truncated bodies, odd path ids "
                "(NUL, invalid UTF-8, 4000 chars, traversal, emoji), odd limit and next_token", tally.cases,
                "4xx problem+json every time (never 5xx); nothing written")


def test_a_lambda_event_with_broken_base64_is_422(draft, figures):
    """Not from the gateway (it encodes correctly), but a Lambda may be invoked with any event."""
    cases = 0
    before = state()
    for body in ("%%%not base64%%%", "////", "4pyTIMOgIGxhIG1vZGU"):
        event = http_event("POST", SEAT_ORDERS, user=MANAGER_A, raw_body=body)
        event["isBase64Encoded"] = True
        status, problem, headers = invoke(change_seats, event)
        cases += 1
        assert status == 422 and problem["code"] == "validation_error", (body, problem)
        assert headers["Content-Type"] == "application/problem+json"
    assert state() == before
    figures.row("events whose isBase64Encoded body is not base64 (or not UTF-8 once decoded)", cases,
                "422 validation_error problem+json")


def test_the_webhook_refuses_hostile_requests_with_4xx_and_settles_nothing(api, figures):
    """No JWT (the route has none): only the request's bytes and its Stripe-Signature."""
    add_sca_cards()
    order_id = Scene().reset(drafts=(CONTRACT_A,))[CONTRACT_A]
    charge_to_sca_card(CONTRACT_A, order_id)
    pending = api.call("POST", f"/orders/{order_id}/submit", user=MANAGER_A, headers={"Idempotency-Key": "hard"})
    assert pending.status == 202, pending.body
    charge_id = pending.body["payment_action"]["charge_id"]
    gateway: Any = bootstrap.payment_gateway()
    gateway.authenticate(charge_id, True)  # the provider has it succeeded: a valid event would complete it
    event = gateway.notification(charge_id, 0)
    cases = 0

    def send(raw: bytes, signature: str | None, headers: dict[str, str] | None = None) -> Answer:
        nonlocal cases
        cases += 1
        sent = [("Content-Type", "application/json"), *(headers or {}).items()]
        if signature is not None:
            sent.append(("Stripe-Signature", signature))
        return api.send("POST", "/webhooks/stripe", sent, raw)

    def signature(raw: bytes) -> str:
        return signature_header(raw, LOCAL_WEBHOOK_SECRET, int(time.time()))

    payload, _ = signed(event, LOCAL_WEBHOOK_SECRET)
    over = payload[:-1] + b" " * (MAX_BODY_BYTES - len(payload) + 1) + b"}"
    for raw in (over, b"x" * (10 * MAX_BODY_BYTES)):
        assert_refused(send(raw, signature(raw)), 413, "payload_too_large")
        assert_refused(send(raw, None), 413, "payload_too_large")
    for name, raw in {**NOT_UTF8, "the event in latin-1": json.dumps({**event, "note": "é"}, ensure_ascii=False).encode("latin-1"),
                      "the event in UTF-16": payload.decode().encode("utf-16")}.items():
        assert_refused(send(raw, signature(raw)), 422, "validation_error"), name  # signed over its very bytes
    for size in (2049, 64 * 1024, 1024 * 1024):
        huge = (signature(payload) + ",v1=" + "0" * size)[:size]
        assert_refused(send(payload, huge), 422, "validation_error"), size
    for name, value in INJECTIONS.items():
        assert_refused(send(payload, signature(payload) + value), 422, "validation_error"), name
        answer = send(payload, signature(payload), {"X-Note": value})
        assert_refused(answer, 422, "validation_error"), name
        assert not any("injected" in k.lower() or "injected" in v.lower() for k, v in answer.headers.items())
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                         "application/xml"):
        assert_refused(send(payload, signature(payload), {"Content-Type": content_type}), 422, "validation_error")
    for raw in (b"", b"{", b'{"id": "evt_1"', b"\x00"):
        assert_refused(send(raw, None), (400, 422)), raw
        assert_refused(send(raw, "t=1,v1=00"), (400, 422)), raw
    for raw in (b"", b"{", b'{"id": "evt_1"'):
        assert_refused(send(raw, signature(raw)), (400, 422)), raw  # signed, but not a JSON event

    order = api.call("GET", f"/orders/{order_id}", user=MANAGER_A).body
    assert (order["status"], order["charge_id"]) == ("payment_pending", None)
    ok = send(payload, signature(payload))  # and the event itself, as sent, completes it
    assert (ok.status, ok.body) == (200, {"received": True, "handled": "completed"})
    figures.row("POST /webhooks/stripe (no JWT): bodies over 64 KiB (signed and not), non-UTF-8 bodies signed over "
                "their bytes, Stripe-Signature of 2 KiB to 1 MiB or with control characters, control characters "
                "in other headers, other content types, empty / truncated / NUL bodies", cases,
                "413 / 422 / 400 problem+json, never 5xx; the payment the provider has captured is settled only "
                "by the valid event sent last")
