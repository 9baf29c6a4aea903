"""Local JWTs (docs/api.md, Local runtime): HS256, `iss` seats-local, `aud` seats-api, `exp` required.

`verify` checks a token as the API Gateway JWT authorizer does and returns the claims it would
pass on to the function, or raises `InvalidToken` (the gateway then answers 401).
"""

from __future__ import annotations

import json
import os
import time
import warnings
from typing import Any

import jwt
from jwt.warnings import InsecureKeyLengthWarning

# The local secret is fixed (docs/api.md, Local runtime) and shorter than PyJWT's 32 bytes: it signs local
# tokens only, so the warning would be noise on every token.
warnings.filterwarnings("ignore", category=InsecureKeyLengthWarning)

ISSUER = "seats-local"
AUDIENCE = "seats-api"
ALGORITHM = "HS256"
DEFAULT_SECRET = "seats-local-dev-secret"
DEFAULT_TTL_SECONDS = 24 * 3600


class InvalidToken(Exception):
    pass


def secret() -> str:
    return os.environ.get("SEATS_LOCAL_JWT_SECRET") or DEFAULT_SECRET


def issue(user_id: str, email: str | None = None, ttl_seconds: int = DEFAULT_TTL_SECONDS,
          **claims: Any) -> str:
    """A signed token for `user_id`; `claims` override or add claims (tests use it for bad tokens)."""
    now = int(time.time())
    payload: dict[str, Any] = {"sub": user_id, "iss": ISSUER, "aud": AUDIENCE, "iat": now,
                               "exp": now + ttl_seconds}
    if email:
        payload["email"] = email
    payload.update(claims)
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, secret(), algorithm=ALGORITHM)


def bearer_token(authorization: str | None) -> str:
    """The token of an Authorization header; like API Gateway, the `Bearer ` prefix is optional."""
    if not authorization or not authorization.strip():
        raise InvalidToken("no token")
    value = authorization.strip()
    if value[:7].lower() == "bearer ":
        value = value[7:].strip()
    return value


def verify(authorization: str | None) -> dict[str, Any]:
    try:
        return jwt.decode(
            bearer_token(authorization), secret(), algorithms=[ALGORITHM], audience=AUDIENCE, issuer=ISSUER,
            options={"require": ["exp", "iss", "aud"]},
        )
    except jwt.PyJWTError as error:
        raise InvalidToken(str(error)) from None


def gateway_claims(claims: dict[str, Any]) -> dict[str, str]:
    """Claims as API Gateway hands them to the function: every value a string, lists as `[a b]`."""
    def text(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, list):
            return "[" + " ".join(text(v) for v in value) + "]"
        if isinstance(value, dict):
            return json.dumps(value, separators=(",", ":"))
        return str(value)

    return {name: text(value) for name, value in claims.items()}
