"""The synthesized stack against resources.py: every table, bucket, queue, topic, function, state
machine and schedule, least-privilege IAM, the AwsSolutions checks and Lambda's 250 MB limit.

One synthesis for the whole session (conftest's `synth`), against a generated checkout (a handler
per function, a minimal ASL per state machine, backtest as a Distributed Map, a two-file
dashboard), so these tests do not wait for the real handlers. The dashboard's resources are
tested in test_dashboard.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest
from aws_cdk.assertions import Match

from smart0dte import resources as r

from .conftest import (
    LAMBDA_UNZIPPED_LIMIT_BYTES,
    Synth,
    describe_sizes,
    package_sizes,
    resources_of_functions,
    write_fake_repo,
)
from .template_queries import (
    READ,
    WRITE,
    XRAY,
    actions_on,
    actions_on_any_resource,
    allowed,
    grants,
    logical_id,
    resources_of_type,
    role_of,
    statements,
)

PREFIX = r.DEFAULT_PREFIX


@pytest.fixture(scope="module")
def t(synth: Synth) -> dict[str, Any]:
    return synth.template_json


def function_id(t: dict[str, Any], name: str) -> str:
    spec = next(f for f in r.FUNCTIONS if f.name == name)
    return logical_id(t, "AWS::Lambda::Function", FunctionName=spec.physical_name(PREFIX))


def function_role(t: dict[str, Any], name: str) -> str:
    return role_of(t, function_id(t, name))


def table_id(t: dict[str, Any], spec: r.TableSpec) -> str:
    return logical_id(t, "AWS::DynamoDB::Table", TableName=spec.physical_name(PREFIX))


def bucket_id(t: dict[str, Any], spec: r.BucketSpec) -> str:
    name_start = json.dumps(spec.physical_name(PREFIX, account=""))
    found = [k for k, v in resources_of_type(t, "AWS::S3::Bucket").items() if name_start in json.dumps(v)]
    assert len(found) == 1, found
    return found[0]


def queue_id(t: dict[str, Any], spec: r.QueueSpec) -> str:
    return logical_id(t, "AWS::SQS::Queue", QueueName=spec.physical_name(PREFIX))


def topic_id(t: dict[str, Any], spec: r.TopicSpec) -> str:
    return logical_id(t, "AWS::SNS::Topic", TopicName=spec.physical_name(PREFIX))


def machine_id(t: dict[str, Any], name: str) -> str:
    spec = next(s for s in r.STATE_MACHINES if s.name == name)
    return logical_id(t, "AWS::StepFunctions::StateMachine", StateMachineName=spec.physical_name(PREFIX))


def table_actions(t: dict[str, Any], function: str, table: r.TableSpec) -> set[str]:
    return actions_on(t, function_role(t, function), table_id(t, table))


def own_layers(t: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The core and deps layers (CDK's BucketDeployment brings its own AWS CLI layer)."""
    return {
        k: v
        for k, v in resources_of_type(t, "AWS::Lambda::LayerVersion").items()
        if k.startswith("Functions")
    }


# --- storage -------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", r.TABLES, ids=lambda s: s.logical_name)
def test_table_has_its_keys_indexes_ttl_on_demand_billing_and_pitr(synth: Synth, spec: r.TableSpec) -> None:
    keys = [{"AttributeName": spec.partition_key.name, "KeyType": "HASH"}]
    if spec.sort_key:
        keys.append({"AttributeName": spec.sort_key.name, "KeyType": "RANGE"})
    synth.template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "Properties": {
                "TableName": spec.physical_name(PREFIX),
                "KeySchema": keys,
                "BillingMode": "PAY_PER_REQUEST",
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                "TimeToLiveSpecification": (
                    {"AttributeName": spec.ttl_attribute, "Enabled": True}
                    if spec.ttl_attribute
                    else Match.absent()
                ),
            },
            "DeletionPolicy": "Retain",
        },
    )
    props = synth.template_json["Resources"][table_id(synth.template_json, spec)]["Properties"]
    indexes = {
        i["IndexName"]: (i["KeySchema"], i["Projection"]) for i in props.get("GlobalSecondaryIndexes", [])
    }
    expected_indexes = {
        i.name: (
            [{"AttributeName": i.partition_key.name, "KeyType": "HASH"}]
            + ([{"AttributeName": i.sort_key.name, "KeyType": "RANGE"}] if i.sort_key else []),
            {"ProjectionType": "ALL"},
        )
        for i in spec.indexes
    }
    assert indexes == expected_indexes
    key_attributes = [
        spec.partition_key,
        spec.sort_key,
        *(k for i in spec.indexes for k in (i.partition_key, i.sort_key)),
    ]
    assert {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]} == {
        k.name: k.type.value for k in key_attributes if k
    }


