"""docs/api.md, "Error codes", lists every code of seats.domain.codes.ErrorCode (and nothing else), each with
the HTTP status its DomainError answers; the HTTP API table lists every route of template.yaml."""

from __future__ import annotations

import re
from pathlib import Path

from infra import template
from seats.domain import errors
from seats.domain.codes import ErrorCode

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def _section(heading: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    parts = re.split(r"^## (.+)$", text, flags=re.MULTILINE)
    sections = dict(zip(parts[1::2], parts[2::2], strict=True))
    assert heading in sections, f'docs/api.md has no section "## {heading}"'
    return sections[heading]


def _documented_codes() -> dict[str, int]:
    rows = re.findall(r"^\| `([a-z_]+)` \| (\d{3}) \|", _section("Error codes"), flags=re.MULTILINE)
    assert len(rows) == len(set(code for code, _ in rows)), "a code is listed twice"
    return {code: int(status) for code, status in rows}


def test_every_error_code_is_documented_and_nothing_else():
    documented = _documented_codes()
    codes = {code.value for code in ErrorCode}
    assert codes - set(documented) == set(), "ErrorCode members missing from docs/api.md, Error codes"
    assert set(documented) - codes == set(), "docs/api.md, Error codes, lists codes ErrorCode does not have"


def test_each_documented_status_is_the_one_its_error_answers():
    documented = _documented_codes()
    classes = [cls for cls in vars(errors).values()
               if isinstance(cls, type) and issubclass(cls, errors.DomainError) and "code" in vars(cls)]
    assert classes, "no DomainError with a code of its own"
    for cls in classes:
        assert documented[cls.code] == cls.status, f"{cls.__name__}: {cls.code} answers {cls.status}"
    assert documented[ErrorCode.INVALID_SIGNATURE] == 400


def test_the_http_api_table_lists_every_route_of_the_template():
    rows = set(re.findall(r"^\| (GET|POST|PUT|PATCH|DELETE) \| `([^`]+)` \| (\w+) \|", _section("HTTP API"),
                          flags=re.MULTILINE))
    routes = {(route.method, route.path, route.function) for route in template.routes()}
    assert routes - rows == set(), "routes of template.yaml missing from docs/api.md, HTTP API"
    assert rows - routes == set(), "docs/api.md, HTTP API, lists routes template.yaml does not have"
