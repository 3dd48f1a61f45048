"""EventBridge Scheduler: one recurring schedule per resources.SCHEDULES entry (New York time), and
what pre_market needs to create each session's one-time flatten and post_close schedules."""

from __future__ import annotations

import json

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from smart0dte import resources as r

from .nag import acknowledge, finding_resource
from .storage import construct_id

SESSION_SCHEDULE_PREFIXES = (r.FLATTEN_SCHEDULE_PREFIX, r.POST_CLOSE_SCHEDULE_PREFIX)
RETRY_ATTEMPTS = 3
MAX_EVENT_AGE_S = 900
"""A start more than 15 minutes late is worse than none: the trading day has moved on."""


class ScheduleTargetError(ValueError):
    """A schedule or schedule prefix names no state machine of resources.py."""


def session_state_machine(schedule_prefix: str) -> r.StateMachineSpec:
    """The state machine a one-time schedule name prefix starts ('post-close' -> post_close)."""
    for spec in r.STATE_MACHINES:
        if spec.name.replace("_", "-") == schedule_prefix:
            return spec
    raise ScheduleTargetError(f"no state machine in resources.py for schedule prefix {schedule_prefix!r}")


def schedule_input(spec_name: str) -> str:
    """The execution input: which schedule fired and the time it was due (Scheduler fills it in)."""
    return json.dumps({"schedule": spec_name, "scheduled_time": "<aws.scheduler.scheduled-time>"})


def _scheduler_role(
    scope: Construct, cid: str, description: str, targets: list[sfn.StateMachine]
) -> iam.Role:
    stack = Stack.of(scope)
    role = iam.Role(
        scope,
        cid,
        assumed_by=iam.ServicePrincipal(
            "scheduler.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": stack.account}}
        ),
        description=description,
    )
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["states:StartExecution"], resources=[t.state_machine_arn for t in targets]
        )
    )
    return role


class Scheduling(Construct):
    """The schedule group (named by the prefix, so stages never share schedules), the recurring
    schedules, and the role pre_market passes to the one-time schedules it creates."""

    def __init__(
        self,
        scope: Construct,
        construct_id_: str,
        *,
        prefix: str,
        state_machines: dict[str, sfn.StateMachine],
        functions: dict[str, lambda_.Function],
        schedule_creators: list[str],
    ) -> None:
        super().__init__(scope, construct_id_)
        self.group = scheduler.CfnScheduleGroup(self, "Group", name=prefix)
        self.group_name = prefix
        self.schedules: dict[str, scheduler.CfnSchedule] = {}
        self.roles: dict[str, iam.Role] = {}
        for spec in r.SCHEDULES:
            if spec.target_state_machine not in state_machines:
                raise ScheduleTargetError(
                    f"schedule {spec.name!r} targets unknown state machine {spec.target_state_machine!r}"
                )
            target = state_machines[spec.target_state_machine]
            cid = construct_id(spec.name)
            role = _scheduler_role(
                self,
                f"{cid}Role",
                f"{spec.physical_name(prefix)}: starts {spec.target_state_machine} only",
                [target],
            )
            schedule = scheduler.CfnSchedule(
                self,
                f"{cid}Schedule",
                name=spec.physical_name(prefix),
                group_name=prefix,
                schedule_expression=spec.cron,
                schedule_expression_timezone=spec.timezone,
                flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
                state="ENABLED",
                description=f"starts {spec.target_state_machine} ({spec.cron} {spec.timezone})",
                target=scheduler.CfnSchedule.TargetProperty(
                    arn=target.state_machine_arn,
                    role_arn=role.role_arn,
                    input=schedule_input(spec.name),
                    retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                        maximum_retry_attempts=RETRY_ATTEMPTS, maximum_event_age_in_seconds=MAX_EVENT_AGE_S
                    ),
                ),
            )
            schedule.node.add_dependency(self.group)
            self.schedules[spec.name] = schedule
            self.roles[spec.name] = role

        session_targets = {p: session_state_machine(p) for p in SESSION_SCHEDULE_PREFIXES}
        self.session_role = _scheduler_role(
            self,
            "SessionSchedulesRole",
            "one-time session schedules created by pre_market: starts "
            + ", ".join(t.name for t in session_targets.values())
            + " only",
            [state_machines[t.name] for t in session_targets.values()],
        )
        for name in schedule_creators:
            self._allow_session_schedules(functions[name], session_targets, state_machines, prefix)

    def allow_reading(self, function: lambda_.Function) -> None:
        """`function` may list this stage's schedules and read each one (the API's scheduler status)."""
        stack = Stack.of(self)
        schedules = stack.format_arn(
            service="scheduler", resource="schedule", resource_name=f"{self.group_name}/*"
        )
        function.add_to_role_policy(iam.PolicyStatement(actions=["scheduler:ListSchedules"], resources=["*"]))
        function.add_to_role_policy(
            iam.PolicyStatement(actions=["scheduler:GetSchedule"], resources=[schedules])
        )
        function.add_environment(r.ENV_SCHEDULE_GROUP, self.group_name)
        if function.role is None:  # pragma: no cover - every function here is built with a role
            raise ScheduleTargetError(f"{function.node.path} has no role to grant GetSchedule to")
        acknowledge(
            function.role,
            "AwsSolutions-IAM5",
            "ListSchedules has no resource-level permission (it lists names and states only); "
            "GetSchedule is limited to this stage's schedule group.",
            "Resource::*",
            finding_resource(self, schedules),
        )

    def _allow_session_schedules(
        self,
        function: lambda_.Function,
        targets: dict[str, r.StateMachineSpec],
        state_machines: dict[str, sfn.StateMachine],
        prefix: str,
    ) -> None:
        stack = Stack.of(self)
        schedule_arns = [
            stack.format_arn(service="scheduler", resource="schedule", resource_name=f"{prefix}/{p}-*")
            for p in targets
        ]
        function.add_to_role_policy(
            iam.PolicyStatement(actions=["scheduler:CreateSchedule"], resources=schedule_arns)
        )
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[self.session_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}},
            )
        )
        function.add_environment(r.ENV_SCHEDULE_GROUP, self.group_name)
        function.add_environment(r.ENV_SESSION_SCHEDULER_ROLE_ARN, self.session_role.role_arn)
        for spec in targets.values():
            function.add_environment(
                r.env_var("STATE_MACHINE", spec.name, "ARN"), state_machines[spec.name].state_machine_arn
            )
        if function.role is None:  # pragma: no cover - every function here is built with a role
            raise ScheduleTargetError(f"{function.node.path} has no role to grant CreateSchedule to")
        acknowledge(
            function.role,
            "AwsSolutions-IAM5",
            "One-time schedules are named per session date; CreateSchedule is limited to this stage's "
            "schedule group and the flatten-*/post-close-* names.",
            *(finding_resource(self, arn) for arn in schedule_arns),
        )
