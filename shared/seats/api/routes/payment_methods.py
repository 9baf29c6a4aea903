"""Payment methods: an account's cards, the card of a draft order, a contract's card on file."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field

from seats import bootstrap, clock
from seats.api import present
from seats.api.answers import answers
from seats.api.identity import current_caller
from seats.api.schemas import ContractOut, OrderOut, PaymentMethodList, PaymentMethodOut
from seats.domain.codes import ADD_SEATS_CONFLICTS, ErrorCode
from seats.services import payment_methods

router = APIGatewayHttpRouter()


class CardToken(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    token: Annotated[str, Field(min_length=1, max_length=255,
                                description="A payment-provider card token (e.g. Stripe tok_...); never a card number")]


class ChosenPaymentMethod(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    payment_method_id: Annotated[str, Field(min_length=1, max_length=255, description="A payment method of the account")]


AccountId = Annotated[str, Path(description="Account (team) id")]


@router.get(
    "/accounts/<account_id>/payment-methods", summary="The account's cards", tags=["Payment methods"],
    responses=answers(200, "The account's cards", PaymentMethodList, {404: [ErrorCode.ACCOUNT_NOT_FOUND]}),
)
def list_payment_methods(account_id: AccountId) -> PaymentMethodList:
    caller = current_caller(router)
    methods = payment_methods.list_payment_methods(bootstrap.repository(), account_id, caller.user_id)
    return PaymentMethodList(payment_methods=[present.payment_method(pm) for pm in methods])


@router.post(
    "/accounts/<account_id>/payment-methods", status_code=201, summary="Add a card from a provider token",
    tags=["Payment methods"],
    responses=answers(201, "The card, added to the account", PaymentMethodOut, {
        402: [ErrorCode.PAYMENT_DECLINED], 403: [ErrorCode.NOT_CONTRACT_MANAGER], 404: [ErrorCode.ACCOUNT_NOT_FOUND],
        422: [ErrorCode.VALIDATION_ERROR, ErrorCode.INVALID_PAYMENT_TOKEN],
        503: [ErrorCode.PAYMENT_PROVIDER_UNAVAILABLE],
    }),
)
def add_payment_method(account_id: AccountId,
                       body: Annotated[CardToken, Body(description="The provider's token for the card")]) -> PaymentMethodOut:
    caller = current_caller(router)
    method = payment_methods.add_payment_method(bootstrap.repository(), bootstrap.payment_gateway(), account_id,
                                                body.token, caller.user_id)
    return present.payment_method(method)


@router.put(
    "/orders/<order_id>/payment-method", summary="Choose the card a draft order is charged to",
    tags=["Payment methods"],
    responses=answers(200, "The draft with its new card", OrderOut, {
        403: [ErrorCode.NOT_CONTRACT_MANAGER], 404: [ErrorCode.ORDER_NOT_FOUND, ErrorCode.PAYMENT_METHOD_NOT_FOUND],
        409: [*ADD_SEATS_CONFLICTS, ErrorCode.ORDER_NOT_DRAFT, ErrorCode.CONCURRENT_UPDATE],
        422: [ErrorCode.VALIDATION_ERROR],
        503: [ErrorCode.PAYMENT_PROVIDER_UNAVAILABLE],
    }),
)
def set_order_payment_method(order_id: Annotated[str, Path(description="Order id")],
                             body: Annotated[ChosenPaymentMethod, Body()]) -> OrderOut:
    caller = current_caller(router)
    order = payment_methods.set_order_payment_method(bootstrap.repository(), bootstrap.payment_gateway(), order_id,
                                                     body.payment_method_id, caller.user_id)
    return present.order(order)


@router.put(
    "/contracts/<contract_id>/payment-method", summary="Change the card on file that renewals charge",
    tags=["Payment methods"],
    responses=answers(200, "The contract with its new card on file", ContractOut, {
        403: [ErrorCode.NOT_CONTRACT_MANAGER],
        404: [ErrorCode.CONTRACT_NOT_FOUND, ErrorCode.PAYMENT_METHOD_NOT_FOUND],
        409: [ErrorCode.PAYMENT_METHOD_EXPIRED, ErrorCode.CONCURRENT_UPDATE], 422: [ErrorCode.VALIDATION_ERROR],
    }),
)
def set_contract_payment_method(contract_id: Annotated[str, Path(description="Contract id")],
                                body: Annotated[ChosenPaymentMethod, Body()]) -> ContractOut:
    caller = current_caller(router)
    contract = payment_methods.set_contract_payment_method(bootstrap.repository(), contract_id,
                                                           body.payment_method_id, caller.user_id)
    return present.contract(contract, caller.user_id, clock.today())
