"""Where a function's time goes: AWS calls timed one by one, and a stack sampler that charges the rest to
the package whose code is running.

Standard library only: the cold-start child imports this module in its profiling runs (never in the
measured ones).

`CallTimer` wraps botocore's `BaseClient._make_api_call` (every AWS call of every client, boto3's too)
and keeps each call's service, operation, parameters, thread and duration: the recording of a cold
start's calls for the equal-work floor, and the time a worker spends in AWS calls, by operation.

`StackSampler` looks at the main thread's stack every `interval` seconds (a timer signal) and counts a
category per sample:
`AWS calls` while a botocore call is on the stack (split into the service itself, moto in process, and
botocore with the wire), `client creation`, `imports` (module code running, what is imported named), and
otherwise the nearest package of ours or of a dependency on the stack (standard library frames are
charged to their caller: `json.dumps` called by Powertools' logger is the logger's).
"""

from __future__ import annotations

import copy
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
_SEATS = str(ROOT / "shared" / "seats") + "/"
_FUNCTIONS = str(ROOT / "functions") + "/"
_BENCH = str(ROOT / "bench") + "/"
_SITE = "site-packages/"

# Powertools is split two levels further (which part of it is the time); ours is named by module.
_SPLIT = {"aws_lambda_powertools": 2}
_ALIASES: dict[str, str | None] = {"pydantic_core": "pydantic", "annotated_types": "pydantic",
                                   "typing_extensions": None}
_SERVICE_SIDE = {"moto", "werkzeug", "responses", "jinja2", "xmltodict", "cryptography"}  # moto's own work


def package_of(filename: str, _cache: dict[str, str | None] = {}) -> str | None:  # noqa: B006 - a cache
    """`seats.services.renew`, `aws_lambda_powertools.utilities.idempotency`, `pydantic`, ...; None for the
    standard library (charged to its caller)."""
    if filename in _cache:
        return _cache[filename]
    found: str | None = None
    if filename.startswith(_SEATS):  # ours: down to the module
        parts = [p for p in filename[len(_SEATS):].removesuffix(".py").split("/") if p != "__init__"]
        found = ".".join(["seats", *parts])
    elif filename.startswith(_FUNCTIONS):
        found = "functions"
    elif filename.startswith(_BENCH):
        found = "bench"
    elif _SITE in filename:
        parts = filename.split(_SITE, 1)[1].split("/")
        top = parts[0].removesuffix(".py")
        if top.startswith("_") or top.endswith(("-info", ".pth")):
            found = None
        else:
            top = _ALIASES.get(top, top)
            depth = _SPLIT.get(top or "", 0)
            if top and depth and len(parts) > depth:
                top = ".".join([top, *[p.removesuffix(".py") for p in parts[1:depth + 1] if not p.endswith(".py")]])
            found = top
    _cache[filename] = found
    return found


def classify(frame: Any) -> str:
    """The category of one sample: the stack from `frame` (innermost) outwards."""
    owner: str | None = None
    importing: str | None = None
    module: str | None = None  # the innermost module body running: an import, if importlib is further out
    in_call = in_service = creating = False
    if frame is not None and frame.f_code.co_name == "wait" and frame.f_code.co_filename.endswith("threading.py"):
        waiting = True  # blocked on a lock: a thread pool doing the work, or a thread starting
    else:
        waiting = False
    while frame is not None:
        code = frame.f_code
        filename, name = code.co_filename, code.co_name
        package = package_of(filename)
        if name == "_make_api_call" and filename.endswith("botocore/client.py"):
            in_call = True
        elif name == "create_client" and "botocore/" in filename:
            creating = True
        elif name == "<module>" and module is None and package is not None:
            module = package
        elif filename.startswith("<frozen importlib") and module is not None and importing is None:
            importing = module
        if package is not None:
            if owner is None:
                owner = package
            if package in _SERVICE_SIDE:
                in_service = True
        frame = frame.f_back
    if creating:
        return "client creation"
    if waiting and not in_call:
        return "waiting for its threads (AWS calls in parallel)" if owner != "bench" else "bench"
    if in_call:
        return "AWS calls: moto (the service, in process)" if in_service else "AWS calls: botocore and the wire"
    if importing is not None:
        return f"imports: {importing.split('.')[0]}"
    return owner or "standard library"


