"""RenewalWorkerFunction: renews one contract per SQS message; failed messages are retried alone."""

import gc

gc.disable()  # no collection while the modules import (BENCHMARKS.md, "The garbage collector at import")

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from seats import bootstrap
from seats.observability import logger, metrics, tracer
from seats.services import renew
from seats.services.messages import RenewalMessage

# A batch whose every record failed is reported like any other (each record retried, then the DLQ),
# not raised as a failed invocation.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@tracer.capture_method(capture_response=False)
def renew_one(record: SQSRecord) -> None:
    try:
        message = RenewalMessage.from_json(record.body)
        outcome = renew.renew_contract(
            message.contract_id, message.as_of, bootstrap.repository(), bootstrap.payment_gateway(),
            bootstrap.renewal_queue(),
        )
    except Exception:
        metrics.add_metric(name="RenewalsFailed", unit=MetricUnit.Count, value=1)
        logger.exception("Renewal failed; the message will be retried", extra={"message_id": record.message_id})
        raise
    if outcome.renewed:
        metrics.add_metric(name="RenewalsSucceeded", unit=MetricUnit.Count, value=outcome.renewed)
    if outcome.declines:
        metrics.add_metric(name="PaymentDeclines", unit=MetricUnit.Count, value=outcome.declines)
    logger.info("Contract processed", extra={"contract_id": outcome.contract_id, "renewed": outcome.renewed,
                                             "declines": outcome.declines, "status": outcome.status,
                                             "handed_on": outcome.handed_on})


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=renew_one, processor=processor, context=context)


gc.freeze()  # what the imports made is permanent: no later collection walks it
gc.enable()
