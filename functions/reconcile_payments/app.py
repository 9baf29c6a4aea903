"""ReconcilePaymentsFunction: every 15 minutes, settles the payments still unsettled 10 minutes after they
started (docs/payments.md): a capture completes its order or renewal, or is refunded; the rest fail."""

import gc

gc.disable()  # no collection while the modules import (BENCHMARKS.md, "The garbage collector at import")

from datetime import datetime

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import AwareDatetime, BaseModel

from seats import bootstrap, clock
from seats.observability import logger, metrics, tracer
from seats.services.reconcile import ReconcileOutcome, reconcile_payments

COUNTS = {"examined": "PaymentsExamined", "completed": "PaymentsCompleted", "refunded": "PaymentsRefunded",
          "failed": "PaymentsFailed"}


class ScheduledRun(BaseModel):
    """What the run needs of the EventBridge Scheduled Event: its `time`, the as-of instant."""

    time: AwareDatetime | None = None


def as_of(event: dict) -> datetime:
    """The event's `time`; now when invoked without one (by hand, or from a console test event)."""
    run = parse(event=event or {}, model=ScheduledRun)
    return run.time or clock.utc_now()


def emit_metrics(outcome: ReconcileOutcome) -> None:
    """The run's counts, and how long the oldest payment it could not settle has waited (0: none)."""
    for field, name in COUNTS.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=getattr(outcome, field))
    oldest = outcome.oldest_unsettled
    age = max(0.0, (outcome.as_of - oldest).total_seconds()) if oldest is not None else 0.0
    metrics.add_metric(name="OldestUnsettledPaymentAgeSeconds", unit=MetricUnit.Seconds, value=age)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE, clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    outcome = reconcile_payments(as_of(event), bootstrap.repository(), bootstrap.payment_gateway())
    emit_metrics(outcome)
    answer = outcome.answer()
    if outcome.oldest_unsettled is not None:
        logger.warning("Payments left unsettled; the next run looks again", extra=answer)
    else:
        logger.info("Payments reconciled", extra=answer)
    return answer


gc.freeze()  # what the imports made is permanent: no later collection walks it
gc.enable()
