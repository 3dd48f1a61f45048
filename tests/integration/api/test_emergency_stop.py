"""POST /api/trading/emergency-stop cannot be refused and stops the active mode first even when a
write fails; resume after a stop needs the mode and "RESUME" and clears only the stop it names;
every control change is one conditional write, so a stop landing in the middle of a resume wins."""

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from pynamodb.connection.base import Connection
from pynamodb.exceptions import CancellationReason, VerboseClientError

from smart0dte.adapters.aws.dynamodb import DynamoState
from smart0dte.domain.controls import REASON_MAX_CHARS, TradingState
from smart0dte.domain.models import TradingMode
from smart0dte.local.auth import authorizer_context
from smart0dte.local.http_server import LambdaContext, api_event, load_api_handler
from smart0dte.ports import TradingControls
from smart0dte.resources import CONTROL_TABLE
from smart0dte.services.api import ApiDeps
from smart0dte.services.api.emergency_stop import (
    DEFAULT_STOP_REASON,
    STOP_ATTEMPTS,
    STOP_BACKOFF_S,
    STOP_BODY_MAX_BYTES,
)

from .conftest import SESSION, TRADER, Call, FixedClock, make_call

STOP = "/api/trading/emergency-stop"
NESTED = "[" * 100_000 + "]" * 100_000
"""Deeper than Python's recursion limit: json.loads raises RecursionError on it."""
NESTED_SMALL = '{"reason": ' + "[" * 5000 + "]" * 5000 + "}"


@dataclass
class Sleeps:
    waited_s: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.waited_s.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def deps(seeded: DynamoState, sleeps: Sleeps) -> ApiDeps:
    return ApiDeps(store_factory=lambda: seeded, clock=FixedClock(), sleep=sleeps)


@pytest.fixture
def call(deps: ApiDeps) -> Call:
    return make_call(deps)


def post_raw(deps: ApiDeps, body: bytes, content_type: str | None) -> tuple[int, Any]:
    """POST the stop with exactly these bytes and Content-Type (None: no header), as API Gateway
    hands it to the function."""
    module = load_api_handler()
    module.configure(deps)
    headers = {"host": "localhost", **({} if content_type is None else {"content-type": content_type})}
    event = api_event("POST", STOP, headers, body, None)
    event["requestContext"]["authorizer"] = authorizer_context(TRADER)
    result = module.handler(event, LambdaContext())
    return int(result["statusCode"]), json.loads(result["body"])


MODES = [mode.value for mode in TradingMode]
"""Every mode, in the order the stop takes them after the active one."""


def stopped(store: DynamoState) -> dict[TradingMode, TradingControls]:
    return {mode: store.for_mode(mode).get_controls() for mode in TradingMode}


LONG = "z" * (REASON_MAX_CHARS + 300)
BODIES = [
    pytest.param(b"", None, DEFAULT_STOP_REASON, id="no body, no content type"),
    pytest.param(b"", "application/json", DEFAULT_STOP_REASON, id="no body"),
    pytest.param(b"{}", "application/json", DEFAULT_STOP_REASON, id="{}"),
    pytest.param(b'{"reason": ""}', "application/json", DEFAULT_STOP_REASON, id="empty reason"),
    pytest.param(b'{"reason": "   "}', "application/json", DEFAULT_STOP_REASON, id="blank reason"),
    pytest.param(b'{"why": "x"}', "application/json", DEFAULT_STOP_REASON, id="no reason field"),
    pytest.param(b'{"reason": 42}', "application/json", DEFAULT_STOP_REASON, id="reason not text"),
    pytest.param(json.dumps({"reason": LONG}).encode(), "application/json", LONG[:499] + "…", id="long"),
    pytest.param(b'{"reason": "flash crash"}', "APPLICATION/JSON", "flash crash", id="upper-case type"),
    pytest.param(
        b'{"reason": "flash crash"}', "application/json; charset=utf-8", "flash crash", id="charset"
    ),
    pytest.param(b'{"reason": "vendor"}', "application/vnd.api+json", "vendor", id="+json"),
    pytest.param(b"market halted", "text/plain", "market halted", id="text/plain"),
    pytest.param(b'"a JSON string"', "application/json", "a JSON string", id="JSON string"),
    pytest.param(b"[1, 2, 3]", "application/json", DEFAULT_STOP_REASON, id="JSON array"),
    pytest.param(b"{not json", "application/json", "{not json", id="malformed JSON"),
    pytest.param(b"\x00\xff\xfe junk \x01", "application/octet-stream", "�� junk", id="binary junk"),
    pytest.param(b"reason=fire", "application/x-www-form-urlencoded", "reason=fire", id="form"),
    pytest.param(
        NESTED_SMALL.encode(), "application/json", NESTED_SMALL[:499] + "…", id="nested under the bound: text"
    ),
    pytest.param(
        NESTED.encode(),
        "application/json",
        f"{DEFAULT_STOP_REASON}; a body over {STOP_BODY_MAX_BYTES} bytes is not read",
        id="nested over the bound",
    ),
    pytest.param(
        json.dumps({"reason": "big", "pad": "p" * STOP_BODY_MAX_BYTES}).encode(),
        "application/json",
        f"{DEFAULT_STOP_REASON}; a body over {STOP_BODY_MAX_BYTES} bytes is not read",
        id="over the bound",
    ),
]


