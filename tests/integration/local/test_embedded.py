"""The embedded AWS runs the real ASL files: every resource exists, and trading_cycle, flatten
and pre_market take their success, retry and failure paths with test handlers."""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from smart0dte import resources
from smart0dte.adapters.aws.provisioning import dead_letter_queue_name
from smart0dte.bootstrap.aws import AwsConfig, state_store
from smart0dte.domain.controls import AutomationSettings
from smart0dte.local.embedded import EmbeddedAws, LambdaServiceException
from smart0dte.resources import BUCKETS, FUNCTIONS, QUEUES, STATE_MACHINES, TABLES, TOPICS, WorkflowType

from .conftest import PREFIX, recording

AT = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)
CYCLE = {"mode": "paper", "ts": "2025-03-14T10:31:00-04:00"}
CANDIDATE = {"signal_id": "momentum_breakout-SPY-1"}
INTENT = {"intent_id": "intent-0000000001"}


def _names(calls: list[tuple[str, Any]]) -> list[str]:
    return [name for name, _ in calls]


def test_every_resource_of_resources_py_is_provisioned(aws: EmbeddedAws) -> None:
    tables = aws.client("dynamodb").list_tables()["TableNames"]
    buckets = [b["Name"] for b in aws.client("s3").list_buckets()["Buckets"]]
    queues = aws.client("sqs").list_queues()["QueueUrls"]
    topics = [t["TopicArn"].rsplit(":", 1)[1] for t in aws.client("sns").list_topics()["Topics"]]
    functions = {f["FunctionName"]: f for f in aws.client("lambda").list_functions()["Functions"]}
    machines = aws.client("stepfunctions").list_state_machines()["stateMachines"]

    assert sorted(tables) == sorted(t.physical_name(PREFIX) for t in TABLES)
    assert sorted(buckets) == sorted(b.physical_name(PREFIX, "local") for b in BUCKETS)
    expected_queues = [q.physical_name(PREFIX) for q in QUEUES] + [
        dead_letter_queue_name(q, PREFIX) for q in QUEUES
    ]
    assert sorted(url.rsplit("/", 1)[1] for url in queues) == sorted(expected_queues)
    assert topics == [t.physical_name(PREFIX) for t in TOPICS]
    assert sorted(functions) == sorted(f.physical_name(PREFIX) for f in FUNCTIONS)
    for spec in FUNCTIONS:
        created = functions[spec.physical_name(PREFIX)]
        assert (created["MemorySize"], created["Timeout"]) == (spec.memory_mb, spec.timeout_s)
    assert sorted(m["name"] for m in machines) == sorted(m.physical_name(PREFIX) for m in STATE_MACHINES)


@pytest.mark.parametrize("spec", STATE_MACHINES, ids=lambda s: s.name)
def test_each_state_machine_has_its_type_and_invokes_the_created_functions(
    aws: EmbeddedAws, spec: resources.StateMachineSpec
) -> None:
    described = aws.client("stepfunctions").describe_state_machine(
        stateMachineArn=aws.state_machine_arns[spec.name]
    )
    definition = described["definition"]

    assert described["type"] == spec.type.value
    assert "${" not in definition
    resources_used = {
        state["Resource"] for state in _all_states(json.loads(definition)) if state.get("Type") == "Task"
    }
    assert resources_used == {aws.function_arns[f] for f in spec.functions}


def _all_states(definition: dict[str, Any]) -> list[dict[str, Any]]:
    states = []
    for state in definition["States"].values():
        states.append(state)
        if "ItemProcessor" in state:
            states += _all_states(state["ItemProcessor"])
    return states


def test_trading_cycle_is_express_and_the_day_workflows_standard(aws: EmbeddedAws) -> None:
    sfn = aws.client("stepfunctions")
    types = {
        name: sfn.describe_state_machine(stateMachineArn=arn)["type"]
        for name, arn in aws.state_machine_arns.items()
    }

    assert types.pop("trading_cycle") == WorkflowType.EXPRESS.value
    assert set(types.values()) == {WorkflowType.STANDARD.value}


def test_trading_cycle_passes_each_step_the_previous_ones_output(
    aws: EmbeddedAws, calls: list[tuple[str, Any]]
) -> None:
    aws.dispatcher.set_handlers(
        {
            "signals": recording(calls, "signals", lambda e: {**e, "candidates": [CANDIDATE]}),
            "risk": recording(calls, "risk", lambda e: {**e, "intents": [INTENT]}),
            "execute": recording(
                calls, "execute", lambda e: {"orders": [{"order_id": "o-1", **e["intents"][0]}]}
            ),
        }
    )

    result = aws.start_and_wait("trading_cycle", CYCLE)

    assert (result.status, result.error) == ("SUCCEEDED", None)
    assert result.output == {"orders": [{"order_id": "o-1", **INTENT}]}
    assert calls == [
        ("signals", CYCLE),
        ("risk", {**CYCLE, "candidates": [CANDIDATE]}),
        ("execute", {**CYCLE, "candidates": [CANDIDATE], "intents": [INTENT]}),
    ]


