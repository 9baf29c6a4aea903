"""One answer per Idempotency-Key for POST /orders/{order_id}/submit and POST
/contracts/{contract_id}/renewal-payment: the Powertools idempotency store.

Powertools idempotency keeps the first final answer (200 and 4xx, status and body) for 24 h, keyed
on the caller and the header; the route and the order or contract id are the validated payload, so
the same key on another order, contract or route answers 422 idempotency_key_reused. What the store
itself answers (a request still in progress, a key reused, a store that does not answer) becomes a
domain error here. Which answers are final, and so kept, is the route's to say
(seats.api.routes.submit, seats.api.routes.renewal_payment).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyInconsistentStateError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from seats import bootstrap
from seats.api import problems
from seats.domain.codes import ErrorCode
from seats.domain.errors import (
    ConcurrentUpdate,
    DomainError,
    IdempotencyKeyReused,
    PaymentDeclined,
    RequestInProgress,
)
from seats.observability import metrics
from seats.settings import get_settings

ROUTE = "POST /orders/{order_id}/submit"
RENEWAL_PAYMENT_ROUTE = "POST /contracts/{contract_id}/renewal-payment"
KEY_PREFIX = "seats.submit_order"
REPLAY_SECONDS = 86_400  # docs/api.md, Adding seats: the first answer is replayed for at least 24 h

# A request ({"caller", "key", "route", "order_id" or "contract_id"}) -> its final answer ({"status", "body"}).
FirstAnswer = Callable[[dict[str, str]], dict[str, Any]]


class StoreUnavailable(DomainError):
    code, status, title = ErrorCode.SERVICE_UNAVAILABLE, 503, "A dependency did not answer; retry with the same key"


@lru_cache(maxsize=4)
def _store(client: Any, table_name: str) -> DynamoDBPersistenceLayer:
    return DynamoDBPersistenceLayer(table_name=table_name, boto3_client=client)


_configuring = threading.Lock()


def idempotency_store() -> DynamoDBPersistenceLayer:
    """Built on first use with the process's DynamoDB client (same endpoint as everything else), and
    configured here, once, under a lock: Powertools' `configure()` marks a store configured before it has
    set the key's JMESPath, so a second thread using the store in that window would fail (503)."""
    with _configuring:
        store = _store(bootstrap.aws_client("dynamodb"), get_settings().idempotency_table_name)
        if not store.configured:
            store.configure(idempotency_config(), key_prefix=KEY_PREFIX)
    return store


def _mark_replayed(response: Any, idempotent_data: DataRecord) -> Any:
    return {**response, "replayed": True}


def request_digest(request: dict[str, str]) -> str:
    """Names a submit request by its caller and Idempotency-Key, without storing the key itself."""
    return hashlib.sha256(f"{request['caller']}\n{request['key']}".encode()).hexdigest()[:32]


def idempotency_config(context: LambdaContext | None = None) -> IdempotencyConfig:
    """Keys are per caller (two users never see each other's answers); the route and its order or contract
    are checked (a submit's payload is [route, order_id], as it always was)."""
    return IdempotencyConfig(
        event_key_jmespath="[caller, key]", payload_validation_jmespath="[route, order_id || contract_id]",
        expires_after_seconds=REPLAY_SECONDS, lambda_context=context, response_hook=_mark_replayed,
    )


def idempotent_request(caller_id: str, key: str, order_id: str) -> dict[str, str]:
    return {"caller": caller_id, "key": key, "route": ROUTE, "order_id": order_id}


def renewal_payment_request(caller_id: str, key: str, contract_id: str) -> dict[str, str]:
    return {"caller": caller_id, "key": key, "route": RENEWAL_PAYMENT_ROUTE, "contract_id": contract_id}


def submit_once(first_answer: FirstAnswer, *, order_id: str, key: str, caller_id: str,
                context: LambdaContext | None) -> dict[str, Any]:
    """The answer to this submit: the first one again for a key already used, else `first_answer`'s
    (kept when it returns, not kept when it raises). A replayed answer has "replayed": True."""
    return answer_once(first_answer, idempotent_request(caller_id, key, order_id), context)


def answer_once(first_answer: FirstAnswer, request: dict[str, str], context: LambdaContext | None) -> dict[str, Any]:
    """The answer to `request` (one of the requests above): the first one again for a key already used,
    else `first_answer`'s (kept when it returns, not kept when it raises)."""
    once = idempotent_function(first_answer, data_keyword_argument="request", persistence_store=idempotency_store(),
                               config=idempotency_config(context), key_prefix=KEY_PREFIX)
    try:
        return once(request=request)
    except (IdempotencyAlreadyInProgressError, IdempotencyInconsistentStateError):
        raise RequestInProgress() from None
    except IdempotencyValidationError:
        raise IdempotencyKeyReused() from None
    except IdempotencyPersistenceLayerError:
        raise StoreUnavailable() from None


def kept(error: DomainError) -> dict[str, Any]:
    """A domain error as a final answer, to keep and replay; raised again when it invites a retry with the
    same key (a 5xx, a lost race), since those are not kept. A decline is counted (PaymentDeclines)."""
    if error.status >= 500 or isinstance(error, ConcurrentUpdate):
        raise error
    if isinstance(error, PaymentDeclined):
        metrics.add_metric(name="PaymentDeclines", unit=MetricUnit.Count, value=1)
    return problems.kept_answer(error)


REPLAYED_HEADER = "Idempotent-Replayed"


def as_response(answer: dict[str, Any]) -> Response:
    """A kept (or first) answer as the HTTP response: JSON for a success, problem+json for an error, and
    the header Idempotent-Replayed on a replay."""
    status = answer["status"]
    return Response(
        status_code=status, body=json.dumps(answer["body"]),
        content_type=content_types.APPLICATION_JSON if status < 400 else problems.PROBLEM_JSON,
        headers={REPLAYED_HEADER: "true"} if answer.get("replayed") else None,
    )
