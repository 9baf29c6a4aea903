"""seats.adapters.dynamodb.attributes: the wire shape of items, as boto3's TypeSerializer gives it."""

from decimal import Decimal, Inexact, Rounded

import pytest
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from seats.adapters.dynamodb import attributes

VALUES = [
    None, True, False, "", "café", 0, -7, 10**37, Decimal("171.40"), Decimal("-0.005"), Decimal("1E+5"),
    b"\x00\xff", {"a": {"b": [1, "x", None, {"c": Decimal("2.50")}]}}, [], {}, ["a", ["b", []]],
    {"x", "y"}, {Decimal("1"), Decimal("2.5")},
]
IDS = [f"{n}-{type(v).__name__}" for n, v in enumerate(VALUES)]  # stable across workers (sets hash randomly)


@pytest.mark.parametrize("value", VALUES, ids=IDS)
def test_the_wire_shape_is_boto3s(value):
    assert attributes.serialize(value) == TypeSerializer().serialize(value)


@pytest.mark.parametrize("value", VALUES, ids=IDS)
def test_values_come_back_as_boto3_reads_them(value):
    wire = TypeSerializer().serialize(value)
    assert attributes.deserialize(wire) == TypeDeserializer().deserialize(wire)


def test_a_whole_item_round_trips_with_money_exact():
    item = {"PK": "CONTRACT#1", "total": Decimal("1234.57"), "seats": 12, "lines": [{"amount": Decimal("0.01")}]}
    back = attributes.from_item(attributes.to_item(item))
    assert back == item
    assert str(back["total"]) == "1234.57"
    assert isinstance(back["seats"], Decimal)


def test_floats_are_refused_so_money_never_passes_through_one():
    with pytest.raises(TypeError, match="floats are refused"):
        attributes.serialize({"amount": 0.1})


def test_a_number_dynamodb_would_round_is_an_error():
    with pytest.raises((Inexact, Rounded)):
        attributes.serialize(Decimal("1." + "1" * 40))


def test_an_unknown_type_is_named():
    with pytest.raises(TypeError, match="cannot store object"):
        attributes.serialize(object())
    with pytest.raises(TypeError, match="unknown DynamoDB attribute type 'X'"):
        attributes.deserialize({"X": "1"})
