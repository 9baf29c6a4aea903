"""The benchmark harness (`make bench`) works, at tiny sizes: every function, route and operation is
measured, and bench/results.json has the documented format. No figure is judged here: timings belong
in BENCHMARKS.md, not in assertions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from bench import renewal, run
from bench.cold_start import event_makers, import_profile
from bench.common import FUNCTION_ENV, AwsCalls, key_attributes, mocked_world, written_keys
from infra import template

TINY = run.Sizes(cold_rounds=1, cold_warmup=False, cold_profile=False, latency_runs=1, contracts=200, due=10)
DOCUMENTED = {
    "cold_start": {"ms", "floor_ms", "ratio", "equal_work_floor_ms", "equal_work_ratio", "peak_rss_mb"},
    "requests": {"requests", "target"},
    "latency": {"p50_ms", "p99_ms", "floor_p50_ms", "ratio"},
}
RENEWAL_FIGURES = {"contracts", "due", "items_read_per_due", "rcu_per_due", "renewals_per_s", "floor_renewals_per_s",
                   "worker_to_floor", "two_call_floor_renewals_per_s", "notice_keys_per_notified"}


@pytest.fixture(scope="module")
def tiny_run() -> tuple[dict[str, Any], dict[str, Any]]:
    return run.run(TINY)


@pytest.fixture(scope="module")
def written(tiny_run, tmp_path_factory) -> Path:
    results, details = tiny_run
    out = tmp_path_factory.mktemp("bench")
    info = {"quick": True, "date": "today", "wall_s": 1.0, "machine": {"nproc": 2, "cpu": "", "python": "3.11",
            "platform": "linux"}, "load_before": "0", "load_after": "0", "commit": "abc", "dirty": False,
            "cold_rounds": 1, "latency_runs": 1}
    run.write(results, details, info, out)
    return out


def _numbers(figures: dict[str, Any]) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in figures.values())


def test_results_json_has_exactly_the_documented_sections_and_fields(written):
    results = json.loads((written / "bench" / "results.json").read_text())
    assert set(results) == {"cold_start", "requests", "latency", "renewal"}
    for section, fields in DOCUMENTED.items():
        assert results[section], section
        for name, figures in results[section].items():
            assert set(figures) == fields, (section, name)
            assert _numbers(figures), (section, name)
    notices = "NoticeIndex" in json.dumps(template.create_table_requests())  # the figure needs the notice index
    assert set(results["renewal"]) == (RENEWAL_FIGURES if notices else RENEWAL_FIGURES - {"notice_keys_per_notified"})
    assert _numbers(results["renewal"])


def test_every_function_of_the_template_gets_a_cold_start_figure_against_the_same_floor(tiny_run):
    results, details = tiny_run
    assert set(results["cold_start"]) == set(template.functions())
    assert len({figures["floor_ms"] for figures in results["cold_start"].values()}) == 1
    assert [name for name, d in details["cold_start"].items() if "error" in d] == []


def test_every_function_is_held_to_an_equal_work_floor_that_replays_its_calls_without_error(tiny_run):
    results, details = tiny_run
    for name in template.functions():
        detail = details["cold_start"][name]
        assert detail["call_count"] > 0 and detail["equal_work"]["replay_errors"] == 0, name
        assert results["cold_start"][name]["equal_work_floor_ms"] > results["cold_start"][name]["floor_ms"] * 0.5


def test_the_recorded_calls_are_replayed_as_they_ran_one_list_per_thread_of_a_pool():
    from bench.profiling import segments

    calls = [{"thread": "MainThread", "n": 1}, {"thread": "ThreadPoolExecutor-0_0", "n": 2},
             {"thread": "ThreadPoolExecutor-0_1", "n": 3}, {"thread": "ThreadPoolExecutor-0_0", "n": 4},
             {"thread": "ThreadPoolExecutor-1_0", "n": 5}, {"thread": "MainThread", "n": 6}]
    shape = [[[c["n"] for c in thread] for thread in segment] for segment in segments(calls)]
    assert shape == [[[1]], [[2, 4], [3]], [[5]], [[6]]]


def test_the_renewal_floor_makes_every_call_of_a_ledgered_renewal_without_error(tiny_run):
    _, details = tiny_run
    renewal_details = details["renewal"]
    assert renewal_details["floor_missing"] == [] and renewal_details["floor_errors"] == 0
    assert renewal_details["floor_batches"] >= 1
    assert set(renewal_details["time_per_renewal"]["floor_calls"]) == set(renewal.LEDGER_FLOOR)


def test_every_route_of_the_template_gets_a_latency_figure_beside_its_floor(tiny_run):
    results, details = tiny_run
    routes = {f"{r.method} {r.path}" for r in template.routes()}
    assert set(results["latency"]) == routes
    failed = {route: d for route, d in details["latency"].items() if "error" in d or d.get("floor_errors")}
    assert failed == {}


def test_every_targeted_operation_is_counted_and_answered_as_it_should(tiny_run):
    results, details = tiny_run
    assert set(results["requests"]) == set(run_targets())
    answered = {route: d.get("status") for route, d in details["requests"]["routes"].items() if not d.get("ok")}
    assert answered == {}
    assert details["requests"]["renewal"]["ok"]


def run_targets() -> set[str]:
    from bench.requests import RENEWAL_TARGETS, TARGETS

    return set(TARGETS) | set(RENEWAL_TARGETS)


def test_the_renewal_pipeline_renews_every_due_contract_of_the_generated_seed(tiny_run):
    results, details = tiny_run
    assert results["renewal"]["contracts"] == TINY.contracts
    assert results["renewal"]["due"] == TINY.due
    assert details["renewal"]["renewed"] == TINY.due
    assert details["renewal"]["failed_messages"] == 0
    assert details["renewal"]["scheduler_answer"]["enqueued"] == TINY.due


def test_benchmarks_md_has_the_machine_and_a_section_per_benchmark(written):
    text = (written / "BENCHMARKS.md").read_text()
    for heading in ("## Cold start per function", "## DynamoDB requests per operation", "## Warm latency per route",
                    "## Renewal at scale", "## Targets missed"):
        assert heading in text
    assert "2 CPUs" in text and "Python 3.11" in text


def test_every_function_has_an_event_to_answer_on_a_cold_start():
    assert set(event_makers()) == set(template.functions())


def test_the_import_profile_reads_python_importtime_output():
    profile = import_profile("json", {**FUNCTION_ENV, "PATH": "/usr/bin:/bin"})
    assert "json" in profile and all(t >= 0 for t in profile.values())


def test_the_keys_a_write_changes_are_found_in_every_kind_of_write():
    schema = key_attributes()
    item = {"PK": {"S": "A"}, "SK": {"S": "B"}, "x": {"S": "y"}}
    transaction = {"TransactItems": [
        {"Put": {"TableName": "SeatsTable", "Item": item}},
        {"Update": {"TableName": "SeatsTable", "Key": {"PK": {"S": "C"}, "SK": {"S": "D"}}}},
        {"ConditionCheck": {"TableName": "SeatsTable", "Key": {"PK": {"S": "E"}, "SK": {"S": "F"}}}},
    ]}
    keys = written_keys("TransactWriteItems", transaction, schema)
    assert [json.loads(k)["PK"]["S"] for _, k in keys] == ["A", "C"]
    assert written_keys("PutItem", {"TableName": "IdempotencyTable", "Item": {"id": {"S": "k"}, "data": {"S": "d"}}},
                        schema) == [("IdempotencyTable", json.dumps({"id": {"S": "k"}}))]


def test_the_item_level_transaction_backup_rolls_back_as_moto_does():
    with mocked_world():
        ddb = boto3.client("dynamodb")
        kept = {"PK": {"S": "K"}, "SK": {"S": "1"}, "version": {"N": "1"}}
        ddb.put_item(TableName="SeatsTable", Item=kept)
        with renewal.item_level_transaction_backups(), pytest.raises(ClientError):
            ddb.transact_write_items(TransactItems=[
                {"Put": {"TableName": "SeatsTable", "Item": {"PK": {"S": "NEW"}, "SK": {"S": "1"}}}},
                {"Put": {"TableName": "SeatsTable", "Item": {**kept, "version": {"N": "2"}},
                         "ConditionExpression": "version = :v", "ExpressionAttributeValues": {":v": {"N": "9"}}}},
            ])
        assert "Item" not in ddb.get_item(TableName="SeatsTable", Key={"PK": {"S": "NEW"}, "SK": {"S": "1"}})
        assert ddb.get_item(TableName="SeatsTable", Key={"PK": {"S": "K"}, "SK": {"S": "1"}})["Item"] == kept


def test_calls_are_recorded_with_their_items_and_category():
    with mocked_world():
        ddb = boto3.client("dynamodb")
        ddb.put_item(TableName="SeatsTable", Item={"PK": {"S": "P"}, "SK": {"S": "S"}})
        with AwsCalls().attach(ddb) as calls:
            ddb.get_item(TableName="SeatsTable", Key={"PK": {"S": "P"}, "SK": {"S": "S"}}, ConsistentRead=True)
            ddb.get_item(TableName="IdempotencyTable", Key={"id": {"S": "none"}})
        first, second = calls.estimated()
        assert (first.operation, first.items_read, first.category(), first.rcu) == ("GetItem", 1, "seats", 1.0)
        assert (second.items_read, second.category(), second.rcu) == (0, "idempotency", 0.5)
        assert calls.sent == 2


def test_cold_starts_run_with_the_templates_fixed_environment():
    """Every literal variable the template gives all functions (PYDANTIC_DISABLE_PLUGINS, the
    Powertools settings) is set, to the same value, in the benchmark's children."""
    variables = template.load()["Globals"]["Function"]["Environment"]["Variables"]
    literal = {name: value for name, value in variables.items() if isinstance(value, str)}
    assert "PYDANTIC_DISABLE_PLUGINS" in literal
    assert {name: FUNCTION_ENV.get(name) for name in literal} == literal
