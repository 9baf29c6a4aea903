"""Warm latency per route, in process under moto, beside its floor: the same AWS calls made bare.

Per route: one untimed recording run keeps every AWS call the handler made (operation and
parameters) and, before each write, the item it overwrites. Then, alternately, a timed handler
run and a timed bare replay of the recorded calls with a plain boto3 client; after each, the items
written are put back as they were, so every run starts from the same state and writes the same.
The floor is what moto and botocore cost; the rest is ours (Powertools, validation, domain code).
"""

from __future__ import annotations

import copy
import json
import time
from typing import Any

from botocore.exceptions import ClientError

from bench.common import (
    AwsCalls,
    Call,
    World,
    key_attributes,
    median,
    ms,
    percentile,
    progress,
    quiet_stdout,
    ratio,
    written_keys,
)
from bench.requests import function_clients
from bench.scenarios import Scenario, prepare, problem_of, scenarios, status_of
from infra.handlers import LambdaContext, handler_of

WARMUPS = 2


class Restorer:
    """Remembers items as they were before the recording run wrote them, and puts them back."""

    def __init__(self, world: World) -> None:
        self.client = world.client("dynamodb")
        self.schema = key_attributes()
        self.before: dict[tuple[str, str], dict[str, Any] | None] = {}

    def remember(self, operation: str, params: dict[str, Any]) -> None:
        for table, key in written_keys(operation, params, self.schema):
            if (table, key) not in self.before:
                answer = self.client.get_item(TableName=table, Key=json.loads(key), ConsistentRead=True)
                self.before[(table, key)] = answer.get("Item")

    def restore(self, calls: list[Call]) -> None:
        """Undo the writes of `calls`: items the recording run saw go back, new ones (new ids) go."""
        for call in calls:
            if call.service != "dynamodb":
                continue
            for table, key in written_keys(call.operation, call.params, self.schema):
                item = self.before.get((table, key))
                if item is None:
                    self.client.delete_item(TableName=table, Key=json.loads(key))
                else:
                    self.client.put_item(TableName=table, Item=item)


def replay(world: World, calls: list[Call]) -> tuple[list[tuple[Any, dict[str, Any]]], int]:
    """The recorded calls as bound methods of bare clients with their parameters."""
    from botocore import xform_name

    services = {"dynamodb": "dynamodb", "eventbridge": "events", "sqs": "sqs"}
    bound = [(getattr(world.client(services[c.service]), xform_name(c.operation)), c.params) for c in calls]
    return bound, len(bound)


def run_bare(bound: list[tuple[Any, dict[str, Any]]]) -> tuple[float, int]:
    params = [copy.deepcopy(p) for _, p in bound]
    errors = 0
    started = time.perf_counter()
    for (method, _), kwargs in zip(bound, params, strict=True):
        try:
            method(**kwargs)
        except ClientError:
            errors += 1
    return time.perf_counter() - started, errors


def measure_route(world: World, scenario: Scenario, function: str, runs: int) -> dict[str, Any]:
    handler = handler_of(function)
    state = prepare(world, scenario.needs)
    restorer = Restorer(world)

    with AwsCalls(copy_params=True, before_write=restorer.remember).attach(*function_clients()) as recording:
        answer = handler(scenario.event(state), LambdaContext())
        recorded = recording.clear()
    if status_of(answer) != scenario.status:
        return {"error": f"answered {status_of(answer)} {problem_of(answer)} instead of {scenario.status}"}
    restorer.restore(recorded)
    bound, count = replay(world, recorded)

    timings: list[float] = []
    floors: list[float] = []
    failures = floor_errors = 0
    with AwsCalls().attach(*function_clients()) as calls:
        for n in range(WARMUPS + runs):
            event = scenario.event(state)
            calls.clear()
            started = time.perf_counter()
            answer = handler(event, LambdaContext())
            elapsed = time.perf_counter() - started
            restorer.restore(calls.clear())
            failures += status_of(answer) != scenario.status
            bare, errors = run_bare(bound)
            restorer.restore(recorded)
            if n >= WARMUPS:
                timings.append(elapsed)
                floors.append(bare)
                floor_errors += errors
    result = {
        "p50_ms": ms(median(timings)), "p99_ms": ms(percentile(timings, 99)),
        "floor_p50_ms": ms(median(floors)), "ratio": ratio(median(timings), median(floors)),
        "floor_p99_ms": ms(percentile(floors, 99)), "runs": runs, "aws_calls": count,
        "calls": [c.operation for c in recorded],
    }
    if failures:
        result["error"] = f"{failures} of {WARMUPS + runs} runs did not answer {scenario.status}"
    if floor_errors:
        result["floor_errors"] = floor_errors
    return result


def measure(world: World, runs: int) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    for scenario, route, function in scenarios():
        if scenario is None:
            results[route] = {"error": "no scenario for this route"}
            continue
        try:
            with quiet_stdout():
                results[route] = measure_route(world, scenario, function, runs)
        except Exception as error:  # noqa: BLE001 - reported, the other routes still run
            results[route] = {"error": f"{type(error).__name__}: {error}"}
        r = results[route]
        progress(f"latency   {route}: " + (f"p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, floor {r['floor_p50_ms']} ms, "
                                          f"ratio {r['ratio']}" if "p50_ms" in r else r["error"]))
    return results