def test_no_candidates_or_no_approved_intent_ends_the_cycle_early(
    aws: EmbeddedAws, calls: list[tuple[str, Any]]
) -> None:
    aws.dispatcher.set_handlers(
        {
            "signals": recording(calls, "signals", lambda e: {**e, "candidates": []}),
            "risk": recording(calls, "risk", lambda e: {**e, "intents": []}),
        }
    )
    quiet = aws.start_and_wait("trading_cycle", CYCLE)
    aws.dispatcher.set_handlers(
        {"signals": recording(calls, "signals", lambda e: {**e, "candidates": [CANDIDATE]})}
    )
    rejected = aws.start_and_wait("trading_cycle", CYCLE)

    assert (quiet.status, rejected.status) == ("SUCCEEDED", "SUCCEEDED")
    assert _names(calls) == ["signals", "signals", "risk"]
    assert rejected.output == {**CYCLE, "candidates": [CANDIDATE], "intents": []}


def test_a_transient_lambda_fault_is_retried_and_the_cycle_succeeds(
    aws: EmbeddedAws, calls: list[tuple[str, Any]]
) -> None:
    attempts: list[int] = []

    def flaky_risk(event: Any, context: Any) -> Any:
        attempts.append(1)
        if len(attempts) == 1:
            raise LambdaServiceException("Lambda was unable to start the function")
        return {**event, "intents": [INTENT]}

    aws.dispatcher.set_handlers(
        {
            "signals": recording(calls, "signals", lambda e: {**e, "candidates": [CANDIDATE]}),
            "risk": flaky_risk,
            "execute": recording(calls, "execute", {"orders": ["o-1"]}),
        }
    )

    result = aws.start_and_wait("trading_cycle", CYCLE)

    assert (result.status, result.output) == ("SUCCEEDED", {"orders": ["o-1"]})
    dispatched = [(i.function, i.error_type) for i in aws.dispatcher.invocations]
    assert dispatched == [
        ("signals", None),
        ("risk", "Lambda.ServiceException"),
        ("risk", None),
        ("execute", None),
    ]
    assert result.elapsed_s >= 1.0  # the Retry's IntervalSeconds, waited for real


def test_a_handler_error_is_not_retried_and_fails_visibly_through_the_fail_state(
    aws: EmbeddedAws, calls: list[tuple[str, Any]]
) -> None:
    def broken_execute(event: Any, context: Any) -> Any:
        raise ValueError("intent-0000000001: limit_price missing")

    aws.dispatcher.set_handlers(
        {
            "signals": recording(calls, "signals", lambda e: {**e, "candidates": [CANDIDATE]}),
            "risk": recording(calls, "risk", lambda e: {**e, "intents": [INTENT]}),
            "execute": broken_execute,
        }
    )

    result = aws.start_and_wait("trading_cycle", CYCLE)

    assert result.status == "FAILED"
    assert result.error == "TradingCycleFailed"
    assert result.cause == "a trading_cycle step failed after retries; no order was sent half-way"
    assert (result.task_error, result.task_cause) == ("ValueError", "intent-0000000001: limit_price missing")
    assert [(i.function, i.error_type) for i in aws.dispatcher.invocations][-1] == ("execute", "ValueError")
    assert sum(1 for i in aws.dispatcher.invocations if i.function == "execute") == 1


def test_a_persistent_lambda_fault_fails_after_the_retries(
    aws: EmbeddedAws, calls: list[tuple[str, Any]]
) -> None:
    def down(event: Any, context: Any) -> Any:
        raise LambdaServiceException("service unavailable")

    aws.dispatcher.set_handlers({"signals": down})

    result = aws.start_and_wait("trading_cycle", CYCLE)

    assert (result.status, result.error, result.task_error) == (
        "FAILED",
        "TradingCycleFailed",
        "Lambda.ServiceException",
    )
    assert [i.function for i in aws.dispatcher.invocations] == ["signals"] * 3  # 1 + MaxAttempts 2


