"""Fixtures for the reliability suite: the API as the local runtime serves it, in this process.

`api` is `infra.local.gateway.ApiGateway` (the routes of template.yaml, the JWT authorizer, payload
format 2.0) with the function handlers on moto: every request goes through the same JWT check and
event building as `seats-local start`, minus the socket. `figures` records what a test tried and
what held, for RELIABILITY.md (see tests/reliability/report.py).
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import quote, urlencode

import pytest

from infra import seed as seed_loader
from infra.local import jwt_tokens
from infra.local.functions import FunctionHost
from infra.local.gateway import ApiGateway
from infra.local.serving import Request
from seats import bootstrap, clock
from seats.domain.model import PaymentMethod, PendingReduction
from seats.services import add_seats, payment_methods
from tests.conftest import BASE_SEED
from tests.reliability import report
from tests.reliability.report import (  # noqa: F401 - hooks: RELIABILITY.md at the end of the run
    pytest_runtest_logreport,
    pytest_sessionfinish,
)


def pytest_configure(config: pytest.Config) -> None:
    report.pytest_configure(config)
    # Local tokens use a fixed 22-byte secret (docs/api.md, Local runtime); PyJWT warns on every token.
    config.addinivalue_line("filterwarnings", "ignore::jwt.warnings.InsecureKeyLengthWarning")


# Teams and callers of the reliability seed: team A (acme) and team B (globex), each with a
# contract whose manager holds no admin role, so that every role (docs/api.md, People and roles)
# has its own user.
TEAM_A, TEAM_B = "acme", "globex"
CONTRACT_A, CONTRACT_B = "110000000001", "220000000001"
SUBSCRIPTION_A, SUBSCRIPTION_B = "sub-acad", "sub-rvt"
MANAGER_A = "u-alice"  # role `user`, manager of CONTRACT_A
PRIMARY_ADMIN_A = "u-paula"
SECONDARY_ADMIN_A = "u-sam"
PLAIN_USER_A = "u-nobody"
MANAGER_B = "u-gus"  # role `user` in globex, manager of CONTRACT_B
PRIMARY_ADMIN_B = "u-gina"
NO_TEAM = "u-stranger"  # a valid token, but no user record in any team
CARD_A, SECOND_CARD_A, CARD_B = "pm_acme_visa", "pm_acme_mc", "pm_globex_visa"
# A card that needs 3-D Secure on every payment (the sandbox's tok_threeDSecure2Required) in each team,
# added by add_sca_cards(): submit and PAY NOW answer 202 payment_pending with it.
SCA_CARD_A, SCA_CARD_B = "pm_acme_sca", "pm_globex_sca"
SCA_CARD_OF = {CONTRACT_A: (TEAM_A, SCA_CARD_A), CONTRACT_B: (TEAM_B, SCA_CARD_B)}


def reliability_seed() -> dict[str, Any]:
    seed = copy.deepcopy(BASE_SEED)
    globex = seed["accounts"][1]
    globex["users"].append({"user_id": MANAGER_B, "email": "gus@globex.test", "role": "user"})
    globex["contracts"][0]["contract_manager"] = MANAGER_B
    return seed


def seed_contract_items() -> list[dict[str, Any]]:
    """The seed's contracts as stored (version 1, no draft, no reduction)."""
    items = seed_loader.build_items(seed_loader.parse(reliability_seed()), None)
    return [item for item in items if item["SK"] == "#CONTRACT"]


TEAM_OF_CONTRACT = {CONTRACT_A: (SUBSCRIPTION_A, MANAGER_A), CONTRACT_B: (SUBSCRIPTION_B, MANAGER_B)}


# A renewal declined on 2026-11-20, nine days before the suites' now (2026-11-29): past_due, payable now.
DECLINED = {CONTRACT_A: (date(2025, 11, 20), date(2026, 11, 20)), CONTRACT_B: (date(2026, 10, 20), date(2026, 11, 20))}


def declined_renewal(contract_id: str) -> None:
    repo = bootstrap.repository()
    contract = repo.get_contract(contract_id)
    assert contract is not None
    contract.term_start, contract.renewal_date = DECLINED[contract_id]
    contract.billing_anchor_day, contract.status = 20, "past_due"
    contract.failed_renewal_attempts, contract.renewal_attempted_on = 1, DECLINED[contract_id][1]
    work = repo.unit_of_work()
    work.save_contract(contract)
    work.commit()


