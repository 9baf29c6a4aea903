"""The local runtime in its own process, for tests that talk HTTP to it.

- `local_stack` (session): `seats-local start` with the demo seed and `SEATS_NOW` fixed to
  tests.conftest.NOW, shared by every e2e test of the session (of the xdist worker). Treat it as
  read-mostly: create your own drafts on it, but do not run renewals on it (that changes the demo
  contracts every other test sees); use `start_local_stack` with your own seed for that.
- `start_local_stack` (function): a factory, `start_local_stack(seed=..., now=...)`, for a private
  runtime; every runtime it started is stopped (SIGINT) after the test.

A `RunningStack` has `api_url`, `lambda_url`, `token(user_id, **claims)`, `request(...)`,
`lambda_client()`, `wait_for(...)`, `log()` and `stop()`.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from infra.local import jwt_tokens
from tests.conftest import NOW, ROOT

START_TIMEOUT_SECONDS = 30
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def pytest_configure(config: pytest.Config) -> None:
    # Local tokens use a fixed 22-byte secret (docs/api.md, Local runtime); PyJWT warns on every token.
    config.addinivalue_line("filterwarnings", "ignore::jwt.warnings.InsecureKeyLengthWarning")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def seats_local(*args: str) -> list[str]:
    """The command line of `seats-local` in this interpreter's environment."""
    return [sys.executable, "-m", "infra.local.cli", *args]


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: Any  # parsed JSON, or None when empty
    headers: dict[str, str]  # names lower-cased


def http(method: str, url: str, *, body: Any = None, raw_body: bytes | None = None,
         headers: dict[str, str] | None = None, timeout: float = 15) -> HttpAnswer:
    data = raw_body if raw_body is not None else (json.dumps(body).encode() if body is not None else None)
    sent = {"Content-Type": "application/json", **(headers or {})} if data is not None else dict(headers or {})
    request = urllib.request.Request(url, data=data, method=method, headers=sent)
    try:
        with _NO_PROXY.open(request, timeout=timeout) as answer:
            status, payload, received = answer.status, answer.read(), answer.headers
    except urllib.error.HTTPError as error:
        status, payload, received = error.code, error.read(), error.headers
    return HttpAnswer(status, json.loads(payload) if payload else None,
                      {name.lower(): value for name, value in received.items()})


@dataclass
class RunningStack:
    api_url: str
    lambda_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def token(self, user_id: str, email: str | None = None, **claims: Any) -> str:
        """A valid local token for `user_id`; `claims` override any claim (e.g. `aud="other"`, `exp=0`)."""
        return jwt_tokens.issue(user_id, email, **claims)

    def request(self, method: str, path: str, *, user: str | None = None, token: str | None = None,
                body: Any = None, raw_body: bytes | None = None,
                headers: dict[str, str] | None = None) -> HttpAnswer:
        """Call the HTTP API; `user` sends a fresh token for that user, `token` sends that token as is."""
        sent = dict(headers or {})
        if user is not None:
            token = self.token(user)
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        return http(method, self.api_url + path, body=body, raw_body=raw_body, headers=sent)

    def lambda_client(self) -> Any:
        return boto3.client("lambda", endpoint_url=self.lambda_url, region_name="us-east-1",
                            aws_access_key_id="local", aws_secret_access_key="local")

    def wait_for(self, check: Callable[[], Any], timeout: float = 10, what: str = "condition") -> Any:
        """Poll `check` until it returns something truthy (and return that) or fail after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            found = check()
            if found:
                return found
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout} s waiting for {what}; runtime log:\n{self.log()[-4000:]}")
            time.sleep(0.2)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, sig: int = signal.SIGINT, timeout: float = 15) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def _healthy(api_url: str) -> bool:
    try:
        return http("GET", f"{api_url}/_local/health", timeout=1).status == 200
    except OSError:
        return False


def start_stack(workdir: Path, *, seed: dict[str, Any] | Path | None = None, now: str | None = NOW,
                env: dict[str, str] | None = None) -> RunningStack:
    """Start `seats-local start` on free ports and wait until /_local/health answers 200."""
    workdir.mkdir(parents=True, exist_ok=True)
    args = ["start", "--api-port", str(free_port()), "--lambda-port", str(free_port())]
    if isinstance(seed, dict):
        seed_path = workdir / "seed.json"
        seed_path.write_text(json.dumps(seed), encoding="utf-8")
        args += ["--seed", str(seed_path)]
    elif seed is not None:
        args += ["--seed", str(seed)]
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", "SEATS_PAYMENTS": "sandbox", **(env or {})}
    environment.pop("SEATS_NOW", None)
    if now is not None:
        environment["SEATS_NOW"] = now
    log_path = workdir / "seats-local.log"
    with open(log_path, "wb") as output:
        process = subprocess.Popen(seats_local(*args), cwd=ROOT, stdout=output, stderr=subprocess.STDOUT,
                                   env=environment)
    stack = RunningStack(f"http://127.0.0.1:{args[2]}", f"http://127.0.0.1:{args[4]}", process, log_path)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not _healthy(stack.api_url):
        if process.poll() is not None or time.monotonic() > deadline:
            stack.stop()
            pytest.fail(f"seats-local did not start (exit {process.returncode}):\n{stack.log()[-4000:]}")
        time.sleep(0.1)
    return stack


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    stack = start_stack(tmp_path_factory.mktemp("seats-local"))
    try:
        yield stack
    finally:
        stack.stop(signal.SIGTERM)  # what a process manager sends; Ctrl-C (SIGINT) has its own test


@pytest.fixture
def start_local_stack(tmp_path: Path) -> Iterator[Callable[..., RunningStack]]:
    started: list[RunningStack] = []

    def start(**options: Any) -> RunningStack:
        stack = start_stack(tmp_path / f"stack-{len(started)}", **options)
        started.append(stack)
        return stack

    yield start
    for stack in started:
        stack.stop()
