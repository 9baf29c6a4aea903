"""SetPaymentFunction: payment methods of an account, an order and a contract."""

import gc

gc.disable()  # no collection while the modules import (BENCHMARKS.md, "The garbage collector at import")

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from seats.api.resolver import build_resolver
from seats.api.routes import payment_methods
from seats.observability import logger, metrics, tracer

app = build_resolver()
app.include_router(payment_methods.router)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)


gc.freeze()  # what the imports made is permanent: no later collection walks it
gc.enable()
