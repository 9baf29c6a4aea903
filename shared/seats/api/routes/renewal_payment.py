"""POST /contracts/{contract_id}/renewal-payment: PAY NOW, one answer per Idempotency-Key (docs/api.md,
Renewal, "Paying a failed renewal now").

The same idempotency as submit (seats.api.idempotency): the first final answer (200, 202 and 4xx) is kept
and replayed (202: the renewal order `payment_pending`, a period's card asking for 3-D Secure); 503, 409
concurrent_update and unexpected errors are raised, and so not kept. Charging a period once does not depend
on this layer: the contract points to the period's payment (seats.services.renew).
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Header, Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from seats import bootstrap, clock
from seats.api import idempotency, present
from seats.api.answers import answer, answers
from seats.api.identity import current_caller
from seats.api.schemas import ContractOut, OrderOut
from seats.domain.codes import ErrorCode
from seats.domain.errors import DomainError, IdempotencyKeyRequired
from seats.domain.model import RenewalOrder
from seats.services import pay_now

router = APIGatewayHttpRouter()


def _first_answer(request: dict[str, str]) -> dict[str, Any]:
    """Pay now; a final answer is returned (and kept), anything worth retrying is raised (and not kept)."""
    try:
        paid = pay_now.pay_renewal_now(bootstrap.repository(), bootstrap.payment_gateway(),
                                       request["contract_id"], request["caller"], clock.utc_now(),
                                       request_key=idempotency.request_digest(request))
    except DomainError as error:
        return idempotency.kept(error)
    if isinstance(paid, RenewalOrder):  # waiting for the cardholder's authentication
        return {"status": 202, "body": present.order(paid).model_dump(mode="json")}
    return {"status": 200, "body": present.contract(paid, request["caller"], clock.today()).model_dump(mode="json")}


@router.post(
    "/contracts/<contract_id>/renewal-payment", summary="Pay a failed renewal now, to the card on file",
    tags=["Renewal"],
    responses={
        **answers(200, "The renewed contract (a replayed answer has Idempotent-Replayed: true)", ContractOut, {
            400: [ErrorCode.IDEMPOTENCY_KEY_REQUIRED], 402: [ErrorCode.PAYMENT_DECLINED],
            403: [ErrorCode.NOT_CONTRACT_MANAGER], 404: [ErrorCode.CONTRACT_NOT_FOUND],
            409: [ErrorCode.NOTHING_DUE, ErrorCode.CONTRACT_NOT_ACTIVE, ErrorCode.REQUEST_IN_PROGRESS,
                  ErrorCode.CONCURRENT_UPDATE],
            422: [ErrorCode.VALIDATION_ERROR, ErrorCode.IDEMPOTENCY_KEY_REUSED],
            503: [ErrorCode.PAYMENT_PROVIDER_UNAVAILABLE, ErrorCode.SERVICE_UNAVAILABLE],
        }),
        202: answer("The card asks for the cardholder (3-D Secure) for a period: the renewal order, "
                             "payment_pending, with the payment_action to complete; the provider's webhook renews "
                             "the contract (a failed or expired authentication cancels the order)", OrderOut),
    },
)
def pay_renewal_now(
    contract_id: Annotated[str, Path(description="Contract id")],
    idempotency_key: Annotated[str | None, Header(
        alias="Idempotency-Key", min_length=1, max_length=255,
        description="Idempotency-Key: 1-255 characters, one per intended payment; a retry reuses it",
    )] = None,
):  # returns a Response; an annotation would make Powertools validate it as the body
    if idempotency_key is None:
        raise IdempotencyKeyRequired()
    caller = current_caller(router)
    request = idempotency.renewal_payment_request(caller.user_id, idempotency_key, contract_id)
    answer = idempotency.answer_once(_first_answer, request, router.lambda_context)
    return idempotency.as_response(answer)
