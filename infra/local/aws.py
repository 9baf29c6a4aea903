"""The embedded AWS: a moto server on loopback with the resources of template.yaml.

Tables come from `infra.template.create_tables`, queues (with their redrive policies) and the event
bus from their own resource properties. One thing is local-only: a rule on the bus that copies
every event to the `seats-local-events` queue, so `/_local/events` can show what was published.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from infra import template
from infra.local.cfn import ACCOUNT_ID, REGION, STACK_NAME, Resolver

EVENTS_QUEUE = f"{STACK_NAME}-events"
EVENTS_RULE = f"{STACK_NAME}-copy-events"
CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local", "region_name": REGION}


@dataclass
class LocalAws:
    """The running moto server and the physical names of what was created in it."""

    server: ThreadedMotoServer
    endpoint_url: str
    physical: dict[str, str] = field(default_factory=dict)  # logical id -> what !Ref answers
    attributes: dict[tuple[str, str], str] = field(default_factory=dict)  # what !GetAtt answers
    queue_urls: dict[str, str] = field(default_factory=dict)  # logical id -> queue URL
    events_queue_url: str = ""

    _clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        """A client of the embedded server (botocore clients are thread-safe, so one per service)."""
        if service not in self._clients:
            self._clients[service] = boto3.client(  # type: ignore[call-overload]
                service, endpoint_url=self.endpoint_url, **CREDENTIALS)
        return self._clients[service]

    def resolver(self) -> Resolver:
        return Resolver(template.load(), self.physical, self.attributes)

    def stop(self) -> None:
        self.server.stop()


def start(host: str = "127.0.0.1") -> LocalAws:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log line per AWS call
    server = ThreadedMotoServer(ip_address=host, port=0, verbose=False)
    server.start()
    bound_host, port = server.get_host_and_port()
    local = LocalAws(server=server, endpoint_url=f"http://{bound_host}:{port}")
    try:
        _create_resources(local)
    except BaseException:
        server.stop()
        raise
    return local


def _create_resources(local: LocalAws) -> None:
    for table in template.create_tables(local.client("dynamodb")):
        local.physical[table] = table
        local.attributes[(table, "Arn")] = f"arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{table}"
        stream = local.client("dynamodb").describe_table(TableName=table)["Table"].get("LatestStreamArn")
        if stream:
            local.attributes[(table, "StreamArn")] = stream
    _create_queues(local)
    _create_buses(local)
    for logical_id in template.functions():
        local.physical[logical_id] = logical_id
        local.attributes[(logical_id, "Arn")] = function_arn(logical_id)


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"


def _create_queues(local: LocalAws) -> None:
    sqs = local.client("sqs")
    pending = dict(template.queue_definitions())
    while pending:
        resolver = local.resolver()
        ready = {name: props for name, props in pending.items() if _dead_letter_queue_exists(resolver, props)}
        if not ready:
            raise RuntimeError(f"queues whose dead-letter queue cannot be resolved: {sorted(pending)}")
        for name, props in ready.items():
            url = sqs.create_queue(QueueName=name, Attributes=_queue_attributes(resolver.resolve(props)))["QueueUrl"]
            local.queue_urls[name] = local.physical[name] = url
            local.attributes[(name, "QueueUrl")] = url
            local.attributes[(name, "QueueName")] = name
            local.attributes[(name, "Arn")] = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}"
            del pending[name]


def _dead_letter_queue_exists(resolver: Resolver, props: dict[str, Any]) -> bool:
    redrive = props.get("RedrivePolicy")
    return redrive is None or "deadLetterTargetArn" in resolver.resolve(redrive)


def _queue_attributes(props: dict[str, Any]) -> dict[str, str]:
    attributes: dict[str, str] = {}
    for name in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "ReceiveMessageWaitTimeSeconds",
                 "MaximumMessageSize"):
        if name in props:
            attributes[name] = str(props[name])
    if "RedrivePolicy" in props:
        attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
    return attributes


def _create_buses(local: LocalAws) -> None:
    events = local.client("events")
    sqs = local.client("sqs")
    local.events_queue_url = sqs.create_queue(QueueName=EVENTS_QUEUE)["QueueUrl"]
    events_queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{EVENTS_QUEUE}"
    for logical_id, resource in template.resources("AWS::Events::EventBus").items():
        name = local.resolver().resolve(resource.get("Properties", {}).get("Name")) or logical_id
        arn = events.create_event_bus(Name=name)["EventBusArn"]
        local.physical[logical_id] = name
        local.attributes[(logical_id, "Name")] = name
        local.attributes[(logical_id, "Arn")] = arn
        events.put_rule(Name=EVENTS_RULE, EventBusName=name, EventPattern=json.dumps({"source": [{"prefix": ""}]}))
        events.put_targets(Rule=EVENTS_RULE, EventBusName=name,
                           Targets=[{"Id": "local-events-queue", "Arn": events_queue_arn}])


def function_environment(local: LocalAws, environ: dict[str, str]) -> dict[str, str]:
    """The environment every function of the template gets (Globals, then its own variables).

    All functions run in this one process, so this is their union. A variable bound to a resource
    (table, queue, bus) always points at the local resource; the others, such as SEATS_PAYMENTS or
    POWERTOOLS_LOG_LEVEL, keep a value the user already exported.
    """
    resolver = local.resolver()
    loaded = template.load()
    global_vars = loaded.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    result: dict[str, str] = {}
    for function in template.functions().values():
        for name, raw in {**global_vars, **function.environment}.items():
            value = resolver.resolve(raw)
            if value is None:
                continue
            if name in environ and not resolver.mentions_resource(raw):
                value = environ[name]
            result[name] = str(value)
    return result
