"""Start and stop a localstripe server (a fake Stripe API) for the local runtime and the tests.

localstripe's dependency pins may clash with the main virtual environment, so it lives in its own:

    python3.11 -m venv .venv-localstripe
    .venv-localstripe/bin/pip install 'localstripe==1.15.10'

`start_localstripe()` finds `<repo>/.venv-localstripe/bin/localstripe` (or `$LOCALSTRIPE_BIN`), runs
this very file with that virtual environment's interpreter, and waits until the server answers:

    with start_localstripe() as ls:
        gateway = StripeGateway("sk_test_local", api_base=ls.url)

The child side (`_serve`) runs localstripe 1.15.10 with a few patches, all applied by `_patch_localstripe`:

- no persistence: stock localstripe loads and rewrites `/tmp/localstripe.pickle` on every write, a
  fixed path shared by every instance; here the store stays in memory and no file is ever written;
- it listens on a loopback socket bound by the parent (no port race, never on all interfaces) and
  exits when its parent dies;
- `Idempotency-Key` is honoured as Stripe does (stock localstripe ignores it): a POST retried with
  the same key and the same parameters replays the saved status and body, with other parameters it
  answers 400 `idempotency_error`;
- `POST /v1/payment_methods` accepts `card[token]` (a token from `POST /v1/tokens`, or one of
  Stripe's fixed test tokens such as `tok_visa`, see `TEST_TOKENS`); stock localstripe only takes
  raw card numbers there;
- declines carry Stripe's `type=card_error`, `code` and `decline_code` for Stripe's test card
  numbers (see `DECLINES`); stock localstripe answers every decline with `card_declined` only;
- a fully refunded charge answers 400 `charge_already_refunded` to another refund, as Stripe does;
- `POST /v1/payment_intents` accepts `description`, `allowed_payment_method_types` (what the
  stripe SDK's API version 2026-10-28 takes instead of `payment_method_types`) and
  `setup_future_usage`, and card brands follow the card number;
- an unknown object (a PaymentIntent, say) answers 404 with `code=resource_missing`, as Stripe does;
  stock localstripe answers a bare 404 `Not Found`;
- Stripe's decline cards (`DECLINES`) are declined when charged too, not only when attached (a
  PaymentMethod that was never attached to a customer), and a card error at a PaymentIntent's
  confirmation carries the declined PaymentIntent, as Stripe's does;
- `POST /v1/payment_intents/{id}/confirm` takes `off_session` (stock localstripe takes it only on a
  create with `confirm=true`); confirm and cancel answer 400 `payment_intent_unexpected_state` (with
  the intent) when its status does not allow them (stock: a bare 400 `Bad request`);
- confirmed off session, a card that needs 3-D Secure is declined 402 `authentication_required`,
  its intent left in `requires_payment_method`, and `payment_intent.payment_failed` sent, as Stripe
  does (stock: 200 `requires_action`);
- Stripe's 3-D Secure test card `tok_threeDSecure2Required` (4000002760003184, in `TEST_TOKENS`) and
  PaymentMethod `pm_card_threeDSecure2Required` (`TEST_PAYMENT_METHODS`); stock localstripe knows
  the number but neither name;
- `POST /v1/payment_intents/{id}/_authenticate` (the cardholder's answer, see `authenticate`) answers
  400 `payment_intent_unexpected_state` when the intent is not waiting for authentication (stock: a
  bare 400), and a failure sends `payment_intent.payment_failed` with `last_payment_error` code
  `payment_intent_authentication_failure` naming the card it dropped (stock: no event, no card), as
  a success sends `payment_intent.succeeded`.

Webhooks (stock localstripe): `register_webhook` registers a URL and a secret. Each event is sent in
the background (an asyncio task), about one second after the request that made it, to every
registered URL whose `events` list lets it through, once (no retry; a failure is only logged), signed
as Stripe signs: `Stripe-Signature: t=<event.created>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`,
which `stripe.Webhook.construct_event` accepts. The event's `data.object` is the object as it was when
the event was made; its `api_version` is `2017-08-15`.

Run it in the foreground with `python -m infra.local.localstripe [--port N]`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO_ROOT / ".venv-localstripe" / "bin" / "localstripe"
PICKLE_PATH = Path("/tmp/localstripe.pickle")  # where stock localstripe persists its store  # noqa: S108
PROBE_KEY = "sk_test_localstripe_probe"
_CHILD_RUN_NAME = "__localstripe_child__"

# Stripe's fixed test tokens (https://docs.stripe.com/testing) and the card number each stands for.
TEST_TOKENS: dict[str, str] = {
    "tok_visa": "4242424242424242",
    "tok_visa_debit": "4000056655665556",
    "tok_mastercard": "5555555555554444",
    "tok_mastercard_debit": "5200828282828210",
    "tok_amex": "378282246310005",
    "tok_chargeCustomerFail": "4000000000000341",
    "tok_chargeDeclined": "4000000000000002",
    "tok_chargeDeclinedInsufficientFunds": "4000000000009995",
    "tok_chargeDeclinedLostCard": "4000000000009987",
    "tok_chargeDeclinedStolenCard": "4000000000009979",
    "tok_chargeDeclinedExpiredCard": "4000000000000069",
    "tok_chargeDeclinedIncorrectCvc": "4000000000000127",
    "tok_chargeDeclinedProcessingError": "4000000000000119",
    "tok_threeDSecure2Required": "4000002760003184",  # 3-D Secure on every payment
}
TEST_TOKEN_EXPIRY = (12, 2034)
# Stripe's test PaymentMethods this helper adds (stock localstripe knows pm_card_visa and two
# decline cards): id -> the test token of its card. Each use makes a fresh copy, as stock does.
TEST_PAYMENT_METHODS: dict[str, str] = {
    "pm_card_threeDSecure2Required": "tok_threeDSecure2Required",
}

# Stripe's decline test cards: number -> (code, decline_code, message). localstripe decides *when*
# a card is declined (at attach for all of these but 0341, which is declined at charge).
DECLINES: dict[str, tuple[str, str | None, str]] = {
    "4000000000000002": ("card_declined", "generic_decline", "Your card was declined."),
    "4000000000009995": ("card_declined", "insufficient_funds", "Your card has insufficient funds."),
    "4000000000009987": ("card_declined", "lost_card", "Your card was declined."),
    "4000000000009979": ("card_declined", "stolen_card", "Your card was declined."),
    "4000000000000069": ("expired_card", None, "Your card has expired."),
    "4000000000000127": ("incorrect_cvc", None, "Your card's security code is incorrect."),
    "4000000000000119": ("processing_error", None, "An error occurred while processing your card."),
    "4242424242424241": ("incorrect_number", None, "Your card number is incorrect."),
    "4000000000000341": ("card_declined", "generic_decline", "Your card was declined."),
}


# Stripe's decline of an off-session payment whose card needs the card holder (3-D Secure).
AUTHENTICATION_REQUIRED = {"code": "authentication_required", "decline_code": "authentication_required"}
# The statuses in which Stripe cancels a PaymentIntent.
CANCELABLE_INTENT_STATUSES = (
    "requires_payment_method",
    "requires_capture",
    "requires_confirmation",
    "requires_action",
)


# Any key starting sk_ opens localstripe's API; the helpers below send this one.
HELPER_KEY = "sk_test_localstripe_helper"
_INTENT_ID = re.compile(r"^pi_\w+$")


class LocalStripeError(RuntimeError):
    pass


class LocalStripeHTTPError(LocalStripeError):
    """localstripe refused a helper's request: its HTTP `status`, Stripe's error `code` if any."""

    def __init__(self, method: str, path: str, status: int, body: bytes) -> None:
        try:
            error = json.loads(body).get("error") or {}
        except (ValueError, AttributeError):
            error = {}
        self.status = status
        self.code: str | None = error.get("code")
        message = error.get("message") or body.decode("utf-8", "replace")[:200]
        super().__init__(
            f"localstripe answered {status} to {method} {path}: {message}"
            + (f" ({self.code})" if self.code else "")
        )


class LocalStripe:
    """A running localstripe child process; use as a context manager or call `stop()`."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log: IO[bytes]) -> None:
        self.process = process
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._log = log

    def __enter__(self) -> LocalStripe:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"LocalStripe(url={self.url!r}, pid={self.process.pid}, running={self.running})"

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def reset(self) -> None:
        """Forget every object (and saved idempotent response) in the server's store."""
        request = urllib.request.Request(f"{self.url}/_config/data", method="DELETE")  # noqa: S310
        with urllib.request.urlopen(request, timeout=5):  # noqa: S310
            pass

    def register_webhook(
        self, webhook_url: str, secret: str, name: str = "seats", *, events: Sequence[str] | None = None
    ) -> None:
        """`register_webhook` on this server."""
        register_webhook(self.url, webhook_url, secret, name, events=events)

    def authenticate(self, intent_id: str, success: bool) -> dict[str, Any]:
        """`authenticate` on this server."""
        return authenticate(self.url, intent_id, success)

    def output(self) -> str:
        """What the server wrote to stdout/stderr so far (for diagnostics)."""
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")

    def stop(self, timeout: float = 5) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and release its log; safe to call twice."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        if not self._log.closed:
            self._log.close()  # a TemporaryFile: closing deletes it


