"""The embedded AWS: moto's server on 127.0.0.1 running the real state machines over the real
Lambda handlers, inside this process.

(Over 800 lines on purpose: the workarounds below are each a few lines against one moto
version's internals, and they only make sense read together with the runtime that needs them.)

How it is wired (moto 5):

- `ThreadedMotoServer` listens on 127.0.0.1 on a port the OS picks. The handlers and the replay
  driver reach it over HTTP through `AWS_ENDPOINT_URL`, exactly as they reach AWS.
- moto's runtime config (`POST /moto-api/config`, the server's own endpoint):
  `stepfunctions.execute_state_machine` makes StartExecution run the ASL in moto's interpreter
  (derived from LocalStack's); `lambda.use_docker = False` selects moto's docker-free Lambda
  backend (`awslambda_simple`), which only ever returns canned payloads.
- The interpreter invokes a Task's function with boto3 at `http://localhost:$MOTO_PORT`, so
  `MOTO_PORT` is set to the server's port. moto builds a new boto3 client for every Task state
  (about 15 ms each); `EmbeddedAws` gives the interpreter one cached client per region instead.
- In-process dispatch: on the one docker-free backend instance of this account and region,
  `invoke` is replaced by `Dispatcher.invoke`, which calls `lambdas/<name>/handler.py:handler`
  (imported by path, once per runtime: a cold start, then warm) or a handler given in
  `handlers=`. That instance attribute is the narrowest hook moto offers: its only supported
  docker-free customisation is a queue of canned results (`/moto-api/static/lambda-simple/
  response`), which cannot run code. A handler exception becomes an "Unhandled" function error
  whose payload names `errorType`, the error name ASL Retry and Catch match, as in AWS: a
  `ValueError` is caught by `States.ALL` but not retried; `LambdaServiceException` (or any
  exception with an `error_type` attribute) stands for a Lambda service fault such as
  `Lambda.ServiceException`, which the Retry blocks retry (after their real `IntervalSeconds`).
- moto has no StartSyncExecution (the client targets a `sync-` host that does not exist), so
  EXPRESS and STANDARD executions are both started with StartExecution and polled with
  DescribeExecution. AWS cannot describe an Express execution; moto can.
- DynamoDB queries read only the queried partition (`moto_partitions`): moto would sort the
  whole table for each one, so reads would slow down with every day of history.

moto's backends are process-wide, so one `EmbeddedAws` runs at a time, and none while a
`mock_aws` is active. It resets moto when it starts and when it stops, and restores the
environment, moto's config and the log levels it changed.
"""

from __future__ import annotations

import importlib.util
import io
import json
import logging
import os
import re
import sys
import threading
import time
import traceback
import urllib.request
import uuid
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any, Final, Self

from smart0dte import resources
from smart0dte.bootstrap.aws import DEFAULT_REGION, AwsConfig
from smart0dte.bootstrap.runtime import forget_runtimes
from smart0dte.domain.models import TradingMode
from smart0dte.local import moto_partitions
from smart0dte.resources import (
    BUCKETS,
    DEFAULT_PREFIX,
    FUNCTIONS,
    ORDER_INTENT_QUEUE,
    STATE_MACHINES,
    TABLES,
    TOPICS,
    FunctionSpec,
    StateMachineSpec,
)

LambdaHandler = Callable[[Any, Any], Any]
"""`handler(event, context)`, as deployed."""

