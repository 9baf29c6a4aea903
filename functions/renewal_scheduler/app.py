"""RenewalSchedulerFunction: each night, sends the contracts due for renewal to the renewal queue, then sends
the renewal notices due (RenewalUpcoming, 30 and 7 days before a renewal)."""

import gc

gc.disable()  # no collection while the modules import (BENCHMARKS.md, "The garbage collector at import")

from datetime import datetime

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import AwareDatetime, BaseModel

from seats import bootstrap, clock
from seats.observability import logger, metrics, tracer
from seats.services import notices, schedule
from seats.settings import get_settings


class ScheduledRun(BaseModel):
    """What the run needs of the EventBridge Scheduled Event: its `time`, the as-of instant."""

    time: AwareDatetime | None = None


def as_of(event: dict) -> datetime:
    """The event's `time`; now when invoked without one (by hand, or from a console test event)."""
    run = parse(event=event or {}, model=ScheduledRun)
    return run.time or clock.utc_now()


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE, clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    queue_url = get_settings().renewal_queue_url
    if not queue_url:
        raise RuntimeError("RENEWAL_QUEUE_URL is not set")
    run_as_of, repo = as_of(event), bootstrap.repository()
    answer = schedule.enqueue_due_contracts(run_as_of, repo, bootstrap.renewal_queue())
    sent = notices.send_renewal_notices(run_as_of, repo,
                                        time_left=lambda: context.get_remaining_time_in_millis() / 1000)
    answer["notices"] = sent.sent
    if answer["enqueued"] < answer["due"]:
        logger.error("Some due contracts were not enqueued; the next run picks them up", extra=answer)
    elif sent.left:
        logger.warning("Time ran short: the next run sends the notices left", extra={**answer, "left": sent.left})
    else:
        logger.info("Due contracts enqueued, renewal notices sent", extra=answer)
    return answer


gc.freeze()  # what the imports made is permanent: no later collection walks it
gc.enable()
