"""docs/events.md documents every domain event and history entry exactly: its tables ("The events",
"History entries") against the dataclasses of seats.domain.events and seats.domain.history, and the
sample events of events/ against the tables."""

from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from collections import Counter
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from seats.domain import events, history
from seats.domain.money import Money

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "events.md"
SAMPLES = ROOT / "events"

# The outbox adds it to every detail (UnitOfWork.add_event); docs/events.md lists it in every table.
OUTBOX_FIELDS = {"event_id": "string"}

Table = dict[str, str]  # field -> documented JSON type


# --- the document ------------------------------------------------------------------------------

def _sections(text: str, level: str) -> dict[str, str]:
    """Heading (backticks dropped) -> the text under it, for headings of exactly `level` ("##")."""
    parts = re.split(rf"^{level} (.+)$", text, flags=re.MULTILINE)
    found: dict[str, str] = {}
    for heading, body in zip(parts[1::2], parts[2::2], strict=True):
        name = heading.strip().strip("`")
        assert name not in found, f"docs/events.md: {level} {heading} twice"
        found[name] = body
    return found


def _cells(line: str) -> list[str]:
    inner = line.strip().removeprefix("|").removesuffix("|")
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", inner)]


def _tables(body: str) -> list[Table]:
    """The field | type | meaning tables in `body`, in order."""
    tables: list[Table] = []
    block: list[str] = []
    for line in [*body.splitlines(), ""]:
        if line.lstrip().startswith("|"):
            block.append(line)
            continue
        if block:
            header, rule, *rows = block
            assert _cells(header) == ["field", "type", "meaning"], f"unexpected table header: {header}"
            assert set(rule) <= set("|-: "), f"no separator row under {header}"
            table: Table = {}
            for row in rows:
                field, kind, meaning = _cells(row)
                name = field.strip("`")
                assert name not in table, f"{name} documented twice"
                assert meaning, f"{name}: no meaning"
                table[name] = kind
            tables.append(table)
            block = []
    return tables


def _documented(section: str) -> dict[str, list[Table]]:
    text = DOC.read_text(encoding="utf-8")
    top = _sections(text, "##")
    assert section in top, f'docs/events.md has no section "{section}"'
    return {name: _tables(body) for name, body in _sections(top[section], "###").items()}


DOCUMENTED_EVENTS = _documented("The events")
DOCUMENTED_HISTORY = _documented("History entries")


# --- the code ----------------------------------------------------------------------------------

SIMPLE = {str: "string", int: "integer", bool: "boolean", Money: "money string", date: "date"}


def _is_record(annotation: Any) -> bool:
    """A nested record, serialised as an object (Money is a dataclass too, but a string)."""
    return dataclasses.is_dataclass(annotation) and annotation not in SIMPLE


def _json_type(annotation: Any) -> str:
    """How a field of this type looks in the JSON `detail` produces."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        others = [arg for arg in args if arg is not type(None)]
        assert len(others) == 1 and len(args) == 2, f"no JSON type for {annotation}"
        return f"{_json_type(others[0])}|null"
    if origin is list:
        (item,) = args
        return "list of {…}" if _is_record(item) else f"list of {_json_type(item)}"
    assert annotation in SIMPLE, f"no JSON type for {annotation}"
    return SIMPLE[annotation]


def _serialised(cls: type) -> Table:
    """The fields of `detail(record)` for a record of `cls`, with their JSON types; the fields of
    nested records as `outer[].inner`. The trailing underscore rule of events.detail applies."""
    hints = typing.get_type_hints(cls)
    table: Table = {}
    for field in dataclasses.fields(cls):
        name, annotation = field.name.rstrip("_"), hints[field.name]
        table[name] = _json_type(annotation)
        nested = [arg for arg in typing.get_args(annotation) if _is_record(arg)]
        for record in nested:
            table.update({f"{name}[].{inner}": kind for inner, kind in _serialised(record).items()})
    return table


def _sample(annotation: Any) -> Any:
    """A value of this type, to run the real serialisation on."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return _sample(next(arg for arg in args if arg is not type(None)))
    if origin is list:
        return [_sample(args[0])]
    if _is_record(annotation):
        hints = typing.get_type_hints(annotation)
        return annotation(**{f.name: _sample(hints[f.name]) for f in dataclasses.fields(annotation)})
    return {str: "x", int: 3, bool: True, Money: Money(Decimal("12.50"), "USD"), date: date(2027, 3, 1)}[annotation]


def _entry_classes(cls: type = history.Entry) -> list[type[history.Entry]]:
    found: list[type[history.Entry]] = []
    for sub in cls.__subclasses__():
        found += [sub, *_entry_classes(sub)]
    return found


