"""The embedded AWS starts on a free local port, and stopping it frees the port and puts back the
environment and moto's configuration."""

import os
import socket

import pytest
from moto import mock_aws
from moto.core.config import default_user_config

from smart0dte.local.embedded import EmbeddedAws, EmbeddedAwsError
from smart0dte.resources import STATE_MACHINES, state_machine_arn_env

from .conftest import PREFIX

SET_BY_RUNTIME = (
    "AWS_ENDPOINT_URL",
    "MOTO_PORT",
    "SMART0DTE_PREFIX",
    "SMART0DTE_TABLE_MARKET",
    "AWS_PROFILE",
)


def _accepts_connections(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_start_serves_on_a_free_local_port_and_stop_frees_it_and_restores_everything(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SMART0DTE_PREFIX", "before")
    monkeypatch.setenv("AWS_PROFILE", "someone-real")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    env_before = {name: os.environ.get(name) for name in SET_BY_RUNTIME}
    config_before = (dict(default_user_config["lambda"]), dict(default_user_config["stepfunctions"]))

    with EmbeddedAws(prefix=PREFIX) as aws:
        port = aws.port
        running = {
            "endpoint": os.environ["AWS_ENDPOINT_URL"],
            "prefix": os.environ["SMART0DTE_PREFIX"],
            "profile": os.environ.get("AWS_PROFILE"),
            "moto_port": os.environ["MOTO_PORT"],
        }
        assert _accepts_connections(port)
        assert default_user_config["stepfunctions"] == {"execute_state_machine": True}
        assert default_user_config["lambda"] == {"use_docker": False}
        with pytest.raises(
            EmbeddedAwsError, match=r"an embedded AWS is already running at http://127\.0\.0\.1:"
        ):
            EmbeddedAws().start()

    assert running == {
        "endpoint": f"http://127.0.0.1:{port}",
        "prefix": PREFIX,
        "profile": None,
        "moto_port": str(port),
    }
    assert not _accepts_connections(port)
    with socket.socket() as reuse:
        # SO_REUSEADDR tolerates the closed connections' TIME_WAIT entries but not a live listener.
        reuse.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        reuse.bind(("127.0.0.1", port))
        reuse.listen()
    assert {name: os.environ.get(name) for name in SET_BY_RUNTIME} == env_before
    assert (default_user_config["lambda"], default_user_config["stepfunctions"]) == config_before
    with pytest.raises(EmbeddedAwsError, match="not running"):
        _ = aws.endpoint_url


def test_it_refuses_to_share_moto_with_an_active_mock_aws() -> None:
    with mock_aws(), pytest.raises(EmbeddedAwsError, match="a moto mock_aws is active in this process"):
        EmbeddedAws().start()
    with EmbeddedAws(prefix=PREFIX) as aws:
        assert aws.client("dynamodb").list_tables()["TableNames"]


def test_without_workflows_the_stores_serve_at_once_and_the_workflows_come_when_asked() -> None:
    with EmbeddedAws(prefix=PREFIX, workflows=False) as aws:
        sfn = aws.client("stepfunctions")
        assert aws.client("dynamodb").list_tables()["TableNames"]
        assert aws.state_store().get_settings() is not None  # the store answers on the real tables
        assert sfn.list_state_machines()["stateMachines"] == []
        with pytest.raises(EmbeddedAwsError, match="state machine pre_market does not exist yet"):
            aws.start_execution("pre_market", {})
        assert aws.state_machine_arns == {}

        aws.provision_workflows()
        aws.provision_workflows()  # once

        machines = sfn.list_state_machines()["stateMachines"]
        assert sorted(m["stateMachineArn"] for m in machines) == sorted(aws.state_machine_arns.values())
        assert len(machines) == len(STATE_MACHINES)
        assert os.environ[state_machine_arn_env("backtest")] == aws.state_machine_arns["backtest"]
