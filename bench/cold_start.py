"""Cold start per function: a fresh `python` imports the handler's module and answers its first event,
beside two floors.

The parent starts one moto server (ThreadedMotoServer on a free loopback port) with the tables of
template.yaml. Per function it prepares the state the first event needs (the demo seed; for
SubmitOrderFunction, a draft to submit) once, keeps a snapshot of every table, and puts that snapshot
back before every child, so each child meets the same state; none of that is measured. The child
measures itself with `time.perf_counter` from just before the import to the handler's return, and
reports its peak RSS (`getrusage(RUSAGE_SELF).ru_maxrss`).

Floor: a child that imports boto3, pydantic, Powertools' APIGatewayHttpResolver, Logger and Metrics
and creates one DynamoDB client. It makes no AWS call.

Equal-work floor, per function: the floor, then the AWS calls the function made on its first event
(operation and parameters, recorded once in an unmeasured child from the same snapshot), replayed in
the same child with bare botocore clients (`boto3.client`: boto3 adds nothing to a DynamoDB, SQS or
EventBridge client), from the same snapshot. Calls the function made from a thread pool are replayed
from as many threads, each in its recorded order. What the function takes beyond it is its own:
imports beyond the floor's, Powertools, validation, our code.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
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
EQUAL_WORK = "floor+calls"  # the floor, and the function's recorded AWS calls replayed
# The function with its gc.disable() / gc.freeze() at import made no-ops (the collector left on while its modules
# import): paired with the function as shipped, what turning the collector off at import saves.
GC_ON_IMPORT = "function+gc-on-import"
TARGET_RATIO = 1.3
TARGET_EQUAL_WORK_RATIO = 1.25
TARGET_RSS_MB = 100
BYTECODE_ROUNDS = 3  # cold starts without .pyc (what a plain `sam build` ships): ~1 s each, so fewer rounds
PROFILE_RUNS = 5  # sampled cold starts per profiled function (the sampler's figures are shares, not timings)
GC_PAIRS = 7  # paired cold starts per profiled function: as measured, and the collector off until imported
ALWAYS_PROFILED = ("SubmitOrderFunction",)  # the issue asks what submit pays beyond its floor

# The child. Everything before `started` is the interpreter's own start-up, the same for all.
CHILD = r"""
import json, pickle, resource, sys, time
mode, module_name, attribute, event_path, result_path, calls_path = sys.argv[1:7]
with open(event_path) as handle:
    event = json.load(handle)
segments = []
if mode == "floor+calls":
    with open(calls_path, "rb") as handle:
        segments = pickle.load(handle)

class Context:
    function_name = "bench-cold-start"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench-cold-start"
    aws_request_id = "bench-cold-start"
    def get_remaining_time_in_millis(self):
        return 30000

def replay(segments, clients):
    # The recorded calls, bare: one client per service (the floor's DynamoDB client among them), a thread
    # per recorded thread of a pool. Returns how many answered an error.
    import boto3
    from botocore.exceptions import ClientError
    def run(calls):
        errors = 0
        for call in calls:
            try:
                getattr(clients[call["service"]], call["method"])(**call["params"])
            except ClientError:
                errors += 1
        return errors
    errors = 0
    for segment in segments:
        for calls in segment:
            for call in calls:
                if call["service"] not in clients:
                    clients[call["service"]] = boto3.client(call["service"])
        if len(segment) == 1:
            errors += run(segment[0])
        else:
            from concurrent.futures import ThreadPoolExecutor
            with ThreadPoolExecutor(max_workers=len(segment)) as pool:
                errors += sum(pool.map(run, segment))
    return errors

timer = sampler = None
if mode == "record":
    from bench.profiling import CallTimer
    timer = CallTimer(keep_params=True).install()
elif mode == "profile":
    from bench.profiling import StackSampler
    sampler = StackSampler().start()
elif mode == "function+gc-on-import":
    import gc
    gc.disable = gc.freeze = lambda: None
