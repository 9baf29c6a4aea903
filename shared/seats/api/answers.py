"""A route's OpenAPI answers: its success, and each error status with the problem codes it can carry.

Codes are ErrorCode members (docs/api.md, Error codes); the eligibility conflicts are the shared tuples
of seats.domain.codes, so that a route and the rules list them alike."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from seats.api.problems import PROBLEM_JSON
from seats.api.schemas import Problem
from seats.domain.codes import ErrorCode

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse


def answer(description: str, model: Any) -> OpenAPIResponse:
    """One successful answer: `model` None leaves its schema to Powertools (the route's return type) or to no body."""
    ok: OpenAPIResponse = {"description": description}
    if model is not None:
        ok["content"] = {"application/json": {"model": model}}
    return ok


def answers(success: int, description: str, model: Any,
            problems: Mapping[int, Sequence[ErrorCode]]) -> dict[int, Any]:
    """The success (`answer`), and each error status described by its codes, joined with " | "."""
    return {success: answer(description, model), **{
        status: {"description": " | ".join(codes), "content": {PROBLEM_JSON: {"model": Problem}}}
        for status, codes in problems.items()
    }}
