"""The local runtime's background work: a daemon thread that repeats one step until the stack stops."""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod

log = logging.getLogger("seats-local")


class BackgroundLoop(ABC):
    """Calls `step()` until `stopping` is set, pausing `pause_seconds` after each step (or only after a
    failed one, when `pause_after_success` is off: a step that long-polls waits by itself). A failure is
    logged as `what` and the loop goes on; `join()` waits for the step in progress to finish."""

    what = "background work"
    pause_seconds: float = 1.0
    pause_after_success = True

    def __init__(self, name: str, stopping: threading.Event) -> None:
        self.stopping = stopping
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    @abstractmethod
    def step(self) -> None:
        """One round of work (deliver a batch, drain a queue)."""

    def start(self) -> None:
        self.thread.start()

    def join(self) -> None:
        if self.thread.ident is not None:
            self.thread.join()

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.step()
            except Exception:
                if self.stopping.is_set():
                    return
                log.exception("%s failed; trying again", self.what)
                self.stopping.wait(self.pause_seconds)
                continue
            if self.pause_after_success:
                self.stopping.wait(self.pause_seconds)
