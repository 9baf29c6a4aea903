"""POST /orders/{order_id}/submit: one answer per Idempotency-Key (SPEC §4.2 steps 4-5).

Powertools idempotency keeps the first final answer (200 and 4xx, status and body) for 24 h, keyed
on the caller and the header; the route and order id are the validated payload, so the same key on
another order answers 422 idempotency_key_reused. Answers that invite a retry with the same key
(503, 409 concurrent_update, unexpected errors) are not kept. Charging exactly once does not depend
on this layer: the charge key comes from the order (see seats.services.submit).
"""

from __future__ import annotations

import hashlib
import json
import threading
from functools import lru_cache
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Header, Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.metrics import MetricUnit, single_metric
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
from seats.api import present, problems
from seats.api.answers import ADD_SEATS_409, answers
from seats.api.identity import current_caller
from seats.api.schemas import OrderOut
from seats.domain.errors import (
    ConcurrentUpdate,
    DomainError,
    IdempotencyKeyRequired,
    IdempotencyKeyReused,
    PaymentDeclined,
    RequestInProgress,
)
from seats.domain.model import Order
from seats.observability import metrics
from seats.services import submit
from seats.settings import get_settings

router = APIGatewayHttpRouter()

ROUTE = "POST /orders/{order_id}/submit"
KEY_PREFIX = "seats.submit_order"
REPLAY_SECONDS = 86_400  # SPEC §4.2: the first answer is replayed for at least 24 h
REPLAYED_HEADER = "Idempotent-Replayed"


class StoreUnavailable(DomainError):
    code, status, title = "service_unavailable", 503, "A dependency did not answer; retry with the same key"


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


def _first_answer(request: dict[str, str]) -> dict[str, Any]:
    """Submit; a final answer is returned (and kept), anything worth retrying is raised (and not kept)."""
    try:
        order = submit.submit(bootstrap.repository(), bootstrap.payment_gateway(),
                              request["order_id"], request["caller"], submit_key=request_digest(request))
    except DomainError as error:
        if error.status >= 500 or isinstance(error, ConcurrentUpdate):
            raise
        if isinstance(error, PaymentDeclined):
            metrics.add_metric(name="PaymentDeclines", unit=MetricUnit.Count, value=1)
        if isinstance(error.extra.get("order"), Order):
            error.extra["order"] = present.order(error.extra["order"]).model_dump(mode="json")
        body = problems.from_domain_error(error).body
        assert isinstance(body, str)
        return {"status": error.status, "body": json.loads(body)}
    metrics.add_metric(name="SeatsAdded", unit=MetricUnit.Count, value=order.seats_to_add or 0)
    with single_metric(name="OrderValue", unit=MetricUnit.NoUnit, value=float(order.total.amount),
                       namespace=metrics.namespace) as metric:
        metric.add_dimension(name="currency", value=order.currency)
    return {"status": 200, "body": present.order(order).model_dump(mode="json")}


def request_digest(request: dict[str, str]) -> str:
    """Names a submit request by its caller and Idempotency-Key, without storing the key itself."""
    return hashlib.sha256(f"{request['caller']}\n{request['key']}".encode()).hexdigest()[:32]


def idempotency_config(context: LambdaContext | None = None) -> IdempotencyConfig:
    """Keys are per caller (two users never see each other's answers); route and order are checked."""
    return IdempotencyConfig(
        event_key_jmespath="[caller, key]", payload_validation_jmespath="[route, order_id]",
        expires_after_seconds=REPLAY_SECONDS, lambda_context=context, response_hook=_mark_replayed,
    )


def idempotent_request(caller_id: str, key: str, order_id: str) -> dict[str, str]:
    return {"caller": caller_id, "key": key, "route": ROUTE, "order_id": order_id}


def submit_once(*, order_id: str, key: str, caller_id: str, context: LambdaContext | None) -> dict[str, Any]:
    """The answer to this submit: the first one again for a key already used, else a new one."""
    once = idempotent_function(_first_answer, data_keyword_argument="request", persistence_store=idempotency_store(),
                               config=idempotency_config(context), key_prefix=KEY_PREFIX)
    try:
        return once(request=idempotent_request(caller_id, key, order_id))
    except (IdempotencyAlreadyInProgressError, IdempotencyInconsistentStateError):
        raise RequestInProgress() from None
    except IdempotencyValidationError:
        raise IdempotencyKeyReused() from None
    except IdempotencyPersistenceLayerError:
        raise StoreUnavailable() from None


@router.post(
    "/orders/<order_id>/submit", summary="Pay for a draft and add its seats, exactly once", tags=["Add seats"],
    responses=answers(200, "The completed order (a replayed answer has Idempotent-Replayed: true)", OrderOut, {
        400: ["idempotency_key_required"], 402: ["payment_declined"], 403: ["not_contract_manager"],
        404: ["order_not_found", "subscription_not_found", "payment_method_not_found"],
        409: [*ADD_SEATS_409, "order_not_draft", "quote_expired", "payment_method_expired",
              "request_in_progress", "concurrent_update"],
        422: ["validation_error", "seat_limit_exceeded", "idempotency_key_reused"],
        503: ["payment_provider_unavailable", "service_unavailable"],
    }),
)
def submit_order(
    order_id: Annotated[str, Path(description="Order id")],
    idempotency_key: Annotated[str | None, Header(
        alias="Idempotency-Key", min_length=1, max_length=255,
        description="Idempotency-Key: 1-255 characters, one per intended submit; a retry reuses it",
    )] = None,
):  # returns a Response; an annotation would make Powertools validate it as the body
    if idempotency_key is None:
        raise IdempotencyKeyRequired()
    caller = current_caller(router)
    answer = submit_once(order_id=order_id, key=idempotency_key, caller_id=caller.user_id,
                         context=router.lambda_context)
    status = answer["status"]
    return Response(
        status_code=status, body=json.dumps(answer["body"]),
        content_type=content_types.APPLICATION_JSON if status < 400 else problems.PROBLEM_JSON,
        headers={REPLAYED_HEADER: "true"} if answer.get("replayed") else None,
    )
