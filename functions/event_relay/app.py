"""EventRelayFunction: the outbox's way to the bus (seats.services.relay, docs/events.md).

The table's stream brings each new outbox item here (the event source mapping's filter lets only
outbox inserts through). The batch's events go to EventBridge ten per PutEvents call; an event
EventBridge did not take fails only its record, which the mapping retries. Events reach the bus at
least once, each with the `event_id` of its outbox item in the detail.
"""

import gc

gc.disable()  # no collection while the modules import (BENCHMARKS.md, "The garbage collector at import")

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
    DynamoDBRecord,
    DynamoDBRecordEventName,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from seats import bootstrap
from seats.observability import logger, metrics, tracer
from seats.services.ports import OutboxEvent
from seats.services.relay import EventNotRelayed, Relay, outbox_event

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def _events(event: dict) -> dict[str, OutboxEvent]:
    """The batch's outbox events, by their records' sequence numbers."""
    found = {}
    for raw in event.get("Records", []):
        record = DynamoDBRecord(raw)
        image = record.dynamodb.new_image if record.dynamodb else {}
        relayed = outbox_event(record.event_name is DynamoDBRecordEventName.INSERT, image)
        if relayed is not None:
            found[raw["dynamodb"]["SequenceNumber"]] = relayed
    return found


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> PartialItemFailureResponse:
    relay = Relay(bootstrap.publisher(), _events(event))

    def settle(record: DynamoDBRecord) -> None:
        try:
            relayed = relay.settle((record.dynamodb.sequence_number if record.dynamodb else None) or "")
        except EventNotRelayed as refused:
            event_id, reason = refused.args
            logger.error("Event not relayed; the stream will deliver it again",
                         extra={"event_id": event_id, "reason": reason})
            raise
        if relayed is not None:
            logger.info("Event relayed", extra={"event_id": relayed.event_id, "detail_type": relayed.detail_type})

    if relay.relayed:
        metrics.add_metric(name="EventsRelayed", unit=MetricUnit.Count, value=relay.relayed)
    if relay.refused:
        metrics.add_metric(name="EventsNotRelayed", unit=MetricUnit.Count, value=len(relay.refused))
    return process_partial_response(event=event, record_handler=settle, processor=processor, context=context)


gc.freeze()  # what the imports made is permanent: no later collection walks it
gc.enable()
