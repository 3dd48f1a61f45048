"""cdk-nag acknowledgments (cdk-nag v3: `Validations.of(construct).acknowledge`, one per finding).

A finding names the rule and, for IAM wildcards, the offending action or resource as cdk-nag
renders it (`Resource::<LogicalId.Arn>/*`); `finding_resource` renders a CDK value the same way so
acknowledgments follow logical ids instead of hard-coding them.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Acknowledgment, Stack, Validations
from constructs import IConstruct


def acknowledge(scope: IConstruct, rule: str, reason: str, *findings: str) -> None:
    """Acknowledge `rule` on `scope` (each of `findings` separately when given), with the reason."""
    ids = [f"{rule}[{finding}]" for finding in findings] or [rule]
    Validations.of(scope).acknowledge(*(Acknowledgment(id=i, reason=reason) for i in ids))


def finding_resource(scope: IConstruct, value: str) -> str:
    """`Resource::...` as cdk-nag prints the IAM resource `value` (a string that may hold tokens)."""
    return "Resource::" + _render(Stack.of(scope).resolve(value))


def _render(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((intrinsic, argument),) = value.items()
        if intrinsic == "Ref":
            return f"<{argument}>"
        if intrinsic == "Fn::GetAtt":
            return f"<{argument[0]}.{argument[1]}>"
        if intrinsic == "Fn::Join":
            separator, parts = argument
            return str(separator).join(_render(p) for p in parts)
    raise ValueError(f"cannot render {value!r} as a cdk-nag finding")
