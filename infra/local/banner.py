"""What `seats-local start` prints once ready: where things are, the demo users with tokens, examples."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from infra.local import jwt_tokens
from infra.seed import SeedFile
from seats.clock import iso, today, utc_now
from seats.domain.eligibility import Change, ineligibility


@dataclass
class DemoUser:
    user_id: str
    email: str
    roles: dict[str, str] = field(default_factory=dict)  # account id -> team role
    manages: list[str] = field(default_factory=list)  # contract ids
    reads: dict[str, int] = field(default_factory=dict)  # account id -> contracts seen read-only

    def abilities(self) -> str:
        parts = []
        if self.manages:
            parts.append(f"manages {len(self.manages)} contract(s): {', '.join(self.manages)}")
        parts.extend(f"sees {n} {'more ' if self.manages else ''}contract(s) of {account} read-only (primary admin)"
                     for account, n in self.reads.items() if n)
        return "; ".join(parts) or "sees no contract (GET /contracts answers an empty list; any contract is 404)"


def demo_users(seed: SeedFile) -> list[DemoUser]:
    users: dict[str, DemoUser] = {}
    for account in seed.accounts:
        for u in account.users:
            users.setdefault(u.user_id, DemoUser(u.user_id, u.email)).roles[account.account_id] = u.role
        for contract in account.contracts:
            users[contract.contract_manager].manages.append(contract.contract_id)
        for u in account.users:
            if u.role == "primary_admin":
                user = users[u.user_id]
                user.reads[account.account_id] = sum(
                    1 for c in account.contracts if c.contract_manager != u.user_id)
    return list(users.values())


def token_variable(user_id: str) -> str:
    return "TOKEN_" + re.sub(r"\W", "_", user_id).upper()


def _addable(repository: object, seed: SeedFile) -> Iterator[tuple[str, str, str]]:
    """(manager, contract id, subscription id) where adding seats is allowed today."""
    for account in seed.accounts:
        for raw in account.contracts:
            contract = repository.get_contract(raw.contract_id)  # type: ignore[attr-defined]
            for subscription in contract.subscriptions if contract else []:
                if ineligibility(Change.ADD, contract, subscription, contract.contract_manager, today()) is None:
                    yield contract.contract_manager, contract.contract_id, subscription.subscription_id


def _payments() -> str:
    provider = os.environ.get("SEATS_PAYMENTS", "sandbox")
    if provider == "stripe":
        return f"stripe at {os.environ.get('STRIPE_API_BASE') or 'https://api.stripe.com'}"
    return provider


def render(seed: SeedFile, repository: object, *, api_url: str, lambda_url: str, aws_url: str,
           unavailable: list[str], ttl_seconds: int = jwt_tokens.DEFAULT_TTL_SECONDS) -> str:
    now = os.environ.get("SEATS_NOW")
    lines = [
        "seats-local is ready",
        f"  HTTP API         {api_url}",
        f"  Lambda invoke    {lambda_url}   (sam local start-lambda compatible, by logical id)",
        f"  AWS (moto)       {aws_url}",
        f"  now              {'SEATS_NOW=' + now if now else 'the real clock (SEATS_NOW is not set)'}",
        f"  payments         {_payments()}",
    ]
    if unavailable:
        lines.append(f"  NOT LOADED       {', '.join(unavailable)} (their routes answer 500 function_unavailable;"
                     " see the log above)")
    lines += ["", f"Demo users (tokens valid {ttl_seconds // 3600} h; a new one: seats-local token USER_ID):"]
    users = demo_users(seed)
    for user in users:
        teams = ", ".join(f"{account} ({role})" for account, role in user.roles.items())
        lines += [
            f"  {user.user_id} <{user.email}>",
            f"      teams:  {teams}",
            f"      can:    {user.abilities()}",
            f"      export {token_variable(user.user_id)}={jwt_tokens.issue(user.user_id, user.email, ttl_seconds)}",
        ]
    lines += ["", "Try (after the exports above):"]
    example = next(_addable(repository, seed), None)
    manager = example[0] if example else (users[0].user_id if users else "u-alice")
    auth = f'-H "Authorization: Bearer ${token_variable(manager)}"'
    lines.append(f"  curl -s {api_url}/contracts {auth}")
    if example:
        _, contract_id, subscription_id = example
        lines += [
            f"  ORDER=$(curl -s -X POST {api_url}/contracts/{contract_id}/subscriptions/{subscription_id}/seat-orders "
            f"{auth} -H 'Content-Type: application/json' -d '{{\"seats_to_add\": 2}}' "
            "| python3 -c 'import json,sys; print(json.load(sys.stdin)[\"order_id\"])')",
            f"  curl -s -X POST {api_url}/orders/$ORDER/submit {auth} "
            "-H \"Idempotency-Key: $(python3 -c 'import uuid; print(uuid.uuid4())')\"",
        ]
    lines += [
        f"  curl -s {api_url}/_local/charges",
        f"  curl -s {api_url}/_local/events",
        "  # a submit answered 202 (a card that asks for 3-D Secure, tok_threeDSecure2Required): the cardholder "
        "passes the bank's challenge",
        f"  curl -s -X POST {api_url}/_local/payments/$CHARGE_ID/authenticate -d '{{\"success\": true}}'",
        f"  curl -s -X POST {lambda_url}/2015-03-31/functions/RenewalSchedulerFunction/invocations "
        f"-d '{{\"source\": \"aws.scheduler\", \"detail-type\": \"Scheduled Event\", \"time\": \"{iso(utc_now())}\", "
        "\"detail\": {}}'",
        "",
        "Ctrl-C stops everything.",
    ]
    return "\n".join(lines)
