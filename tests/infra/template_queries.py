"""Questions about a synthesized template's IAM: which role a function runs as, which actions a
role may take on which resource. Resources are matched by logical id, so they stay exact."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator
from typing import Any

Template = dict[str, Any]
READ = {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:ConditionCheckItem"}
WRITE = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
XRAY = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
"""The action sets a role's table and tracing grants are compared with."""


def resources_of_type(template: Template, cfn_type: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == cfn_type}


def logical_id(template: Template, cfn_type: str, **properties: Any) -> str:
    """The one resource of `cfn_type` whose properties include `properties`."""
    found = [
        k
        for k, v in resources_of_type(template, cfn_type).items()
        if all(v["Properties"].get(p) == value for p, value in properties.items())
    ]
    assert len(found) == 1, f"expected one {cfn_type} with {properties}, found {found}"
    return found[0]


def role_of(template: Template, resource_id: str) -> str:
    """The role logical id of a Lambda function (Role) or state machine / schedule (RoleArn)."""
    props = template["Resources"][resource_id]["Properties"]
    ref = props.get("Role") or props.get("RoleArn") or props["Target"]["RoleArn"]
    return str(ref["Fn::GetAtt"][0])


def statements(template: Template, role_id: str) -> list[dict[str, Any]]:
    """Every Allow statement of the role: its inline policies and the AWS::IAM::Policy attached to it."""
    found: list[dict[str, Any]] = []
    role = template["Resources"][role_id]["Properties"]
    for policy in role.get("Policies", []):
        found += policy["PolicyDocument"]["Statement"]
    for policy in resources_of_type(template, "AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            found += policy["Properties"]["PolicyDocument"]["Statement"]
    assert all(s["Effect"] == "Allow" for s in found)
    return found


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def grants(template: Template, role_id: str) -> Iterator[tuple[str, Any, dict[str, Any]]]:
    """(action, resource, statement) for every action-resource pair the role is allowed."""
    for statement in statements(template, role_id):
        for action in _listed(statement["Action"]):
            for resource in _listed(statement["Resource"]):
                yield action, resource, statement


def mentions(resource: Any, target_id: str) -> bool:
    """Whether an IAM resource expression refers to the resource with logical id `target_id`."""
    text = json.dumps(resource)
    return f'"{target_id}"' in text


def actions_on(template: Template, role_id: str, target_id: str) -> set[str]:
    """The actions the role may take on one resource or its sub-resources (indexes, objects)."""
    return {a for a, r, _ in grants(template, role_id) if mentions(r, target_id)}


def actions_on_any_resource(template: Template, role_id: str) -> set[str]:
    """The actions the role is allowed on Resource "*"."""
    return {a for a, r, _ in grants(template, role_id) if r == "*"}


def allowed(template: Template, role_id: str, action: str) -> list[Any]:
    """The resources on which the role may take `action` (wildcards in the policy honoured)."""
    return [r for a, r, _ in grants(template, role_id) if fnmatch.fnmatchcase(action.lower(), a.lower())]
