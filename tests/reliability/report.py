"""RELIABILITY.md: the figures of the reliability suite, written at the end of every run that has any.

Each test records rows through the `figures` fixture: {area, what was tried, cases, what held}.
A row counts only if its test passes; a reliability test that fails leaves a FAILED row instead,
so the report never claims what did not hold.

Robust under pytest-xdist: each process (a worker, or the only process) writes its rows to a
JSON fragment `test-artifacts/reliability/<run>-<worker>.json`, where <run> is xdist's
`testrunuid` (the same for every worker of one run), then, under a file lock, merges every
fragment of its run into RELIABILITY.md. The last process to finish therefore writes the whole
run. Areas this run did not touch (say `make fuzz` ran alone) keep their rows from the previous
report, which carries its data in an HTML comment for that purpose.
"""

from __future__ import annotations

import fcntl
import json
import re
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "RELIABILITY.md"
FRAGMENTS = ROOT / "test-artifacts" / "reliability"
STALE_FRAGMENT_SECONDS = 24 * 3600

AREAS = {  # module -> area, in report order
    "test_fuzz": "Fuzzing (schemathesis against openapi.json)",
    "test_authorization_matrix": "Authorization matrix (docs/api.md: People and roles, HTTP API)",
    "test_concurrency": "Concurrency (one subscription, many writers)",
    "test_fault_injection": "Fault injection (DynamoDB, payment provider, crashed worker)",
    "test_ledger_model": "Ledger model (money invariants, hypothesis state machine, docs/payments.md)",
    "test_input_hardening": "Input hardening (hostile requests)",
    "test_template_security": "Template security (template.yaml)",
}
DATA_MARK = re.compile(r"<!-- reliability-data\n(.*?)\n-->", re.S)


@dataclass(frozen=True)
class Row:
    area: str
    tried: str
    cases: int
    held: str
    test: str
    passed: bool = True


_pending: dict[str, list[Row]] = {}
_kept: list[Row] = []
_run: dict[str, Any] = {}


def area_of(nodeid: str) -> str:
    module = nodeid.split("::")[0].rsplit("/", 1)[-1].removesuffix(".py")
    return AREAS.get(module, module)


class Recorder:
    def __init__(self, nodeid: str) -> None:
        self.nodeid = nodeid

    def row(self, tried: str, cases: int, held: str) -> None:
        """Record one row for this test's area; call it after the assertions it summarises."""
        _pending.setdefault(self.nodeid, []).append(Row(area_of(self.nodeid), tried, int(cases), held, self.nodeid))


def recorder_for(node: pytest.Item) -> Recorder:
    return Recorder(node.nodeid)


# -- hooks (imported by tests/reliability/conftest.py) --------------------------------------------------

def pytest_configure(config: pytest.Config) -> None:
    workerinput = getattr(config, "workerinput", None)
    numprocesses = getattr(config.option, "numprocesses", None)
    _run["controller"] = workerinput is None and numprocesses not in (None, 0, "0")
    _run["id"] = workerinput["testrunuid"] if workerinput else uuid.uuid4().hex
    _run["worker"] = workerinput["workerid"] if workerinput else "main"


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if _run.get("controller") or "tests/reliability/" not in report.nodeid.replace("\\", "/"):
        return
    if report.when == "call" and report.passed:
        _kept.extend(_pending.pop(report.nodeid, []))
    elif report.failed:
        _pending.pop(report.nodeid, None)
        name = report.nodeid.split("::", 1)[-1]
        _kept.append(Row(area_of(report.nodeid), name, 0, f"FAILED ({report.when})", report.nodeid, passed=False))


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _run.get("controller") or not _kept:
        return
    FRAGMENTS.mkdir(parents=True, exist_ok=True)
    fragment = FRAGMENTS / f"{_run['id']}-{_run['worker']}.json"
    fragment.write_text(json.dumps([asdict(r) for r in _kept]), encoding="utf-8")
    with open(FRAGMENTS / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        rows = [Row(**r) for f in sorted(FRAGMENTS.glob(f"{_run['id']}-*.json"))
                for r in json.loads(f.read_text(encoding="utf-8"))]
        write_report(merge(previous_rows(), rows))
        _drop_stale_fragments()


# -- the document ------------------------------------------------------------------------------------

def previous_rows() -> list[Row]:
    if not REPORT.exists():
        return []
    found = DATA_MARK.search(REPORT.read_text(encoding="utf-8"))
    if not found:
        return []
    try:
        return [Row(**r) for r in json.loads(found.group(1))]
    except (ValueError, TypeError):
        return []


def merge(previous: list[Row], current: list[Row]) -> list[Row]:
    """This run's rows; for areas this run did not touch, the previous report's."""
    touched = {r.area for r in current}
    known = set(AREAS.values())
    return [r for r in previous if r.area in known and r.area not in touched] + current


def _order(row: Row) -> tuple[int, str]:
    areas = list(AREAS.values())
    return (areas.index(row.area) if row.area in areas else len(areas), row.test)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(rows: list[Row]) -> str:
    rows = sorted(rows, key=_order)  # stable: a test's rows keep their order
    lines = [
        "# Reliability",
        "",
        "Generated by the reliability suite (`tests/reliability/`, run by `make test`; `make fuzz` runs the",
        "fuzzing with a larger budget). Do not edit by hand: every row is written by a test after its",
        "assertions passed; a failing test shows as FAILED.",
        "",
        "| area | rows | cases | failed |",
        "|---|---:|---:|---:|",
    ]
    areas = list(dict.fromkeys(r.area for r in rows))
    for area in areas:
        mine = [r for r in rows if r.area == area]
        lines.append(f"| {_cell(area)} | {len(mine)} | {sum(r.cases for r in mine)} | "
                     f"{sum(not r.passed for r in mine)} |")
    for area in areas:
        lines += ["", f"## {area}", "", "| what was tried | cases | what held |", "|---|---:|---|"]
        lines += [f"| {_cell(r.tried)} | {r.cases} | {_cell(r.held)} |" for r in rows if r.area == area]
    data = "[\n" + ",\n".join(json.dumps(asdict(r), ensure_ascii=False) for r in rows) + "\n]"
    lines += ["", "<!-- reliability-data", data.replace(">", "\\u003e"), "-->", ""]
    return "\n".join(lines)


def write_report(rows: list[Row]) -> None:
    REPORT.write_text(render(rows), encoding="utf-8")


def _drop_stale_fragments() -> None:
    for fragment in FRAGMENTS.glob("*.json"):
        if fragment.stat().st_mtime < time.time() - STALE_FRAGMENT_SECONDS:
            fragment.unlink(missing_ok=True)
