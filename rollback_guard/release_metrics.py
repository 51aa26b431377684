"""Per-version request and error counts from inside the application, as high-resolution CloudWatch
metrics written in the embedded metric format (EMF), for the canary judge.

Why: Lambda's and the load balancer's own metrics have one-minute resolution and reach CloudWatch a
minute or two late, so the judge compares versions minute by minute. Counts the application writes
itself, stored at one-second resolution, can be read at a 10-second period: the judge sees a bad
version's errors within seconds of the bucket closing instead of minutes.

Standard library only: this module runs inside users' Lambda functions and containers, where
neither Pulumi nor boto3 need be installed. Use it as::

    metrics = ReleaseMetrics()          # once, at import: service and version are found lazily

    @metrics.per_invocation             # Lambda: one request per invocation, flushed before it ends
    def handler(event, context): ...

    with metrics.track() as request:    # a container, per request (thread-safe)
        status = serve()
        request.failed = status >= 500

    metrics.count(requests=10, errors=1)   # or counts you already hold

The contract the judge reads (module constants below; keep them):
- namespace `RollbackGuard/Release`; metrics `Requests` and `Errors`, Unit `Count`,
  StorageResolution 1 (high resolution); one dimension set, exactly `[["Service", "Version"]]`.
- Service: the name the component gives. Lambda: the function's name (`AWS_LAMBDA_FUNCTION_NAME`);
  ECS: the task definition's family. Version: Lambda: the version executing
  (`AWS_LAMBDA_FUNCTION_VERSION`, "7"; "$LATEST" is unpublished, which a warning says, and is still
  sent); ECS: the task definition's revision as a string ("12"), both read once, lazily, from the
  task metadata endpoint v4 (`$ECS_CONTAINER_METADATA_URI_V4/task`: "Family", "Revision") with a
  short timeout. `ReleaseMetrics(service=..., version=...)` overrides either.
- Counts are summed in memory per 10-second bucket (BUCKET_SECONDS) and sent as one EMF record per
  bucket whose `_aws.Timestamp` is the bucket's start in epoch milliseconds, so a container serving
  1,000 requests a second writes 0.1 records a second. A request counts in the bucket in which it
  finished. Lambda is the exception: an execution environment may be frozen, and never thawed,
  after any invocation, so `per_invocation` sends what it holds at the end of every invocation, one
  record per invocation. Several records may therefore share a bucket (Lambda, several processes in
  a container, a bucket that straddles a flush); CloudWatch adds them up: the judge reads the Sum.
- Where records go. Lambda: standard output, from which CloudWatch Logs extracts EMF without any
  agent. A container: the CloudWatch agent's EMF endpoint when `AWS_EMF_AGENT_ENDPOINT` is set
  (`tcp://host:port` or `udp://host:port`; empty means DEFAULT_AGENT_ENDPOINT, tcp://127.0.0.1:25888,
  as aws-embedded-metrics uses), newline-delimited JSON, each record naming its log group
  (`_aws.LogGroupName`, which the agent requires: LOG_GROUP_PREFIX + service unless `log_group=` says
  otherwise); otherwise standard output. A container's standard output reaches CloudWatch Logs
  through the awslogs driver; AWS's documentation once required the `x-amzn-logs-format: json/emf`
  header on those PutLogEvents calls for metrics to be extracted (awslogs does not send it) and now
  says the header is no longer necessary. Not verified here: run the agent (docs/release-metrics.md
  has its container definition) and the question does not arise.

Failure never reaches the application: `count`, `request`, `track`, `flush` and the decorator never
raise because of metrics (a handler's own exception is re-raised unchanged). An agent that is down,
an endpoint that times out (AGENT_TIMEOUT_SECONDS, METADATA_TIMEOUT_SECONDS per socket operation),
an identity that cannot be found: the records concerned are dropped and one warning is logged
(logger `rollback_guard.release_metrics`, at most one per WARNING_INTERVAL_SECONDS per kind of
failure). For the judge, a dropped record is missing high-resolution data, never a distorted ratio:
Requests and Errors travel in the same record, so errors cannot be undercounted against requests;
where the 10-second data are missing, the judge falls back to the one-minute metrics. What this
module never sees: a Lambda invocation that times out, runs out of memory or fails during init, and
the counts a process held when it was killed (ECS stops a task with SIGTERM; Python's default
SIGTERM handler exits without running `atexit`, so install one, or use a server that stops
gracefully). Lambda's own Errors metric counts the first kind: the judge keeps it.

Threads: counting takes a lock for a dictionary update. Outside Lambda a daemon thread sends each
finished bucket within FLUSH_INTERVAL_SECONDS of its end, so no request ever waits on the network;
with `background_flush=False` the next count sends the finished buckets instead (its caller then
waits up to the timeouts above). `atexit` sends what is left; after `os.fork` a child starts with
nothing counted (its parent sends what it had).

Cost: no PutMetricData calls and no IAM permission beyond writing logs. Each record is one log event
of about 400 bytes, billed as log ingestion (and storage, at the log group's retention): a
container process writes at most 8,640 records a day, about 3.5 MB; a Lambda function one record
per invocation, beside the START, END and REPORT lines Lambda writes anyway. Each Service and
Version pair is two custom metrics; high-resolution custom metrics are billed as custom metrics
(the storage resolution does not change their price), prorated by the hour, so a version costs only
in the hours in which it is sent. Reading them costs what any GetMetricData costs. CloudWatch keeps
one-second data for 3 hours, then one-minute data: a release is judged well within that.

The judge reads `Sum` of Requests and Errors per Service and Version at a 10-second period
(high-resolution metrics can be read at 1, 5, 10 or 30 seconds, or any multiple of 60), compares the
new version with the old one bucket by bucket as it does minute by minute, and falls back to the
one-minute metrics when a version has no high-resolution data.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import http.client
import json
import logging
import os
import select
import socket
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar, overload
from urllib.parse import urlsplit

from rollback_guard.hooks.release_series import ERRORS, NAMESPACE, PERIOD_SECONDS, REQUESTS, SERVICE, VERSION

__all__ = [
    "BUCKET_SECONDS",
    "DEFAULT_AGENT_ENDPOINT",
    "DIMENSIONS",
    "ERRORS",
    "METRICS",
    "NAMESPACE",
    "REQUESTS",
    "SERVICE",
    "STORAGE_RESOLUTION",
    "UNIT",
    "VERSION",
    "ReleaseMetrics",
    "Request",
    "emf_record",
]

# --- The contract the canary judge reads (declared once, in the hooks it ships with).
METRICS = (REQUESTS, ERRORS)
DIMENSIONS = ((SERVICE, VERSION),)
UNIT = "Count"
# 1: high resolution, stored per second (60 would be standard, per minute).
STORAGE_RESOLUTION = 1
BUCKET_SECONDS = PERIOD_SECONDS

# --- Where records go.
AGENT_ENDPOINT_VARIABLE = "AWS_EMF_AGENT_ENDPOINT"
# aws-embedded-metrics' default, and the CloudWatch agent's default EMF listener (TCP and UDP 25888).
DEFAULT_AGENT_ENDPOINT = "tcp://127.0.0.1:25888"
STDOUT = "stdout"
# The agent needs `_aws.LogGroupName` in every record it receives; it writes the record there.
LOG_GROUP_PREFIX = "/rollback-guard/release-metrics/"

# --- Who is counting.
LAMBDA_FUNCTION_VARIABLE = "AWS_LAMBDA_FUNCTION_NAME"
LAMBDA_VERSION_VARIABLE = "AWS_LAMBDA_FUNCTION_VERSION"
UNPUBLISHED_VERSION = "$LATEST"
ECS_METADATA_VARIABLE = "ECS_CONTAINER_METADATA_URI_V4"

# --- Timing.
FLUSH_INTERVAL_SECONDS = 1.0
AGENT_TIMEOUT_SECONDS = 0.5
METADATA_TIMEOUT_SECONDS = 1.0
WARNING_INTERVAL_SECONDS = 60.0

# --- The EMF specification's limits:
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
MAX_METRICS_PER_DIRECTIVE = 100
MAX_DIMENSIONS_PER_SET = 30
# A dimension's value (a target member): a string of at most 1,024 characters; CloudWatch's Dimension
# also wants ASCII without control characters and at least one character that is not whitespace.
MAX_DIMENSION_VALUE_LENGTH = 1024
# A record is a CloudWatch Logs event: 1 MB in the specification today, 256 KB in its earlier
# versions; the smaller is held (a record here is about 400 bytes).
MAX_RECORD_BYTES = 256 * 1024

logger = logging.getLogger(__name__)

Handler = TypeVar("Handler", bound=Callable[..., Any])


def emf_record(
    timestamp_ms: int, service: str, version: str, requests: int, errors: int, log_group: str | None = None
) -> dict[str, Any]:
    """One EMF record: `requests` and `errors` counted by `service` at `version` in the bucket that
    starts at `timestamp_ms` (epoch milliseconds). `log_group` is for the CloudWatch agent only."""
    metadata: dict[str, Any] = {
        "Timestamp": timestamp_ms,
        "CloudWatchMetrics": [
            {
                "Namespace": NAMESPACE,
                "Dimensions": [list(dimension_set) for dimension_set in DIMENSIONS],
                "Metrics": [{"Name": name, "Unit": UNIT, "StorageResolution": STORAGE_RESOLUTION} for name in METRICS],
            }
        ],
    }
    if log_group is not None:
        metadata["LogGroupName"] = log_group
    return {"_aws": metadata, SERVICE: service, VERSION: version, REQUESTS: requests, ERRORS: errors}


@dataclass
class Request:
    """One request being counted by `ReleaseMetrics.track`: set `failed` for a failure that raised
    nothing (a 5xx response)."""

    failed: bool = False


class ReleaseMetrics:
    """Counts requests and errors of one service at one version and sends them as EMF records.

    service, version: the `Service` and `Version` dimensions. Default: found lazily, at the first
        send: in Lambda from AWS_LAMBDA_FUNCTION_NAME and AWS_LAMBDA_FUNCTION_VERSION, on ECS from
        the task metadata endpoint (the task definition's family and revision). Given values are
        checked here (ValueError): ASCII, at most 1,024 characters, not blank.
    endpoint: "stdout", "tcp://host:port" or "udp://host:port" (ValueError otherwise). Default: in
        Lambda "stdout"; elsewhere AWS_EMF_AGENT_ENDPOINT when set (empty: DEFAULT_AGENT_ENDPOINT;
        malformed: a warning, then DEFAULT_AGENT_ENDPOINT), else "stdout".
    log_group: the log group the agent writes records to. Default LOG_GROUP_PREFIX + service. Sent
        to an agent only.
    clock: epoch seconds. Default time.time; tests pass their own.
    background_flush: a daemon thread sends finished buckets every `flush_interval` seconds.
        Default: on, except in Lambda, whose environment freezes between invocations.
    flush_interval, agent_timeout, metadata_timeout: seconds. Defaults FLUSH_INTERVAL_SECONDS,
        AGENT_TIMEOUT_SECONDS (connect, and each send), METADATA_TIMEOUT_SECONDS (each socket
        operation of the one metadata request).
    """

    def __init__(
        self,
        service: str | None = None,
        version: str | None = None,
        *,
        endpoint: str | None = None,
        log_group: str | None = None,
        clock: Callable[[], float] = time.time,
        background_flush: bool | None = None,
        flush_interval: float = FLUSH_INTERVAL_SECONDS,
        agent_timeout: float = AGENT_TIMEOUT_SECONDS,
        metadata_timeout: float = METADATA_TIMEOUT_SECONDS,
    ) -> None:
        for name, value in (("service", service), ("version", version)):
            problem = None if value is None else _dimension_problem(value)
            if problem:
                raise ValueError(f"ReleaseMetrics {name}={value!r}: {problem}")
        self._warned: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._in_lambda = bool(os.environ.get(LAMBDA_FUNCTION_VARIABLE))
        if endpoint is not None:
            if _parse_endpoint(endpoint) is None:
                raise ValueError(f"ReleaseMetrics endpoint={endpoint!r}: {_ENDPOINT_FORMS}")
            self.endpoint = endpoint
        else:
            self.endpoint = self._default_endpoint()
        self._service = service
        self._version = version
        self._log_group = log_group
        self._clock = clock
        self._background = (not self._in_lambda) if background_flush is None else background_flush
        self._flush_interval = flush_interval
        self._agent_timeout = agent_timeout
        self._metadata_timeout = metadata_timeout
        self._identity: tuple[str, str] | None = None
        self._reset()
        _live.add(self)

    # --- Counting: the application's request path. Nothing here raises.

    def count(self, requests: int = 1, errors: int = 0) -> None:
        """Adds `requests` finished now, `errors` of them failed, to the current 10-second bucket.
        Arguments that are not whole numbers with 0 <= errors <= requests are ignored, with a
        warning."""
        try:
            if not (_whole(requests) and _whole(errors) and errors <= requests):
                self._warn(
                    "arguments",
                    f"count(requests={requests!r}, errors={errors!r}) ignored: "
                    "whole numbers with 0 <= errors <= requests",
                )
                return
            if requests == 0:
                return
            with self._lock:
                counts = self._buckets.setdefault(self._bucket(), [0, 0])
                counts[0] += requests
                counts[1] += errors
            if self._background and not self._stop.is_set():
                self._start_thread()
            else:
                # No thread (Lambda, or closed): the finished buckets go now, from this caller.
                self._send(finished_only=True)
        except Exception as error:  # the application must never see it
            self._warn("internal", f"a count was lost: {error!r}")

    def request(self, failed: bool = False) -> None:
        """One request finished now; `failed` says it was an error."""
        self.count(1, 1 if failed else 0)

    @contextlib.contextmanager
    def track(self) -> Iterator[Request]:
        """Counts the block as one request, failed if it raises (the exception goes on) or if it
        sets `failed` on what it is given."""
        current = Request()
        try:
            yield current
        except BaseException:
            current.failed = True
            raise
        finally:
            self.request(failed=current.failed)

    @overload
    def per_invocation(self, handler: Handler, /) -> Handler: ...

    @overload
    def per_invocation(
        self, handler: None = None, /, *, failed_if: Callable[[Any], bool] | None = None
    ) -> Callable[[Handler], Handler]: ...

    def per_invocation(
        self, handler: Handler | None = None, /, *, failed_if: Callable[[Any], bool] | None = None
    ) -> Handler | Callable[[Handler], Handler]:
        """A Lambda handler's decorator: each invocation is one request, an error if the handler
        raises (re-raised unchanged) or if `failed_if(result)` is true (an API's 5xx response, say);
        everything held is sent before the invocation ends. `@metrics.per_invocation` or
        `@metrics.per_invocation(failed_if=lambda r: r["statusCode"] >= 500)`."""

        def decorate(function: Handler) -> Handler:
            @functools.wraps(function)
            def invoke(*args: Any, **kwargs: Any) -> Any:
                failed = True
                try:
                    result = function(*args, **kwargs)
                    failed = self._judged(failed_if, result)
                    return result
                finally:
                    self.request(failed=failed)
                    self.flush()

            return invoke  # type: ignore[return-value]

        return decorate if handler is None else decorate(handler)

    # --- Sending.

    def flush(self) -> None:
        """Sends everything counted so far, the current bucket's counts too. Never raises."""
        self._send(finished_only=False)

    def close(self) -> None:
        """Stops the background thread, sends what is left and closes the connection. `atexit` does
        this for every instance still open; a test or a script may call it sooner."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=max(1.0, 2 * self._flush_interval))
        self.flush()
        with self._send_lock:
            self._sink.close()
        _live.discard(self)

    # --- Inside.

    def _reset(self) -> None:
        """The state a process starts with (and a forked child starts again from)."""
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._buckets: dict[int, list[int]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sink = _sink(self.endpoint, self._agent_timeout)

    def _bucket(self) -> int:
        """The start of the bucket the clock is in, in epoch milliseconds."""
        width = BUCKET_SECONDS * 1000
        return int(self._clock() * 1000) // width * width

    def _start_thread(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name="release-metrics", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._flush_interval):
            self._send(finished_only=True)

    def _send(self, *, finished_only: bool) -> None:
        dropped = 0
        try:
            with self._lock:
                if not self._buckets:
                    return
                current = self._bucket()
                due = sorted(bucket for bucket in self._buckets if not finished_only or bucket < current)
                taken = [(bucket, *self._buckets.pop(bucket)) for bucket in due]
            if not taken:
                return
            dropped = sum(requests for _, requests, _ in taken)
            with self._send_lock:
                service, version = self._identify()
                log_group = (self._log_group or LOG_GROUP_PREFIX + service) if self._sink.names_log_group else None
                for bucket, requests, errors in taken:
                    record = emf_record(bucket, service, version, requests, errors, log_group)
                    self._sink.send(json.dumps(record, separators=(",", ":")))
                    dropped -= requests
        except _Unidentified as error:
            self._warn("identity", f"{dropped} requests dropped: {error}")
        except (OSError, ValueError) as error:
            self._warn("send", f"{dropped} requests dropped: {self.endpoint} failed: {error!r}")
        except Exception as error:  # the application must never see it
            self._warn("internal", f"{dropped} requests dropped: {error!r}")

    def _identify(self) -> tuple[str, str]:
        """Service and version, found once (a failure is tried again at the next send)."""
        if self._identity is not None:
            return self._identity
        service, version = self._service, self._version
        if service is None or version is None:
            if self._in_lambda:
                service = service or os.environ.get(LAMBDA_FUNCTION_VARIABLE)
                version = version or os.environ.get(LAMBDA_VERSION_VARIABLE)
                if version is None:
                    raise _Unidentified(f"{LAMBDA_VERSION_VARIABLE} is not set")
            elif os.environ.get(ECS_METADATA_VARIABLE):
                family, revision = _task_family_and_revision(os.environ[ECS_METADATA_VARIABLE], self._metadata_timeout)
                service, version = service or family, version or revision
            else:
                raise _Unidentified(
                    f"no service and version: neither Lambda ({LAMBDA_FUNCTION_VARIABLE}) nor ECS "
                    f"({ECS_METADATA_VARIABLE}); pass ReleaseMetrics(service=..., version=...)"
                )
        for name, value in ((SERVICE, service), (VERSION, version)):
            if value is None:
                raise _Unidentified(f"no {name}")
            problem = _dimension_problem(value)
            if problem:
                raise _Unidentified(f"{name} {value!r}: {problem}")
        if version == UNPUBLISHED_VERSION:
            logger.warning(
                "release metrics: %s runs %s, which is unpublished: the judge compares published versions; "
                "its counts are sent as Version=%s",
                service,
                UNPUBLISHED_VERSION,
                UNPUBLISHED_VERSION,
            )
        self._identity = (str(service), str(version))
        return self._identity

    def _judged(self, failed_if: Callable[[Any], bool] | None, result: Any) -> bool:
        if failed_if is None:
            return False
        try:
            return bool(failed_if(result))
        except Exception as error:  # a broken predicate is not the handler's failure
            self._warn("failed_if", f"failed_if raised {error!r}: the invocation counts as a success")
            return False

    def _default_endpoint(self) -> str:
        if self._in_lambda:
            return STDOUT
        configured = os.environ.get(AGENT_ENDPOINT_VARIABLE)
        if configured is None:
            return STDOUT
        if not configured.strip():
            return DEFAULT_AGENT_ENDPOINT
        if _parse_endpoint(configured) is None or configured == STDOUT:
            self._warn(
                "endpoint",
                f"{AGENT_ENDPOINT_VARIABLE}={configured!r} is not {_ENDPOINT_FORMS}: "
                f"sending to {DEFAULT_AGENT_ENDPOINT}",
            )
            return DEFAULT_AGENT_ENDPOINT
        return configured

    def _warn(self, kind: str, message: str) -> None:
        """One warning per kind per WARNING_INTERVAL_SECONDS; the rest are counted and reported with
        the next one."""
        try:
            now = time.monotonic()
            last = self._warned.get(kind)
            if last is not None and now - last < WARNING_INTERVAL_SECONDS:
                self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
                return
            self._warned[kind] = now
            suppressed = self._suppressed.pop(kind, 0)
            more = f" ({suppressed} more like it since the last warning)" if suppressed else ""
            logger.warning("release metrics: %s%s", message, more)
        except Exception:  # logging itself failed: nothing left to tell
            pass


class _Unidentified(Exception):
    """The service or version cannot be found: records cannot be sent."""


_ENDPOINT_FORMS = '"stdout", "tcp://host:port" or "udp://host:port"'


def _parse_endpoint(endpoint: str) -> tuple[str, str, int] | None:
    """("stdout", "", 0), ("tcp" | "udp", host, port), or None when malformed."""
    if endpoint == STDOUT:
        return (STDOUT, "", 0)
    try:
        parts = urlsplit(endpoint)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("tcp", "udp") or not parts.hostname or port is None:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        return None
    return (parts.scheme, parts.hostname, port)


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _dimension_problem(value: object) -> str | None:
    if not isinstance(value, str):
        return "a dimension's value is a string"
    if not value.strip():
        return "a dimension's value has a character that is not whitespace"
    if len(value) > MAX_DIMENSION_VALUE_LENGTH:
        return f"a dimension's value has at most {MAX_DIMENSION_VALUE_LENGTH} characters"
    if not value.isascii() or any(ord(c) < 32 or ord(c) == 127 for c in value):
        return "a dimension's value is ASCII without control characters"
    return None


def _task_family_and_revision(base: str, timeout: float) -> tuple[str, str]:
    """The task definition's family and revision, from ECS's task metadata endpoint v4."""
    url = base.rstrip("/") + "/task"
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise _Unidentified(f"{ECS_METADATA_VARIABLE}={base!r} is not an http:// address")
    connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        connection.request("GET", parts.path)
        response = connection.getresponse()
        # A body shorter than its Content-Length raises IncompleteRead here.
        body = response.read()
        if response.status != 200:
            raise _Unidentified(f"{url} answered {response.status}")
        task = json.loads(body)
    except (OSError, http.client.HTTPException, ValueError) as error:
        raise _Unidentified(f"{url}: {error!r}") from None
    finally:
        connection.close()
    family = task.get("Family") if isinstance(task, dict) else None
    revision = task.get("Revision") if isinstance(task, dict) else None
    if isinstance(revision, int) and not isinstance(revision, bool):
        revision = str(revision)
    if not isinstance(family, str) or not family or not isinstance(revision, str) or not revision.isdigit():
        raise _Unidentified(f"{url} names no Family and Revision: {body[:200]!r}")
    return family, revision


class _Stdout:
    names_log_group = False

    def send(self, line: str) -> None:
        # Looked up at each send: whatever stdout is now (Lambda's, a test's).
        stream = sys.stdout
        stream.write(line + "\n")
        stream.flush()

    def close(self) -> None:
        pass


class _Socket:
    """A socket to the agent, made at the first record; a failed send closes it for the next."""

    names_log_group = True

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self._address = (host, port)
        self._timeout = timeout
        self._socket: socket.socket | None = None

    def close(self) -> None:
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.close()
            self._socket = None


class _Tcp(_Socket):
    """One connection to the agent, kept open, opened again when the agent has closed it."""

    def send(self, line: str) -> None:
        if self._socket is not None and not self._open():
            self.close()
        if self._socket is None:
            self._socket = socket.create_connection(self._address, timeout=self._timeout)
        try:
            self._socket.sendall((line + "\n").encode())
        except OSError:
            self.close()
            raise

    def _open(self) -> bool:
        """False once the agent has closed its end (a restart): writing to that connection would
        succeed locally and lose the record."""
        assert self._socket is not None
        try:
            readable, _, _ = select.select([self._socket], [], [], 0)
            return not readable or self._socket.recv(1, socket.MSG_PEEK) != b""
        except OSError:
            return False


class _Udp(_Socket):
    """One datagram per record; nothing says whether the agent got it."""

    def send(self, line: str) -> None:
        if self._socket is None:
            family, kind, protocol, _, address = socket.getaddrinfo(*self._address, type=socket.SOCK_DGRAM)[0]
            self._socket = socket.socket(family, kind, protocol)
            self._socket.settimeout(self._timeout)
            self._socket.connect(address)
        try:
            self._socket.send((line + "\n").encode())
        except OSError:
            self.close()
            raise


def _sink(endpoint: str, timeout: float) -> _Stdout | _Tcp | _Udp:
    parsed = _parse_endpoint(endpoint)
    assert parsed is not None
    scheme, host, port = parsed
    if scheme == "tcp":
        return _Tcp(host, port, timeout)
    if scheme == "udp":
        return _Udp(host, port, timeout)
    return _Stdout()


# Every instance still open: flushed at exit, started afresh in a forked child.
_live: weakref.WeakSet[ReleaseMetrics] = weakref.WeakSet()


def _close_all() -> None:
    for metrics in list(_live):
        metrics.close()


def _forget_in_child() -> None:
    for metrics in list(_live):
        metrics._reset()


atexit.register(_close_all)
os.register_at_fork(after_in_child=_forget_in_child)
