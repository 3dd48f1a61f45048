"""Alarms, the dead man's switch and one CloudWatch dashboard; every alarm notifies the alert topic.

Plain `aws_cloudwatch` alarms, not cdk-monitoring-constructs: the stack needs about thirty alarms
of four shapes whose names, thresholds and missing-data rules the tests read one by one, plus a
session-only switch that no library models; a second jsii package would add its own synthesis
time and version coupling with aws-cdk-lib for none of that.

Always on (`<prefix>-<what>`, each a sum over 5 minutes >= 1, missing data = fine):

* `lambda-<function>-errors` and `lambda-<function>-throttles` for every function of resources.py;
* `sfn-<state machine>-failed` and `sfn-<state machine>-timed-out` for every state machine
  (the Express trading_cycle included: Express publishes the same execution metrics);
* `order-intents-dlq` (the order queue's dead letters: most messages visible >= 1);
* `api-5xx` (the HTTP API's server errors).

During the session only, per deployed ECS task (the feed, the gateway), from the HEARTBEAT_METRIC
the task emits every `heartbeat_every_s` (1 healthy, 0 not):

* `<task>-heartbeat`: the dead man's switch. Its highest value per minute stayed below 1 for
  HEARTBEAT_MINUTES minutes, and a minute with no heartbeat at all counts as below: the task is
  dead, stuck, disconnected from IB or its data feed is down.
* `<task>-tasks`: more heartbeats in 5 minutes than one task can send, so two tasks run at once.
  The heartbeats are the task count: AWS/ECS has none for standalone Fargate tasks, and
  Container Insights (ECS/ContainerInsights RunningTaskCount) would bill its metrics every month.

These alarms evaluate all day but notify only in the session: EventBridge Scheduler's universal
targets call CloudWatch on weekdays (New York time): at SESSION_ALARMS_ON `EnableAlarmActions`,
one minute later `SetAlarmState OK` for each heartbeat alarm (it sat in ALARM all night, and an
alarm notifies only when it enters ALARM), at SESSION_ALARMS_OFF `DisableAlarmActions`. Weekday
NYSE holidays are not known to a cron: no task runs then and the heartbeat alarms notify once,
right after their reset; on early closes (13:00) the tasks stop at 13:15 and they notify
once at about 13:20. Their descriptions say so.
"""

from __future__ import annotations

from typing import Final

from aws_cdk import Duration, Stack
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from smart0dte import resources as r

PERIOD: Final = Duration.minutes(5)
"""The always-on alarms' window: one datapoint of 5 minutes, at least 1 event breaches."""
HEARTBEAT_PERIOD: Final = Duration.minutes(1)
HEARTBEAT_MINUTES: Final = 5
"""Minutes without a healthy beat before the dead man's switch fires: a feed or bridge restart
(reconnect backoff up to 60 s) fits in it; a dead task does not."""
TASK_COUNT_WINDOW_S: Final = 300
SESSION_ALARMS_ON: Final = "cron(30 9 ? * MON-FRI *)"
"""09:30 New York, the open: the tasks start at 08:45 (gateway) and 09:15 (feed)."""
SESSION_ALARMS_RESET: Final = "cron(31 9 ? * MON-FRI *)"
SESSION_ALARMS_OFF: Final = "cron(5 16 ? * MON-FRI *)"
"""16:05 New York: after the close; the tasks stop by themselves at 16:15."""
UNIVERSAL_TARGET: Final = "arn:aws:scheduler:::aws-sdk:cloudwatch:{action}"
SESSION_ACTIONS: Final = (
    "cloudwatch:EnableAlarmActions",
    "cloudwatch:DisableAlarmActions",
    "cloudwatch:SetAlarmState",
)
SESSION_NOTE: Final = (
    " Notifies only between 09:30 and 16:05 New York on weekdays; on a weekday NYSE holiday no task "
    "runs and it notifies once after the open, on an early close once after 13:15: check the calendar."
)


def most_beats_of_one_task(heartbeat_every_s: int, window_s: int = TASK_COUNT_WINDOW_S) -> int:
    """The most heartbeats one task can send in `window_s`: one per interval, plus one at the edge."""
    return window_s // heartbeat_every_s + 1


