"""A route's OpenAPI answers: its success, and each error status with the problem codes it can carry."""

from __future__ import annotations

from typing import Any

from seats.api.problems import PROBLEM_JSON
from seats.api.schemas import Problem

# SPEC §4.1 rules 2-7, shared by adding and reducing seats (rule 1 is the 403).
ELIGIBILITY_409 = ["contract_not_active", "not_purchased_online", "not_auto_renewing", "region_not_supported",
                   "maintenance_plan", "renewal_due"]
ADD_SEATS_409 = [*ELIGIBILITY_409, "reduction_pending", "seat_limit_reached"]


def answers(success: int, description: str, model: Any, problems: dict[int, list[str]]) -> dict[int, Any]:
    """`model` None leaves the success schema to Powertools (the route's return type) or to no body."""
    ok: dict[str, Any] = {"description": description}
    if model is not None:
        ok["content"] = {"application/json": {"model": model}}
    return {success: ok, **{
        status: {"description": " | ".join(codes), "content": {PROBLEM_JSON: {"model": Problem}}}
        for status, codes in problems.items()
    }}