@pytest.mark.parametrize(("body", "content_type", "reason"), BODIES)
def test_every_body_answers_200_and_halts_every_mode_with_the_reason_it_carries(
    deps: ApiDeps, seeded: DynamoState, body: bytes, content_type: str | None, reason: str
) -> None:
    status, payload = post_raw(deps, body, content_type)

    assert status == 200, payload
    assert (payload["mode"], payload["activeModeKnown"]) == ("paper", True)
    assert payload["stopped"] == MODES and payload["notStopped"] == []
    assert payload["reason"] == reason
    assert payload["controls"]["emergencyStop"] is True
    for mode, controls in stopped(seeded).items():
        assert controls.emergency_stop and controls.trading_state is TradingState.HALTED, mode
        assert controls.emergency_stop_change is not None
        assert (controls.emergency_stop_change.actor, controls.emergency_stop_change.reason) == (
            "user:alice",
            reason,
        )
    assert len(reason) <= REASON_MAX_CHARS


def test_the_nested_body_over_the_bound_is_one_json_would_refuse() -> None:
    with pytest.raises(RecursionError):
        json.loads(NESTED)


@dataclass
class FailingControls:
    """Makes the next `times` writes of one mode's controls fail as a DynamoDB transaction
    conflict does (TransactionCanceledException, reason TransactionConflict)."""

    mode: TradingMode
    times: int
    failed: int = 0

    def hits(self, operation: str, kwargs: dict[str, Any]) -> bool:
        if operation != "TransactWriteItems" or self.failed >= self.times:
            return False
        pk = CONTROL_TABLE.partition_key.name
        keys = [i["Update"]["Key"][pk]["S"] for i in kwargs["TransactItems"] if "Update" in i]
        return f"{self.mode.value}#control" in keys