HOST: Final = "127.0.0.1"
LOCAL_ACCOUNT_SUFFIX: Final = "local"
"""Bucket names end with this instead of an account id (resources.BucketSpec's default)."""
FAKE_CREDENTIALS: Final = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
LAMBDA_RUNTIME: Final = "python3.12"
METRICS_NAMESPACE: Final = "Smart0DTE"
DEFAULT_WAIT_S: Final = 900.0
"""How long `wait` lets an execution run (learning's own timeout is 900 s)."""
_CLEARED_ENV: Final = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
_EXECUTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
_TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
_QUIETED_LOGGERS: Final = ("werkzeug", "moto.stepfunctions.parser")
"""Request lines and the interpreter's own error log (the failures reach ExecutionResult)."""
_INTERPRETER_CLIENT_FACTORY: Final = "boto_client_for"
"""The function moto's interpreter calls for the boto3 client of each Lambda Task."""
_STUB_CODE: Final = (
    "# The embedded AWS runs lambdas/<name>/handler.py in-process (smart0dte.local.embedded);\n"
    "# this stub only gives the moto function a package.\n"
    "def handler(event, context):\n"
    "    raise RuntimeError('dispatched in-process by smart0dte.local.embedded')\n"
)

_LOG = logging.getLogger(__name__)
_active_lock = threading.Lock()
_active: EmbeddedAws | None = None


class EmbeddedAwsError(RuntimeError):
    """The embedded AWS cannot start or cannot do what was asked; the message says why."""


class LambdaServiceException(Exception):
    """Raise from a handler to stand for a transient Lambda service fault: the function error is
    named `Lambda.ServiceException`, which the ASL Retry blocks retry."""

    error_type = "Lambda.ServiceException"


def error_type_of(exc: BaseException) -> str:
    """The Lambda `errorType` of a handler exception: its `error_type` attribute, else its class
    name (as the Python runtime reports it)."""
    explicit = getattr(exc, "error_type", None)
    return explicit if isinstance(explicit, str) and explicit else type(exc).__name__


class HandlerImportError(Exception):
    """A handler module is missing or fails to import (Lambda's Runtime.ImportModuleError)."""

    error_type = "Runtime.ImportModuleError"


class HandlerNotFound(Exception):
    """The module imports but has no callable `handler` (Lambda's Runtime.HandlerNotFound)."""

    error_type = "Runtime.HandlerNotFound"


def missing_handlers(functions: Sequence[FunctionSpec] = FUNCTIONS) -> list[FunctionSpec]:
    """The functions whose `lambdas/<name>/handler.py` does not exist (yet)."""
    return [spec for spec in functions if not spec.handler_path.is_file()]


def load_handler(spec: FunctionSpec) -> LambdaHandler:
    """Import `lambdas/<name>/handler.py` by path as a fresh module and return its `handler`.

    The function's folder is on `sys.path` while it imports, as Lambda's task root is.
    """
    path = spec.handler_path
    if not path.is_file():
        raise HandlerImportError(f"Unable to import module 'handler': no file {path}")
    module_name = f"smart0dte_lambda_{spec.name}"
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    if module_spec is None or module_spec.loader is None:
        raise HandlerImportError(f"Unable to import module 'handler': {path} is not a Python module")
    module: ModuleType = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module  # pydantic and dataclasses resolve names through sys.modules
    folder = str(path.parent)
    sys.path.insert(0, folder)
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[module_name]
        raise HandlerImportError(f"Unable to import module 'handler': {type(exc).__name__}: {exc}") from exc
    finally:
        if folder in sys.path:
            sys.path.remove(folder)
    handler = getattr(module, "handler", None)
    if not callable(handler):
        raise HandlerNotFound(f"Handler 'handler' missing on module 'handler' ({path})")
    return handler  # type: ignore[no-any-return]  # checked callable above


