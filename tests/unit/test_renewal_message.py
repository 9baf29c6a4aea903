"""The renewal queue's message: what the scheduler writes, the worker reads back exactly; anything
else is refused with a reason (and the worker reports that one message as a batch item failure)."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from seats.services.messages import InvalidMessage, RenewalMessage


def test_what_the_scheduler_writes_the_worker_reads_back():
    sent = RenewalMessage("110000000001", datetime(2027, 3, 1, 2, 0, 0, 123000, tzinfo=UTC))
    assert RenewalMessage.from_json(sent.to_json()) == sent
    assert sent.to_json() == '{"contract_id": "110000000001", "as_of": "2027-03-01T02:00:00.123Z"}'


def test_an_offset_other_than_utc_is_the_same_instant():
    read = RenewalMessage.from_json('{"contract_id": "1", "as_of": "2027-03-01T03:00:00+01:00"}')
    assert read.as_of == datetime(2027, 3, 1, 2, tzinfo=UTC)
    assert read.as_of.utcoffset() == timedelta(hours=1)
    assert read.as_of.tzinfo == timezone(timedelta(hours=1))


@pytest.mark.parametrize(("body", "reason"), [
    ("{not json", "not JSON"),
    ("[]", "exactly contract_id, as_of"),
    ('{"contract_id": "1"}', "exactly contract_id, as_of"),
    ('{"contract_id": "1", "as_of": "2027-03-01T00:00:00Z", "x": 1}', "exactly contract_id, as_of"),
    ('{"contract_id": "", "as_of": "2027-03-01T00:00:00Z"}', "contract_id must be a non-empty string"),
    ('{"contract_id": 7, "as_of": "2027-03-01T00:00:00Z"}', "contract_id must be a non-empty string"),
    ('{"contract_id": "1", "as_of": "2027-03-01T00:00:00"}', "as_of must be an ISO 8601 instant"),
    ('{"contract_id": "1", "as_of": "tomorrow"}', "as_of must be an ISO 8601 instant"),
    ('{"contract_id": "1", "as_of": 1795968000}', "as_of must be an ISO 8601 instant"),
])
def test_a_body_the_scheduler_cannot_have_sent_is_refused_with_its_reason(body, reason):
    with pytest.raises(InvalidMessage, match=reason):
        RenewalMessage.from_json(body)
