"""Cold start per function: a fresh `python` imports the handler's module and answers its first event.

The parent starts one moto server (ThreadedMotoServer on a free loopback port) with the tables of
template.yaml and the demo seed, and puts the data back before every child, so each child meets
the same state; none of that is measured. The child measures itself with `time.perf_counter`
from just before the import to the handler's return, and reports its peak RSS
(`getrusage(RUSAGE_SELF).ru_maxrss`). The floor, measured in the same rounds, is a child that
imports boto3, pydantic, Powertools' APIGatewayHttpResolver, Logger and Metrics and creates one
DynamoDB client.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import (
    BUS,
    EVENTS,
    FUNCTION_ENV,
    RENEWAL_QUEUE,
    ROOT,
    median,
    patched_env,
    progress,
    ratio,
)

FLOOR = "floor"
FLOOR_XRAY = "floor+xray"  # the floor, and the X-Ray SDK that Powertools' Tracer loads when tracing is on
FLOOR_MODELS = "floor+models"  # the floor, and pydantic's BaseModel (the floor's `import pydantic` loads none of it)
TARGET_RATIO = 1.3
TARGET_RSS_MB = 100
BYTECODE_ROUNDS = 3  # cold starts without .pyc (what a plain `sam build` ships): ~1 s each, so fewer rounds

# The child. Everything before `started` is the interpreter's own start-up, the same for all.
CHILD = r"""
import json, resource, sys, time
mode, module_name, attribute, event_path, result_path = sys.argv[1:6]
with open(event_path) as handle:
    event = json.load(handle)

class Context:
    function_name = "bench-cold-start"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench-cold-start"
    aws_request_id = "bench-cold-start"
    def get_remaining_time_in_millis(self):
        return 30000

started = time.perf_counter()
if mode.startswith("floor"):
    import boto3, pydantic
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
    from aws_lambda_powertools import Logger, Metrics
    boto3.client("dynamodb")
    if mode == "floor+xray":
        import aws_xray_sdk.core
    if mode == "floor+models":
        from pydantic import BaseModel
    imported = time.perf_counter()
    answer = {}
else:
    import importlib
    handler = getattr(importlib.import_module(module_name), attribute)
    imported = time.perf_counter()
    answer = handler(event, Context())
done = time.perf_counter()
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with open("/proc/self/status") as handle:
    hwm_kb = next((int(line.split()[1]) for line in handle if line.startswith("VmHWM:")), 0)
with open(result_path, "w") as handle:
    json.dump({"ms": (done - started) * 1000, "import_ms": (imported - started) * 1000,
               "rss_mb": peak_kb / 1024, "vm_hwm_mb": hwm_kb / 1024,
               "answer": answer if isinstance(answer, dict) else str(answer)}, handle, default=str)
