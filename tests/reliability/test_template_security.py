"""template.yaml, checked as a security review would: IAM, tables, queues, parameters.

- IAM: every statement a function gets from its `Policies` (the SAM policy templates it names,
  expanded below from SAM's own definitions, and any inline `Statement`) and from any IAM resource:
  no action with a wildcard (an explicit list always exists), no `Resource: "*"` unless every action
  of the statement has no resource-level permissions, no other wildcard resource but a table's own
  indexes (`table/<one table>/index/*`, which the SAM DynamoDB templates grant); no AWS managed
  policy by name. A SAM policy template this file does not know fails the test: add its
  definition (from aws/serverless-application-model, samtranslator/policy_templates_data) here.
- Every DynamoDB table: point-in-time recovery, server-side encryption, deletion protection, and
  DeletionPolicy/UpdateReplacePolicy Retain.
- Every SQS queue that is not itself a dead-letter queue has a redrive policy to a queue of this
  template; every queue is encrypted.
- No parameter default or literal environment value looks like a secret; a parameter named like a
  secret has NoEcho and no default (one that names where a secret lives, `...Parameter`, may).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from infra import template

DOC = template.load()
RESOURCES: dict[str, dict[str, Any]] = DOC["Resources"]
FUNCTIONS = {name: r for name, r in RESOURCES.items() if r["Type"] == "AWS::Serverless::Function"}

# SAM policy templates: their statements as SAM defines them, `{param}` standing for the template's
# parameter (a resource name). Source: samtranslator/policy_templates_data/policy_templates.json.
_ARN = "arn:${AWS::Partition}:%s:${AWS::Region}:${AWS::AccountId}:%s"
SAM_POLICY_TEMPLATES: dict[str, list[dict[str, Any]]] = {
    "DynamoDBReadPolicy": [{
        "Action": ["dynamodb:GetItem", "dynamodb:Scan", "dynamodb:Query", "dynamodb:BatchGetItem",
                   "dynamodb:DescribeTable"],
        "Resource": [_ARN % ("dynamodb", "table/{TableName}"), _ARN % ("dynamodb", "table/{TableName}/index/*")],
    }],
    "DynamoDBCrudPolicy": [{
        "Action": ["dynamodb:GetItem", "dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:Scan", "dynamodb:Query",
                   "dynamodb:UpdateItem", "dynamodb:BatchWriteItem", "dynamodb:BatchGetItem",
                   "dynamodb:DescribeTable", "dynamodb:ConditionCheckItem"],
        "Resource": [_ARN % ("dynamodb", "table/{TableName}"), _ARN % ("dynamodb", "table/{TableName}/index/*")],
    }],
    "SQSSendMessagePolicy": [{"Action": ["sqs:SendMessage*"], "Resource": [_ARN % ("sqs", "{QueueName}")]}],
    "SQSPollerPolicy": [{
        "Action": ["sqs:ChangeMessageVisibility", "sqs:ChangeMessageVisibilityBatch", "sqs:DeleteMessage",
                   "sqs:DeleteMessageBatch", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"],
        "Resource": [_ARN % ("sqs", "{QueueName}")],
    }],
    "EventBridgePutEventsPolicy": [{"Action": ["events:PutEvents"],
                                    "Resource": [_ARN % ("events", "event-bus/{EventBusName}")]}],
    "SSMParameterReadPolicy": [
        {"Action": ["ssm:DescribeParameters"], "Resource": ["*"]},
        {"Action": ["ssm:GetParameters", "ssm:GetParameter", "ssm:GetParametersByPath"],
         "Resource": [_ARN % ("ssm", "parameter/{ParameterName}")]},
    ],
    "KMSDecryptPolicy": [{"Action": ["kms:Decrypt"], "Resource": [_ARN % ("kms", "key/{KeyId}")]}],
}
# Actions that support no resource-level permission: "*" is the only resource they can have.
RESOURCELESS_ACTIONS = {"ssm:DescribeParameters", "xray:PutTraceSegments", "xray:PutTelemetryRecords",
                        "xray:GetSamplingRules", "xray:GetSamplingTargets", "cloudwatch:PutMetricData",
                        "sqs:ListQueues", "events:ListEventBuses"}
TABLE_INDEXES = re.compile(r":table/[^/*]+/index/\*$")


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def text(value: Any) -> str:
    """A resource as text: intrinsics rendered as JSON (`{"Fn::Sub": ...}`) so wildcards show."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def statements_of(function: str) -> list[tuple[str, dict[str, Any]]]:
    """(origin, statement) for every statement the function's Policies grant."""
    found = []
    for policy in as_list(FUNCTIONS[function]["Properties"].get("Policies", [])):
        if isinstance(policy, str):
            found.append((f"managed policy {policy}", {"Action": ["<managed>"], "Resource": ["<managed>"]}))
            continue
        if "Statement" in policy:
            found += [("inline Statement", s) for s in as_list(policy["Statement"])]
            continue
        [(name, parameters)] = policy.items()
        if name not in SAM_POLICY_TEMPLATES:
            found.append((f"SAM template {name}", {"Action": ["<unknown SAM policy template>"], "Resource": []}))
            continue
        for statement in SAM_POLICY_TEMPLATES[name]:
            resources = []
            for resource in statement["Resource"]:
                for parameter, value in (parameters or {}).items():
                    resource = resource.replace("{" + parameter + "}", text(value))
                resources.append(resource)
            found.append((f"SAM template {name}", {"Action": statement["Action"], "Resource": resources,
                                                   "Parameters": parameters}))
    return found