def localstripe_bin() -> Path:
    return Path(os.environ.get("LOCALSTRIPE_BIN") or DEFAULT_BIN)


def _interpreter_for(executable: Path) -> str:
    """The Python interpreter of the virtual environment `executable` (a console script) belongs to."""
    if not executable.exists():
        raise LocalStripeError(
            f"localstripe not found at {executable}. Install it with: python3.11 -m venv "
            f"{REPO_ROOT / '.venv-localstripe'} && {REPO_ROOT / '.venv-localstripe'}/bin/pip install "
            "'localstripe==1.15.10' (or set LOCALSTRIPE_BIN)"
        )
    with executable.open("rb") as handle:
        first_line = handle.readline().decode("utf-8", "replace").strip()
    if first_line.startswith("#!"):
        interpreter = first_line[2:].strip().split()[0]
        if "python" in Path(interpreter).name and Path(interpreter).exists():
            return interpreter
    for name in ("python3", "python"):
        sibling = executable.parent / name
        if sibling.exists():
            return str(sibling)
    raise LocalStripeError(f"cannot find the Python interpreter of {executable}")


def _bind_loopback(port: int | None) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port or 0))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def _answers(url: str) -> bool:
    request = urllib.request.Request(  # noqa: S310
        f"{url}/v1/customers?limit=1", headers={"Authorization": f"Bearer {PROBE_KEY}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=1) as response:  # noqa: S310
            return response.status == 200 and json.load(response).get("object") == "list"
    except (OSError, ValueError):
        return False


def start_localstripe(port: int | None = None, *, startup_timeout: float = 20) -> LocalStripe:
    """Start localstripe on 127.0.0.1:`port` (a free port when None) and wait until it answers."""
    interpreter = _interpreter_for(localstripe_bin())
    sock = _bind_loopback(port)
    bound_port = sock.getsockname()[1]
    log = tempfile.TemporaryFile()  # noqa: SIM115 - owned by the LocalStripe, closed by stop()
    try:
        process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            [
                interpreter,
                "-I",  # isolated: neither the cwd nor PYTHON* variables reach the child's sys.path
                "-c",
                f"import runpy, sys; runpy.run_path(sys.argv[1], run_name={_CHILD_RUN_NAME!r})",
                str(Path(__file__).resolve()),
                str(sock.fileno()),
                str(os.getpid()),
            ],
            pass_fds=(sock.fileno(),),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tempfile.gettempdir(),
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    except BaseException:
        log.close()
        raise
    finally:
        sock.close()  # the child holds its own copy of the listening socket
    server = LocalStripe(process, bound_port, log)
    try:
        deadline = time.monotonic() + startup_timeout
        while not _answers(server.url):
            if not server.running:
                raise LocalStripeError(f"localstripe exited at start-up:\n{server.output()[-2000:]}")
            if time.monotonic() > deadline:
                raise LocalStripeError(
                    f"localstripe did not answer within {startup_timeout}s:\n{server.output()[-2000:]}"
                )
            time.sleep(0.05)
    except BaseException:
        server.stop()
        raise
    return server


def register_webhook(
    url_base: str,
    webhook_url: str,
    secret: str,
    name: str = "seats",
    *,
    events: Sequence[str] | None = None,
) -> None:
    """Have localstripe POST its events to `webhook_url`, signed with `secret` as Stripe signs them
    (`Stripe-Signature: t=…,v1=…`), through `POST /_config/webhooks/<name>`. `events`: the event types
    to send (None: every one; empty: none, which is how a registration is switched off). The same
    name registered again replaces the registration; `reset()` keeps them. Delivery is in the
    background, about a second after the request that made the event, never retried."""
    body: dict[str, Any] = {"url": webhook_url, "secret": secret}
    if events is not None:
        body["events"] = list(events)
    _call(url_base, "POST", f"/_config/webhooks/{urllib.parse.quote(name, safe='')}", json_body=body)


def authenticate(
    url_base: str,
    intent_id: str,
    success: bool,
    *,
    client_secret: str | None = None,
    api_key: str = HELPER_KEY,
) -> dict[str, Any]:
    """The cardholder's answer to 3-D Secure, as Stripe.js would send it: `POST
    /v1/payment_intents/<id>/_authenticate` (`client_secret`, `success`) with an `sk_` key; the
    client_secret is read from the intent when not given. Returns the intent (`succeeded` after a
    success, `requires_payment_method` with `payment_intent_authentication_failure` after a
    failure). LocalStripeHTTPError: 400 `payment_intent_unexpected_state` when the intent is not
    waiting for authentication, 401 for a wrong client_secret, 404 `resource_missing`."""
    if not _INTENT_ID.match(intent_id):
        raise ValueError(f"not a PaymentIntent id: {intent_id!r}")
    path = f"/v1/payment_intents/{intent_id}"
    if client_secret is None:
        client_secret = str(_call(url_base, "GET", path, api_key=api_key)["client_secret"])
    form = {"client_secret": client_secret, "success": "true" if success else "false"}
    answer: dict[str, Any] = _call(url_base, "POST", f"{path}/_authenticate", form=form, api_key=api_key)
    return answer


def _call(
    url_base: str,
    method: str,
    path: str,
    *,
    form: dict[str, str] | None = None,
    json_body: dict[str, Any] | None = None,
    api_key: str | None = None,
) -> Any:
    """One request to localstripe: its JSON answer (None for an empty body); LocalStripeHTTPError
    for a 4xx/5xx, LocalStripeError when it cannot be reached."""
    headers: dict[str, str] = {}
    data = None
    if json_body is not None:
        data, headers["Content-Type"] = json.dumps(json_body).encode(), "application/json"
    elif form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    request = urllib.request.Request(  # noqa: S310 - the caller's localstripe URL
        url_base.rstrip("/") + path, data=data, headers=headers, method=method
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            body = response.read()
    except urllib.error.HTTPError as err:
        raise LocalStripeHTTPError(method, path, err.code, err.read()) from None
    except urllib.error.URLError as err:
        raise LocalStripeError(f"cannot reach localstripe at {url_base}: {err.reason}") from None
    return json.loads(body) if body.strip() else None


# --------------------------------------------------------------------------------------------------
# Child side: runs inside .venv-localstripe (aiohttp + localstripe), never in the main environment.


def _card_brand(number: str) -> str:
    if number.startswith(("34", "37")):
        return "amex"
    if number.startswith(("51", "52", "53", "54", "55", "22", "23", "24", "25", "26", "27")):
        return "mastercard"
    return "visa" if number.startswith("4") else "unknown"


def _patch_localstripe(resources: Any, server: Any, errors: Any) -> None:  # pragma: no cover - child
    from aiohttp import web

    user_error = errors.UserError

    # 1. No persistence: keep the store in memory only.
    resources.Store.dump_to_disk = lambda self: None
    resources.Store.try_load_from_disk = lambda self: None

    def card_error(number: str) -> Exception:
        code, decline_code, message = DECLINES.get(
            number, ("card_declined", "generic_decline", "Your card was declined.")
        )
        contents: dict[str, Any] = {"code": code, "param": ""}
        if decline_code:
            contents["decline_code"] = decline_code
        error = user_error(402, message, contents)
        error.body["error"]["type"] = "card_error"
        return error

    # 2. Declines with Stripe's code / decline_code.
    payment_method = resources.PaymentMethod
    original_attaching_is_declined = payment_method._attaching_is_declined

    def attaching_is_declined(self: Any) -> bool:
        if original_attaching_is_declined(self):
            raise card_error(self._card_number)
        return False

    payment_method._attaching_is_declined = attaching_is_declined

    charge_cls = resources.Charge
    original_set_auth_failure = charge_cls._set_auth_failure

    def set_auth_failure(self: Any) -> None:
        original_set_auth_failure(self)
        number = getattr(resources.PaymentMethod._api_retrieve(self.payment_method), "_card_number", "")
        code, decline_code, message = DECLINES.get(
            number, ("card_declined", "generic_decline", self.failure_message)
        )
        self.failure_code, self.failure_message, self._decline_code = code, message, decline_code

    def raise_failure(self: Any) -> None:
        contents: dict[str, Any] = {"code": self.failure_code, "charge": self.id, "param": ""}
        if getattr(self, "_decline_code", None):
            contents["decline_code"] = self._decline_code
        if self.payment_intent:  # Stripe sends the declined PaymentIntent with the error
            intent = resources.store.get(f"payment_intent:{self.payment_intent}")
            contents["payment_intent"] = (
                intent._export() if intent is not None else {"id": self.payment_intent}
            )
        error = user_error(402, self.failure_message, contents)
        error.body["error"]["type"] = "card_error"
        raise error

    charge_cls._set_auth_failure = set_auth_failure
    charge_cls._raise_failure = raise_failure

    intent_cls = resources.PaymentIntent
    original_last_payment_error = intent_cls.last_payment_error.fget

    def last_payment_error(self: Any) -> Any:
        error = original_last_payment_error(self)
        decline_code = getattr(self.latest_charge, "_decline_code", None)
        if error and decline_code:
            error = {**error, "decline_code": decline_code, "type": "card_error"}
        return error

    intent_cls.last_payment_error = property(last_payment_error)

    # 3. PaymentIntent description, allowed_payment_method_types and setup_future_usage.
    original_intent_init = intent_cls.__init__

    def intent_init(
        self: Any,
        description: str | None = None,
        allowed_payment_method_types: Any = None,
        setup_future_usage: str | None = None,
        **kwargs: Any,
    ) -> None:
        if allowed_payment_method_types is not None:  # API 2026-07-29+: replaces payment_method_types
            kwargs.setdefault("payment_method_types", allowed_payment_method_types)
        if setup_future_usage not in (None, "on_session", "off_session"):
            raise user_error(400, "Invalid setup_future_usage", {"param": "setup_future_usage"})
        original_intent_init(self, **kwargs)
        self.description = description
        self.setup_future_usage = setup_future_usage

    intent_cls.__init__ = intent_init

    # 4. PaymentMethods from card tokens; brand from the card number.
    original_pm_init = payment_method.__init__

    def card_from_token(token: Any) -> dict[str, Any]:
        if isinstance(token, str) and token in TEST_TOKENS:
            month, year = TEST_TOKEN_EXPIRY
            return {"number": TEST_TOKENS[token], "exp_month": month, "exp_year": year, "cvc": "123"}
        missing = user_error(
            400, f"No such token: '{token}'", {"code": "resource_missing", "param": "card[token]"}
        )
        if not (isinstance(token, str) and token.startswith("tok_")):
            raise missing
        try:
            card = resources.Token._api_retrieve(token).card
        except user_error:
            raise missing from None
        return {
            "number": card._card_number,
            "exp_month": card.exp_month,
            "exp_year": card.exp_year,
            "cvc": "123",
        }

    def pm_init(self: Any, type: Any = None, card: Any = None, **kwargs: Any) -> None:
        if type == "card" and isinstance(card, dict) and set(card) == {"token"}:
            card = card_from_token(card["token"])
        original_pm_init(self, type=type, card=card, **kwargs)
        if getattr(self, "type", None) == "card":
            self.card["brand"] = _card_brand(self._card_number)
            self.card["country"] = "US"

    payment_method.__init__ = pm_init

    # 5. A fully refunded charge cannot be refunded again (stock localstripe refunds it twice).
    refund_cls = resources.Refund
    original_refund_init = refund_cls.__init__

    def refund_init(self: Any, charge: Any = None, payment_intent: Any = None, **kwargs: Any) -> None:
        target = charge
        if target is None and isinstance(payment_intent, str):
            intent = resources.store.get(f"payment_intent:{payment_intent}")
            latest = getattr(intent, "latest_charge", None)
            target = getattr(latest, "id", None)
        paid = resources.store.get(f"charge:{target}") if isinstance(target, str) else None
        if paid is not None and paid.status == "succeeded" and paid.refunded:
            raise user_error(
                400, f"Charge {target} has already been refunded.", {"code": "charge_already_refunded"}
            )
        original_refund_init(self, charge=charge, payment_intent=payment_intent, **kwargs)

    refund_cls.__init__ = refund_init

    # 6. Idempotency-Key: replay the saved answer, reject a key reused with other parameters.
    saved: dict[tuple[str, str], tuple[str, bytes, int, bytes, str]] = {}

    @web.middleware
    async def idempotency(request: web.Request, handler: Any) -> web.StreamResponse:
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or not key:
            return await handler(request)
        scope = (request.headers.get("Authorization", ""), key)
        body = await request.read()  # aiohttp keeps it for the handler
        fingerprint = f"{request.method} {request.path_qs}"
        if scope in saved:
            saved_fingerprint, saved_body, status, payload, content_type = saved[scope]
            if (saved_fingerprint, saved_body) != (fingerprint, body):
                return web.json_response(
                    {
                        "error": {
                            "type": "idempotency_error",
                            "message": "Keys for idempotent requests can only be used with the same "
                            "parameters they were first used with.",
                        }
                    },
                    status=400,
                )
            replay = web.Response(body=payload, status=status, content_type=content_type)
            replay.headers["Idempotent-Replayed"] = "true"
            return replay
        response = await handler(request)
        if isinstance(response, web.Response) and response.status not in (400, 401, 409, 429):
            payload = response.body if isinstance(response.body, bytes) else b""
            saved[scope] = (fingerprint, body, response.status, payload, response.content_type)
        return response

    async def flush_saved(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.method == "DELETE" and request.path == "/_config/data":
            saved.clear()
        return await handler(request)

    server.app.middlewares.insert(0, idempotency)  # outermost: sees the answers error_middleware makes
    server.app.middlewares.insert(0, web.middleware(flush_saved))

    _patch_payment_intents(resources, server, errors)


def _patch_payment_intents(resources: Any, server: Any, errors: Any) -> None:  # pragma: no cover - child
    """Patches 7 to 10 of the module docstring: what the two-step payments (create, then confirm,
    retrieve, cancel) rely on."""
    user_error = errors.UserError

    # 7. An unknown object is 404 resource_missing (stock: a bare 404 Not Found, no code).
    def api_retrieve(cls: Any, id: Any) -> Any:
        found = resources.store.get(f"{cls.object}:{id}")
        if found is None:
            raise user_error(
                404, f"No such {cls.object}: '{id}'", {"code": "resource_missing", "param": "id"}
            )
        return found

    resources.StripeObject._api_retrieve = classmethod(api_retrieve)

    # 8. Stripe's decline cards are declined when charged too (a PaymentMethod never attached).
    original_charging_is_declined = resources.PaymentMethod._charging_is_declined

    def charging_is_declined(self: Any) -> bool:
        number = getattr(self, "_card_number", None)
        return bool(original_charging_is_declined(self) or (self.type == "card" and number in DECLINES))

    resources.PaymentMethod._charging_is_declined = charging_is_declined

    off_session = [False]  # true while a confirmation with off_session=true runs (one at a time)
    _patch_off_session_authentication(resources, errors, off_session)
    _patch_intent_actions(resources, server, errors, off_session)
    _patch_authentication(resources, server, errors)


def _intent_in_status(  # pragma: no cover - child
    resources: Any, errors: Any, id: str, action: str, allowed: tuple[str, ...]
) -> Any:
    """The PaymentIntent `id`; 400 payment_intent_unexpected_state (with the intent), as Stripe
    answers, when its status is not one of `allowed`."""
    intent = resources.PaymentIntent._api_retrieve(id)
    if intent.status not in allowed:
        message = f"You cannot {action} this PaymentIntent because it has a status of {intent.status}."
        contents = {"code": "payment_intent_unexpected_state", "payment_intent": intent._export()}
        raise errors.UserError(400, message, contents)
    return intent


def _patch_off_session_authentication(  # pragma: no cover - child
    resources: Any, errors: Any, off_session: list[bool]
) -> None:
    """9. Off session, a card that needs authentication is declined 402 authentication_required, the
    intent left in requires_payment_method without its card, and payment_intent.payment_failed sent
    (stock: 200 requires_action)."""
    intent_cls = resources.PaymentIntent
    original_confirm = intent_cls._confirm
    original_error = intent_cls.last_payment_error.fget
    original_create = intent_cls._api_create

    def confirm_intent(self: Any, on_failure_now: Any) -> None:
        self._authentication_required = None
        method = resources.PaymentMethod._api_retrieve(self.payment_method)
        if off_session[0] and method._requires_authentication():
            self._authentication_required, self.payment_method = self.payment_method, None
            resources.schedule_webhook(resources.Event("payment_intent.payment_failed", self))
            contents = {**AUTHENTICATION_REQUIRED, "param": "", "payment_intent": self._export()}
            message = "Your card was declined. This transaction requires authentication."
            error = errors.UserError(402, message, contents)
            error.body["error"]["type"] = "card_error"
            raise error
        original_confirm(self, on_failure_now)

    def last_payment_error(self: Any) -> Any:
        method = getattr(self, "_authentication_required", None)
        if method:
            return {**AUTHENTICATION_REQUIRED, "type": "card_error", "payment_method": {"id": method}}
        return original_error(self)

    def api_create(cls: Any, **data: Any) -> Any:  # create with confirm=true and off_session=true
        off_session[0] = resources.try_convert_to_bool(data.get("off_session")) is True
        try:
            return original_create(**data)
        finally:
            off_session[0] = False

    intent_cls._confirm = confirm_intent
    intent_cls.last_payment_error = property(last_payment_error)
    intent_cls._api_create = classmethod(api_create)


def _patch_intent_actions(  # pragma: no cover - child
    resources: Any, server: Any, errors: Any, off_session: list[bool]
) -> None:
    """10. POST /v1/payment_intents/{id}/confirm takes off_session; confirm and cancel answer 400
    payment_intent_unexpected_state (with the intent) when the intent's status does not allow them.
    Stock localstripe bound these two routes at import, so a middleware answers them."""
    from aiohttp import web

    intent_cls = resources.PaymentIntent

    def checked(id: str, action: str, allowed: tuple[str, ...]) -> None:
        _intent_in_status(resources, errors, id, action, allowed)

    def confirm(id: str, off_session_param: Any = None, **data: Any) -> Any:
        wanted = resources.try_convert_to_bool(off_session_param)
        if off_session_param is not None and type(wanted) is not bool:
            raise errors.UserError(400, "Invalid boolean", {"param": "off_session"})
        checked(id, "confirm", ("requires_confirmation",))
        off_session[0] = wanted is True
        try:
            return intent_cls._api_confirm(id=id, **data)
        finally:
            off_session[0] = False

    def cancel(id: str, **data: Any) -> Any:
        checked(id, "cancel", CANCELABLE_INTENT_STATUSES)
        return intent_cls._api_cancel(id=id, **data)

    path = re.compile(r"^/v1/payment_intents/([^/]+)/(confirm|cancel)$")

    @web.middleware
    async def intent_actions(request: web.Request, handler: Any) -> web.StreamResponse:
        match = path.match(request.path)
        if request.method != "POST" or match is None:
            return await handler(request)
        data = await server.get_post_data(request) or {}
        expand = data.pop("expand", None)
        intent_id, action = match.groups()
        if action == "confirm":
            intent = confirm(intent_id, data.pop("off_session", None), **data)
        else:
            intent = cancel(intent_id, **data)
        return server.json_response(intent._export(expand=expand))

    server.app.middlewares.append(intent_actions)  # innermost: after auth, its errors made answers


def _patch_authentication(resources: Any, server: Any, errors: Any) -> None:  # pragma: no cover - child
    """Patches 11 and 12 of the module docstring: 3-D Secure as Stripe's test cards and Stripe.js
    drive it."""
    from aiohttp import web

    # 11. Stripe's test PaymentMethods that need 3-D Secure (TEST_PAYMENT_METHODS).
    method_cls = resources.PaymentMethod
    original_test_article = method_cls._try_get_canonical_test_article

    def test_article(cls: Any, id: Any) -> Any:
        if id in TEST_PAYMENT_METHODS:  # a fresh copy at each use, as stock does for pm_card_visa
            return cls(type="card", card={"token": TEST_PAYMENT_METHODS[id]})
        return original_test_article(id)

    method_cls._try_get_canonical_test_article = classmethod(test_article)

    # 12. A failed authentication sends payment_intent.payment_failed and names the card it dropped.
    intent_cls = resources.PaymentIntent
    original_error = intent_cls.last_payment_error.fget

    def last_payment_error(self: Any) -> Any:
        error = original_error(self)
        method = getattr(self, "_failed_authentication_method", None)
        if error and self._authentication_failed and method:
            error = {**error, "type": "invalid_request_error", "payment_method": {"id": method}}
        return error

    intent_cls.last_payment_error = property(last_payment_error)
    path = re.compile(r"^/v1/payment_intents/([^/]+)/_authenticate$")

    @web.middleware
    async def authenticate(request: web.Request, handler: Any) -> web.StreamResponse:
        match = path.match(request.path)
        if request.method != "POST" or match is None:
            return await handler(request)
        intent = _intent_in_status(resources, errors, match.group(1), "authenticate", ("requires_action",))
        intent._failed_authentication_method = intent.payment_method  # read only after a failure
        response = await handler(request)  # stock: on a failure, sets _authentication_failed, drops the card
        if intent._authentication_failed:
            resources.schedule_webhook(resources.Event("payment_intent.payment_failed", intent))
        return response

    server.app.middlewares.append(authenticate)  # after auth: an unauthenticated call changes nothing


def _serve(fd: int, parent_pid: int) -> None:  # pragma: no cover - runs in the child
    import asyncio
    import signal

    from aiohttp import web
    from localstripe import errors, resources, server

    _patch_localstripe(resources, server, errors)

    async def exit_with_parent(app: web.Application) -> None:
        async def watch() -> None:
            while os.getppid() == parent_pid:
                await asyncio.sleep(1)
            os.kill(os.getpid(), signal.SIGTERM)

        app["parent_watch"] = asyncio.get_running_loop().create_task(watch())

    server.app.on_startup.append(exit_with_parent)
    sock = socket.socket(fileno=fd)
    web.run_app(server.app, sock=sock, print=None, access_log=None, handle_signals=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run localstripe (a fake Stripe API) on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=None, help="port (default: a free one)")
    args = parser.parse_args(argv)
    with start_localstripe(args.port) as server:
        print(f"localstripe listening on {server.url} (STRIPE_API_BASE={server.url}); Ctrl-C stops it")
        with contextlib.suppress(KeyboardInterrupt):
            server.process.wait()
    return 0


if __name__ == _CHILD_RUN_NAME:  # pragma: no cover
    _serve(int(sys.argv[2]), int(sys.argv[3]))  # argv: -c, this file, fd, parent pid
elif __name__ == "__main__":
    sys.exit(main())