@dataclass(frozen=True, slots=True)
class LocalLambdaContext:
    """The Lambda context object a handler receives (the attributes Powertools reads)."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    deadline_monotonic: float
    function_version: str = "$LATEST"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline_monotonic - time.monotonic()) * 1000))


@dataclass(frozen=True, slots=True)
class Invocation:
    """One dispatched invocation: which function, its event, and the error type if it failed."""

    function: str
    event: Any
    error_type: str | None
    elapsed_s: float


class Dispatcher:
    """Runs a Lambda invocation in-process: function name -> handler, exceptions -> function errors.

    `handlers` overrides functions by logical name (tests, stand-ins); the others load their
    deployed handler file on first use.
    """

    def __init__(
        self,
        functions: Sequence[FunctionSpec],
        prefix: str,
        region: str,
        account_id: str,
        handlers: Mapping[str, LambdaHandler] | None = None,
    ) -> None:
        known = {spec.name for spec in functions}
        overrides = dict(handlers or {})
        if unknown := sorted(set(overrides) - known):
            raise ValueError(
                f"handlers={unknown} name no function of resources.FUNCTIONS ({', '.join(sorted(known))})"
            )
        self._by_physical = {spec.physical_name(prefix): spec for spec in functions}
        self._prefix = prefix
        self._region = region
        self._account_id = account_id
        self._handlers: dict[str, LambdaHandler] = overrides
        self._lock = threading.Lock()
        self._sequence = 0
        self._invocations: list[Invocation] = []

    def set_handlers(self, handlers: Mapping[str, LambdaHandler | None]) -> None:
        """Replace the handlers of these functions (logical names) from the next invocation on;
        None goes back to the deployed handler file."""
        if unknown := sorted(set(handlers) - {spec.name for spec in self._by_physical.values()}):
            raise ValueError(f"handlers={unknown} name no function of this runtime")
        with self._lock:
            for name, handler in handlers.items():
                if handler is None:
                    self._handlers.pop(name, None)
                else:
                    self._handlers[name] = handler

    def clear_invocations(self) -> None:
        with self._lock:
            self._invocations.clear()

    @property
    def invocations(self) -> list[Invocation]:
        with self._lock:
            return list(self._invocations)

    def handler(self, spec: FunctionSpec) -> LambdaHandler:
        """The function's handler, imported on first use (concurrent first calls import once)."""
        with self._lock:
            found = self._handlers.get(spec.name)
            if found is None:
                found = load_handler(spec)
                self._handlers[spec.name] = found
            return found

    def _spec(self, function_name: str) -> FunctionSpec:
        name = function_name
        if name.startswith("arn:"):
            name = name.split(":")[6]
        spec = self._by_physical.get(name)
        if spec is None:
            from moto.awslambda.exceptions import UnknownFunctionException

            raise UnknownFunctionException(function_name)
        return spec

    def _context(self, spec: FunctionSpec) -> LocalLambdaContext:
        with self._lock:
            self._sequence += 1
            sequence = self._sequence
        physical = spec.physical_name(self._prefix)
        return LocalLambdaContext(
            function_name=physical,
            invoked_function_arn=f"arn:aws:lambda:{self._region}:{self._account_id}:function:{physical}",
            memory_limit_in_mb=spec.memory_mb,
            aws_request_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"smart0dte-local/{physical}/{sequence}")),
            log_group_name=f"/aws/lambda/{physical}",
            log_stream_name=f"local/[$LATEST]{sequence:08d}",
            deadline_monotonic=time.monotonic() + spec.timeout_s,
        )

    def invoke(
        self,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: dict[str, str],
    ) -> bytes:
        """moto's `LambdaBackend.invoke` signature: returns the response payload and marks a
        function error in `response_headers`, as the Lambda service does."""
        spec = self._spec(function_name)
        if headers.get("X-Amz-Invocation-Type") == "DryRun":
            return b""
        event = json.loads(body) if body else {}
        context = self._context(spec)
        started = time.perf_counter()
        error_type: str | None = None
        try:
            result = self.handler(spec)(event, context)
        except Exception as exc:
            error_type = error_type_of(exc)
            payload = _error_payload(error_type, str(exc), context.aws_request_id, exc)
            _LOG.warning("%s failed with %s: %s", context.function_name, error_type, exc)
            _LOG.debug("%s traceback", context.function_name, exc_info=exc)
        else:
            try:
                payload = json.dumps(result).encode()
            except (TypeError, ValueError) as exc:
                error_type = "Runtime.MarshalError"
                message = f"Unable to marshal response: {exc}"
                payload = _error_payload(error_type, message, context.aws_request_id)
        if error_type is not None:
            response_headers["x-amz-function-error"] = "Unhandled"
        elapsed_s = time.perf_counter() - started
        _discard_unpublished_metrics()
        with self._lock:
            self._invocations.append(Invocation(spec.name, event, error_type, elapsed_s))
        response_headers["Content-Length"] = str(len(payload))
        return payload