ENTRIES = _entry_classes()


def _conforms(value: Any, kind: str) -> bool:
    if kind.endswith("|null"):
        return value is None or _conforms(value, kind.removesuffix("|null"))
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "money string":
        return isinstance(value, str) and re.fullmatch(r"[0-9]+(\.[0-9]+)?", value) is not None
    if kind == "date":
        return isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) is not None
    if kind == "list of {…}":
        return isinstance(value, list) and all(isinstance(item, dict) for item in value)
    if kind.startswith("list of "):  # a list of plain values (strings, ...)
        return isinstance(value, list) and all(_conforms(item, kind.removeprefix("list of ")) for item in value)
    raise AssertionError(f"unknown documented type {kind!r}")


def _assert_matches(detail: dict[str, Any], table: Table, where: str) -> None:
    """A JSON detail has exactly the documented fields, each of its documented type."""
    top = {name: kind for name, kind in table.items() if "[]." not in name}
    assert set(detail) == set(top), f"{where}: fields differ from docs/events.md"
    for name, value in detail.items():
        assert _conforms(value, top[name]), f"{where}: {name}={value!r} is not {top[name]}"
        if top[name] == "list of {…}":
            nested = {n.split("[].", 1)[1]: k for n, k in table.items() if n.startswith(f"{name}[].")}
            for item in value:
                _assert_matches(item, nested, f"{where}.{name}[]")


# --- the tests ---------------------------------------------------------------------------------

def test_every_domain_event_is_documented_and_nothing_else():
    assert set(DOCUMENTED_EVENTS) == {cls.detail_type for cls in events.ALL}


@pytest.mark.parametrize("cls", events.ALL, ids=lambda cls: cls.detail_type)
def test_an_events_table_lists_its_detail(cls):
    tables = DOCUMENTED_EVENTS.get(cls.detail_type)
    assert tables is not None, f"{cls.detail_type} is not documented"
    assert len(tables) == 1, f"{cls.detail_type}: one table expected, {len(tables)} found"
    assert tables[0] == {**OUTBOX_FIELDS, **_serialised(cls)}
    # the real serialisation, with the event_id the outbox adds, fits the table too
    sample = _sample(cls)
    _assert_matches({**events.detail(sample), "event_id": "evt_1"}, tables[0], cls.detail_type)


def test_every_history_type_is_documented_and_nothing_else():
    assert ENTRIES, "no Entry subclasses found"
    assert set(DOCUMENTED_HISTORY) == {cls.type for cls in ENTRIES}


@pytest.mark.parametrize("entry_type", sorted({cls.type for cls in ENTRIES}))
def test_each_variant_of_a_history_type_is_documented(entry_type):
    """One table per Entry class of the type: the same field sets, however many share the type."""
    def key(table: Table) -> tuple[tuple[str, str], ...]:
        return tuple(sorted(table.items()))

    classes = [cls for cls in ENTRIES if cls.type == entry_type]
    documented = DOCUMENTED_HISTORY.get(entry_type, [])
    assert Counter(map(key, documented)) == Counter(key(_serialised(cls)) for cls in classes)
    for cls in classes:
        table = _serialised(cls)
        entry = history.HistoryEvent.of(_sample(cls), contract_id="c", at=datetime(2027, 3, 1, tzinfo=UTC),
                                        actor=history.SYSTEM)
        _assert_matches(entry.details, table, cls.__name__)


def _sample_details() -> list[tuple[str, str, dict[str, Any]]]:
    """(file, detail-type, detail) of every domain event in events/: as the bus delivers it
    (`detail-type`, source `seats`), or as the outbox's stream record carries it."""
    found = []
    for path in sorted(SAMPLES.glob("*.json")):
        sample = json.loads(path.read_text(encoding="utf-8"))
        if "detail-type" in sample and sample.get("source") == "seats":
            found.append((path.name, sample["detail-type"], sample["detail"]))
        for record in sample.get("Records", []) if isinstance(sample, dict) else []:
            image = record.get("dynamodb", {}).get("NewImage", {})
            if "detail_type" in image:
                found.append((path.name, image["detail_type"]["S"], json.loads(image["detail"]["S"])))
    return found


def test_the_sample_events_match_the_documented_fields():
    samples = _sample_details()
    assert samples, "events/ has no sample domain event (outbox_stream_batch.json carries one)"
    for name, detail_type, detail in samples:
        assert detail_type in DOCUMENTED_EVENTS, f"{name}: {detail_type} is not documented"
        _assert_matches(detail, DOCUMENTED_EVENTS[detail_type][0], f"{name} ({detail_type})")