def add_sca_cards() -> None:
    """Each team's 3-D Secure card (SCA_CARD_OF), stored as the seed stores its cards (idempotent)."""
    work = bootstrap.repository().unit_of_work()
    for account_id, card in SCA_CARD_OF.values():
        work.add_payment_method(PaymentMethod(card, account_id, "visa", "3220", 12, 2034, "tok_threeDSecure2Required"))
    work.commit()


def charge_to_sca_card(contract_id: str, order_id: str | None = None) -> None:
    """The draft `order_id` (chosen by its manager), else the contract, is charged to its team's 3-D Secure
    card (add_sca_cards() first)."""
    repo = bootstrap.repository()
    account_id, card_id = SCA_CARD_OF[contract_id]
    if order_id is not None:
        payment_methods.set_order_payment_method(repo, bootstrap.payment_gateway(), order_id, card_id,
                                                 TEAM_OF_CONTRACT[contract_id][1])
        return
    contract = repo.get_contract(contract_id)
    card = repo.get_payment_method(account_id, card_id)
    assert contract is not None and card is not None
    contract.payment_method = card
    work = repo.unit_of_work()
    work.save_contract(contract)
    work.commit()


class Scene:
    """Puts both contracts back as seeded before a request; optionally with a fresh draft or a
    pending reduction on a contract. Cheap (one BatchWriteItem), so every cell starts clean."""

    def __init__(self) -> None:
        self.contracts = seed_contract_items()

    def reset(self, *, drafts: tuple[str, ...] = (), reductions: tuple[str, ...] = ()) -> dict[str, str]:
        """Returns {contract_id: id of its new draft} for the contracts in `drafts`."""
        repo = bootstrap.repository()
        repo.put_items(self.contracts)
        made = {}
        for contract_id in drafts:
            subscription_id, manager = TEAM_OF_CONTRACT[contract_id]
            made[contract_id] = add_seats.create_draft(repo, contract_id, subscription_id, 2, manager).order_id
        for contract_id in reductions:
            subscription_id, manager = TEAM_OF_CONTRACT[contract_id]
            contract = repo.get_contract(contract_id)
            subscription = contract.subscription(subscription_id)
            subscription.pending_reduction = PendingReduction(subscription.seats - 1, manager, clock.utc_now())
            work = repo.unit_of_work()
            work.save_contract(contract)
            work.commit()
        return made


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any  # parsed JSON when it is JSON, else the raw bytes (None when empty)
    headers: dict[str, str]  # names lower-cased

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip()

    @property
    def code(self) -> str | None:
        return self.body.get("code") if isinstance(self.body, dict) else None


def _parsed(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw


class Api:
    """The HTTP API in this process: `api.call("GET", "/contracts", user="u-alice")`."""

    def __init__(self) -> None:
        ready = threading.Event()
        ready.set()
        self.gateway = ApiGateway(FunctionHost(), {}, ready)

    @staticmethod
    def token(user_id: str, **claims: Any) -> str:
        return jwt_tokens.issue(user_id, f"{user_id}@example.test", **claims)

    def send(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes = b"") -> Answer:
        response = self.gateway.handle(Request(method, target, headers, body, "127.0.0.1"))
        return Answer(response.status, _parsed(response.body), {k.lower(): v for k, v in response.headers})

    def call(self, method: str, path: str, *, user: str | None = None, token: str | None = None,
             body: Any = None, raw_body: bytes | None = None, headers: dict[str, str] | None = None,
             query: dict[str, str] | None = None) -> Answer:
        """`user` sends a fresh valid token for that user; `token` sends that token as is."""
        sent = [("Host", "127.0.0.1:3000"), *(headers or {}).items()]
        if user is not None:
            token = self.token(user)
        if token is not None:
            sent.append(("Authorization", f"Bearer {token}"))
        data = raw_body if raw_body is not None else (json.dumps(body).encode() if body is not None else b"")
        if data:
            sent.append(("Content-Type", "application/json"))
        target = path + ("?" + urlencode(query) if query else "")
        return self.send(method, target, sent, data)


def path_of(template_path: str, **parameters: str) -> str:
    """`/contracts/{contract_id}` with its parameters filled in (percent-encoded)."""
    path = template_path
    for name, value in parameters.items():
        path = path.replace("{" + name + "}", quote(value, safe=""))
    return path


@pytest.fixture
def world(aws: None) -> dict[str, Any]:
    """moto with the tables of template.yaml and the reliability seed loaded."""
    data = reliability_seed()
    seed_loader.load(bootstrap.repository(), data)
    return data


@pytest.fixture
def api(world: dict[str, Any]) -> Iterator[Api]:
    yield Api()


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> report.Recorder:
    """Rows for RELIABILITY.md; recorded rows are kept only if the test passes."""
    return report.recorder_for(request.node)