class Monitoring(Construct):
    """`alarms[name]` by alarm name; `session_alarms` the heartbeat and task-count alarms that the
    schedules switch on and off; `dashboard` the one CloudWatch dashboard."""

    def __init__(
        self,
        scope: Construct,
        construct_id_: str,
        *,
        prefix: str,
        topic: sns.ITopic,
        functions: dict[str, lambda_.Function],
        state_machines: dict[str, sfn.StateMachine],
        dead_letter_queues: dict[r.QueueSpec, sqs.Queue],
        http_api: apigw.HttpApi,
        tasks: tuple[r.TaskSpec, ...],
        schedule_group: scheduler.CfnScheduleGroup,
    ) -> None:
        super().__init__(scope, construct_id_)
        self.prefix = prefix
        self.action = cloudwatch_actions.SnsAction(topic)
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        self.session_alarms: list[cloudwatch.Alarm] = []
        self.heartbeat_alarms: list[cloudwatch.Alarm] = []

        for name, function in functions.items():
            self._count_alarm(
                f"lambda-{name}-errors", function.metric_errors(period=PERIOD), f"{name} raised"
            )
            self._count_alarm(
                f"lambda-{name}-throttles", function.metric_throttles(period=PERIOD), f"{name} was throttled"
            )
        for name, machine in state_machines.items():
            self._count_alarm(
                f"sfn-{name}-failed", machine.metric_failed(period=PERIOD), f"a {name} run failed"
            )
            self._count_alarm(
                f"sfn-{name}-timed-out", machine.metric_timed_out(period=PERIOD), f"a {name} run timed out"
            )
        for spec, queue in dead_letter_queues.items():
            self._count_alarm(
                f"{spec.logical_name}-dlq",
                queue.metric_approximate_number_of_messages_visible(period=PERIOD, statistic="Maximum"),
                f"a {spec.logical_name} message failed {spec.max_receive_count} receives: the order bridge "
                "never handled it (read it, then redrive or delete)",
            )
        self._count_alarm(
            "api-5xx", http_api.metric_server_error(period=PERIOD), "the dashboard API answered 5xx"
        )
        for spec in tasks:
            self._task_alarms(spec)

        if self.session_alarms:
            self._session_schedules(schedule_group)
        self.dashboard = self._dashboard(functions, state_machines, dead_letter_queues, http_api, tasks)

    def alarm_name(self, what: str) -> str:
        return f"{self.prefix}-{what}"

    def _add(self, what: str, alarm: cloudwatch.Alarm) -> cloudwatch.Alarm:
        alarm.add_alarm_action(self.action)
        self.alarms[self.alarm_name(what)] = alarm
        return alarm

    def _count_alarm(self, what: str, metric: cloudwatch.IMetric, description: str) -> cloudwatch.Alarm:
        return self._add(
            what,
            cloudwatch.Alarm(
                self,
                _cid(what),
                alarm_name=self.alarm_name(what),
                alarm_description=f"{description} (at least once in 5 minutes).",
                metric=metric,
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
        )

    def heartbeat_metric(self, spec: r.TaskSpec, statistic: str, period: Duration) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace=r.METRICS_NAMESPACE,
            metric_name=r.HEARTBEAT_METRIC,
            dimensions_map=dict(zip(r.HEARTBEAT_DIMENSIONS, (self.prefix, spec.name), strict=True)),
            statistic=statistic,
            period=period,
        )

    def _task_alarms(self, spec: r.TaskSpec) -> None:
        beat = self._add(
            f"{spec.name}-heartbeat",
            cloudwatch.Alarm(
                self,
                _cid(f"{spec.name}-heartbeat"),
                alarm_name=self.alarm_name(f"{spec.name}-heartbeat"),
                alarm_description=(
                    f"Dead man's switch: no healthy {spec.name} heartbeat for {HEARTBEAT_MINUTES} minutes "
                    f"(the task is down, stuck, or its {'IB' if spec is r.GATEWAY else 'market data'} "
                    "connection is)." + SESSION_NOTE
                ),
                metric=self.heartbeat_metric(spec, "Maximum", HEARTBEAT_PERIOD),
                threshold=1,
                evaluation_periods=HEARTBEAT_MINUTES,
                datapoints_to_alarm=HEARTBEAT_MINUTES,
                comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
            ),
        )
        most = most_beats_of_one_task(spec.heartbeat_every_s)
        count = self._add(
            f"{spec.name}-tasks",
            cloudwatch.Alarm(
                self,
                _cid(f"{spec.name}-tasks"),
                alarm_name=self.alarm_name(f"{spec.name}-tasks"),
                alarm_description=(
                    f"More than one {spec.name} task runs: over {most} heartbeats in 5 minutes, the most one "
                    f"task sends at one per {spec.heartbeat_every_s} s." + SESSION_NOTE
                ),
                metric=self.heartbeat_metric(spec, "SampleCount", Duration.seconds(TASK_COUNT_WINDOW_S)),
                threshold=most,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
        )
        self.heartbeat_alarms.append(beat)
        self.session_alarms += [beat, count]

    def _session_schedules(self, group: scheduler.CfnScheduleGroup) -> None:
        """Actions on at the open, the heartbeat alarms reset to OK a minute later, off after the close."""
        stack = Stack.of(self)
        names = [a.alarm_name for a in self.session_alarms]
        self.session_role = iam.Role(
            self,
            "SessionAlarmsRole",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": stack.account}}
            ),
            description=f"{self.prefix}: enables, resets and disables the session alarms only",
        )
        self.session_role.add_to_policy(
            iam.PolicyStatement(
                actions=list(SESSION_ACTIONS), resources=[a.alarm_arn for a in self.session_alarms]
            )
        )
        self.session_schedules: dict[str, scheduler.CfnSchedule] = {}
        self._universal("alarms-on", SESSION_ALARMS_ON, "enableAlarmActions", {"AlarmNames": names}, group)
        for alarm in self.heartbeat_alarms:
            self._universal(
                f"reset-{alarm.node.id}",
                SESSION_ALARMS_RESET,
                "setAlarmState",
                {
                    "AlarmName": alarm.alarm_name,
                    "StateValue": "OK",
                    "StateReason": "the session starts: the heartbeat is judged from now on",
                },
                group,
            )
        self._universal("alarms-off", SESSION_ALARMS_OFF, "disableAlarmActions", {"AlarmNames": names}, group)

    def _universal(
        self, what: str, cron: str, action: str, payload: dict[str, object], group: scheduler.CfnScheduleGroup
    ) -> None:
        name = f"{self.prefix}-session-{what.lower()}"
        schedule = scheduler.CfnSchedule(
            self,
            _cid(f"session-{what}") + "Schedule",
            name=name,
            group_name=group.name,
            schedule_expression=cron,
            schedule_expression_timezone=r.SCHEDULE_TIMEZONE,
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            state="ENABLED",
            description=f"CloudWatch {action} for the session alarms ({cron} {r.SCHEDULE_TIMEZONE})",
            target=scheduler.CfnSchedule.TargetProperty(
                arn=UNIVERSAL_TARGET.format(action=action),
                role_arn=self.session_role.role_arn,
                input=stack_json(self, payload),
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_retry_attempts=3, maximum_event_age_in_seconds=300
                ),
            ),
        )
        schedule.node.add_dependency(group)
        self.session_schedules[name] = schedule

    def _dashboard(
        self,
        functions: dict[str, lambda_.Function],
        state_machines: dict[str, sfn.StateMachine],
        dead_letter_queues: dict[r.QueueSpec, sqs.Queue],
        http_api: apigw.HttpApi,
        tasks: tuple[r.TaskSpec, ...],
    ) -> cloudwatch.Dashboard:
        dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=self.prefix)
        dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(
                title="Alarms", alarms=list(self.alarms.values()), width=24, height=4
            )
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Lambda errors",
                left=[f.metric_errors(period=PERIOD, label=n) for n, f in functions.items()],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Lambda duration p95 (ms)",
                left=[
                    f.metric_duration(period=PERIOD, statistic="p95", label=n) for n, f in functions.items()
                ],
                width=12,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Workflow runs failed or timed out",
                left=[m.metric_failed(period=PERIOD, label=f"{n} failed") for n, m in state_machines.items()]
                + [
                    m.metric_timed_out(period=PERIOD, label=f"{n} timed out")
                    for n, m in state_machines.items()
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="API requests, 4xx, 5xx; order dead letters",
                left=[
                    http_api.metric_count(period=PERIOD, label="requests"),
                    http_api.metric_client_error(period=PERIOD, label="4xx"),
                    http_api.metric_server_error(period=PERIOD, label="5xx"),
                ],
                right=[
                    q.metric_approximate_number_of_messages_visible(
                        period=PERIOD, label=f"{s.logical_name} DLQ"
                    )
                    for s, q in dead_letter_queues.items()
                ],
                width=12,
            ),
        )
        if tasks:
            dashboard.add_widgets(
                cloudwatch.GraphWidget(
                    title="Task heartbeats (1 healthy, 0 not; none: not running)",
                    left=[
                        self.heartbeat_metric(s, "Maximum", HEARTBEAT_PERIOD).with_(label=s.name)
                        for s in tasks
                    ],
                    width=24,
                )
            )
        return dashboard


def stack_json(scope: Construct, payload: dict[str, object]) -> str:
    """`payload` as JSON, with CDK tokens (alarm names) resolved by CloudFormation."""
    return Stack.of(scope).to_json_string(payload)


def _cid(what: str) -> str:
    return "".join(part.capitalize() for part in what.replace("_", "-").split("-"))
