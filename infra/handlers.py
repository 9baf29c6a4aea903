"""The functions of template.yaml as Python callables: a handler by its logical id, and a Lambda context.

The one place that imports handlers and builds contexts, for the local runtime (infra.local.functions),
the tests and the benchmarks. It imports nothing but the template reader (no pytest, no moto).
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from infra import template

Handler = Callable[[Any, Any], Any]
DEFAULT_REMAINING_MS = 30_000


@dataclass
class LambdaContext:
    """What a handler reads of Lambda's context. The defaults stand for a test or benchmark
    invocation with 30 s always left; the local runtime gives each function its name, memory and
    deadline (from its timeout)."""

    function_name: str = "test"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test"
    aws_request_id: str = "req-0000"
    deadline_ms: int | None = None  # epoch milliseconds; None: DEFAULT_REMAINING_MS left, always
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        if self.deadline_ms is None:
            return DEFAULT_REMAINING_MS
        return max(0, self.deadline_ms - int(time.time() * 1000))


def import_handler(function: template.Function) -> Handler:
    """The function's handler, as Lambda finds it: `Handler` (`<module>.<name>`) under its `CodeUri`.
    Raises whatever the import raises, or AttributeError when the module has no such callable."""
    module = importlib.import_module(function.module)
    handler = getattr(module, function.handler, None)
    if not callable(handler):
        raise AttributeError(f"module has no callable {function.handler!r}")
    return handler


def handler_of(logical_id: str) -> Handler:
    """The handler of the template's function `logical_id` (KeyError for an unknown id)."""
    return import_handler(template.functions()[logical_id])