class StackSampler:
    """Samples the main thread's stack on a wall-clock timer (`setitimer(ITIMER_REAL)`: SIGALRM, whose
    handler Python runs in the main thread with the frame it interrupted); `counts` by category.

    A signal, not a sampling thread: a thread needs the GIL to look, so it sees a thread that waits on a
    socket (GIL released) far more often than one running Python code; a timer signal interrupts both
    alike (a blocking call is retried after the handler, PEP 475). Main thread only."""

    def __init__(self, interval: float = 0.0005) -> None:
        self.interval = interval
        self.counts: Counter[str] = Counter()
        self._previous: Any = None

    def _sample(self, signum: int, frame: Any) -> None:
        if frame is not None:
            self.counts[classify(frame)] += 1

    def start(self) -> StackSampler:
        import signal

        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("the sampler samples the main thread, from the main thread")
        self._previous = signal.signal(signal.SIGALRM, self._sample)
        signal.setitimer(signal.ITIMER_REAL, self.interval, self.interval)
        return self

    def stop(self) -> Counter[str]:
        import signal

        signal.setitimer(signal.ITIMER_REAL, 0, 0)
        if self._previous is not None:
            signal.signal(signal.SIGALRM, self._previous)
            self._previous = None
        return self.counts

    def __enter__(self) -> StackSampler:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class GcTimer:
    """Time spent in garbage collections (`gc.callbacks`) while `active`: they run inside whatever code
    allocates when one is due, an AWS call included."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = 0
        self.active = False
        self._started: float | None = None

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter() if self.active else None
        elif self._started is not None:
            self.seconds += time.perf_counter() - self._started
            self.collections += 1
            self._started = None

    def __enter__(self) -> GcTimer:
        import gc

        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: Any) -> None:
        import gc

        gc.callbacks.remove(self._callback)


def shares(counts: Counter[str] | dict[str, int], total_ms: float) -> dict[str, float]:
    """Samples as milliseconds of `total_ms`, largest first; the sampler's own frames left out."""
    counts = {k: v for k, v in counts.items() if k != "bench"}
    n = sum(counts.values())
    if not n:
        return {}
    return {k: round(total_ms * v / n, 2) for k, v in sorted(counts.items(), key=lambda kv: -kv[1])}


class CallTimer:
    """Every AWS call made while installed, timed: [(service, operation, params, thread, seconds, error)].

    `keep_params` copies the parameters (deep) as the call starts: a recording to replay. `keep_answers`
    keeps each call's parsed answer (`answer`), to count items and capacity afterwards."""

    def __init__(self, keep_params: bool = False, keep_answers: bool = False) -> None:
        self.keep_params = keep_params
        self.keep_answers = keep_answers
        self.calls: list[dict[str, Any]] = []
        self._original: Any = None

    def install(self) -> CallTimer:
        from botocore.client import BaseClient

        original = self._original = BaseClient._make_api_call
        calls, keep, answers = self.calls, self.keep_params, self.keep_answers
        clock = time.perf_counter

        def timed(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
            record = {"service": client.meta.service_model.service_name, "operation": operation_name,
                      "params": copy.deepcopy(api_params) if keep else api_params,
                      "thread": threading.current_thread().name, "error": None}
            started = clock()
            try:
                answer = original(client, operation_name, api_params)
                if answers:
                    record["answer"] = answer
                return answer
            except Exception as error:
                record["error"] = getattr(error, "response", {}).get("Error", {}).get("Code") or type(error).__name__
                raise
            finally:
                record["seconds"] = clock() - started
                calls.append(record)

        BaseClient._make_api_call = timed  # type: ignore[method-assign]
        return self

    def uninstall(self) -> None:
        if self._original is not None:
            from botocore.client import BaseClient

            BaseClient._make_api_call = self._original  # type: ignore[method-assign]
            self._original = None

    def __enter__(self) -> CallTimer:
        return self.install()

    def __exit__(self, *exc: Any) -> None:
        self.uninstall()

    def clear(self) -> list[dict[str, Any]]:
        calls, self.calls[:] = list(self.calls), []
        return calls


def segments(calls: list[dict[str, Any]]) -> list[list[list[dict[str, Any]]]]:
    """The recorded calls as they ran: a list of segments, each a list of per-thread call lists. Calls of
    the main thread are segments of one thread; consecutive calls from one thread pool (threads
    `ThreadPoolExecutor-N_k`) are one segment, one list per thread of the pool, each in recorded order."""
    result: list[list[list[dict[str, Any]]]] = []
    current_pool: str | None = None
    for call in calls:
        thread = call.get("thread", "MainThread")
        pool = thread.rsplit("_", 1)[0] if thread.startswith("ThreadPoolExecutor") else None
        if pool is None:
            result.append([[call]])
            current_pool = None
            continue
        if pool != current_pool:
            result.append([])
            current_pool = pool
            threads: dict[str, list[dict[str, Any]]] = {}
        if thread not in threads:
            threads[thread] = []
            result[-1].append(threads[thread])
        threads[thread].append(call)
    return result
