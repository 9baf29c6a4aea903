"""ChangeSeatsFunction: add-seats drafts and pending reductions."""

import gc

gc.disable()  # no collection while the modules import (BENCHMARKS.md, "The garbage collector at import")

from seats.api.resolver import api_function
from seats.api.routes import drafts, reductions

app, lambda_handler = api_function(drafts.router, reductions.router)

gc.freeze()  # what the imports made is permanent: no later collection walks it
gc.enable()
