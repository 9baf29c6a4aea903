"""EventRelayFunction: the outbox's way to the bus.

Every domain event is committed as an outbox item together with the change it describes
(`UnitOfWork.add_event`); the table's stream brings each new one here (the event source mapping's
filter lets only outbox inserts through) and this puts it on EventBridge. A failed put fails only
its record, which the mapping retries; events reach the bus at least once, each with the
`event_id` of its outbox item in the detail.
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


@tracer.capture_method(capture_response=False)
def relay_one(record: DynamoDBRecord) -> None:
    image = record.dynamodb.new_image if record.dynamodb else {}
    if record.event_name is not DynamoDBRecordEventName.INSERT or not str(image.get("PK", "")).startswith(OUTBOX):
        return  # not a new outbox item: nothing to send (in AWS the mapping's filter already drops these)
    event = OutboxEvent.from_item(image)
    try:
        bootstrap.publisher().publish(event)
    except Exception:
        metrics.add_metric(name="EventsNotRelayed", unit=MetricUnit.Count, value=1)
        logger.exception("Event not relayed; the stream will deliver it again",
                         extra={"event_id": event.event_id, "detail_type": event.detail_type})
        raise
    metrics.add_metric(name="EventsRelayed", unit=MetricUnit.Count, value=1)
    logger.info("Event relayed", extra={"event_id": event.event_id, "detail_type": event.detail_type})


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=relay_one, processor=processor, context=context)
