"""The functions of template.yaml, run in this process as Lambda would run them.

Each function behaves as a warm container: its handler module is imported once. Invocations run one
at a time, across all functions: Powertools keeps per-invocation state on module-level singletons
(the resolver's current event, the logger's Lambda context keys, metrics), which two threads must
never share. Concurrency is therefore tested on the handlers directly, not through this runtime. A module that fails to import makes that function
unavailable, not the runtime: the error is logged, its callers get a clear answer, and the import
is tried again on the next call, so a module written while the runtime runs is picked up.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from infra import template
from infra.handlers import LambdaContext, import_handler
from infra.local.aws import function_arn

log = logging.getLogger("seats-local")


class FunctionNotFound(LookupError):
    pass


class FunctionUnavailable(RuntimeError):
    """The handler could not be loaded; `str()` says why (import error or missing handler)."""

    def __init__(self, logical_id: str, module: str, reason: str) -> None:
        super().__init__(f"Unable to import module '{module}' for {logical_id}: {reason}")
        self.logical_id = logical_id
        self.module = module
        self.reason = reason


def _settings(logical_id: str) -> tuple[int, int]:
    """(memory MB, timeout s) of a function: its own properties, else Globals, else Lambda's defaults."""
    loaded = template.load()
    globals_ = loaded.get("Globals", {}).get("Function", {})
    props = loaded["Resources"].get(logical_id, {}).get("Properties", {})
    memory = props.get("MemorySize", globals_.get("MemorySize", 128))
    timeout = props.get("Timeout", globals_.get("Timeout", 3))
    return int(memory), int(timeout)


class FunctionHost:
    def __init__(self, functions: dict[str, template.Function] | None = None) -> None:
        self.functions = template.functions() if functions is None else functions
        self._handlers: dict[str, Callable[[Any, Any], Any]] = {}
        self._invoking = threading.Lock()
        self._load_lock = threading.Lock()
        self._reported: dict[str, str] = {}

    def load(self, logical_id: str) -> Callable[[Any, Any], Any]:
        if logical_id not in self.functions:
            raise FunctionNotFound(logical_id)
        if logical_id in self._handlers:
            return self._handlers[logical_id]
        function = self.functions[logical_id]
        with self._load_lock:
            try:
                importlib.invalidate_caches()  # a module written while the runtime runs is found
                handler = import_handler(function)
            except Exception as error:  # any failure to load makes the function unavailable
                unavailable = FunctionUnavailable(logical_id, function.module, f"{type(error).__name__}: {error}")
                if self._reported.get(logical_id) != str(unavailable):
                    log.error("%s is unavailable. %s", logical_id, unavailable)
                    self._reported[logical_id] = str(unavailable)
                raise unavailable from error
            if logical_id in self._reported:
                log.info("%s is available again", logical_id)
                del self._reported[logical_id]
            self._handlers[logical_id] = handler
            return handler

    def available(self, logical_id: str) -> bool:
        try:
            self.load(logical_id)
        except FunctionUnavailable:
            return False
        return True

    def preload(self) -> list[str]:
        """Import every handler now (so the first request is fast); returns the unavailable ones."""
        return [logical_id for logical_id in self.functions if not self.available(logical_id)]

    def invoke(self, logical_id: str, event: Any, request_id: str | None = None) -> Any:
        """Run the handler; raises FunctionNotFound, FunctionUnavailable, or whatever the handler raised."""
        handler = self.load(logical_id)
        memory, timeout = _settings(logical_id)
        with self._invoking:
            context = LambdaContext(
                function_name=logical_id, memory_limit_in_mb=memory, invoked_function_arn=function_arn(logical_id),
                aws_request_id=request_id or str(uuid.uuid4()), deadline_ms=int(time.time() * 1000) + timeout * 1000,
                log_group_name=f"/aws/lambda/{logical_id}",
            )
            return handler(event, context)
