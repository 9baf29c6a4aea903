"""SetPaymentFunction: payment methods of an account, an order and a contract."""

import gc

gc.disable()  # no collection while the modules import (BENCHMARKS.md, "The garbage collector at import")

from seats.api.resolver import api_function
from seats.api.routes import payment_methods

app, lambda_handler = api_function(payment_methods.router)

gc.freeze()  # what the imports made is permanent: no later collection walks it
gc.enable()
