"""AWS calls from hooks: lazy clients with short timeouts, and errors that name the call.

Reads go through the SDK's standard retries (3 attempts of at most 2 + 5 s). A failing call is a
HookError naming the service, the operation, what it was about and what AWS said, so the Failed
status it leads to explains itself.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as AwsConnectionError

from rollback_guard.hooks.timing import Deadline, HookError

T = TypeVar("T")

AWS_CLIENT_CONFIG = Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard", "total_max_attempts": 3})
# Error codes that say "try again later", beyond any 5xx answer.
_TRANSIENT_CODES = {
    "Throttling",
    "ThrottlingException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ProvisionedThroughputExceededException",
    "RequestTimeout",
    "RequestTimeoutException",
    "ExpiredToken",
    "ExpiredTokenException",
}


# boto3's default session is not safe to create clients from on several threads at once.
_CREATING = threading.Lock()


def new_client(service: str, config: Config):
    with _CREATING:
        return boto3.client(service, config=config)


@functools.cache
def client(service: str):
    """Created on first use, so importing a hook stays cheap and tests can point it elsewhere."""
    return new_client(service, AWS_CLIENT_CONFIG)


class AwsCallFailed(HookError):
    def __init__(self, message: str, transient: bool):
        super().__init__(message)
        self.transient = transient


def error_code(error: Exception) -> str | None:
    return error.response.get("Error", {}).get("Code") if isinstance(error, ClientError) else None


def is_transient(error: Exception) -> bool:
    """Throttling, a 5xx, a lost connection or a timeout: the same call may well succeed."""
    if isinstance(error, ClientError):
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return error_code(error) in _TRANSIENT_CODES or status >= 500
    return isinstance(error, (AwsConnectionError, HTTPClientError))


def call(deadline: Deadline, what: str, operation: Callable[..., T], **params: Any) -> T:
    """`operation(**params)`, started only while `deadline` leaves time; `what` names it in errors
    (for example "codedeploy GetDeployment d-123")."""
    deadline.check(what)
    with deadline.waiting_for(what):
        try:
            return operation(**params)
        except (ClientError, BotoCoreError) as error:
            code = error_code(error)
            detail = f"{code}: {error.response['Error'].get('Message', '')}" if code else str(error)
            raise AwsCallFailed(f"{what} failed: {detail}", is_transient(error)) from error
