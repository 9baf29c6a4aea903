"""Read use cases: the contracts a caller can see, their orders and history, single orders, renewal previews.

Visibility follows docs/api.md (People and roles) through services/access.py: what the caller may not see is not found.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

from seats.domain import preview
from seats.domain.codes import ErrorCode
from seats.domain.errors import Unprocessable
from seats.domain.history import HistoryEvent
from seats.domain.model import Contract, Order
from seats.services.access import visible_contract, visible_order
from seats.services.ports import Repository

_TOKEN_VERSION = "v1"
_TOKEN_TEXT = re.compile(r"[A-Za-z0-9_-]+")
_SORT_KEY = re.compile(r"\d{4}-\d{2}-\d{2}#.+")


class InvalidNextToken(Unprocessable):
    code, title = ErrorCode.VALIDATION_ERROR, "Invalid request"

    def __init__(self) -> None:
        super().__init__(
            "The request is not valid; see errors.",
            errors=[{"loc": ["query", "next_token"], "msg": "next_token is not a token this API issued"}],
        )


def _digest(payload: str) -> str:
    # Not a secret: it only tells an edited or truncated token from one this API issued.
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def encode_next_token(sort_key: str) -> str:
    payload = f"{_TOKEN_VERSION}|{sort_key}"
    return base64.urlsafe_b64encode(f"{payload}|{_digest(payload)}".encode()).decode().rstrip("=")


def decode_next_token(token: str) -> str:
    """The sort key a next_token carries; InvalidNextToken when it was not issued by encode_next_token."""
    if not _TOKEN_TEXT.fullmatch(token):
        raise InvalidNextToken()
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, ValueError):
        raise InvalidNextToken() from None
    payload, _, digest = text.rpartition("|")
    version, _, sort_key = payload.partition("|")
    if version != _TOKEN_VERSION or not _SORT_KEY.fullmatch(sort_key) or digest != _digest(payload):
        raise InvalidNextToken()
    return sort_key


def list_contracts(repo: Repository, caller_id: str, limit: int, next_token: str | None) -> tuple[list[Contract], str | None]:
    """One page of the contracts the caller manages or administers, by renewal date then id."""
    after = decode_next_token(next_token) if next_token else None
    user = repo.get_user(caller_id)
    if user is None:
        return [], None
    contracts, last_sort_key = repo.list_contracts(user, limit, after)
    return contracts, encode_next_token(last_sort_key) if last_sort_key else None


def get_contract(repo: Repository, contract_id: str, caller_id: str) -> Contract:
    contract, _ = visible_contract(repo, contract_id, caller_id)
    return contract


def list_orders(repo: Repository, contract_id: str, caller_id: str) -> list[Order]:
    """The contract's orders, newest first."""
    visible_contract(repo, contract_id, caller_id)
    return repo.list_orders(contract_id)


def list_history(repo: Repository, contract_id: str, caller_id: str) -> list[HistoryEvent]:
    """The contract's history events, newest first."""
    visible_contract(repo, contract_id, caller_id)
    return repo.list_history(contract_id)


def get_order(repo: Repository, order_id: str, caller_id: str) -> Order:
    order, _, _ = visible_order(repo, order_id, caller_id)
    return order


def renewal_preview(repo: Repository, contract_id: str, caller_id: str) -> preview.RenewalPreview:
    """What the contract's next renewal will charge (docs/api.md, Renewal preview): one read, the contract
    and the caller in one request; whoever may read the contract may preview it."""
    contract, _ = visible_contract(repo, contract_id, caller_id)
    return preview.renewal_preview(contract)
