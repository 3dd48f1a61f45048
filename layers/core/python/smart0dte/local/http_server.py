"""The local web server of `smart0dte demo`: the dashboard's static files at `/` and the API at
`/api/*`, on 127.0.0.1.

An `/api/*` request is checked the way API Gateway's JWT authorizer checks it (bearer token:
signature, expiry, issuer, audience; 401 otherwise), turned into an API Gateway HTTP API
payload v2 event carrying the verified claims, and handed to the same
`lambdas/api/handler.py` handler that is deployed. One request at a time reaches the handler,
as one Lambda instance would serve them; the played-live demo passes its replay's `turn`, so a
request also waits for the day's step in progress. With `clock_rate`, every API answer carries
`X-Clock-Rate` (simulated seconds per wall-clock second), so the dashboard can tick and poll at
the replay's pace.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import mimetypes
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

from smart0dte.adapters.clock import SystemClock
from smart0dte.local.auth import DEFAULT_SCOPES, InvalidToken, LocalAuth, authorizer_context, bearer_token
from smart0dte.ports.api import ApiStore, BacktestRunner
from smart0dte.resources import REPO_ROOT
from smart0dte.services.api import MAX_BODY_BYTES, PUBLIC_PATHS, ApiDeps
from smart0dte.services.api.emergency_stop import STOP_PATH

HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 8000
HANDLER_PATH: Final = REPO_ROOT / "lambdas" / "api" / "handler.py"
CLOCK_RATE_HEADER: Final = "X-Clock-Rate"
_MODULE_NAME = "smart0dte_lambda_api_handler"


def load_api_handler(path: Path = HANDLER_PATH) -> ModuleType:
    """Import `lambdas/api/handler.py` once (it is a file, not a package)."""
    loaded = sys.modules.get(_MODULE_NAME)
    if loaded is not None:
        return loaded
    spec = importlib.util.spec_from_file_location(_MODULE_NAME, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the API handler from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[_MODULE_NAME] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[_MODULE_NAME]
        raise
    return module


class LambdaContext:
    """The parts of a Lambda context Powertools reads."""

    function_name = "smart0dte-api"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:smart0dte-api"
    log_group_name = "/aws/lambda/smart0dte-api"
    log_stream_name = "local"

    def __init__(self, timeout_s: float = 30.0) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def api_event(
    method: str,
    target: str,
    headers: Mapping[str, str],
    body: bytes,
    claims: Mapping[str, Any] | None,
    source_ip: str = HOST,
) -> dict[str, Any]:
    """An API Gateway HTTP API payload v2 event, as API Gateway builds it."""
    url = urlsplit(target)
    lowered: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        lowered[key] = f"{lowered[key]},{value}" if key in lowered else value
    query: dict[str, str] = {}
    for name, value in parse_qsl(url.query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    now = datetime.now(UTC)
    request_context: dict[str, Any] = {
        "accountId": "000000000000",
        "apiId": "local",
        "domainName": lowered.get("host", HOST),
        "domainPrefix": "local",
        "http": {
            "method": method,
            "path": url.path,
            "protocol": "HTTP/1.1",
            "sourceIp": source_ip,
            "userAgent": lowered.get("user-agent", ""),
        },
        "requestId": str(uuid.uuid4()),
        "routeKey": "$default",
        "stage": "$default",
        "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(now.timestamp() * 1000),
    }
    if claims is not None:
        request_context["authorizer"] = authorizer_context(claims)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": url.path,
        "rawQueryString": url.query,
        "headers": lowered,
        "requestContext": request_context,
        "isBase64Encoded": False,
    }
    if "cookie" in lowered:
        event["cookies"] = [c.strip() for c in lowered["cookie"].split(";")]
    if query:
        event["queryStringParameters"] = query
    if body:
        try:
            event["body"] = body.decode("utf-8")
        except UnicodeDecodeError:
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
    return event


CLOSE_WAIT_S = 30.0
"""How long closing waits for the API calls in flight (one waits at most for a replay step)."""


class ApiServer(ThreadingHTTPServer):
    """The server with what its request handler needs; `close()` stops it."""

    daemon_threads = True

    def __init__(
        self,
        port: int,
        static_dir: Path | None,
        handler: Callable[[dict[str, Any], Any], dict[str, Any]],
        auth: LocalAuth,
        turn: Callable[[], AbstractContextManager[Any]] | None = None,
        clock_rate: Callable[[], float | None] | None = None,
    ) -> None:
        super().__init__((HOST, port), _RequestHandler)
        self.static_dir = static_dir.resolve() if static_dir is not None else None
        self.api_handler = handler
        self.auth = auth
        lock = threading.Lock()
        self.turn = turn or (lambda: lock)
        self.clock_rate = clock_rate
        self._thread: threading.Thread | None = None
        self._calls = threading.Condition()
        self._calls_in_flight = 0
        self._closing = False

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def issue_token(self, subject: str = "demo", scopes: tuple[str, ...] = DEFAULT_SCOPES) -> str:
        return self.auth.issue(subject, scopes)

    def start(self) -> ApiServer:
        self._thread = threading.Thread(target=self.serve_forever, name="smart0dte-http", daemon=True)
        self._thread.start()
        return self

    def enter_call(self) -> bool:
        """Count an API call in; False once the server is closing (the call is refused)."""
        with self._calls:
            if self._closing:
                return False
            self._calls_in_flight += 1
            return True

    def leave_call(self) -> None:
        with self._calls:
            self._calls_in_flight -= 1
            self._calls.notify_all()

    def close(self) -> None:
        """Stop accepting, let the API calls in flight finish (at most CLOSE_WAIT_S: what they read
        may be torn down right after), then close. Idle keep-alive connections are not waited for."""
        self.shutdown()
        with self._calls:
            self._closing = True
            self._calls.wait_for(lambda: self._calls_in_flight == 0, timeout=CLOSE_WAIT_S)
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


class _RequestHandler(BaseHTTPRequestHandler):
    server: ApiServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: the demo prints its own summary
        return

    def _send(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(
        self, status: int, payload: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> None:
        body = json.dumps(payload).encode()
        self._send(status, body, {"Content-Type": "application/json", **(headers or {})})

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_OPTIONS(self) -> None:
        self._dispatch()

    def __getattr__(self, name: str) -> Any:
        """Any other method (TRACE, QUERY, ...) is dispatched too: the API answers 405 with the
        path's `Allow` (the stdlib would answer 501)."""
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def _dispatch(self) -> None:
        path = urlsplit(self.path).path
        if path == "/api" or path.startswith("/api/"):
            self._api()
        elif self.command in ("GET", "HEAD"):
            self._static(path)
        else:
            self.close_connection = True  # its body is left unread
            self._json(
                405, {"message": f"{self.command} {path}: static files are GET only"}, {"Allow": "GET, HEAD"}
            )

    def _api(self) -> None:
        path = urlsplit(self.path).path
        declared = self.headers.get("Content-Length") or "0"
        if not declared.isdigit():
            self.close_connection = True
            self._json(
                400, {"statusCode": 400, "message": f"Content-Length {declared!r} is not a byte count"}
            )
            return
        length = int(declared)
        if length > MAX_BODY_BYTES and path == STOP_PATH:  # the stop is never refused: its body is
            self.close_connection = True  # left unread (the connection closes after the answer)
            length = 0
        if length > MAX_BODY_BYTES:
            self.close_connection = True  # the body is left unread
            message = f"body of {length} bytes exceeds the limit of {MAX_BODY_BYTES} bytes"
            self._json(413, {"statusCode": 413, "message": message, "limit": MAX_BODY_BYTES})
            return
        body = self.rfile.read(length) if length else b""
        claims: dict[str, Any] | None = None
        if path not in PUBLIC_PATHS:
            try:
                claims = self.server.auth.verify(bearer_token(self.headers.get("Authorization")))
            except InvalidToken as exc:
                self._json(401, {"message": f"Unauthorized: {exc}"}, {"WWW-Authenticate": "Bearer"})
                return
        event = api_event(
            self.command, self.path, dict(self.headers.items()), body, claims, self.client_address[0]
        )
        if not self.server.enter_call():
            self._json(503, {"message": "Service Unavailable: the local server is closing"})
            return
        try:
            with self.server.turn():
                result = self.server.api_handler(event, LambdaContext())
        except Exception as exc:  # what API Gateway answers when the function fails
            self._json(500, {"message": f"Internal Server Error: {type(exc).__name__}: {exc}"})
            return
        finally:
            self.server.leave_call()
        self._lambda_response(result)

    def _lambda_response(self, result: Mapping[str, Any]) -> None:
        status = int(result.get("statusCode", 200))
        raw = result.get("body") or ""
        data = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
        headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
        headers.setdefault("Content-Type", "application/json")
        headers.pop("Content-Length", None)
        rate = None if self.server.clock_rate is None else self.server.clock_rate()
        if rate is not None:
            headers[CLOCK_RATE_HEADER] = f"{rate:g}"
        self._send(status, data, headers)

    def _static(self, path: str) -> None:
        root = self.server.static_dir
        if root is None or not root.is_dir():
            message = "dashboard not built: run the web build (npm run build in web/) to create web/dist"
            self._send(404, message.encode(), {"Content-Type": "text/plain; charset=utf-8"})
            return
        relative = path.lstrip("/") or "index.html"
        candidate = (root / relative).resolve()
        if not candidate.is_relative_to(root):
            self._send(404, b"not found", {"Content-Type": "text/plain"})
            return
        if candidate.is_dir():
            candidate = candidate / "index.html"
        if not candidate.is_file() and "." not in Path(relative).name:
            candidate = root / "index.html"  # client-side routes fall back to the app
        if not candidate.is_file():
            self._send(404, f"{path} not found".encode(), {"Content-Type": "text/plain; charset=utf-8"})
            return
        content_type = mimetypes.guess_type(candidate.name)[0] or "application/octet-stream"
        if content_type.startswith("text/") or content_type in ("application/javascript", "application/json"):
            content_type += "; charset=utf-8"
        self._send(HTTPStatus.OK, candidate.read_bytes(), {"Content-Type": content_type})


def serve(
    port: int = DEFAULT_PORT,
    static_dir: Path | None = REPO_ROOT / "web" / "dist",
    state_factory: Callable[[], ApiStore] | None = None,
    *,
    auth: LocalAuth | None = None,
    deps: ApiDeps | None = None,
    backtests: BacktestRunner | None = None,
    turn: Callable[[], AbstractContextManager[Any]] | None = None,
    clock_rate: Callable[[], float | None] | None = None,
) -> ApiServer:
    """Start serving on 127.0.0.1:`port` (0 picks a free port) in a background thread.

    The API handler is configured with `deps`, or with `state_factory` (and `backtests`);
    with neither it builds its store from the environment, as in Lambda. `turn` and
    `clock_rate`: see the module's docstring.
    """
    module = load_api_handler()
    if deps is None and state_factory is not None:
        deps = ApiDeps(store_factory=state_factory, clock=SystemClock(), backtests=backtests)
    if deps is not None:
        module.configure(deps)
    server = ApiServer(port, static_dir, module.handler, auth or LocalAuth(), turn, clock_rate)
    return server.start()
