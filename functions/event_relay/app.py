"""EventRelayFunction: the outbox's way to the bus.

Every domain event is committed as an outbox item together with the change it describes
(`UnitOfWork.add_event`); the table's stream brings each new one here (the event source mapping's
filter lets only outbox inserts through). The batch's events go to EventBridge ten per PutEvents
call; an event EventBridge did not take fails only its record, which the mapping retries. Events
reach the bus at least once, each with the `event_id` of its outbox item in the detail.
"""

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
    DynamoDBRecord,
    DynamoDBRecordEventName,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from seats import bootstrap
from seats.adapters.dynamodb.keys import OUTBOX
from seats.adapters.events import OutboxEvent
from seats.observability import logger, metrics, tracer

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


class EventNotRelayed(Exception):
    """EventBridge did not take this record's event: the record is reported failed, and retried."""


def outbox_event(record: DynamoDBRecord) -> OutboxEvent | None:
    """The event of a new outbox item; None for any other record (in AWS the mapping's filter drops those)."""
    image = record.dynamodb.new_image if record.dynamodb else {}
    if record.event_name is not DynamoDBRecordEventName.INSERT or not str(image.get("PK", "")).startswith(OUTBOX):
        return None
    return OutboxEvent.from_item(image)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> PartialItemFailureResponse:
    events = {}
    for raw in event.get("Records", []):
        found = outbox_event(DynamoDBRecord(raw))
        if found is not None:
            events[raw["dynamodb"]["SequenceNumber"]] = found
    refused = bootstrap.publisher().publish(list(events.values())) if events else {}

    def settle(record: DynamoDBRecord) -> None:
        relayed = events.get(record.dynamodb.sequence_number if record.dynamodb else "")
        if relayed is None:
            return
        if relayed.event_id in refused:
            logger.error("Event not relayed; the stream will deliver it again", extra={
                "event_id": relayed.event_id, "detail_type": relayed.detail_type, "reason": refused[relayed.event_id]})
            raise EventNotRelayed(relayed.event_id)
        logger.info("Event relayed", extra={"event_id": relayed.event_id, "detail_type": relayed.detail_type})

    if len(events) > len(refused):
        metrics.add_metric(name="EventsRelayed", unit=MetricUnit.Count, value=len(events) - len(refused))
    if refused:
        metrics.add_metric(name="EventsNotRelayed", unit=MetricUnit.Count, value=len(refused))
    return process_partial_response(event=event, record_handler=settle, processor=processor, context=context)
