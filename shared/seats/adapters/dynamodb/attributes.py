"""Python values <-> DynamoDB attribute values, without importing boto3.

`boto3.dynamodb.types` would do the same, but importing it imports boto3 and s3transfer
(~20 ms of every cold start); the functions talk to AWS through botocore alone
(`seats.bootstrap.aws_client`). Same rules as boto3's: numbers are `Decimal` (or int), checked
against DynamoDB's 38 digits; floats are refused, so money can never pass through one.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from decimal import Clamped, Context, Decimal, Inexact, Overflow, Rounded, Underflow
from typing import Any

# DynamoDB's number limits (the context boto3 uses): any rounding is an error, not a silent change.
NUMBERS = Context(Emin=-128, Emax=126, prec=38, traps=[Clamped, Overflow, Inexact, Rounded, Underflow])


def _number(value: int | Decimal) -> str:
    return str(NUMBERS.create_decimal(value))


def serialize(value: Any) -> dict[str, Any]:
    """One attribute value: None, bool, str, int/Decimal, bytes, a mapping, a list, or a set."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, int | Decimal):
        return {"N": _number(value)}
    if isinstance(value, bytes | bytearray):
        return {"B": bytes(value)}
    if isinstance(value, Mapping):
        return {"M": {str(k): serialize(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [serialize(v) for v in value]}
    if isinstance(value, Set) and value:
        if all(isinstance(v, str) for v in value):
            return {"SS": list(value)}
        if all(isinstance(v, int | Decimal) and not isinstance(v, bool) for v in value):
            return {"NS": [_number(v) for v in value]}
    raise TypeError(f"cannot store {type(value).__name__} {value!r} in DynamoDB (floats are refused: use Decimal)")


def deserialize(attribute: Mapping[str, Any]) -> Any:
    """The Python value of one attribute value (numbers as Decimal)."""
    (kind, value), = attribute.items()
    if kind == "S":
        return value
    if kind == "N":
        return NUMBERS.create_decimal(value)
    if kind == "M":
        return {k: deserialize(v) for k, v in value.items()}
    if kind == "L":
        return [deserialize(v) for v in value]
    if kind == "BOOL":
        return value
    if kind == "NULL":
        return None
    if kind == "B":
        return bytes(value)
    if kind == "SS":
        return set(value)
    if kind == "NS":
        return {NUMBERS.create_decimal(v) for v in value}
    if kind == "BS":
        return {bytes(v) for v in value}
    raise TypeError(f"unknown DynamoDB attribute type {kind!r}")


def to_item(values: Mapping[str, Any]) -> dict[str, Any]:
    """A whole item (or key, or expression values) in DynamoDB's wire shape."""
    return {k: serialize(v) for k, v in values.items()}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: deserialize(v) for k, v in item.items()}
