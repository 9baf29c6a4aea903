"""DynamoDB requests (and estimated capacity) per API operation and per renewed contract period.

Each operation runs once, in process under moto, through its function's handler, with botocore
hooks on the clients the functions use (`seats.bootstrap.aws_client(...)`, which the idempotency
layer shares). Requests the sandbox gateway makes to keep its charges are counted apart: with
Stripe they are HTTPS calls, not DynamoDB requests.
"""

from __future__ import annotations

import json
from typing import Any

from bench.common import READS, AwsCalls, Call, World, progress, quiet_stdout
from bench.scenarios import CONTRACT, Scenario, prepare, problem_of, scenarios, status_of
from infra.handlers import LambdaContext, handler_of

# Budgets: the requests one call of the operation may make.
TARGETS = {
    "GET /contracts/{contract_id}": 1,
    "GET /contracts": 2,
    "POST /contracts/{contract_id}/subscriptions/{subscription_id}/seat-orders": 3,
    "POST /orders/{order_id}/submit": 3 + 2,  # 3, plus the 2 of the idempotency layer
    "PUT /contracts/{contract_id}/subscriptions/{subscription_id}/pending-reduction": 2,
    "DELETE /contracts/{contract_id}/subscriptions/{subscription_id}/pending-reduction": 2,
}
RENEWAL_READS = "renewal: reads per contract period"
RENEWAL_WRITES = "renewal: transactions per contract period"
RENEWAL_TARGETS = {RENEWAL_READS: 1, RENEWAL_WRITES: 1}
RENEWAL_AS_OF = "2027-03-01T02:00:00Z"  # the contract renews one annual period that day


def function_clients() -> list[Any]:
    """The clients the functions make their AWS calls with (the idempotency store shares DynamoDB's)."""
    from seats import bootstrap

    clients = [bootstrap.aws_client(s) for s in ("dynamodb", "events", "sqs")]
    try:
        from seats.api.routes.submit import idempotency_store

        clients.append(idempotency_store().client)
    except ImportError:
        pass
    return clients


def summarize(calls: list[Call]) -> dict[str, Any]:
    by_category: dict[str, int] = {}
    for call in calls:
        by_category[call.category()] = by_category.get(call.category(), 0) + 1
    counted = [c for c in calls if c.category() in ("seats", "idempotency")]
    return {
        "dynamodb": len(counted),
        "by_category": by_category,
        "operations": [c.operation + ("(idempotency)" if c.category() == "idempotency" else "") for c in counted],
        "items_read": sum(c.items_read for c in counted),
        "rcu": round(sum(c.rcu for c in counted), 1),
        "wcu": round(sum(c.wcu for c in counted), 1),
        "errors": [f"{c.operation}:{c.error}" for c in calls if c.error],
    }


def count_route(world: World, scenario: Scenario, function: str, recorder: AwsCalls) -> dict[str, Any]:
    state = prepare(world, scenario.needs)
    handler = handler_of(function)
    recorder.clear()
    answer = handler(scenario.event(state), LambdaContext())
    result = summarize(recorder.clear())
    result.update(status=status_of(answer), ok=status_of(answer) == scenario.status, problem=problem_of(answer))
    return result


def sqs_event(contract_id: str, as_of: str) -> dict[str, Any]:
    from bench.common import EVENTS

    record = json.loads((EVENTS / "renewal_sqs_batch.json").read_text())["Records"][0]
    record["body"] = json.dumps({"contract_id": contract_id, "as_of": as_of})
    return {"Records": [record]}


def count_renewal(world: World, recorder: AwsCalls) -> dict[str, Any]:
    from seats import bootstrap

    prepare(world)
    repo = bootstrap.repository()
    before = repo.get_contract(CONTRACT)
    recorder.clear()
    answer = handler_of("RenewalWorkerFunction")(sqs_event(CONTRACT, RENEWAL_AS_OF), LambdaContext())
    calls = recorder.clear()
    after = repo.get_contract(CONTRACT)
    periods = sum(1 for e in repo.list_history(CONTRACT) if e.type == "renewed")
    seats = [c for c in calls if c.category() == "seats"]
    result = summarize(calls)
    result.update(
        periods=periods, ok=periods >= 1 and not answer.get("batchItemFailures"),
        reads=sum(1 for c in seats if c.operation in READS),
        transactions=sum(1 for c in seats if c.operation == "TransactWriteItems"),
        renewal_date=f"{before.renewal_date} -> {after.renewal_date}" if before and after else None,
    )
    return result


def measure(world: World) -> dict[str, Any]:
    """{"routes": {route: detail}, "renewal": detail, "results": {operation: {requests, target}}}."""
    recorder = AwsCalls()
    details: dict[str, Any] = {}
    with quiet_stdout():
        recorder.attach(*function_clients())
        for scenario, route, function in scenarios():
            if scenario is None:
                details[route] = {"error": "no scenario for this route"}
                continue
            try:
                details[route] = count_route(world, scenario, function, recorder)
            except Exception as error:  # noqa: BLE001 - reported, the other routes still run
                details[route] = {"error": f"{type(error).__name__}: {error}"}
        try:
            renewal = count_renewal(world, recorder)
        except Exception as error:  # noqa: BLE001
            renewal = {"error": f"{type(error).__name__}: {error}"}
        recorder.detach()
    results: dict[str, dict[str, Any]] = {}
    for route, target in TARGETS.items():
        if "dynamodb" in details.get(route, {}):
            results[route] = {"requests": details[route]["dynamodb"], "target": target}
    if renewal.get("periods"):
        results[RENEWAL_READS] = {"requests": round(renewal["reads"] / renewal["periods"], 2),
                                  "target": RENEWAL_TARGETS[RENEWAL_READS]}
        results[RENEWAL_WRITES] = {"requests": round(renewal["transactions"] / renewal["periods"], 2),
                                   "target": RENEWAL_TARGETS[RENEWAL_WRITES]}
    for route, detail in details.items():
        progress(f"requests  {route}: {detail.get('dynamodb', detail.get('error'))}")
    return {"routes": details, "renewal": renewal, "results": results}
