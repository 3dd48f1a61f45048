"""The local server end to end over HTTP: static files, token checks and the real handler."""

import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smart0dte.adapters.aws.dynamodb import DynamoState
from smart0dte.local.auth import InvalidToken, LocalAuth, bearer_token
from smart0dte.local.http_server import ApiServer, serve
from smart0dte.services.api import MAX_BODY_BYTES, ApiDeps

from .conftest import FixedClock


def request(
    server: ApiServer, method: str, path: str, token: str | None = None, body: Any = None
) -> tuple[int, dict[str, str], bytes]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(server.url + path, data=data, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


@pytest.fixture
def static(tmp_path: Path) -> Path:
    (tmp_path / "index.html").write_text("<!doctype html><title>Smart 0DTE</title>")
    (tmp_path / "app.js").write_text("console.log('hi')")
    return tmp_path


@pytest.fixture
def server(seeded: DynamoState, static: Path) -> Iterator[ApiServer]:
    running = serve(0, static, deps=ApiDeps(store_factory=lambda: seeded, clock=FixedClock()))
    yield running
    running.close()


def test_serves_the_dashboard_files(server: ApiServer) -> None:
    status, headers, body = request(server, "GET", "/")
    assert status == 200 and b"Smart 0DTE" in body and headers["Content-Type"].startswith("text/html")
    status, headers, _ = request(server, "GET", "/app.js")
    assert status == 200 and "javascript" in headers["Content-Type"]
    assert request(server, "GET", "/trading")[0] == 200  # client-side route -> index.html
    assert request(server, "GET", "/../../etc/passwd")[0] == 404
    assert request(server, "GET", "/missing.css")[0] == 404


def test_api_with_a_real_token(server: ApiServer, seeded: DynamoState) -> None:
    token = server.issue_token("alice")
    status, _, body = request(server, "GET", "/api/dashboard", token)
    assert status == 200
    assert len(json.loads(body)["openPositions"]) == 2
    status, _, body = request(server, "POST", "/api/trading/emergency-stop", token, {"reason": "drill"})
    assert status == 200
    assert json.loads(body)["controls"]["emergencyStopChange"]["actor"] == "user:alice"
    assert seeded.get_controls().emergency_stop is True


def test_the_stop_over_the_servers_body_limit_is_taken_without_its_body(
    server: ApiServer, seeded: DynamoState
) -> None:
    host, port = urllib.parse.urlsplit(server.url).netloc.split(":")
    head = (
        f"POST /api/trading/emergency-stop HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {server.issue_token('alice')}\r\nContent-Type: text/plain\r\n"
        f"Content-Length: {MAX_BODY_BYTES + 1}\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(head.encode() + b"x" * 1000)  # the rest never comes
        answer = conn.makefile("rb").read()

    status_line, _, rest = answer.partition(b"\r\n")
    assert b" 200 " in status_line
    assert json.loads(rest.split(b"\r\n\r\n", 1)[1])["reason"] == "emergency stop (no reason given)"
    assert seeded.get_controls().emergency_stop is True


def test_health_is_public(server: ApiServer) -> None:
    status, _, body = request(server, "GET", "/api/health")
    assert status == 200 and json.loads(body)["components"]


@pytest.mark.parametrize(
    "token",
    [
        None,
        "not-a-jwt",
        LocalAuth().issue("mallory"),  # signed with another run's secret
    ],
)
def test_missing_or_foreign_tokens_get_401(server: ApiServer, token: str | None) -> None:
    status, headers, body = request(server, "GET", "/api/dashboard", token)
    assert status == 401
    assert headers["WWW-Authenticate"] == "Bearer"
    assert json.loads(body)["message"].startswith("Unauthorized")


def test_expired_token_gets_401(server: ApiServer) -> None:
    clock = [time.time() - 7200]
    past = LocalAuth(secret=server.auth.secret, now=lambda: clock[0])
    status, _, body = request(server, "GET", "/api/dashboard", past.issue("alice", ttl_s=60))
    assert status == 401 and b"expired" in body


def test_wrong_scope_gets_403(server: ApiServer, seeded: DynamoState) -> None:
    token = server.issue_token("rita", scopes=("smart0dte/read",))
    status, _, _ = request(server, "POST", "/api/trading/pause", token, {"reason": "x"})
    assert status == 403
    assert seeded.get_controls().paused is False


def test_validation_errors_travel_as_422(server: ApiServer) -> None:
    token = server.issue_token()
    status, _, body = request(server, "POST", "/api/automation/settings", token, {"maxPositions": 0})
    assert status == 422 and json.loads(body)["detail"][0]["field"] == "maxPositions"


def test_tokens_check_signature_expiry_issuer_and_audience() -> None:
    auth = LocalAuth()
    claims = auth.verify(auth.issue("bob", ("read",)))
    assert (claims["sub"], claims["scope"], claims["iss"], claims["aud"]) == (
        "bob",
        "read",
        "smart0dte-local",
        "smart0dte-api",
    )
    other_issuer = LocalAuth(issuer="elsewhere", secret=auth.secret)
    with pytest.raises(InvalidToken, match="issuer"):
        auth.verify(other_issuer.issue())
    other_audience = LocalAuth(audience="other", secret=auth.secret)
    with pytest.raises(InvalidToken, match="audience"):
        auth.verify(other_audience.issue())
    header, _claims_b64, signature = auth.issue().split(".")
    tampered = auth.issue("admin").split(".")[1]
    with pytest.raises(InvalidToken, match="signature"):
        auth.verify(f"{header}.{tampered}.{signature}")
    with pytest.raises(InvalidToken, match="Bearer"):
        bearer_token("Basic abc")


def test_closing_lets_a_call_in_flight_finish_and_refuses_new_ones() -> None:
    """A call in flight when the server closes gets its answer (what it reads may be torn down right
    after close returns); one arriving once closing began gets 503."""
    import threading

    started, release = threading.Event(), threading.Event()

    def slow(event: dict[str, Any], context: Any) -> dict[str, Any]:
        started.set()
        release.wait(10)
        return {"statusCode": 200, "body": json.dumps({"done": True})}

    server = ApiServer(0, None, slow, LocalAuth()).start()
    token = server.issue_token("t")
    answers: list[tuple[int, dict[str, str], bytes]] = []
    caller = threading.Thread(target=lambda: answers.append(request(server, "GET", "/api/health", token)))
    caller.start()
    assert started.wait(10)
    closer = threading.Thread(target=server.close)
    closer.start()
    deadline = time.monotonic() + 5
    while server.enter_call():  # until closing begins (after the accept loop stops): then refused
        server.leave_call()
        assert time.monotonic() < deadline, "closing never began"
        time.sleep(0.05)
    time.sleep(0.2)
    assert closer.is_alive(), "close waits for the call in flight"
    release.set()
    closer.join(10)
    caller.join(10)
    assert not closer.is_alive()
    ((status, _, body),) = answers
    assert (status, json.loads(body)) == (200, {"done": True})