@pytest.fixture
def failing(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[FailingControls]]:
    faults: list[FailingControls] = []
    dispatch = Connection.dispatch

    def faulty(self: Connection, operation: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        for fault in faults:
            if fault.hits(operation, kwargs):
                fault.failed += 1
                raise VerboseClientError(
                    {"Error": {"Code": "TransactionCanceledException", "Message": "injected"}},
                    operation,
                    cancellation_reasons=[CancellationReason(code="TransactionConflict"), None],
                )
        return dispatch(self, operation, kwargs)

    monkeypatch.setattr(Connection, "dispatch", faulty)
    yield faults


def test_the_inactive_modes_failing_write_does_not_keep_the_active_mode_running(
    call: Call, seeded: DynamoState, failing: list[FailingControls], sleeps: Sleeps
) -> None:
    failing.append(FailingControls(TradingMode.LIVE, times=10**6))

    status, body = call("POST", STOP, {"reason": "live table conflict"})

    assert status == 200
    assert body["stopped"] == ["paper", "ibkr_paper"]
    (live,) = body["notStopped"]
    assert (live["mode"], live["stopped"], live["attempts"]) == ("live", False, STOP_ATTEMPTS)
    assert "collided with another writer" in live["error"]
    assert (
        seeded.get_controls().emergency_stop
        and not seeded.for_mode(TradingMode.LIVE).get_controls().emergency_stop
    )
    assert sleeps.waited_s == list(STOP_BACKOFF_S)  # the live retries only


def test_the_active_mode_is_stopped_first_and_retried_through_transient_failures(
    call: Call, seeded: DynamoState, failing: list[FailingControls], sleeps: Sleeps
) -> None:
    seeded.switch_active_mode(TradingMode.LIVE, "user:alice", "armed", FixedClock().at, {})
    failing.append(FailingControls(TradingMode.LIVE, times=STOP_ATTEMPTS - 1))

    status, body = call("POST", STOP)

    assert status == 200
    assert [(m["mode"], m["stopped"], m["attempts"]) for m in body["modes"]] == [
        ("live", True, STOP_ATTEMPTS),  # the active mode first, then the others in order
        ("paper", True, 1),
        ("ibkr_paper", True, 1),
    ]
    assert body["mode"] == "live" and body["controls"]["emergencyStop"] is True
    assert sleeps.waited_s == list(STOP_BACKOFF_S)
    assert all(c.emergency_stop for c in stopped(seeded).values())
    stops = [
        r
        for r in seeded.for_mode(TradingMode.LIVE).audit.list_day(SESSION)
        if r.action == "EmergencyStopActivated"
    ]
    assert len(stops) == 1  # the failed attempts wrote nothing


def test_503_only_when_the_active_mode_cannot_be_stopped_and_the_others_still_are(
    call: Call, seeded: DynamoState, failing: list[FailingControls]
) -> None:
    failing.append(FailingControls(TradingMode.PAPER, times=10**6))

    status, body = call("POST", STOP, {"reason": "paper table down"})

    assert status == 503
    assert body["stopped"] == ["ibkr_paper", "live"] and body["controls"] is None
    assert [m["mode"] for m in body["notStopped"]] == ["paper"]
    assert seeded.for_mode(TradingMode.LIVE).get_controls().emergency_stop


def test_an_unreadable_active_mode_stops_every_mode_and_answers_200_when_all_stopped(
    call: Call, seeded: DynamoState, monkeypatch: pytest.MonkeyPatch, sleeps: Sleeps
) -> None:
    def unreadable(self: DynamoState) -> Any:
        raise ConnectionError("control table unreachable")

    monkeypatch.setattr(DynamoState, "get_active_mode", unreadable)

    status, body = call("POST", STOP, {"reason": "blind stop"})

    assert status == 200
    assert body["activeModeKnown"] is False and body["stopped"] == MODES
    assert sleeps.waited_s == list(STOP_BACKOFF_S)  # the mode read was retried, the stops were not
    assert all(c.emergency_stop for c in stopped(seeded).values())


def test_resume_after_a_stop_names_the_mode_and_confirms_or_gets_a_409_naming_the_field(
    call: Call, seeded: DynamoState
) -> None:
    assert call("POST", STOP, {"reason": "runaway losses"})[0] == 200

    status, body = call("POST", "/api/trading/resume", {"reason": "all clear"})
    assert status == 409 and body["field"] == "mode"
    assert [d["field"] for d in body["detail"]] == ["mode", "confirm"]
    assert '"confirm": "RESUME"' in body["message"] and "runaway losses" in body["message"]
    status, body = call("POST", "/api/trading/resume", {"reason": "all clear", "mode": "paper"})
    assert status == 409 and body["field"] == "confirm"
    assert call("POST", "/api/trading/resume", {"reason": "x", "mode": "paper", "confirm": "yes"})[0] == 422
    assert seeded.get_controls().emergency_stop

    status, body = call(
        "POST", "/api/trading/resume", {"reason": "all clear", "mode": "paper", "confirm": "RESUME"}
    )

    assert status == 200 and body["mode"] == "paper"
    controls = body["controls"]
    assert (controls["emergencyStop"], controls["paused"], controls["tradingState"]) == (
        False,
        False,
        "ACTIVE",
    )
    assert seeded.for_mode(TradingMode.LIVE).get_controls().emergency_stop  # live's stop is its own


def test_the_live_stop_is_cleared_by_naming_live_while_paper_trades(call: Call, seeded: DynamoState) -> None:
    call("POST", STOP, {"reason": "drill"})
    _, trading = call("GET", "/api/trading")
    live_stop = next(c for c in trading["controlsByMode"] if c["mode"] == "live")["controls"]
    assert [c["mode"] for c in trading["controlsByMode"]] == MODES
    assert live_stop["emergencyStop"] is True and live_stop["emergencyStopNumber"] == 1

    status, body = call(
        "POST",
        "/api/trading/resume",
        {"reason": "drill over", "mode": "live", "confirm": "RESUME", "stopNumber": 1},
    )

    assert status == 200 and body["mode"] == "live" and body["controls"]["emergencyStop"] is False
    live = seeded.for_mode(TradingMode.LIVE)
    assert not live.get_controls().emergency_stop and seeded.get_controls().emergency_stop
    assert live.get_active_mode().mode is TradingMode.PAPER  # clearing it arms nothing
    (cleared,) = [r for r in live.audit.list_day(SESSION) if r.action == "EmergencyStopCleared"]
    assert (cleared.actor, cleared.details["stop_number"]) == ("user:alice", 1)


def test_a_stop_landing_between_a_resumes_read_and_its_write_wins(
    call: Call, seeded: DynamoState, monkeypatch: pytest.MonkeyPatch
) -> None:
    call("POST", STOP, {"reason": "first"})
    read = DynamoState.get_controls

    def read_then_another_stop(self: DynamoState) -> TradingControls:
        seen = read(self)
        monkeypatch.setattr(DynamoState, "get_controls", read)
        # the resume has read stop number 1; another desk presses the stop before it writes
        self.activate_emergency_stop("user:carol", "second", FixedClock().at, "carol-1")
        return seen

    monkeypatch.setattr(DynamoState, "get_controls", read_then_another_stop)
    status, body = call(
        "POST", "/api/trading/resume", {"reason": "clear the first", "mode": "paper", "confirm": "RESUME"}
    )

    assert status == 409 and body["field"] == "stopNumber"
    assert "emergency stop number 2 is set (by user:carol" in body["message"]
    controls = seeded.get_controls()
    assert (controls.emergency_stop, controls.trading_state, controls.stops) == (True, TradingState.HALTED, 2)


def test_a_stop_landing_before_a_plain_resumes_write_wins_too(
    call: Call, seeded: DynamoState, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded.pause("user:alice", "lunch", FixedClock().at)
    read = DynamoState.get_controls

    def read_then_a_stop(self: DynamoState) -> TradingControls:
        seen = read(self)
        monkeypatch.setattr(DynamoState, "get_controls", read)
        self.activate_emergency_stop("user:carol", "stop now", FixedClock().at, "carol-1")
        return seen

    monkeypatch.setattr(DynamoState, "get_controls", read_then_a_stop)
    status, body = call("POST", "/api/trading/resume", {"reason": "back from lunch"})

    assert status == 409 and body["field"] == "confirm"
    controls = seeded.get_controls()
    assert (controls.emergency_stop, controls.paused, controls.trading_state) == (
        True,
        True,
        TradingState.HALTED,
    )


def test_stop_resume_stop_with_one_reason_at_one_instant_ends_stopped(
    call: Call, seeded: DynamoState
) -> None:
    resume = {"reason": "same", "mode": "paper", "confirm": "RESUME"}

    assert call("POST", STOP, {"reason": "same"})[0] == 200
    assert call("POST", "/api/trading/resume", resume)[0] == 200
    status, body = call("POST", STOP, {"reason": "same"})

    assert status == 200 and body["controls"]["emergencyStop"] is True
    controls = seeded.get_controls()
    assert (controls.emergency_stop, controls.trading_state, controls.stops) == (True, TradingState.HALTED, 2)
    actions = [r.action for r in seeded.audit.list_day(SESSION) if r.action.startswith("EmergencyStop")]
    assert sorted(actions) == ["EmergencyStopActivated", "EmergencyStopActivated", "EmergencyStopCleared"]


def test_plain_pause_and_resume_work_as_before(call: Call, seeded: DynamoState) -> None:
    status, body = call("POST", "/api/trading/pause", {"reason": "lunch"})
    assert status == 200 and body["controls"]["paused"] is True
    status, body = call("POST", "/api/trading/resume", {"reason": "back"})
    assert status == 200 and body["controls"]["paused"] is False
    assert call("POST", "/api/trading/resume", {})[0] == 422  # a plain resume still needs its reason