"""

# Linux keeps a process's ru_maxrss across execve, and a child forked from this (large) process starts
# from its size: the child is forked by a small shell instead (which then waits for it), so that its
# ru_maxrss is its own. VmHWM (/proc/self/status) is kept beside it as a cross-check.
LAUNCH = ["/bin/sh", "-c", '"$0" "$@"; exit $?']

# The sample event each function answers (events/README.md); SubmitOrderFunction's is built per run.
SAMPLES = {
    "ListContractsFunction": "list_contracts.json",
    "ChangeSeatsFunction": "set_pending_reduction.json",
    "SetPaymentFunction": "set_contract_payment_method.json",
    "RenewalSchedulerFunction": "renewal_schedule.json",
    "RenewalWorkerFunction": "renewal_sqs_batch.json",
    "EventRelayFunction": "outbox_stream_batch.json",
    "ReconcilePaymentsFunction": "reconcile_schedule.json",
}

FIX_HINTS = {
    "aws_xray_sdk": "Powertools' Tracer imports the X-Ray SDK, whose recorder builds a botocore X-Ray client "
                    "at import: give the tracer the X-Ray SDK only when tracing is on",
    "stripe": "import stripe only when SEATS_PAYMENTS=stripe (seats.bootstrap)",
    "pydantic": "pydantic's model machinery (the floor's `import pydantic` is lazy in pydantic 2 and loads "
                "none of it) is what Powertools' request validation and OpenAPI need (and its parser, in the "
                "scheduler): the worker and the relay build no model, load none of it and meet the target; an "
                "API function cannot drop it without dropping Powertools' validation",
    "aws_lambda_powertools": "Powertools modules the floor does not load (OpenAPI params and validation, "
                             "idempotency, batch, parser): load them where they are first used",
    "seats": "the seats package (domain, services, adapters, response schemas): importing a route's "
             "services inside the route would move part of it to the first request, not remove it",
}


class ColdStartServer:
    """moto server with the template's resources; `reset()` puts the demo data back."""

    def __init__(self) -> None:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log line per call

        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"

    def client(self, service: str) -> Any:
        from seats import bootstrap

        return bootstrap.aws_client(service)

    def create(self) -> dict[str, str]:
        """The template's resources, on an empty server: moto's state is per process, and this process may
        have used moto before (the test suite does)."""
        import urllib.request

        from infra import template

        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST"), timeout=30)
        template.create_tables(self.client("dynamodb"))
        self.client("events").create_event_bus(Name=BUS)
        queue = self.client("sqs").create_queue(QueueName=RENEWAL_QUEUE)["QueueUrl"]
        return {"RENEWAL_QUEUE_URL": queue}

    def reset(self) -> None:
        from bench.common import demo_seed
        from infra import seed, template
        from seats import bootstrap

        ddb = self.client("dynamodb")
        for name in template.create_table_requests():
            ddb.delete_table(TableName=name)
        template.create_tables(ddb)
        seed.load(bootstrap.repository(), demo_seed())

    def stop(self) -> None:
        self.server.stop()


def submit_event() -> dict[str, Any]:
    """A fresh draft to submit (the parent makes it, unmeasured) and its submit request."""
    from bench.scenarios import ADD_SUB, CALLER, CONTRACT, EMAIL
    from seats import bootstrap
    from seats.services import add_seats
    from tests.conftest import http_event

    order = add_seats.create_draft(bootstrap.repository(), CONTRACT, ADD_SUB, 1, CALLER)
    return http_event("POST", f"/orders/{order.order_id}/submit", user=CALLER, email=EMAIL,
                      headers={"Idempotency-Key": str(uuid.uuid4())})


def event_makers() -> dict[str, Callable[[], dict[str, Any]]]:
    from infra import template

    makers: dict[str, Callable[[], dict[str, Any]]] = {}
    for logical_id in template.functions():
        if logical_id == "SubmitOrderFunction":
            makers[logical_id] = submit_event
        elif logical_id in SAMPLES and (EVENTS / SAMPLES[logical_id]).exists():
            makers[logical_id] = _sample(EVENTS / SAMPLES[logical_id])
    return makers


def _sample(path: Path) -> Callable[[], dict[str, Any]]:
    event: dict[str, Any] = json.loads(path.read_text())
    return lambda: event


def run_child(mode: str, module: str, attribute: str, event: dict[str, Any], env: dict[str, str],
              workdir: Path, python: str = sys.executable, bytecode: bool = True) -> dict[str, Any]:
    """One cold start. `bytecode=False` is Lambda without shipped `.pyc`: every module is compiled from
    source (the cache is looked for in an empty directory) and nothing is written (`-B`)."""
    event_path, result_path = workdir / "event.json", workdir / "result.json"
    event_path.write_text(json.dumps(event))
    result_path.unlink(missing_ok=True)
    flags, child_env = [], env
    if not bytecode:
        flags, child_env = ["-B"], {**env, "PYTHONPYCACHEPREFIX": str(workdir / "no-bytecode")}
    started = time.perf_counter()
    done = subprocess.run([*LAUNCH, python, *flags, "-c", CHILD, mode, module, attribute, str(event_path),
                           str(result_path)],
                          env=child_env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          check=False, timeout=120)
    wall = (time.perf_counter() - started) * 1000
    if done.returncode != 0 or not result_path.exists():
        raise RuntimeError(f"{mode} {module} failed: {done.stderr.strip().splitlines()[-1:]}")
    result = json.loads(result_path.read_text())
    result["process_ms"] = wall
    return result