def test_flatten_runs_once_and_fails_visibly_if_a_position_has_no_exit_working(
    aws: EmbeddedAws, calls: list[tuple[str, Any]]
) -> None:
    # one attempt: a second at the same minute would only re-read it; the trading cycles walk the
    # exits from here to the close. Open positions whose exits work are the flatten done.
    reports = iter([(0, 0), (2, 0), (2, 1)])

    def report(event: Any) -> Any:
        open_positions, unexited = next(reports)
        return {**event, "open_positions": open_positions, "unexited_positions": unexited}

    aws.dispatcher.set_handlers({"flatten": recording(calls, "flatten", report)})
    ts = {"mode": "paper", "ts": "2025-03-14T15:50:00-04:00"}
    flat, exiting, stuck = (aws.start_and_wait("flatten", ts) for _ in range(3))

    assert (flat.status, exiting.status) == ("SUCCEEDED", "SUCCEEDED")
    assert (stuck.status, stuck.error) == ("FAILED", "PositionsNotExiting")
    assert _names(calls) == ["flatten"] * 3


def test_pre_market_on_a_holiday_succeeds_without_doing_anything_more(
    aws: EmbeddedAws, calls: list[tuple[str, Any]]
) -> None:
    aws.dispatcher.set_handlers(
        {"pre_market": recording(calls, "pre_market", lambda e: {**e, "is_session": False})}
    )

    result = aws.start_and_wait("pre_market", {"mode": "paper", "session_date": "2025-12-25"})

    assert (result.status, result.output) == (
        "SUCCEEDED",
        {"mode": "paper", "session_date": "2025-12-25", "is_session": False},
    )


def test_handlers_run_with_the_runtime_environment_and_a_lambda_context(
    aws: EmbeddedAws, calls: list[tuple[str, Any]]
) -> None:
    seen: dict[str, Any] = {}

    def pre_market(event: Any, context: Any) -> Any:
        config = AwsConfig.from_env()
        state_store(config).put_settings(
            AutomationSettings(max_positions=2), actor="pre_market", reason="test", at=AT
        )
        seen.update(
            config=config,
            function_name=context.function_name,
            memory=context.memory_limit_in_mb,
            remaining_ms=context.get_remaining_time_in_millis(),
        )
        return {**event, "is_session": True}

    aws.dispatcher.set_handlers({"pre_market": pre_market})

    result = aws.start_and_wait("pre_market", {"mode": "paper", "session_date": "2025-03-14"})

    assert result.status == "SUCCEEDED"
    assert seen["config"] == AwsConfig(
        prefix=PREFIX,
        region=aws.region,
        endpoint_url=aws.endpoint_url,
        account="local",
        order_queue_url=aws.environment[resources.queue_url_env(resources.ORDER_INTENT_QUEUE)],
    )
    assert seen["function_name"] == f"{PREFIX}-pre-market"
    assert seen["memory"] == 512
    assert 0 < seen["remaining_ms"] <= 30_000
    assert aws.state_store().get_settings().max_positions == 2


def test_a_missing_handler_file_fails_like_lambda_runtime_import_error(
    aws: EmbeddedAws, calls: list[tuple[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(resources, "REPO_ROOT", tmp_path)
    aws.dispatcher.set_handlers({"post_close": None})

    result = aws.start_and_wait("post_close", {"mode": "paper", "session_date": "2025-03-14"})

    assert (result.status, result.error, result.task_error) == (
        "FAILED",
        "PostCloseFailed",
        "Runtime.ImportModuleError",
    )
    assert f"no file {tmp_path}/lambdas/post_close/handler.py" in str(result.task_cause)


def test_a_result_json_cannot_carry_is_a_marshal_error(
    aws: EmbeddedAws, calls: list[tuple[str, Any]]
) -> None:
    aws.dispatcher.set_handlers({"learning": lambda event, context: {"promoted": {1, 2}}})

    result = aws.start_and_wait("learning", {"mode": "paper", "session_date": "2025-03-14"})

    assert (result.status, result.error, result.task_error) == (
        "FAILED",
        "LearningFailed",
        "Runtime.MarshalError",
    )


def test_unknown_state_machines_and_bad_execution_names_are_refused(aws: EmbeddedAws) -> None:
    with pytest.raises(ValueError, match="state_machine='trading' is not one of pre_market, trading_cycle"):
        aws.start_execution("trading", {})
    with pytest.raises(ValueError, match="name='a b' must be 1 to 80 characters"):
        aws.start_execution("learning", {}, name="a b")
    with pytest.raises(ValueError, match=r"handlers=\['signal'\] name no function"):
        aws.dispatcher.set_handlers({"signal": lambda e, c: e})
