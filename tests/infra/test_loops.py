"""infra.local.loops: the local runtime's pollers keep going after a failure and stop when told."""

from __future__ import annotations

import threading

from infra.local.loops import BackgroundLoop


class Flaky(BackgroundLoop):
    what = "flaky work"
    pause_seconds = 0.01

    def __init__(self, stopping: threading.Event) -> None:
        super().__init__("flaky", stopping)
        self.calls = 0
        self.done = threading.Event()

    def step(self) -> None:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("first step fails")
        if self.calls == 3:
            self.done.set()


def test_a_failed_step_is_logged_and_the_loop_goes_on_until_stopped(caplog):
    stopping = threading.Event()
    loop = Flaky(stopping)
    loop.join()  # not started yet: nothing to wait for

    loop.start()
    assert loop.done.wait(5)
    stopping.set()
    loop.join()

    assert not loop.thread.is_alive() and loop.calls >= 3
    assert "flaky work failed; trying again" in caplog.text