def _discard_unpublished_metrics() -> None:
    """Metrics are disabled locally, but Powertools still buffers them across invocations and
    prints the buffer to stdout at 100 values; drop each invocation's metrics as Lambda would
    have flushed them."""
    from aws_lambda_powertools import Metrics

    Metrics(namespace=METRICS_NAMESPACE).clear_metrics()


def _error_payload(error_type: str, message: str, request_id: str, exc: BaseException | None = None) -> bytes:
    trace = traceback.format_tb(exc.__traceback__) if exc is not None else []
    return json.dumps(
        {"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": trace}
    ).encode()


@dataclass(frozen=True, slots=True)
class ExecutionResult:
    """How one execution ended. For a failure, `error`/`cause` are the execution's (the Fail
    state's) and `task_error`/`task_cause` the last failed Task's, which say what went wrong."""

    state_machine: str
    name: str
    execution_arn: str
    status: str
    output: Any
    error: str | None
    cause: str | None
    elapsed_s: float
    task_error: str | None = None
    task_cause: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"


def render_definition(spec: StateMachineSpec, function_arns: Mapping[str, str]) -> str:
    """The ASL of `spec` with every `${<Function>FunctionArn}` replaced by that function's ARN."""
    text = spec.definition_path.read_text()
    values = {placeholder: function_arns[name] for placeholder, name in spec.substitutions.items()}
    rendered = _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)
    if leftover := sorted(set(_PLACEHOLDER.findall(rendered))):
        raise EmbeddedAwsError(
            f"{spec.definition_path.name}: no value for placeholder(s) {', '.join(leftover)}; "
            f"state machine {spec.name} declares functions {', '.join(spec.functions)}"
        )
    json.loads(rendered)
    return rendered


def function_environment(
    prefix: str,
    provisioned_queue_urls: Mapping[str, str],
    topic_arns: Mapping[str, str],
    state_machine_arns: Mapping[str, str],
    scheduler_role_arn: str,
) -> dict[str, str]:
    """The variables CDK gives the functions (names from `resources`, as cdk/smart0dte_infra
    sets them), as one set: in-process handlers share one environment, so each sees the union."""
    r = resources
    env = {r.env_var("TABLE", spec.logical_name): spec.physical_name(prefix) for spec in TABLES}
    env.update(
        {r.env_var("BUCKET", b.logical_name): b.physical_name(prefix, LOCAL_ACCOUNT_SUFFIX) for b in BUCKETS}
    )
    env.update({r.topic_arn_env(t): topic_arns[t.logical_name] for t in TOPICS})
    env.update({r.state_machine_arn_env(name): arn for name, arn in state_machine_arns.items()})
    env[r.queue_url_env(ORDER_INTENT_QUEUE)] = provisioned_queue_urls[ORDER_INTENT_QUEUE.logical_name]
    env[r.ENV_SCHEDULE_GROUP] = prefix
    env[r.ENV_SESSION_SCHEDULER_ROLE_ARN] = scheduler_role_arn
    return env


