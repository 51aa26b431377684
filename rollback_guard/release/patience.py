"""AWS calls that outlast a bad minute: a release waits for up to hours, and one connection reset,
5xx answer, throttled call or credential refresh must not abort it half-way."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, CredentialRetrievalError

from rollback_guard.hooks.aws import error_code, is_transient

T = TypeVar("T")
# Clients make one attempt per call: Patient retries, knowing what is worth a retry.
ONE_ATTEMPT = Config(connect_timeout=5, read_timeout=30, retries={"total_max_attempts": 1})
# Codes that say the request was refused unseen: safe to send again even when it creates something.
THROTTLED = {"Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded"}
# How long a single call keeps being retried when the caller names no deadline of its own.
CALL_PATIENCE_SECONDS = 300.0
FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 30.0


def retryable(error: Exception) -> bool:
    return is_transient(error) or isinstance(error, CredentialRetrievalError)


def throttled(error: Exception) -> bool:
    return error_code(error) in THROTTLED


class Patient:
    """Runs AWS calls, retrying what may succeed a moment later until a deadline (monotonic
    seconds); anything else, or the deadline, raises the call's own error."""

    def __init__(
        self,
        sleep: Callable[[float], None] = time.sleep,
        on_retry: Callable[[str], None] = lambda line: None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._sleep = sleep
        self._on_retry = on_retry
        self._clock = clock

    def call(
        self,
        what: str,
        operation: Callable[..., T],
        *,
        until: float | None = None,
        retry_if: Callable[[Exception], bool] = retryable,
        **params: Any,
    ) -> T:
        """`operation(**params)`, retried while `retry_if` says so and `until` (or
        CALL_PATIENCE_SECONDS from now) leaves time."""
        deadline = self._clock() + CALL_PATIENCE_SECONDS if until is None else until
        delay = FIRST_RETRY_SECONDS
        while True:
            try:
                return operation(**params)
            except (ClientError, BotoCoreError) as error:
                if not retry_if(error) or self._clock() + delay > deadline:
                    raise
                self._on_retry(f"{what}: {error}; retrying in {delay:g}s")
            self._sleep(delay)
            delay = min(delay * 2, MAX_RETRY_SECONDS)