def test_there_is_one_table_per_spec(synth: Synth) -> None:
    synth.template.resource_count_is("AWS::DynamoDB::Table", len(r.TABLES))


@pytest.mark.parametrize("spec", r.BUCKETS, ids=lambda s: s.logical_name)
def test_bucket_is_encrypted_private_tls_only_logged_and_retained(synth: Synth, spec: r.BucketSpec) -> None:
    t = synth.template_json
    bucket = t["Resources"][bucket_id(t, spec)]
    props = bucket["Properties"]
    assert bucket["DeletionPolicy"] == "Retain"
    assert props["BucketName"] == {
        "Fn::Join": ["", [spec.physical_name(PREFIX, account=""), {"Ref": "AWS::AccountId"}]]
    }
    assert props["BucketEncryption"] == {
        "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
    }
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["LoggingConfiguration"]["LogFilePrefix"] == f"{spec.logical_name}/"
    synth.template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": {"Ref": bucket_id(t, spec)},
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Action": "s3:*",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            },
        },
    )


def test_order_intent_queue_is_fifo_deduplicated_by_intent_id_with_a_dead_letter_queue(synth: Synth) -> None:
    spec = r.ORDER_INTENT_QUEUE
    t = synth.template_json
    props = t["Resources"][queue_id(t, spec)]["Properties"]
    assert props["FifoQueue"] is True
    assert props["ContentBasedDeduplication"] is False  # the sender sets MessageDeduplicationId = intent id
    assert props["VisibilityTimeout"] == spec.visibility_timeout_s
    assert props["SqsManagedSseEnabled"] is True
    dlq_id = props["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    assert props["RedrivePolicy"]["maxReceiveCount"] == spec.max_receive_count
    dlq = t["Resources"][dlq_id]["Properties"]
    assert dlq["FifoQueue"] is True and dlq["QueueName"].endswith(".fifo")
    for queue in (queue_id(t, spec), dlq_id):
        synth.template.has_resource_properties(
            "AWS::SQS::QueuePolicy",
            {
                "Queues": [{"Ref": queue}],
                "PolicyDocument": {
                    "Statement": Match.array_with(
                        [
                            Match.object_like(
                                {"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
                            )
                        ]
                    )
                },
            },
        )


def test_alert_topic_is_encrypted_and_tls_only(synth: Synth) -> None:
    t = synth.template_json
    for spec in r.TOPICS:
        props = t["Resources"][topic_id(t, spec)]["Properties"]
        assert "alias/aws/sns" in json.dumps(props["KmsMasterKeyId"])
        synth.template.has_resource_properties(
            "AWS::SNS::TopicPolicy",
            {
                "Topics": [{"Ref": topic_id(t, spec)}],
                "PolicyDocument": {
                    "Statement": Match.array_with(
                        [
                            Match.object_like(
                                {"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
                            )
                        ]
                    )
                },
            },
        )


# --- functions -----------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", r.FUNCTIONS, ids=lambda s: s.name)
def test_function_has_both_layers_and_its_memory_and_timeout(synth: Synth, spec: r.FunctionSpec) -> None:
    t = synth.template_json
    layers = own_layers(t)
    assert len(layers) == 2
    synth.template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "FunctionName": spec.physical_name(PREFIX),
            "Handler": "handler.handler",
            "Runtime": "python3.12",
            "Architectures": ["x86_64"],
            "MemorySize": spec.memory_mb,
            "Timeout": spec.timeout_s,
            "TracingConfig": {"Mode": "Active"},
            "Environment": {
                "Variables": Match.object_like(
                    {"SMART0DTE_PREFIX": PREFIX, "SMART0DTE_ACCOUNT": {"Ref": "AWS::AccountId"}}
                )
            },
        },
    )
    props = t["Resources"][function_id(t, spec.name)]["Properties"]
    assert sorted(layer["Ref"] for layer in props["Layers"]) == sorted(layers)


def test_there_is_one_function_per_spec(synth: Synth) -> None:
    t = synth.template_json
    names = sorted(f["Properties"]["FunctionName"] for f in resources_of_functions(t))
    assert names == sorted(f.physical_name(PREFIX) for f in r.FUNCTIONS)
    others = [
        k
        for k in resources_of_type(t, "AWS::Lambda::Function")
        if "FunctionName" not in t["Resources"][k]["Properties"]
    ]
    assert len(others) == 1 and others[0].startswith("CustomCDKBucketDeployment"), others


def test_layers_are_for_python_3_12_on_x86_64(t: dict[str, Any]) -> None:
    for layer in own_layers(t).values():
        assert layer["Properties"]["CompatibleRuntimes"] == ["python3.12"]
        assert layer["Properties"]["CompatibleArchitectures"] == ["x86_64"]


def test_risk_decides_without_touching_orders_money_or_schedules(t: dict[str, Any]) -> None:
    role = function_role(t, "risk")
    assert table_actions(t, "risk", r.CONTROL_TABLE) == READ | WRITE  # saves the engine state
    assert table_actions(t, "risk", r.MARKET_TABLE) == READ
    assert table_actions(t, "risk", r.TRADING_TABLE) == READ | WRITE
    assert table_actions(t, "risk", r.AUDIT_TABLE) == {"dynamodb:PutItem"}
    assert table_actions(t, "risk", r.IDEMPOTENCY_TABLE) == set()
    # a limit refusing an entry is notified once a day
    assert actions_on(t, role, topic_id(t, r.ALERT_TOPIC)) == {"sns:Publish"}
    for action in (
        "sqs:SendMessage",
        "s3:GetObject",
        "s3:PutObject",
        "scheduler:CreateSchedule",
    ):
        assert allowed(t, role, action) == [], action
    assert actions_on_any_resource(t, role) == XRAY


def test_signals_reads_market_and_writes_engine_state_trading_and_audit(t: dict[str, Any]) -> None:
    assert table_actions(t, "signals", r.MARKET_TABLE) == READ
    assert table_actions(t, "signals", r.CONTROL_TABLE) == READ | WRITE  # saves the engine state
    assert table_actions(t, "signals", r.TRADING_TABLE) == READ | WRITE
    assert table_actions(t, "signals", r.AUDIT_TABLE) == {"dynamodb:PutItem"}
    queue = queue_id(t, r.ORDER_INTENT_QUEUE)
    assert actions_on(t, function_role(t, "signals"), queue) == {"sqs:SendMessage"}  # live exits
    topic = topic_id(t, r.ALERT_TOPIC)  # a position open five minutes before the close
    assert actions_on(t, function_role(t, "signals"), topic) == {"sns:Publish"}


def test_only_execute_and_the_exit_paths_reach_the_order_queue_and_execute_is_idempotent(
    t: dict[str, Any],
) -> None:
    queue = queue_id(t, r.ORDER_INTENT_QUEUE)
    senders = {f.name for f in r.FUNCTIONS if actions_on(t, function_role(t, f.name), queue)}
    assert senders == {"execute", "flatten", "signals"}
    assert actions_on(t, function_role(t, "execute"), queue) == {"sqs:SendMessage"}
    variables = t["Resources"][function_id(t, "execute")]["Properties"]["Environment"]["Variables"]
    assert variables[r.queue_url_env(r.ORDER_INTENT_QUEUE)] == {"Ref": queue}
    assert table_actions(t, "execute", r.IDEMPOTENCY_TABLE) == {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
    }
    users = {f.name for f in r.FUNCTIONS if table_actions(t, f.name, r.IDEMPOTENCY_TABLE)}
    assert users == {"execute"}


def test_audit_log_is_append_only_for_every_function(t: dict[str, Any]) -> None:
    for function in r.FUNCTIONS:
        reads = READ if function.name == "api" else set()  # the dashboard's audit page lists it
        assert table_actions(t, function.name, r.AUDIT_TABLE) <= {"dynamodb:PutItem"} | reads, function.name
    assert not any(
        table_actions(t, f.name, r.AUDIT_TABLE) & (WRITE - {"dynamodb:PutItem"}) for f in r.FUNCTIONS
    )


def test_market_data_is_read_only_for_every_function(t: dict[str, Any]) -> None:
    for function in r.FUNCTIONS:
        assert table_actions(t, function.name, r.MARKET_TABLE) <= READ, function.name


def test_each_function_reaches_exactly_the_resources_its_environment_names(t: dict[str, Any]) -> None:
    storage = {
        **{table_id(t, s): s for s in r.TABLES},
        **{bucket_id(t, s): s for s in r.BUCKETS},
        **{queue_id(t, s): s for s in r.QUEUES},
        **{topic_id(t, s): s for s in r.TOPICS},
    }
    for function in r.FUNCTIONS:
        fid = function_id(t, function.name)
        role = role_of(t, fid)
        reached = {sid for sid in storage if actions_on(t, role, sid)}
        variables = t["Resources"][fid]["Properties"]["Environment"]["Variables"]
        named = {sid for sid in storage if f'"{sid}"' in json.dumps(variables)}
        assert reached == named, function.name
        listing = {"scheduler:ListSchedules"} if function.name == "api" else set()  # no resource level
        assert actions_on_any_resource(t, role) == XRAY | listing, function.name


def test_functions_log_only_to_their_own_log_group(t: dict[str, Any]) -> None:
    for function in r.FUNCTIONS:
        fid = function_id(t, function.name)
        group = t["Resources"][fid]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert allowed(t, role_of(t, fid), "logs:PutLogEvents") == [{"Fn::GetAtt": [group, "Arn"]}]
        managed = t["Resources"][role_of(t, fid)]["Properties"].get("ManagedPolicyArns", [])
        assert managed == [], f"{function.name} has managed policies {managed}"


# --- workflows -----------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", r.STATE_MACHINES, ids=lambda s: s.name)
def test_state_machine_comes_from_its_asl_file_with_function_arns_substituted(
    synth: Synth, spec: r.StateMachineSpec
) -> None:
    t = synth.template_json
    props = t["Resources"][machine_id(t, spec.name)]["Properties"]
    assert props["StateMachineType"] == spec.type.value
    assert props["DefinitionSubstitutions"] == {
        placeholder: {"Fn::GetAtt": [function_id(t, function), "Arn"]}
        for placeholder, function in spec.substitutions.items()
    }
    assert props["LoggingConfiguration"]["Level"] == "ALL"
    assert props["TracingConfiguration"] == {"Enabled": True}
    definition_asset = synth.outdir / f"asset.{props['DefinitionS3Location']['Key']}"
    placeholders = {s["Resource"] for s in _tasks(json.loads(definition_asset.read_text()))}
    assert placeholders == {"${" + p + "}" for p in spec.substitutions}


def _tasks(definition: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for state in definition["States"].values():
        if state["Type"] == "Task":
            found.append(state)
        if "ItemProcessor" in state:
            found += _tasks(state["ItemProcessor"])
    return found


def test_there_is_one_state_machine_per_spec(synth: Synth) -> None:
    synth.template.resource_count_is("AWS::StepFunctions::StateMachine", len(r.STATE_MACHINES))


@pytest.mark.parametrize("spec", r.STATE_MACHINES, ids=lambda s: s.name)
def test_state_machine_role_invokes_only_its_functions(t: dict[str, Any], spec: r.StateMachineSpec) -> None:
    role = role_of(t, machine_id(t, spec.name))
    invoked = allowed(t, role, "lambda:InvokeFunction")
    assert sorted(invoked, key=json.dumps) == sorted(
        ({"Fn::GetAtt": [function_id(t, f), "Arn"]} for f in spec.functions), key=json.dumps
    )
    on_named = {a for a, res, _ in grants(t, role) if res != "*"}
    expected = {"lambda:InvokeFunction"}
    if spec.name == "backtest":  # the Distributed Map starts child executions of itself
        expected |= {"states:StartExecution", "states:DescribeExecution", "states:StopExecution"}
        own = json.dumps(allowed(t, role, "states:StartExecution"))
        assert f":stateMachine:{spec.physical_name(PREFIX)}" in own
        children = json.dumps(allowed(t, role, "states:StopExecution"))
        assert f":execution:{spec.physical_name(PREFIX)}/*" in children
    assert on_named == expected
    assert all(a.startswith(("logs:", "xray:")) for a in actions_on_any_resource(t, role))


# --- scheduling ----------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", r.SCHEDULES, ids=lambda s: s.name)
def test_schedule_starts_its_state_machine_in_new_york_time(synth: Synth, spec: r.ScheduleSpec) -> None:
    t = synth.template_json
    target = machine_id(t, spec.target_state_machine)
    synth.template.has_resource_properties(
        "AWS::Scheduler::Schedule",
        {
            "Name": spec.physical_name(PREFIX),
            "GroupName": PREFIX,
            "ScheduleExpression": spec.cron,
            "ScheduleExpressionTimezone": "America/New_York",
            "State": "ENABLED",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "Target": Match.object_like({"Arn": {"Ref": target}}),
        },
    )
    schedule = logical_id(t, "AWS::Scheduler::Schedule", Name=spec.physical_name(PREFIX))
    role = role_of(t, schedule)
    assert [(a, res) for a, res, _ in grants(t, role)] == [("states:StartExecution", {"Ref": target})]


def test_there_is_one_schedule_per_spec(synth: Synth) -> None:
    synth.template.resource_count_is("AWS::Scheduler::Schedule", len(r.SCHEDULES))


def test_pre_market_may_create_only_session_schedules_with_only_their_role(t: dict[str, Any]) -> None:
    role = function_role(t, "pre_market")
    created = [json.dumps(res) for res in allowed(t, role, "scheduler:CreateSchedule")]
    assert len(created) == 2
    assert any(c.endswith(f':schedule/{PREFIX}/{r.FLATTEN_SCHEDULE_PREFIX}-*"]]}}') for c in created), created
    assert any(c.endswith(f':schedule/{PREFIX}/{r.POST_CLOSE_SCHEDULE_PREFIX}-*"]]}}') for c in created), (
        created
    )
    passes = [s for s in statements(t, role) if s["Action"] == "iam:PassRole"]
    assert len(passes) == 1
    assert passes[0]["Condition"] == {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}
    session_role = passes[0]["Resource"]["Fn::GetAtt"][0]
    started = {res["Ref"] for res in allowed(t, session_role, "states:StartExecution")}
    assert started == {machine_id(t, "flatten"), machine_id(t, "post_close")}
    assert {a for a, _, _ in grants(t, session_role)} == {"states:StartExecution"}
    variables = t["Resources"][function_id(t, "pre_market")]["Properties"]["Environment"]["Variables"]
    assert variables["SMART0DTE_SCHEDULE_GROUP"] == PREFIX
    assert variables["SMART0DTE_SESSION_SCHEDULER_ROLE_ARN"] == {"Fn::GetAtt": [session_role, "Arn"]}
    assert variables["SMART0DTE_STATE_MACHINE_FLATTEN_ARN"] == {"Ref": machine_id(t, "flatten")}


def test_no_other_function_manages_schedules_or_passes_roles(t: dict[str, Any]) -> None:
    for function in r.FUNCTIONS:
        if function.name == "pre_market":
            continue
        role = function_role(t, function.name)
        assert allowed(t, role, "scheduler:CreateSchedule") == [], function.name
        assert allowed(t, role, "iam:PassRole") == [], function.name


def test_scheduler_roles_trust_only_the_scheduler_of_this_account(t: dict[str, Any]) -> None:
    scheduler_roles = [
        role
        for role in resources_of_type(t, "AWS::IAM::Role").values()
        if "scheduler.amazonaws.com" in json.dumps(role["Properties"]["AssumeRolePolicyDocument"])
    ]
    assert len(scheduler_roles) == len(r.SCHEDULES) + 1
    for role in scheduler_roles:
        (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


# --- checks --------------------------------------------------------------------------------------


def test_aws_solutions_checks_leave_no_unacknowledged_finding(synth: Synth) -> None:
    findings = [
        f"{v.rule_name}: {', '.join(str(res.construct_path) for res in v.violating_resources)}"
        for v in synth.nag.violations
    ]
    assert synth.nag.success, "\n".join(findings)


def test_each_function_with_its_layers_fits_lambdas_250_mb_unzipped_limit(
    synth: Synth, capsys: pytest.CaptureFixture[str]
) -> None:
    sizes = package_sizes(synth)

    largest = max(sizes, key=sizes.__getitem__)
    with capsys.disabled():
        print(f"\nfake handlers: {describe_sizes(sizes)}")
    assert sizes[largest] <= LAMBDA_UNZIPPED_LIMIT_BYTES, sizes


# --- failures ------------------------------------------------------------------------------------


def test_synthesis_stops_listing_every_missing_handler_and_asl_file(tmp_path: Path, deps_layer: Path) -> None:
    import aws_cdk as cdk
    from smart0dte_infra import Smart0dteStack
    from smart0dte_infra.sources import PRICING_KERNELS, MissingSourcesError, handler_path

    present = r.FUNCTIONS[0]
    handler = handler_path(present, tmp_path)
    handler.parent.mkdir(parents=True)
    handler.write_text("def handler(event, context):\n    return event\n")

    with pytest.raises(MissingSourcesError) as raised:
        Smart0dteStack(cdk.App(), "Incomplete", repo_root=tmp_path, deps_layer_dir=deps_layer)

    message = str(raised.value)
    for function in r.FUNCTIONS[1:]:
        assert f"lambdas/{function.name}/handler.py" in message
    for machine in r.STATE_MACHINES:
        assert f"stepfunctions/{machine.name}.asl.json" in message
    assert f"lambdas/{present.name}/" not in message
    assert "_pricing_kernel.so" in message and "_pricing_kernel_v3.so" in message
    assert f"{len(r.FUNCTIONS) - 1 + len(r.STATE_MACHINES) + len(PRICING_KERNELS)} file(s)" in message


def test_prefix_names_every_resource_so_stages_deploy_side_by_side(tmp_path: Path, deps_layer: Path) -> None:
    import aws_cdk as cdk
    from aws_cdk.aws_dynamodb import CfnTable
    from aws_cdk.aws_lambda import CfnFunction
    from aws_cdk.aws_stepfunctions import CfnStateMachine
    from smart0dte_infra import Smart0dteStack

    stage = "smart0dte-prod"
    repo = write_fake_repo(tmp_path / "repo")
    stack = Smart0dteStack(cdk.App(), stage, prefix=stage, repo_root=repo, deps_layer_dir=deps_layer)

    functions = {
        cast(CfnFunction, f.node.default_child).function_name for f in stack.functions.functions.values()
    }
    tables = {cast(CfnTable, t.node.default_child).table_name for t in stack.storage.tables.values()}
    machines = {
        cast(CfnStateMachine, m.node.default_child).state_machine_name
        for m in stack.workflows.state_machines.values()
    }
    assert functions == {f.physical_name(stage) for f in r.FUNCTIONS}
    assert tables == {t.physical_name(stage) for t in r.TABLES}
    assert machines == {m.physical_name(stage) for m in r.STATE_MACHINES}
    assert stack.scheduling.group.name == stage


def test_every_function_demands_the_compiled_pricing_kernel(t: dict[str, Any]) -> None:
    from smart0dte.domain.pricing import KERNEL_ENV

    for spec in r.FUNCTIONS:
        variables = t["Resources"][function_id(t, spec.name)]["Properties"]["Environment"]["Variables"]
        assert variables[KERNEL_ENV] == "c", spec.name