class _Server:
    """ThreadedMotoServer that also closes its socket on stop, so the port is free at once."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address=HOST, port=0, verbose=False)

    def start(self) -> tuple[str, int]:
        self._server.start()
        return self._server.get_host_and_port()

    def stop(self) -> None:
        self._server.stop()
        inner = getattr(self._server, "_server", None)  # werkzeug's server; stop() leaves it open
        if inner is not None:
            inner.server_close()


class _CachedInterpreterClients:
    """moto's interpreter builds a boto3 client per Task state; hand it one per (region, service).
    boto3 clients are safe to share between threads."""

    def __init__(self, build: Callable[..., Any]) -> None:
        self._build = build
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def __call__(self, region: str, service: str, state_credentials: Any = None) -> Any:
        with self._lock:
            client = self._clients.get((region, service))
            if client is None:
                client = self._build(region=region, service=service, state_credentials=state_credentials)
                self._clients[(region, service)] = client
            return client


@contextmanager
def _quiet(names: Sequence[str], level: int) -> Iterator[None]:
    loggers = [logging.getLogger(n) for n in names]
    before = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(level)
    try:
        yield
    finally:
        for lg, previous in zip(loggers, before, strict=True):
            lg.setLevel(previous)


class EmbeddedAws:
    """moto on 127.0.0.1 with every resource of `resources.py`, the real ASL and in-process Lambda.

    Use as a context manager. `handlers` overrides functions by logical name; `quiet` silences
    the server's request log and the interpreter's error log; `log_level` is the handlers'
    Powertools log level. With `workflows=False`, `start` provisions the stores only (tables,
    buckets, queues, topics, the schedule group: what the API reads) and `provision_workflows`
    adds the roles, functions and state machines later (their first CreateStateMachine imports moto's
    ASL parser, seconds of CPU).
    """

    def __init__(
        self,
        *,
        prefix: str = DEFAULT_PREFIX,
        mode: TradingMode = TradingMode.PAPER,
        region: str = DEFAULT_REGION,
        handlers: Mapping[str, LambdaHandler] | None = None,
        quiet: bool = True,
        log_level: str = "WARNING",
        functions: Sequence[FunctionSpec] = FUNCTIONS,
        state_machines: Sequence[StateMachineSpec] = STATE_MACHINES,
        workflows: bool = True,
    ) -> None:
        AwsConfig(prefix=prefix, mode=mode, region=region)  # validates the prefix
        declared = {f.name for f in functions}
        for machine in state_machines:
            if missing := sorted(set(machine.functions) - declared):
                raise ValueError(f"state machine {machine.name} needs undeclared function(s) {missing}")
        self.prefix = prefix
        self.mode = mode
        self.region = region
        self._handlers = dict(handlers or {})
        self._quiet = quiet
        self._log_level = log_level
        self._functions = tuple(functions)
        self._machines = {m.name: m for m in state_machines}
        self._workflows = workflows
        self._server: _Server | None = None
        self._endpoint_url: str | None = None
        self._account_id: str | None = None
        self._dispatcher: Dispatcher | None = None
        self._saved_env: dict[str, str | None] = {}
        self._saved_config: dict[str, Any] = {}
        self._lambda_backend: Any = None
        self._interpreter_patch: tuple[ModuleType, Any] | None = None
        self._exit_stack = ExitStack()
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()
        self._names: dict[str, int] = {}
        self.function_arns: dict[str, str] = {}
        self.state_machine_arns: dict[str, str] = {}
        self.provisioned: Any = None
        self.environment: dict[str, str] = {}
        self._roles: dict[str, str] = {}

    # --- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def endpoint_url(self) -> str:
        if self._endpoint_url is None:
            raise EmbeddedAwsError("the embedded AWS is not running; use it as `with EmbeddedAws() as aws:`")
        return self._endpoint_url

    @property
    def port(self) -> int:
        return int(self.endpoint_url.rsplit(":", 1)[1])

    @property
    def account_id(self) -> str:
        if self._account_id is None:
            raise EmbeddedAwsError("the embedded AWS is not running")
        return self._account_id

    @property
    def dispatcher(self) -> Dispatcher:
        if self._dispatcher is None:
            raise EmbeddedAwsError("the embedded AWS is not running")
        return self._dispatcher

    @property
    def config(self) -> AwsConfig:
        """What `smart0dte.bootstrap.aws` builds adapters from while this runs."""
        return AwsConfig(
            prefix=self.prefix,
            mode=self.mode,
            region=self.region,
            endpoint_url=self.endpoint_url,
            account=LOCAL_ACCOUNT_SUFFIX,
        )

    def start(self) -> Self:
        global _active
        from moto.core.models import botocore_stubber

        if botocore_stubber.enabled:
            raise EmbeddedAwsError(
                "a moto mock_aws is active in this process; the embedded AWS needs moto to itself"
            )
        with _active_lock:
            if _active is not None:
                raise EmbeddedAwsError(f"an embedded AWS is already running at {_active._endpoint_url}")
            _active = self
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        if self._quiet:
            self._exit_stack.enter_context(_quiet(_QUIETED_LOGGERS, logging.CRITICAL))
        moto_partitions.install()
        server = _Server()
        host, port = server.start()
        self._server = server
        self._endpoint_url = f"http://{host}:{port}"
        self._set_env(
            {
                **FAKE_CREDENTIALS,
                resources.ENV_AWS_ENDPOINT_URL: self._endpoint_url,
                resources.ENV_AWS_REGION: self.region,
                resources.ENV_AWS_DEFAULT_REGION: self.region,
                "MOTO_PORT": str(port),  # where moto's interpreter sends Lambda invocations
                resources.ENV_PREFIX: self.prefix,
                resources.ENV_MODE: self.mode.value,
                resources.ENV_ACCOUNT: LOCAL_ACCOUNT_SUFFIX,
                "POWERTOOLS_SERVICE_NAME": "smart0dte",
                "POWERTOOLS_METRICS_NAMESPACE": "Smart0DTE",
                "POWERTOOLS_METRICS_DISABLED": "true",
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_LOG_LEVEL": self._log_level,
            },
            cleared=_CLEARED_ENV,
        )
        forget_runtimes()  # handlers build their adapters from the environment just set
        self._configure_moto()
        self._account_id = str(self.client("sts").get_caller_identity()["Account"])
        self._install_dispatcher()
        self._provision_stores()
        if self._workflows:
            self.provision_workflows()

    def _configure_moto(self) -> None:
        from moto.core.config import default_user_config

        self._saved_config = {
            "lambda": dict(default_user_config.get("lambda", {})),
            "stepfunctions": dict(default_user_config.get("stepfunctions", {})),
        }
        self._moto_api("/moto-api/reset")
        self._moto_api(
            "/moto-api/config",
            {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}},
        )
        from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

        original = getattr(lambda_eval_utils, _INTERPRETER_CLIENT_FACTORY)
        self._interpreter_patch = (lambda_eval_utils, original)
        setattr(lambda_eval_utils, _INTERPRETER_CLIENT_FACTORY, _CachedInterpreterClients(original))

    def _install_dispatcher(self) -> None:
        from moto.awslambda.utils import get_backend

        self._dispatcher = Dispatcher(
            self._functions, self.prefix, self.region, self.account_id, self._handlers
        )
        backend = get_backend(self.account_id, self.region)
        from moto.awslambda_simple.models import LambdaSimpleBackend

        if not isinstance(backend, LambdaSimpleBackend):
            raise EmbeddedAwsError(f"moto chose {type(backend).__name__}, not its docker-free Lambda backend")
        backend.invoke = self._dispatcher.invoke  # type: ignore[method-assign]
        self._lambda_backend = backend

    def _provision_stores(self) -> None:
        from smart0dte.adapters.aws.provisioning import provision
        from smart0dte.bootstrap.aws import boto3_session

        session = boto3_session(self.region)
        self.provisioned = provision(
            self.prefix, session, endpoint_url=self.endpoint_url, account=LOCAL_ACCOUNT_SUFFIX
        )
        self.client("scheduler").create_schedule_group(Name=self.prefix)

    def provision_workflows(self) -> None:
        """Create the functions and state machines with their roles (once), and set the functions'
        environment."""
        if self._roles:
            return
        for name, service in (
            ("lambda", "lambda.amazonaws.com"),
            ("states", "states.amazonaws.com"),
            ("scheduler", "scheduler.amazonaws.com"),
        ):
            self._roles[name] = self._role(name, service)
        lam = self.client("lambda")
        for spec in self._functions:
            created = lam.create_function(
                FunctionName=spec.physical_name(self.prefix),
                Runtime=LAMBDA_RUNTIME,
                Role=self._roles["lambda"],
                Handler="handler.handler",
                Code={"ZipFile": _stub_zip()},
                MemorySize=spec.memory_mb,
                Timeout=spec.timeout_s,
                Description=spec.purpose[:256],
            )
            self.function_arns[spec.name] = str(created["FunctionArn"])
        sfn = self.client("stepfunctions")
        arns: dict[str, str] = {}
        for machine in self._machines.values():
            created = sfn.create_state_machine(
                name=machine.physical_name(self.prefix),
                definition=render_definition(machine, self.function_arns),
                roleArn=self._roles["states"],
                type=machine.type.value,
            )
            arns[machine.name] = str(created["stateMachineArn"])
        self.state_machine_arns.update(arns)  # all at once: other threads read it
        self.environment = function_environment(
            self.prefix,
            self.provisioned.queue_urls,
            self.provisioned.topic_arns,
            self.state_machine_arns,
            self._roles["scheduler"],
        )
        self._set_env(self.environment)

    def _role(self, name: str, service: str) -> str:
        trust = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
        }
        created = self.client("iam").create_role(
            RoleName=f"{self.prefix}-local-{name}", AssumeRolePolicyDocument=json.dumps(trust)
        )
        return str(created["Role"]["Arn"])

    def stop(self) -> None:
        """Stop the server, free its port, and put back everything `start` changed. Idempotent."""
        global _active
        try:
            if self._lambda_backend is not None:
                self._lambda_backend.__dict__.pop("invoke", None)
                self._lambda_backend = None
            if self._interpreter_patch is not None:
                module, original = self._interpreter_patch
                setattr(module, _INTERPRETER_CLIENT_FACTORY, original)
                self._interpreter_patch = None
            if self._server is not None:
                try:
                    self._moto_api("/moto-api/reset")
                finally:
                    self._server.stop()
                    self._server = None
            if self._saved_config:
                from moto.core.config import default_user_config

                default_user_config["lambda"] = self._saved_config["lambda"]
                default_user_config["stepfunctions"] = self._saved_config["stepfunctions"]
                self._saved_config = {}
            self._restore_env()
            forget_runtimes()
            self._exit_stack.close()
        finally:
            self._endpoint_url = None
            self._clients.clear()
            self._roles.clear()
            self.function_arns.clear()
            self.state_machine_arns.clear()
            with _active_lock:
                if _active is self:
                    _active = None

    # --- environment and moto's API --------------------------------------------------------------

    def _set_env(self, values: Mapping[str, str], cleared: Sequence[str] = ()) -> None:
        for name in (*values, *cleared):
            if name not in self._saved_env:
                self._saved_env[name] = os.environ.get(name)
        for name in cleared:
            os.environ.pop(name, None)
        os.environ.update(values)

    def _restore_env(self) -> None:
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env = {}

    def _moto_api(self, path: str, body: Mapping[str, Any] | None = None) -> None:
        data = json.dumps(body or {}).encode()
        request = urllib.request.Request(self.endpoint_url + path, data=data, method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            if response.status not in (200, 201):
                raise EmbeddedAwsError(f"moto {path} answered HTTP {response.status}")

    def client(self, service: str) -> Any:
        """A boto3 client on the embedded endpoint (one per service, shared)."""
        from smart0dte.bootstrap.aws import aws_client

        with self._clients_lock:
            client = self._clients.get(service)
            if client is None:
                client = aws_client(self.config, service)
                self._clients[service] = client
            return client

    def state_store(self) -> Any:
        """A DynamoState on the embedded tables, in this runtime's mode."""
        from smart0dte.bootstrap.aws import state_store

        return state_store(self.config)

    # --- executions ------------------------------------------------------------------------------

    def _machine(self, name: str) -> StateMachineSpec:
        machine = self._machines.get(name)
        if machine is None:
            raise ValueError(f"state_machine={name!r} is not one of {', '.join(self._machines)}")
        return machine

    def _next_name(self, machine: str) -> str:
        with self._clients_lock:
            count = self._names.get(machine, 0) + 1
            self._names[machine] = count
        return f"{machine.replace('_', '-')}-{count:06d}"

    def start_execution(self, state_machine: str, execution_input: Any, name: str | None = None) -> str:
        """Start `state_machine` (logical name) with `execution_input` (JSON-ready); returns its ARN."""
        self._machine(state_machine)
        if state_machine not in self.state_machine_arns:
            raise EmbeddedAwsError(
                f"state machine {state_machine} does not exist yet: call provision_workflows() first"
            )
        execution_name = name or self._next_name(state_machine)
        if not _EXECUTION_NAME.match(execution_name):
            raise ValueError(f"name={execution_name!r} must be 1 to 80 characters of A-Z, a-z, 0-9, '-', '_'")
        started = self.client("stepfunctions").start_execution(
            stateMachineArn=self.state_machine_arns[state_machine],
            name=execution_name,
            input=json.dumps(execution_input),
        )
        return str(started["executionArn"])

    def wait(self, execution_arn: str, timeout_s: float = DEFAULT_WAIT_S) -> ExecutionResult:
        """Poll DescribeExecution until the execution ends; a timeout stops it and raises."""
        sfn = self.client("stepfunctions")
        started = time.perf_counter()
        pause_s = 0.002
        while True:
            described = sfn.describe_execution(executionArn=execution_arn)
            if described["status"] in _TERMINAL:
                break
            if time.perf_counter() - started > timeout_s:
                sfn.stop_execution(executionArn=execution_arn, error="Local.WaitTimeout")
                raise TimeoutError(f"{execution_arn} still running after {timeout_s:.0f} s; stopped")
            time.sleep(pause_s)
            pause_s = min(pause_s * 1.5, 0.05)
        elapsed_s = time.perf_counter() - started
        output = json.loads(described["output"]) if described.get("output") else None
        task_error = task_cause = None
        if described["status"] != "SUCCEEDED":
            task_error, task_cause = self._last_task_failure(execution_arn)
        physical = execution_arn.split(":")[6]
        by_physical = {arn.rsplit(":", 1)[1]: name for name, arn in self.state_machine_arns.items()}
        return ExecutionResult(
            state_machine=by_physical.get(physical, physical),
            name=str(described["name"]),
            execution_arn=execution_arn,
            status=str(described["status"]),
            output=output,
            error=described.get("error"),
            cause=described.get("cause"),
            elapsed_s=elapsed_s,
            task_error=task_error,
            task_cause=task_cause,
        )

    def _last_task_failure(self, execution_arn: str) -> tuple[str | None, str | None]:
        events = self.client("stepfunctions").get_execution_history(executionArn=execution_arn)["events"]
        for event in reversed(events):
            for key in ("lambdaFunctionFailedEventDetails", "taskFailedEventDetails"):
                details = event.get(key)
                if details and event["type"] != "FailStateEntered":
                    return details.get("error"), _error_message(details.get("cause"))
        return None, None

    def start_and_wait(
        self,
        state_machine: str,
        execution_input: Any,
        *,
        name: str | None = None,
        timeout_s: float = DEFAULT_WAIT_S,
    ) -> ExecutionResult:
        return self.wait(self.start_execution(state_machine, execution_input, name), timeout_s)


def _error_message(cause: str | None) -> str | None:
    """A Lambda error payload's `errorMessage`; other causes as they are."""
    if cause is None:
        return None
    try:
        payload = json.loads(cause)
    except ValueError:
        return cause
    message = payload.get("errorMessage") if isinstance(payload, dict) else None
    return message if isinstance(message, str) else cause


def _stub_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", _STUB_CODE)
    return buffer.getvalue()


def repo_relative(path: Path) -> str:
    """`path` relative to the repository, for messages."""
    try:
        return str(path.relative_to(resources.REPO_ROOT))
    except ValueError:
        return str(path)
