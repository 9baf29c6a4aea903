"""infra.local.stream_delivery: the template's DynamoDB event source, its filter, and delivery with
retries as Lambda's event source mapping does it (used by the local runtime and by the tests)."""

from __future__ import annotations

from typing import Any

import pytest

from infra.local import stream_delivery
from infra.local.stream_delivery import StreamSource, deliver, kept, matches, stream_sources

OUTBOX_FILTER = {"eventName": ["INSERT"], "dynamodb": {"Keys": {"PK": {"S": [{"prefix": "OUTBOX#"}]}}}}


def record(pk: str, sequence: str, event_name: str = "INSERT") -> dict[str, Any]:
    return {"eventName": event_name, "dynamodb": {"Keys": {"PK": {"S": pk}, "SK": {"S": "#EVENT"}},
                                                  "SequenceNumber": sequence}}


def source(batch_size: int = 10, retries: int = 2) -> StreamSource:
    return StreamSource("EventRelayFunction", "SeatsTable", batch_size, (OUTBOX_FILTER,), True, retries)


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch):
    monkeypatch.setattr(stream_delivery, "RETRY_DELAY_SECONDS", 0)


def test_the_template_has_one_stream_source_the_relay_on_outbox_inserts():
    [relay] = stream_sources()
    assert (relay.function, relay.table, relay.batch_size, relay.reports_batch_item_failures) == (
        "EventRelayFunction", "SeatsTable", 10, True)
    assert relay.patterns == (OUTBOX_FILTER,) and relay.maximum_retry_attempts == 10


@pytest.mark.parametrize(("candidate", "kept_it"), [
    (record("OUTBOX#evt_1", "1"), True),
    (record("OUTBOX#evt_1", "1", "MODIFY"), False),
    (record("OUTBOX#evt_1", "1", "REMOVE"), False),
    (record("CONTRACT#1", "1"), False),
    (record("outbox#evt_1", "1"), False),
    ({"eventName": "INSERT", "dynamodb": {}}, False),
    ({"dynamodb": {"Keys": {"PK": {"S": "OUTBOX#x"}}}}, False),
])
def test_the_filter_keeps_only_new_outbox_items(candidate, kept_it):
    assert matches(OUTBOX_FILTER, candidate) is kept_it
    assert kept(source(), candidate) is kept_it


def test_a_filter_value_may_be_any_of_a_list_and_no_filter_keeps_everything():
    assert matches({"eventName": ["INSERT", "MODIFY"]}, {"eventName": "MODIFY"})
    assert not matches({"eventName": ["INSERT"]}, {"eventName": ["INSERT"]})
    assert kept(StreamSource("F", "T", 10, (), False, -1), record("CONTRACT#1", "1", "REMOVE"))


class Function:
    """Answers batch after batch; fails the records it is told to, `times` times each."""

    def __init__(self, fail: dict[str, int] | None = None, raises: int = 0) -> None:
        self.fail, self.raises = dict(fail or {}), raises
        self.batches: list[list[str]] = []

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        sequences = [r["dynamodb"]["SequenceNumber"] for r in event["Records"]]
        self.batches.append(sequences)
        assert all(r["eventSource"] == "aws:dynamodb" and r["eventSourceARN"] == "arn:stream" for r in event["Records"])
        if self.raises:
            self.raises -= 1
            raise RuntimeError("the function crashed")
        failed = [s for s in sequences if self.fail.get(s, 0) > 0]
        for s in failed:
            self.fail[s] -= 1
        return {"batchItemFailures": [{"itemIdentifier": s} for s in failed[:1]]}


def test_filtered_records_are_delivered_in_batches_of_the_sources_size():
    function = Function()
    records = [record(f"OUTBOX#{n}", str(n)) for n in range(5)] + [record("CONTRACT#1", "99", "MODIFY")]

    assert deliver(source(batch_size=2), records, "arn:stream", function) == []
    assert function.batches == [["0", "1"], ["2", "3"], ["4"]]


def test_a_batch_is_retried_from_its_first_failed_record():
    function = Function(fail={"1": 1})

    assert deliver(source(), [record(f"OUTBOX#{n}", str(n)) for n in range(3)], "arn:stream", function) == []
    assert function.batches == [["0", "1", "2"], ["1", "2"]]


def test_a_batch_whose_function_raised_is_retried_whole():
    function = Function(raises=1)

    assert deliver(source(), [record("OUTBOX#a", "1"), record("OUTBOX#b", "2")], "arn:stream", function) == []
    assert function.batches == [["1", "2"], ["1", "2"]]


def test_records_still_failing_after_the_retries_are_given_up_and_returned():
    function = Function(fail={"2": 99})
    records = [record(f"OUTBOX#{n}", str(n)) for n in range(1, 4)]

    given_up = deliver(source(retries=2), records, "arn:stream", function)

    assert [r["dynamodb"]["SequenceNumber"] for r in given_up] == ["2", "3"]
    assert function.batches == [["1", "2", "3"], ["2", "3"], ["2", "3"]]