def answer_problem(logical_id: str, answer: Any) -> str | None:
    """Why the first answer is not a success, if it is not."""
    if not isinstance(answer, dict):
        return f"answered {answer!r}"
    if "statusCode" in answer:
        return None if int(answer["statusCode"]) < 400 else f"answered {answer['statusCode']}: {answer.get('body')}"
    if answer.get("batchItemFailures"):
        return f"failed items {answer['batchItemFailures']}"
    return None


def import_profile(module: str, env: dict[str, str], python: str = sys.executable) -> dict[str, float]:
    """Self time (ms) per imported module, from `python -X importtime -c 'import module'`."""
    code = f"import {module}" if module != FLOOR else (
        "import boto3, pydantic\nfrom aws_lambda_powertools.event_handler import APIGatewayHttpResolver\n"
        "from aws_lambda_powertools import Logger, Metrics")
    done = subprocess.run([python, "-X", "importtime", "-c", code], env=env, cwd=ROOT, capture_output=True,
                          text=True, check=False, timeout=120)
    times: dict[str, float] = {}
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "self [us]" not in line:
            self_us, _, name = line.removeprefix("import time:").split("|")
            times[name.strip()] = int(self_us) / 1000
    return times


def diagnose(module: str, env: dict[str, str]) -> dict[str, Any]:
    """What the function imports beyond the floor, by top-level package, slowest first, with a fix."""
    own, floor = import_profile(module, env), import_profile(FLOOR, env)
    packages: dict[str, float] = {}
    for name, self_ms in own.items():
        if name not in floor:
            top = name.split(".")[0]
            packages[top] = packages.get(top, 0.0) + self_ms
    slowest = sorted(packages.items(), key=lambda kv: -kv[1])[:6]
    return {
        "extra_import_ms": round(sum(packages.values()), 1),
        "slowest_packages": {name: round(t, 1) for name, t in slowest},
        "fixes": [f"{name}: {FIX_HINTS[name]}" for name, _ in slowest if name in FIX_HINTS],
    }


def measure(rounds: int, warmup: bool = True, profile: bool = True, only: list[str] | None = None,
            python: str = sys.executable) -> dict[str, Any]:
    """{"results": {id: {ms, floor_ms, ratio, peak_rss_mb}}, "details": {...}}. A function that misses
    a target is profiled (`profile`); `only` limits the functions measured."""
    from infra import template
    from seats import bootstrap

    server = ColdStartServer()
    try:
        with patched_env({**FUNCTION_ENV, "AWS_ENDPOINT_URL": server.endpoint}):
            bootstrap.reset()
            env = {**_base_env(), **FUNCTION_ENV, "AWS_ENDPOINT_URL": server.endpoint, **server.create()}
            functions = {k: f for k, f in template.functions().items() if only is None or k in only}
            return _rounds(server, env, rounds, warmup, python, functions, profile)
    finally:
        bootstrap.reset()
        server.stop()


def _base_env() -> dict[str, str]:
    import os

    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV", "PYTHONPATH")
    return {name: os.environ[name] for name in keep if name in os.environ}


