"""ListContractsFunction: contracts, their orders and history, and single orders (read only)."""

import gc

gc.disable()  # no collection while the modules import (BENCHMARKS.md, "The garbage collector at import")

from seats.api.resolver import api_function
from seats.api.routes import contracts

app, lambda_handler = api_function(contracts.router)

gc.freeze()  # what the imports made is permanent: no later collection walks it
gc.enable()
