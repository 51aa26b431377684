"""The thin layer over the Pulumi Automation API: the local program in this folder, on whatever
backend `pulumi login` chose (the local file backend by default). Everything that decides anything
takes a `StackPort`, so it is tested with a fake stack."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

if TYPE_CHECKING:
    import boto3

ROOT = Path(__file__).resolve().parent.parent

# Exit codes: 0 done; 1 the operation ran and failed (a release failed, a drill missed its SLA);
# 2 bad input; 3 a precondition is missing (no CLI, no credentials, prod without confirmation).
FAILED, BAD_INPUT, PRECONDITION = 1, 2, 3


class OpsError(Exception):
    def __init__(self, message: str, exit_code: int = FAILED):
        super().__init__(message)
        self.exit_code = exit_code


class StackPort(Protocol):
    name: str

    def region(self) -> str | None: ...

    def outputs(self) -> dict[str, Any]: ...

    def set_config(self, key: str, value: str) -> None: ...

    def get_config(self, key: str) -> str | None: ...

    def remove_config(self, key: str) -> None: ...

    def backend_url(self) -> str: ...

    def preview(self, on_output: Callable[[str], None]) -> str: ...

    def up(self, on_output: Callable[[str], None]) -> str: ...


class AutomationStack:
    """A real stack of this project, through the Pulumi CLI."""

    def __init__(self, environment: str):
        if shutil.which("pulumi") is None:
            raise OpsError(
                "the Pulumi CLI is not installed (https://www.pulumi.com/docs/install/); `plan` works without it",
                PRECONDITION,
            )
        from pulumi import automation

        try:
            self._stack = automation.select_stack(stack_name=environment, work_dir=str(ROOT))
        except automation.errors.CommandError as error:
            explanation = _stderr(error)
            if "no stack named" in explanation:
                raise OpsError(
                    f"no stack {environment} in the current Pulumi backend (`pulumi stack ls`); create it with "
                    f"`pulumi stack init {environment}`",
                    BAD_INPUT,
                ) from None
            raise OpsError(f"cannot open stack {environment}: {explanation}", PRECONDITION) from None
        self.name = environment

    def region(self) -> str | None:
        """The stack's `aws:region`: where its resources are, whatever the shell's default."""
        from pulumi import automation

        try:
            return self._stack.get_config("aws:region").value
        except automation.errors.CommandError:
            return None

    def outputs(self) -> dict[str, Any]:
        return {key: output.value for key, output in self._stack.outputs().items()}

    def set_config(self, key: str, value: str) -> None:
        from pulumi import automation

        try:
            self._stack.set_config(key, automation.ConfigValue(value=value), path=True)
        except automation.errors.CommandError as error:
            raise OpsError(f"cannot set {key} on {self.name}: {_stderr(error)}", FAILED) from None

    def get_config(self, key: str) -> str | None:
        from pulumi import automation

        try:
            return self._stack.get_config(key, path=True).value
        except automation.errors.CommandError:
            return None

    def remove_config(self, key: str) -> None:
        self._stack.remove_config(key, path=True)

    def backend_url(self) -> str:
        """Where the stack's state is ("" if Pulumi cannot say)."""
        from pulumi import automation

        try:
            return self._stack.workspace.who_am_i().url or ""
        except automation.errors.CommandError:
            return ""

    def preview(self, on_output: Callable[[str], None]) -> str:
        return self._run("preview", lambda: self._stack.preview(on_output=on_output).stdout)

    def up(self, on_output: Callable[[str], None]) -> str:
        return self._run("up", lambda: self._stack.up(on_output=on_output).summary.result)

    def _run(self, operation: str, call: Callable[[], str]) -> str:
        """A failed preview or up (a release that rolled back, say) is an error with Pulumi's
        own explanation, not a traceback."""
        from pulumi import automation

        try:
            return call()
        except automation.errors.CommandError as error:
            raise OpsError(f"pulumi {operation} failed for {self.name}:\n{_stderr(error)}", FAILED) from None


def _stderr(error: Exception) -> str:
    """The explaining part of Pulumi's "code: …\n stdout: …\n stderr: …", its last 20 lines."""
    stderr = str(error).split("stderr:", 1)[-1]
    return "\n".join([line.strip() for line in stderr.strip().splitlines()][-20:])


def aws_session(region: str | None = None) -> boto3.Session:
    """A session whose credentials work, or an error saying so."""
    import boto3  # here, not at the top: `plan` and the other offline paths never pay for it

    session = boto3.Session(region_name=region)
    try:
        session.client("sts").get_caller_identity()
    except (NoCredentialsError, ClientError, BotoCoreError) as error:
        raise OpsError(
            f"no usable AWS credentials ({error}); set AWS_PROFILE or run `aws configure`", PRECONDITION
        ) from error
    return session