def iam_resource_statements() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name, resource in RESOURCES.items():
        if resource["Type"] in ("AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            props = resource.get("Properties", {})
            documents = [p.get("PolicyDocument", {}) for p in props.get("Policies", [])]
            documents.append(props.get("PolicyDocument", {}))
            for document in documents:
                found += [(f"{name} ({resource['Type']})", s) for s in as_list(document.get("Statement", []))]
            found += [(f"{name} managed policy {arn}", {"Action": ["<managed>"], "Resource": ["<managed>"]})
                      for arn in props.get("ManagedPolicyArns", [])]
    return found


def problems_of(origin: str, statement: dict[str, Any]) -> list[str]:
    if statement.get("Effect", "Allow") != "Allow":
        return []
    actions = [str(a) for a in as_list(statement.get("Action", []))]
    resources = [text(r) for r in as_list(statement.get("Resource", []))]
    found = []
    if "<managed>" in actions:
        return [f"{origin}: an AWS managed policy grants what it likes; use a SAM template or a Statement"]
    if "<unknown SAM policy template>" in actions:
        return [f"{origin}: unknown to this test; add its definition to SAM_POLICY_TEMPLATES and review it"]
    if statement.get("NotAction") or statement.get("NotResource"):
        found.append(f"{origin}: NotAction/NotResource grants everything else")
    found += [f"{origin}: wildcard action {a} (list the actions)" for a in actions if "*" in a]
    for resource in resources:
        if resource == "*":
            wide = [a for a in actions if a not in RESOURCELESS_ACTIONS]
            if wide:
                found.append(f"{origin}: Resource \"*\" for {wide}, which take a resource ARN")
        elif "*" in resource and not TABLE_INDEXES.search(resource):
            found.append(f"{origin}: wildcard resource {resource}")
    for parameter, value in (statement.get("Parameters") or {}).items():
        if text(value).strip() in ("*", "", '"*"'):
            found.append(f"{origin}: {parameter} is {value!r}, not one resource")
    return found


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_no_function_is_granted_a_wildcard_where_a_narrower_grant_exists(function, figures):
    statements = statements_of(function)
    found = [p for origin, s in statements for p in problems_of(origin, s)]
    assert not found, "\n".join(found)
    actions = sum(len(as_list(s.get("Action", []))) for _, s in statements)
    figures.row(f"{function}: the {len(statements)} IAM statement(s) of its Policies (SAM templates expanded, "
                "inline Statements); cases = actions granted", actions,
                "no wildcard action; Resource \"*\" only for actions without resource-level permissions; "
                "no wildcard resource but one table's indexes; no managed policy")


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_no_function_may_scan_or_delete_the_seats_table(function, figures):
    granted = {action for _, s in statements_of(function)
               if any("SeatsTable" in text(r) or r == "<managed>" for r in as_list(s.get("Resource", [])))
               for action in as_list(s.get("Action", []))}
    assert not granted & {"dynamodb:Scan", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "<managed>"}, granted
    figures.row(f"{function}: DynamoDB actions granted", len(granted),
                "never Scan, DeleteItem or BatchWriteItem: every read is a key or index lookup, nothing is deleted")


def granted(function: str) -> set[tuple[str, str]]:
    """(action, resource) pairs the function's Policies grant, resources as text."""
    return {(str(action), text(resource)) for _, s in statements_of(function)
            for action in as_list(s.get("Action", [])) for resource in as_list(s.get("Resource", []))}


def test_the_renewal_scheduler_may_query_its_two_indexes_read_and_put_items_and_send_to_its_queue(figures):
    """Exactly what the nightly run calls: Query on the due and notice indexes, then, for the renewal
    notices, GetItem of a contract and the conditional Puts of one TransactWriteItems (contract, history,
    outbox); SendMessage(Batch) to the renewal queue. No Scan, no Update, no Delete, no other index."""
    index = '{"Fn::Sub": "${SeatsTable.Arn}/index/%s"}'
    table, queue = '{"Fn::GetAtt": ["SeatsTable", "Arn"]}', '{"Fn::GetAtt": ["RenewalQueue", "Arn"]}'
    expected = {("dynamodb:Query", index % "DueIndex"), ("dynamodb:Query", index % "NoticeIndex"),
                ("dynamodb:GetItem", table), ("dynamodb:PutItem", table), ("sqs:SendMessage", queue)}
    assert granted("RenewalSchedulerFunction") == expected
    figures.row("RenewalSchedulerFunction: (action, resource) grants", len(expected),
                "exactly Query DueIndex and NoticeIndex, GetItem and PutItem on the table, SendMessage to its queue")


def test_no_iam_resource_grants_a_wildcard(figures):
    statements = iam_resource_statements()
    found = [p for origin, s in statements for p in problems_of(origin, s)]
    assert not found, "\n".join(found)
    figures.row("IAM roles and policies declared as resources", len(statements), "no wildcard grant")


def test_the_iam_checks_catch_what_they_look_for():
    """The rules above, held against statements that break them (so that a pass means something)."""
    assert problems_of("x", {"Action": "dynamodb:*", "Resource": "arn:aws:dynamodb:r:1:table/T"})
    assert problems_of("x", {"Action": ["sqs:SendMessage*"], "Resource": "arn:aws:sqs:r:1:q"})
    assert problems_of("x", {"Action": ["dynamodb:GetItem"], "Resource": "*"})
    assert problems_of("x", {"Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::bucket/*"})
    assert problems_of("x", {"Action": ["<managed>"], "Resource": ["<managed>"]})
    assert not problems_of("x", {"Action": ["ssm:DescribeParameters"], "Resource": "*"})
    assert not problems_of("x", {"Action": ["dynamodb:Query"], "Resource": "arn:aws:dynamodb:r:1:table/T/index/*"})


TABLES = {name: r for name, r in RESOURCES.items() if r["Type"] == "AWS::DynamoDB::Table"}


@pytest.mark.parametrize("table", sorted(TABLES))
def test_every_table_has_point_in_time_recovery_encryption_and_deletion_protection(table, figures):
    resource = TABLES[table]
    props = resource["Properties"]
    assert props.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled") is True
    assert props.get("SSESpecification", {}).get("SSEEnabled") is True
    assert props.get("DeletionProtectionEnabled") is True
    assert resource.get("DeletionPolicy") == "Retain" and resource.get("UpdateReplacePolicy") == "Retain"
    figures.row(f"{table}: point-in-time recovery, SSE, deletion protection, Retain policies", 5,
                "all set")


QUEUES = {name: r for name, r in RESOURCES.items() if r["Type"] == "AWS::SQS::Queue"}


def dead_letter_target(queue: dict[str, Any]) -> str | None:
    """The logical id of the queue's dead-letter queue (`!GetAtt X.Arn`), if it has a redrive policy."""
    target = queue.get("Properties", {}).get("RedrivePolicy", {}).get("deadLetterTargetArn")
    if isinstance(target, dict) and "Fn::GetAtt" in target:
        return str(target["Fn::GetAtt"][0])
    return None


def on_failure_queues() -> dict[str, str]:
    """Queues that event source mappings send the records they give up on to: {queue: function}."""
    found = {}
    for function in template.functions().values():
        for event in function.events.values():
            target = event.get("Properties", {}).get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
            if isinstance(target, dict) and "Fn::GetAtt" in target:
                found[str(target["Fn::GetAtt"][0])] = function.logical_id
    return found


DEAD_LETTER_QUEUES = ({dead_letter_target(q) for q in QUEUES.values()} | set(on_failure_queues())) - {None}


@pytest.mark.parametrize("queue", sorted(QUEUES))
def test_every_queue_but_a_dead_letter_queue_redrives_to_one_and_every_queue_is_encrypted(queue, figures):
    props = QUEUES[queue].get("Properties", {})
    assert props.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in props, f"{queue} is not encrypted"
    if queue in DEAD_LETTER_QUEUES:
        assert "RedrivePolicy" not in props
        sources = [name for name, q in QUEUES.items() if dead_letter_target(q) == queue]
        assert all(props.get("MessageRetentionPeriod", 345600) >=
                   QUEUES[s]["Properties"].get("MessageRetentionPeriod", 345600) for s in sources)
        if queue in on_failure_queues():  # a stream keeps records 24 h: the queue keeps them longer
            assert props.get("MessageRetentionPeriod", 345600) > 24 * 3600
            sources.append(f"{on_failure_queues()[queue]}'s stream (on-failure destination)")
        figures.row(f"{queue}: dead-letter queue of {', '.join(sources)}", 2,
                    "encrypted; keeps messages at least as long as its sources")
        return
    target = dead_letter_target(QUEUES[queue])
    assert target in QUEUES, f"{queue} has no redrive policy to a queue of this template"
    assert 1 <= int(props["RedrivePolicy"]["maxReceiveCount"]) <= 10
    figures.row(f"{queue}: redrive policy to {target}", 2,
                f"encrypted; maxReceiveCount {props['RedrivePolicy']['maxReceiveCount']}")


SECRET_VALUE = re.compile(
    r"(sk|rk)_(live|test)_[0-9A-Za-z]+|whsec_[0-9A-Za-z]+|AKIA[0-9A-Z]{16}|ASIA[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY"
    r"|xox[abpr]-[0-9A-Za-z-]+|gh[pousr]_[0-9A-Za-z]{20,}|eyJ[0-9A-Za-z_-]{10,}\.[0-9A-Za-z_-]{10,}")
SECRET_NAME = re.compile(r"password|passwd|secret|token|api[-_]?key|private[-_]?key|credential", re.I)
LOCATES_A_SECRET = re.compile(r"(Parameter|ParameterName|Arn|Name|Path)$")


def literal_strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in literal_strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in literal_strings(v)]
    return []