def _rounds(server: ColdStartServer, env: dict[str, str], rounds: int, warmup: bool, python: str,
            functions: dict[str, Any], profile: bool) -> dict[str, Any]:
    makers = event_makers()
    samples: dict[str, list[dict[str, Any]]] = {FLOOR: [], FLOOR_XRAY: [], FLOOR_MODELS: [],
                                                **{f: [] for f in functions}}
    problems: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="seats-bench-") as tmp:
        workdir = Path(tmp)
        for n in range(-1 if warmup else 0, rounds):
            label = "warm-up round (pyc caches)" if n < 0 else f"round {n + 1}/{rounds}"
            progress(f"cold start {label}")
            samples_this_round = {floor: run_child(floor, "-", "-", {}, env, workdir, python)
                                  for floor in (FLOOR, FLOOR_XRAY, FLOOR_MODELS)}
            for logical_id, function in functions.items():
                if logical_id not in makers:
                    problems[logical_id] = "no event to send (no sample in events/)"
                    continue
                server.reset()
                try:
                    result = run_child("function", function.module, function.handler, makers[logical_id](), env,
                                       workdir, python)
                except Exception as error:  # noqa: BLE001 - reported, the other functions still run
                    problems[logical_id] = str(error)
                    continue
                problem = answer_problem(logical_id, result.get("answer"))
                if problem:
                    problems[logical_id] = problem
                samples_this_round[logical_id] = result
            if n >= 0:
                for name, result in samples_this_round.items():
                    samples[name].append(result)
        for n in range(min(BYTECODE_ROUNDS, rounds)):
            progress(f"cold start without bytecode, round {n + 1}/{min(BYTECODE_ROUNDS, rounds)}")
            samples.setdefault(_no_bytecode(FLOOR), []).append(
                run_child(FLOOR, "-", "-", {}, env, workdir, python, bytecode=False))
            for logical_id, function in functions.items():
                if logical_id not in makers or logical_id in problems:
                    continue
                server.reset()
                samples.setdefault(_no_bytecode(logical_id), []).append(run_child(
                    "function", function.module, function.handler, makers[logical_id](), env, workdir, python,
                    bytecode=False))
    return _summarize(samples, problems, env, functions, profile)


def _no_bytecode(name: str) -> str:
    return f"{name} without bytecode"


def _summarize(samples: dict[str, list[dict[str, Any]]], problems: dict[str, str], env: dict[str, str],
               functions: dict[str, Any], profile: bool) -> dict[str, Any]:
    floor_ms = median([s["ms"] for s in samples[FLOOR]])
    results: dict[str, dict[str, float]] = {}
    details: dict[str, dict[str, Any]] = {FLOOR: _detail(samples[FLOOR], samples.get(_no_bytecode(FLOOR))),
                                          FLOOR_XRAY: _detail(samples[FLOOR_XRAY]),
                                          FLOOR_MODELS: _detail(samples[FLOOR_MODELS])}
    for logical_id in functions:
        runs = samples.get(logical_id) or []
        if not runs:
            details[logical_id] = {"error": problems.get(logical_id, "not measured")}
            continue
        value = median([s["ms"] for s in runs])
        results[logical_id] = {"ms": round(value, 1), "floor_ms": round(floor_ms, 1), "ratio": ratio(value, floor_ms),
                               "peak_rss_mb": round(median([s["rss_mb"] for s in runs]), 1)}
        details[logical_id] = _detail(runs, samples.get(_no_bytecode(logical_id)))
        if logical_id in problems:
            details[logical_id]["error"] = problems[logical_id]
        missed = results[logical_id]["ratio"] > TARGET_RATIO or results[logical_id]["peak_rss_mb"] > TARGET_RSS_MB
        if missed and profile:
            progress(f"cold start {logical_id} misses its target: profiling its imports")
            details[logical_id]["profile"] = diagnose(functions[logical_id].module, env)
        progress(f"cold start {logical_id}: {results[logical_id]}")
    return {"results": results, "details": details}


def _detail(runs: list[dict[str, Any]], without_bytecode: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    extra = {"no_bytecode_ms": round(median([s["ms"] for s in without_bytecode]), 1)} if without_bytecode else {}
    return {**extra,
        "runs": len(runs),
        "import_ms": round(median([s["import_ms"] for s in runs]), 1),
        "first_event_ms": round(median([s["ms"] - s["import_ms"] for s in runs]), 1),
        "process_ms": round(median([s["process_ms"] for s in runs]), 1),
        "peak_rss_mb": round(median([s["rss_mb"] for s in runs]), 1),
        "vm_hwm_mb": round(median([s["vm_hwm_mb"] for s in runs]), 1),
    }
