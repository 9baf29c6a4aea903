"""PaymentWebhookFunction: POST /webhooks/stripe, the payment provider's signed events (no JWT): an
authentication the cardholder completed or failed settles its payment and order (docs/stripe.md)."""

import gc

gc.disable()  # no collection while the modules import (BENCHMARKS.md, "The garbage collector at import")

from seats.api.resolver import api_function
from seats.api.routes import webhooks

app, lambda_handler = api_function(webhooks.router)

gc.freeze()  # what the imports made is permanent: no later collection walks it
gc.enable()
