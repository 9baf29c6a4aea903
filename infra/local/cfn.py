"""Just enough CloudFormation to read template.yaml locally: parameters, conditions and intrinsics.

`Resolver` turns values such as `!Ref SeatsTable`, `!GetAtt RenewalQueue.Arn` or
`!Sub "/${StripeApiKeyParameter}"` into the local stack's physical values. Parameters take their
defaults; `AWS::NoValue` (and anything this small resolver cannot know) resolves to `None`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
STACK_NAME = "seats-local"
PSEUDO = {
    "AWS::Region": REGION, "AWS::AccountId": ACCOUNT_ID, "AWS::StackName": STACK_NAME,
    "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com",
}
_SUB = re.compile(r"\$\{([^}!]+)\}")


class Resolver:
    def __init__(self, template: Mapping[str, Any], physical: Mapping[str, str] | None = None,
                 attributes: Mapping[tuple[str, str], str] | None = None) -> None:
        self.template = template
        self.parameters = {name: str(p.get("Default", "")) for name, p in template.get("Parameters", {}).items()}
        self.physical = dict(physical or {})  # logical id -> what !Ref answers
        self.attributes = dict(attributes or {})  # (logical id, attribute) -> what !GetAtt answers

    def ref(self, name: str) -> str | None:
        if name in PSEUDO:
            return PSEUDO[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.physical:
            return self.physical[name]
        return None

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template.get("Conditions", {})[name]))

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [v for v in (self.resolve(item) for item in value) if v is not None]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                return self.attributes.get((arg[0], arg[1]))
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::If":
                return self.resolve(arg[1] if self.condition(arg[0]) else arg[2])
            if key == "Fn::Equals":
                return self.resolve(arg[0]) == self.resolve(arg[1])
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Condition":
                return self.condition(arg)
        return {k: v for k, v in ((k, self.resolve(v)) for k, v in value.items()) if v is not None}

    def _sub(self, arg: Any) -> str | None:
        text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        missing = False

        def replace(match: re.Match[str]) -> str:
            nonlocal missing
            name = match.group(1)
            if name in extra:
                found = self.resolve(extra[name])
            elif "." in name:
                found = self.attributes.get(tuple(name.split(".", 1)))  # type: ignore[arg-type]
            else:
                found = self.ref(name)
            if found is None:
                missing = True
                return ""
            return str(found)

        result = _SUB.sub(replace, text)
        return None if missing else result

    def mentions_resource(self, value: Any) -> bool:
        """Whether `value` depends on a resource of the stack (so a user's environment cannot override it)."""
        resources = self.template.get("Resources", {})
        if isinstance(value, list):
            return any(self.mentions_resource(v) for v in value)
        if not isinstance(value, dict):
            return False
        for key, arg in value.items():
            if key == "Ref" and arg in resources:
                return True
            if key == "Fn::GetAtt":
                return True
            if key == "Fn::Sub":
                text = arg if isinstance(arg, str) else arg[0]
                if any(m.split(".")[0] in resources for m in _SUB.findall(text)):
                    return True
            if self.mentions_resource(arg):
                return True
        return False
