"""template.yaml as data: the tables, queues and routes that tests and the local runtime build from.

Nothing here restates the template: tables are created from their own resource properties and
routes are read from each function's HttpApi events, so infrastructure and code cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation short-form intrinsics (!Ref, !Sub, !GetAtt...) as {"Fn": value} maps."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


@cache
def load(path: Path = TEMPLATE) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass


def resources(kind: str, path: Path = TEMPLATE) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in load(path)["Resources"].items() if r["Type"] == kind}


def create_table_requests(path: Path = TEMPLATE, streams: bool = True) -> dict[str, dict[str, Any]]:
    """CreateTable arguments per table logical id, taken from the template's own properties.

    The physical name is the logical id (what TABLE_NAME is set to in tests and locally).
    `streams=False` leaves the tables' streams out (see `bench.common.mocked_world`).
    """
    requests = {}
    for logical_id, resource in resources("AWS::DynamoDB::Table", path).items():
        props = resource["Properties"]
        request: dict[str, Any] = {
            "TableName": logical_id,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PROVISIONED"),
        }
        if props.get("GlobalSecondaryIndexes"):
            request["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        if props.get("SSESpecification", {}).get("SSEEnabled"):
            request["SSESpecification"] = {"Enabled": True}
        if streams and props.get("StreamSpecification"):
            request["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
        requests[logical_id] = {"create": request, "ttl": props.get("TimeToLiveSpecification")}
    return requests


def create_tables(dynamodb_client: Any, path: Path = TEMPLATE, streams: bool = True) -> list[str]:
    names = []
    for logical_id, spec in create_table_requests(path, streams).items():
        dynamodb_client.create_table(**spec["create"])
        if spec["ttl"]:
            dynamodb_client.update_time_to_live(TableName=logical_id, TimeToLiveSpecification=spec["ttl"])
        names.append(logical_id)
    return names


def queue_definitions(path: Path = TEMPLATE) -> dict[str, dict[str, Any]]:
    return {name: r.get("Properties", {}) for name, r in resources("AWS::SQS::Queue", path).items()}


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    function: str  # logical id


@dataclass(frozen=True)
class Function:
    logical_id: str
    module: str  # importable module of the handler, e.g. functions.list_contracts.app
    handler: str  # attribute name, e.g. lambda_handler
    environment: dict[str, Any]
    events: dict[str, Any]


def functions(path: Path = TEMPLATE) -> dict[str, Function]:
    found = {}
    for logical_id, resource in resources("AWS::Serverless::Function", path).items():
        props = resource["Properties"]
        code_dir = props["CodeUri"].strip("/").replace("/", ".")
        module_name, handler = props["Handler"].rsplit(".", 1)
        found[logical_id] = Function(
            logical_id=logical_id,
            module=f"{code_dir}.{module_name}",
            handler=handler,
            environment=props.get("Environment", {}).get("Variables", {}),
            events=props.get("Events", {}),
        )
    return found


def event_sources(event_type: str, path: Path = TEMPLATE) -> list[tuple[str, dict[str, Any]]]:
    """(function logical id, event properties) of every event of one type (`SQS`, `DynamoDB`, ...)."""
    return [(function.logical_id, event.get("Properties", {})) for function in functions(path).values()
            for event in function.events.values() if event.get("Type") == event_type]


def routes(path: Path = TEMPLATE) -> list[Route]:
    found = []
    for function in functions(path).values():
        for event in function.events.values():
            if event["Type"] == "HttpApi":
                found.append(Route(event["Properties"]["Method"].upper(), event["Properties"]["Path"],
                                   function.logical_id))
    return found
