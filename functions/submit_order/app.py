"""SubmitOrderFunction: submits an add-seats order exactly once; pays a failed renewal now (PAY NOW)."""

import gc

gc.disable()  # no collection while the modules import (BENCHMARKS.md, "The garbage collector at import")

from seats.api.resolver import api_function
from seats.api.routes import renewal_payment, submit

app, lambda_handler = api_function(submit.router, renewal_payment.router)

gc.freeze()  # what the imports made is permanent: no later collection walks it
gc.enable()
