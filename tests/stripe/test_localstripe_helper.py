"""infra/local/localstripe.py: start, answer, reset, stop, leave nothing behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import stripe

from infra.local.localstripe import PICKLE_PATH, LocalStripe, LocalStripeError, start_localstripe

ROOT = Path(__file__).resolve().parents[2]


def _state(path: Path) -> tuple[bool, float | None]:
    return (path.exists(), path.stat().st_mtime if path.exists() else None)


def _refuses(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "\nState:\tZ" in status.read_text())


def test_localstripe_serves_on_loopback_and_leaves_no_pickle_file() -> None:
    before = _state(PICKLE_PATH)
    server = start_localstripe()
    try:
        assert server.url == f"http://127.0.0.1:{server.port}"
        client = stripe.StripeClient(
            "sk_test_helper", base_addresses={"api": server.url}, max_network_retries=0
        )
        customer = client.v1.customers.create({"metadata": {"account_id": "helper"}})
        assert client.v1.customers.retrieve(customer.id).id == customer.id  # writes went in memory
        assert _state(PICKLE_PATH) == before
    finally:
        server.stop()
    assert server.process.returncode is not None
    assert _refuses(server.port)
    assert _state(PICKLE_PATH) == before
    server.stop()  # twice is harmless


def test_localstripe_on_a_chosen_port_and_reset() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with start_localstripe(port) as server:
        assert server.port == port
        client = stripe.StripeClient(
            "sk_test_helper", base_addresses={"api": server.url}, max_network_retries=0
        )
        client.v1.customers.create({}, {"idempotency_key": "helper-reset"})
        assert len(client.v1.customers.list().data) == 1
        server.reset()
        assert client.v1.customers.list().data == []
        # Saved idempotent answers are forgotten with the store: the key makes a new customer.
        client.v1.customers.create({}, {"idempotency_key": "helper-reset"})
        assert len(client.v1.customers.list().data) == 1
    assert not server.running


def test_localstripe_exits_when_its_parent_dies() -> None:
    code = (
        "from infra.local.localstripe import start_localstripe\n"
        "import os\n"
        "server = start_localstripe()\n"
        "print(server.process.pid, server.port, flush=True)\n"
        "os._exit(0)\n"  # no stop(): the server must notice on its own
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60, check=True
    )
    pid, port = (int(part) for part in result.stdout.split())
    try:
        deadline = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(pid)
        assert _refuses(port)
    finally:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_localstripe_missing_executable_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCALSTRIPE_BIN", "/nonexistent/bin/localstripe")

    with pytest.raises(LocalStripeError, match=r"pip install 'localstripe==1\.15\.10'"):
        start_localstripe()


def test_localstripe_session_fixture_is_running(localstripe: LocalStripe) -> None:
    assert localstripe.running and "running=True" in repr(localstripe)