started = time.perf_counter()
replay_errors = 0
if mode.startswith("floor"):
    import boto3, pydantic
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
    from aws_lambda_powertools import Logger, Metrics
    clients = {"dynamodb": boto3.client("dynamodb")}
    if mode == "floor+xray":
        import aws_xray_sdk.core
    if mode == "floor+models":
        from pydantic import BaseModel
    imported = time.perf_counter()
    if sampler is not None:
        import_counts = dict(sampler.stop()); sampler = type(sampler)().start()
    replay_errors = replay(segments, clients)
    answer = {}
else:
    import importlib
    handler = getattr(importlib.import_module(module_name), attribute)
    imported = time.perf_counter()
    if sampler is not None:
        import_counts = dict(sampler.stop()); sampler = type(sampler)().start()
    answer = handler(event, Context())
done = time.perf_counter()
result = {}
if sampler is not None:
    result["profile"] = {"import": import_counts, "event": dict(sampler.stop())}
if timer is not None:
    timer.uninstall()
    with open(calls_path, "wb") as handle:
        pickle.dump(timer.calls, handle)
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with open("/proc/self/status") as handle:
    hwm_kb = next((int(line.split()[1]) for line in handle if line.startswith("VmHWM:")), 0)
with open(result_path, "w") as handle:
    json.dump({**result, "ms": (done - started) * 1000, "import_ms": (imported - started) * 1000,
               "rss_mb": peak_kb / 1024, "vm_hwm_mb": hwm_kb / 1024, "replay_errors": replay_errors,
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
    "seats": "the seats package: most of its import is the API's response and request models "
             "(seats.api.schemas: pydantic builds each model's validator at class creation) and the domain's "
             "dataclasses (seats.domain.history, events, model: each dataclass generates its methods at import); "
             "importing a route's services inside the route would move part of it to the first request, not "
             "remove it",
}


class ColdStartServer:
    """moto server with the template's resources; `snapshot()` keeps every table's items, `restore()` puts
    them back (tables dropped and created again, the renewal queue emptied)."""

    def __init__(self) -> None:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log line per call

        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        self.queue_url = ""

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
        self.queue_url = self.client("sqs").create_queue(QueueName=RENEWAL_QUEUE)["QueueUrl"]
        return {"RENEWAL_QUEUE_URL": self.queue_url}

    def _empty_tables(self) -> None:
        from infra import template

        ddb = self.client("dynamodb")
        for name in template.create_table_requests():
            ddb.delete_table(TableName=name)
        template.create_tables(ddb)

    def reset(self) -> None:
        """Empty tables, and the demo seed."""
        from bench.common import demo_seed
        from infra import seed
        from seats import bootstrap

        self._empty_tables()
        seed.load(bootstrap.repository(), demo_seed())

    def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        from infra import template

        ddb = self.client("dynamodb")
        return {name: [item for page in ddb.get_paginator("scan").paginate(TableName=name, ConsistentRead=True)
                       for item in page["Items"]]
                for name in template.create_table_requests()}

    def restore(self, snapshot: dict[str, list[dict[str, Any]]]) -> None:
        ddb = self.client("dynamodb")
        self._empty_tables()
        for name, items in snapshot.items():
            for start in range(0, len(items), 25):
                ddb.batch_write_item(RequestItems={name: [{"PutRequest": {"Item": i}} for i in items[start:start + 25]]})
        sqs = self.client("sqs")  # a fresh queue (moto allows one PurgeQueue a minute)
        sqs.delete_queue(QueueUrl=self.queue_url)
        if sqs.create_queue(QueueName=RENEWAL_QUEUE)["QueueUrl"] != self.queue_url:
            raise RuntimeError("the renewal queue came back with another URL")

    def stop(self) -> None:
        self.server.stop()


def submit_event() -> dict[str, Any]:
    """A draft to submit (the parent makes it, unmeasured, before the snapshot) and its submit request."""
    from bench.scenarios import ADD_SUB, CALLER, CONTRACT, EMAIL
    from seats import bootstrap
    from seats.services import add_seats
    from tests.conftest import http_event

    order = add_seats.create_draft(bootstrap.repository(), CONTRACT, ADD_SUB, 1, CALLER)
    return http_event("POST", f"/orders/{order.order_id}/submit", user=CALLER, email=EMAIL,
                      headers={"Idempotency-Key": str(uuid.uuid4())})


def webhook_event() -> dict[str, Any]:
    """A draft paid with a card that asks for 3-D Secure, submitted (payment_pending), and authenticated at the
    sandbox: the provider's signed payment_intent.succeeded, which completes the order. Re-signed before each
    run (`fresh_event`): a signature is good for 5 minutes, a bench run takes longer."""
    from bench import scenarios
    from seats import bootstrap

    return scenarios.webhook_event(scenarios.authenticated(bootstrap.repository(), bootstrap.payment_gateway()))


def fresh_event(logical_id: str, event: dict[str, Any]) -> dict[str, Any]:
    """The event to send now: the webhook's signed again (same body, so the same AWS calls)."""
    if logical_id != "PaymentWebhookFunction":
        return event
    from infra.sign_webhook import resign
    from seats.settings import LOCAL_WEBHOOK_SECRET

    return resign(event, LOCAL_WEBHOOK_SECRET)


def event_makers() -> dict[str, Callable[[], dict[str, Any]]]:
    from infra import template

    makers: dict[str, Callable[[], dict[str, Any]]] = {}
    for logical_id in template.functions():
        if logical_id == "SubmitOrderFunction":
            makers[logical_id] = submit_event
        elif logical_id == "PaymentWebhookFunction":
            makers[logical_id] = webhook_event
        elif logical_id in SAMPLES and (EVENTS / SAMPLES[logical_id]).exists():
            makers[logical_id] = _sample(EVENTS / SAMPLES[logical_id])
    return makers


def _sample(path: Path) -> Callable[[], dict[str, Any]]:
    event: dict[str, Any] = json.loads(path.read_text())
    return lambda: event


def run_child(mode: str, module: str, attribute: str, event: dict[str, Any], env: dict[str, str],
              workdir: Path, python: str = sys.executable, bytecode: bool = True,
              calls: Path | None = None) -> dict[str, Any]:
    """One cold start. `bytecode=False` is Lambda without shipped `.pyc`: every module is compiled from
    source (the cache is looked for in an empty directory) and nothing is written (`-B`). `calls`: where
    a `record` child writes the calls it made, and where a `floor+calls` child finds the calls to replay."""
    event_path, result_path = workdir / "event.json", workdir / "result.json"
    event_path.write_text(json.dumps(event))
    result_path.unlink(missing_ok=True)
    flags, child_env = [], env
    if not bytecode:
        flags, child_env = ["-B"], {**env, "PYTHONPYCACHEPREFIX": str(workdir / "no-bytecode")}
    started = time.perf_counter()
    done = subprocess.run([*LAUNCH, python, *flags, "-c", CHILD, mode, module, attribute, str(event_path),
                           str(result_path), str(calls or "-")],
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
    """What the function imports beyond the floor, by top-level package, slowest first, with a fix; and
    what the floor imports that the function does not."""
    own, floor = import_profile(module, env), import_profile(FLOOR, env)
    packages: dict[str, float] = {}
    for name, self_ms in own.items():
        if name not in floor:
            top = name.split(".")[0]
            packages[top] = packages.get(top, 0.0) + self_ms
    skipped: dict[str, float] = {}
    for name, self_ms in floor.items():
        if name not in own:
            top = name.split(".")[0]
            skipped[top] = skipped.get(top, 0.0) + self_ms
    slowest = sorted(packages.items(), key=lambda kv: -kv[1])[:6]
    ours = sorted(((name, t) for name, t in own.items() if name.split(".")[0] in ("seats", "functions")),
                  key=lambda kv: -kv[1])[:5]
    return {
        "imports_boto3": "boto3" in own,
        "our_slowest_modules": {name: round(t, 1) for name, t in ours},
        "extra_import_ms": round(sum(packages.values()), 1),
        "slowest_packages": {name: round(t, 1) for name, t in slowest},
        "floor_only_ms": round(sum(skipped.values()), 1),
        "floor_only_packages": {name: round(t, 1) for name, t in sorted(skipped.items(), key=lambda kv: -kv[1])[:4]},
        "fixes": [f"{name}: {FIX_HINTS[name]}" for name, _ in slowest if name in FIX_HINTS],
    }


BOTO3_CODE = ("import time, botocore.session, botocore.client, botocore.exceptions\n"
              "started = time.perf_counter()\nimport boto3, boto3.dynamodb.types\n"
              "print((time.perf_counter() - started) * 1000)")


def boto3_import_ms(env: dict[str, str], python: str = sys.executable, runs: int = 5) -> float:
    """What importing boto3 (and boto3.dynamodb.types, as Powertools' idempotency does) costs a process that
    has botocore already: median of `runs` fresh interpreters."""
    times = []
    for _ in range(runs):
        done = subprocess.run([python, "-c", BOTO3_CODE], env=env, cwd=ROOT, capture_output=True, text=True,
                              check=False, timeout=60)
        if done.returncode == 0:
            times.append(float(done.stdout.strip()))
    return round(median(times), 1) if times else float("nan")


def measure(rounds: int, warmup: bool = True, profile: bool = True, only: list[str] | None = None,
            python: str = sys.executable) -> dict[str, Any]:
    """{"results": {id: {ms, floor_ms, ratio, equal_work_floor_ms, equal_work_ratio, peak_rss_mb}},
    "details": {...}}. A function that misses a target is profiled (`profile`); `only` limits the
    functions measured."""
    from infra import template
    from seats import bootstrap

    server = ColdStartServer()
    try:
        with patched_env({**FUNCTION_ENV, "AWS_ENDPOINT_URL": server.endpoint}):
            bootstrap.reset()
            env = {**_base_env(), **FUNCTION_ENV, "AWS_ENDPOINT_URL": server.endpoint, **server.create()}
            functions = {k: f for k, f in template.functions().items() if only is None or k in only}
            with tempfile.TemporaryDirectory(prefix="seats-bench-") as tmp:
                return _rounds(server, env, rounds, warmup, python, functions, profile, Path(tmp))
    finally:
        bootstrap.reset()
        server.stop()


def _base_env() -> dict[str, str]:
    import os

    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV", "PYTHONPATH")
    return {name: os.environ[name] for name in keep if name in os.environ}


class Prepared:
    """A function's first event, the tables it meets (a snapshot), and the AWS calls it made (recorded)."""

    def __init__(self, event: dict[str, Any], snapshot: dict[str, list[dict[str, Any]]]) -> None:
        self.event = event
        self.snapshot = snapshot
        self.calls: list[dict[str, Any]] = []
        self.calls_path: Path | None = None


def _prepare(server: ColdStartServer, env: dict[str, str], workdir: Path, python: str,
             functions: dict[str, Any], problems: dict[str, str]) -> dict[str, Prepared]:
    """Per function: its state and event, then one unmeasured child that records its AWS calls."""
    from botocore import xform_name

    from bench.profiling import segments

    makers = event_makers()
    prepared: dict[str, Prepared] = {}
    for logical_id, function in functions.items():
        if logical_id not in makers:
            problems[logical_id] = "no event to send (no sample in events/)"
            continue
        server.reset()
        state = Prepared(makers[logical_id](), server.snapshot())
        recorded = workdir / f"{logical_id}.calls"
        try:
            result = run_child("record", function.module, function.handler, state.event, env, workdir, python,
                               calls=recorded)
        except Exception as error:  # noqa: BLE001 - reported, the other functions still run
            problems[logical_id] = str(error)
            continue
        problem = answer_problem(logical_id, result.get("answer"))
        if problem:
            problems[logical_id] = problem
        state.calls = pickle.loads(recorded.read_bytes())
        replayable = [[[{"service": c["service"], "method": xform_name(c["operation"]), "params": c["params"]}
                        for c in thread] for thread in segment] for segment in segments(state.calls)]
        state.calls_path = workdir / f"{logical_id}.replay"
        state.calls_path.write_bytes(pickle.dumps(replayable))
        prepared[logical_id] = state
        progress(f"cold start {logical_id}: recorded {len(state.calls)} AWS calls "
                 f"({', '.join(_call_names(state.calls))})")
    return prepared


def _call_names(calls: list[dict[str, Any]]) -> list[str]:
    counts = Counter(f"{c['service']}:{c['operation']}" for c in calls)
    return [f"{name} ×{n}" if n > 1 else name for name, n in counts.items()]


def _rounds(server: ColdStartServer, env: dict[str, str], rounds: int, warmup: bool, python: str,
            functions: dict[str, Any], profile: bool, workdir: Path) -> dict[str, Any]:
    problems: dict[str, str] = {}
    prepared = _prepare(server, env, workdir, python, functions, problems)
    samples: dict[str, list[dict[str, Any]]] = {FLOOR: [], FLOOR_XRAY: [], FLOOR_MODELS: [],
                                                **{f: [] for f in functions},
                                                **{_equal_work(f): [] for f in functions}}
    for n in range(-1 if warmup else 0, rounds):
        label = "warm-up round (pyc caches)" if n < 0 else f"round {n + 1}/{rounds}"
        progress(f"cold start {label}")
        this_round = {floor: run_child(floor, "-", "-", {}, env, workdir, python)
                      for floor in (FLOOR, FLOOR_XRAY, FLOOR_MODELS)}
        for logical_id, state in prepared.items():
            function = functions[logical_id]
            try:
                server.restore(state.snapshot)
                result = run_child("function", function.module, function.handler, fresh_event(logical_id, state.event),
                                   env, workdir, python)
                server.restore(state.snapshot)
                floor = run_child(EQUAL_WORK, "-", "-", {}, env, workdir, python, calls=state.calls_path)
            except Exception as error:  # noqa: BLE001 - reported, the other functions still run
                problems[logical_id] = str(error)
                continue
            problem = answer_problem(logical_id, result.get("answer"))
            if problem:
                problems[logical_id] = problem
            this_round[logical_id], this_round[_equal_work(logical_id)] = result, floor
        if n >= 0:
            for name, result in this_round.items():
                samples[name].append(result)
    for n in range(min(BYTECODE_ROUNDS, rounds)):
        progress(f"cold start without bytecode, round {n + 1}/{min(BYTECODE_ROUNDS, rounds)}")
        samples.setdefault(_no_bytecode(FLOOR), []).append(
            run_child(FLOOR, "-", "-", {}, env, workdir, python, bytecode=False))
        for logical_id, state in prepared.items():
            if logical_id in problems:
                continue
            function = functions[logical_id]
            server.restore(state.snapshot)
            samples.setdefault(_no_bytecode(logical_id), []).append(run_child(
                "function", function.module, function.handler, fresh_event(logical_id, state.event), env, workdir,
                python, bytecode=False))
    summary = _summarize(samples, problems, functions, prepared)
    if profile:
        _profile(summary, server, env, workdir, python, functions, prepared)
    return summary


def _equal_work(name: str) -> str:
    return f"{name} equal-work floor"


def _no_bytecode(name: str) -> str:
    return f"{name} without bytecode"


def _summarize(samples: dict[str, list[dict[str, Any]]], problems: dict[str, str], functions: dict[str, Any],
               prepared: dict[str, Prepared]) -> dict[str, Any]:
    floor_ms = median([s["ms"] for s in samples[FLOOR]])
    results: dict[str, dict[str, float]] = {}
    details: dict[str, Any] = {FLOOR: _detail(samples[FLOOR], samples.get(_no_bytecode(FLOOR))),
                               FLOOR_XRAY: _detail(samples[FLOOR_XRAY]),
                               FLOOR_MODELS: _detail(samples[FLOOR_MODELS]),
                               "functions": list(functions)}
    for logical_id in functions:
        runs = samples.get(logical_id) or []
        floors = samples.get(_equal_work(logical_id)) or []
        if not runs or not floors:
            details[logical_id] = {"error": problems.get(logical_id, "not measured")}
            continue
        value = median([s["ms"] for s in runs])
        equal = median([s["ms"] for s in floors])
        results[logical_id] = {"ms": round(value, 1), "floor_ms": round(floor_ms, 1), "ratio": ratio(value, floor_ms),
                               "equal_work_floor_ms": round(equal, 1), "equal_work_ratio": ratio(value, equal),
                               "peak_rss_mb": round(median([s["rss_mb"] for s in runs]), 1)}
        state = prepared[logical_id]
        details[logical_id] = {
            **_detail(runs, samples.get(_no_bytecode(logical_id))),
            "equal_work": {**_detail(floors), "replay_ms": round(median([s["ms"] - s["import_ms"] for s in floors]), 1),
                           "replay_errors": max(s.get("replay_errors", 0) for s in floors)},
            "calls": _call_names(state.calls), "call_count": len(state.calls),
            "recorded_call_ms": round(sum(c["seconds"] for c in state.calls) * 1000, 1),
            "call_errors": [f"{c['operation']}:{c['error']}" for c in state.calls if c.get("error")],
        }
        if logical_id in problems:
            details[logical_id]["error"] = problems[logical_id]
        progress(f"cold start {logical_id}: {results[logical_id]}")
    return {"results": results, "details": details}


def missed(figures: dict[str, float]) -> bool:
    return (figures["ratio"] > TARGET_RATIO or figures["equal_work_ratio"] > TARGET_EQUAL_WORK_RATIO
            or figures["peak_rss_mb"] > TARGET_RSS_MB)


def _profile(summary: dict[str, Any], server: ColdStartServer, env: dict[str, str], workdir: Path, python: str,
             functions: dict[str, Any], prepared: dict[str, Prepared]) -> None:
    """For every function that misses a target, and for those always profiled: the imports beyond the
    floor's (`-X importtime`), where its first event's time goes (sampled, PROFILE_RUNS children), and
    what the garbage collector costs its import (GC_PAIRS pairs: as measured, and with the collector
    off until the module is imported, then `gc.freeze()` and on again)."""
    from bench.profiling import shares

    for logical_id, figures in summary["results"].items():
        if not (missed(figures) or logical_id in ALWAYS_PROFILED):
            continue
        progress(f"cold start {logical_id}: profiling its imports and first event")
        detail = summary["details"][logical_id]
        detail["profile"] = diagnose(functions[logical_id].module, env)
        if detail["profile"]["imports_boto3"]:
            detail["profile"]["boto3_import_ms"] = boto3_import_ms(env, python)
        state = prepared[logical_id]
        counts: dict[str, Counter[str]] = {"import": Counter(), "event": Counter()}
        function = functions[logical_id]
        gc_saved: list[float] = []
        for n in range(max(PROFILE_RUNS, GC_PAIRS)):
            if n < PROFILE_RUNS:
                server.restore(state.snapshot)
                result = run_child("profile", function.module, function.handler, fresh_event(logical_id, state.event), env, workdir, python)
                for phase in counts:
                    counts[phase].update(result.get("profile", {}).get(phase, {}))
            if n >= GC_PAIRS:
                continue
            pair = []
            for mode in (GC_ON_IMPORT, "function"):
                server.restore(state.snapshot)
                pair.append(run_child(mode, function.module, function.handler, fresh_event(logical_id, state.event),
                                      env, workdir, python))
            gc_saved.append(pair[0]["ms"] - pair[1]["ms"])
        detail["profile"]["gc_during_import_ms"] = round(median(gc_saved), 1)
        detail["profile"]["first_event_ms_by_category"] = shares(counts["event"], detail["first_event_ms"])
        detail["profile"]["import_ms_by_category"] = shares(counts["import"], detail["import_ms"])
        detail["profile"]["samples"] = {phase: sum(c.values()) for phase, c in counts.items()}


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
