"""One state machine per resources.STATE_MACHINES entry, defined by its ASL file with every
`${<Function>FunctionArn}` placeholder substituted, and a role that may invoke only those functions."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from smart0dte import resources as r

from .access import FunctionAccess
from .nag import acknowledge, finding_resource
from .sources import definition_path, load_definition, uses_distributed_map
from .storage import construct_id

WORKFLOW_TYPES = {
    r.WorkflowType.STANDARD: sfn.StateMachineType.STANDARD,
    r.WorkflowType.EXPRESS: sfn.StateMachineType.EXPRESS,
}
LOG_RETENTION = logs.RetentionDays.THREE_MONTHS


def state_machine_arn(scope: Construct, spec: r.StateMachineSpec, prefix: str) -> str:
    """The ARN from the name alone, for policies that the state machine itself depends on."""
    return Stack.of(scope).format_arn(
        service="states",
        resource="stateMachine",
        resource_name=spec.physical_name(prefix),
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )


class Workflows(Construct):
    """`state_machines[name]` is the state machine of the spec with that name."""

    def __init__(
        self,
        scope: Construct,
        construct_id_: str,
        *,
        prefix: str,
        repo_root: Path,
        functions: dict[str, lambda_.Function],
    ) -> None:
        super().__init__(scope, construct_id_)
        self.state_machines: dict[str, sfn.StateMachine] = {}
        self.roles: dict[str, iam.Role] = {}
        for spec in r.STATE_MACHINES:
            self.state_machines[spec.name] = self._state_machine(spec, prefix, repo_root, functions)

    def allow_starts(self, function: lambda_.Function, access: FunctionAccess, prefix: str) -> None:
        """Let `function` start the state machines its access entry lists, list their executions
        (past runs), describe and stop them (poll, cancel a run); name each in the function's
        environment."""
        for name in access.starts_workflows:
            spec = next(s for s in r.STATE_MACHINES if s.name == name)
            machine = self.state_machines[name]
            executions = Stack.of(self).format_arn(
                service="states",
                resource="execution",
                resource_name=f"{spec.physical_name(prefix)}:*",
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            )
            function.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["states:StartExecution", "states:ListExecutions"],
                    resources=[machine.state_machine_arn],
                )
            )
            function.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["states:DescribeExecution", "states:StopExecution"], resources=[executions]
                )
            )
            function.add_environment(r.state_machine_arn_env(name), machine.state_machine_arn)
            if function.role is None:  # pragma: no cover - every function here is built with a role
                raise ValueError(f"{function.node.path} has no role")
            acknowledge(
                function.role,
                "AwsSolutions-IAM5",
                f"Each run of {spec.physical_name(prefix)} is an execution named by a fresh id; "
                "DescribeExecution and StopExecution are limited to that state machine's executions.",
                finding_resource(self, executions),
            )

    def _state_machine(
        self,
        spec: r.StateMachineSpec,
        prefix: str,
        repo_root: Path,
        functions: dict[str, lambda_.Function],
    ) -> sfn.StateMachine:
        definition = load_definition(spec, repo_root)  # fails on placeholders the spec does not list
        cid = construct_id(spec.name)
        invoked = [functions[name] for name in spec.functions]
        role = iam.Role(
            self,
            f"{cid}Role",
            assumed_by=iam.ServicePrincipal("states.amazonaws.com"),
            description=f"{spec.physical_name(prefix)}: invokes {', '.join(spec.functions)} only",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["lambda:InvokeFunction"], resources=[f.function_arn for f in invoked]
            )
        )
        if uses_distributed_map(definition):
            own_arn = state_machine_arn(self, spec, prefix)
            executions = Stack.of(self).format_arn(
                service="states",
                resource="execution",
                resource_name=f"{spec.physical_name(prefix)}/*",
                arn_format=ArnFormat.COLON_RESOURCE_NAME,
            )
            role.add_to_policy(iam.PolicyStatement(actions=["states:StartExecution"], resources=[own_arn]))
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=["states:DescribeExecution", "states:StopExecution"], resources=[executions]
                )
            )
            acknowledge(
                role,
                "AwsSolutions-IAM5",
                "A Distributed Map describes and stops its own child executions, whose names Step "
                "Functions generates: execution:<this state machine>/*.",
                finding_resource(self, executions),
            )
        self.roles[spec.name] = role
        log_group = logs.LogGroup(
            self,
            f"{cid}Logs",
            # The vended-logs prefix keeps CloudWatch's resource policy small (one statement for all).
            log_group_name=f"/aws/vendedlogs/states/{spec.physical_name(prefix)}",
            retention=LOG_RETENTION,
            removal_policy=RemovalPolicy.DESTROY,
        )
        machine = sfn.StateMachine(
            self,
            f"{cid}StateMachine",
            state_machine_name=spec.physical_name(prefix),
            state_machine_type=WORKFLOW_TYPES[spec.type],
            definition_body=sfn.DefinitionBody.from_file(str(definition_path(spec, repo_root))),
            definition_substitutions={
                placeholder: functions[name].function_arn for placeholder, name in spec.substitutions.items()
            },
            role=role,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
            tracing_enabled=True,
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5",
            "CloudWatch Logs vended-delivery and X-Ray actions support no resource-level permissions.",
            "Resource::*",
        )
        return machine