def test_no_parameter_default_or_environment_value_is_a_secret(figures):
    parameters = DOC.get("Parameters", {})
    found = []
    for name, parameter in parameters.items():
        default = str(parameter.get("Default", ""))
        if SECRET_VALUE.search(default):
            found.append(f"parameter {name}: its default looks like a secret")
        if SECRET_NAME.search(name) and not LOCATES_A_SECRET.search(name):
            if default:
                found.append(f"parameter {name}: named like a secret, and has a default")
            if str(parameter.get("NoEcho", "")).lower() != "true":
                found.append(f"parameter {name}: named like a secret, without NoEcho")
    environments = [("Globals", DOC.get("Globals", {}).get("Function", {}).get("Environment", {}))]
    environments += [(name, f["Properties"].get("Environment", {})) for name, f in FUNCTIONS.items()]
    values = 0
    for owner, environment in environments:
        for variable, value in environment.get("Variables", {}).items():
            values += 1
            for literal in literal_strings(value):
                if SECRET_VALUE.search(literal):
                    found.append(f"{owner} environment {variable}: a literal secret")
            if SECRET_NAME.search(variable) and not LOCATES_A_SECRET.search(variable) and \
                    isinstance(value, str) and value:
                found.append(f"{owner} environment {variable}: named like a secret, with a literal value")
    whole = template.TEMPLATE.read_text(encoding="utf-8")
    found += [f"template text: {m.group(0)[:12]}... looks like a secret" for m in SECRET_VALUE.finditer(whole)]
    assert not found, "\n".join(found)
    assert SECRET_VALUE.search("sk_live_51Habc") and SECRET_VALUE.search("AKIAIOSFODNN7EXAMPLE")
    figures.row(f"{len(parameters)} parameter defaults, {values} environment values, the whole template text",
                len(parameters) + values + 1,
                "no Stripe/AWS/GitHub/Slack key, private key or JWT; secret-named parameters only locate a "
                "secret (SSM parameter name)")
