"""Lambda functions: the released function behind its `live` alias, and the helper every function
of this project is built with (its own log group with retention, its own role, scoped logging)."""

from __future__ import annotations

import ast
import threading
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from rollback_guard.components.iam import role_policy, service_role, write_logs
from rollback_guard.limits import LAMBDA_HANDLER_LENGTH, LAMBDA_UNZIPPED_BYTES, LAMBDA_ZIPPED_BYTES
from rollback_guard.policy import rules

ALIAS_NAME = "live"
# CodeDeploy moves the alias from one version to the next, and shifts weight through routingConfig.
CODEDEPLOY_OWNED_ALIAS_PROPERTIES = ["functionVersion", "routingConfig"]
# X-Ray's write actions have no resource-level permissions: "*" is the only valid resource.
XRAY_WRITE = {"Effect": "Allow", "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "Resource": "*"}
# Lambda manages a VPC function's network interfaces, and a function that calls the test listener
# finds the load balancer's; these EC2 actions have no resource-level permissions.
VPC_FUNCTION_STATEMENT = {
    "Effect": "Allow",
    "Action": [
        "ec2:CreateNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSubnets",
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
    ],
    "Resource": "*",
}


PACKAGE_DIRECTORY = Path(__file__).resolve().parent.parent
# The files Lambda loads a handler's module from (`module` of `module.function`), by runtime family.
# Only these families are allowed: for any other the handler could not be checked before `up`, and
# a handler Lambda cannot find fails every invocation, so every release.
HANDLER_FILE_SUFFIXES = {"python": (".py",), "nodejs": (".js", ".mjs", ".cjs")}


def function_code_problems(
    code_path: str | Path, handler: str, runtime: str, root: str | Path = ""
) -> list[tuple[str, object, str]]:
    """(argument, value, what is allowed) when Lambda would refuse the code in the folder `code_path`
    (relative to `root`, the working directory by default; said as given) or not find `handler` in it
    with `runtime`; empty when it would take both. Python imports
    `pkg.module.function` from pkg/module.py; Node.js loads `dir/module.function` from dir/module.js,
    .mjs or .cjs."""
    family = next((family for family in HANDLER_FILE_SUFFIXES if runtime.startswith(family)), None)
    if family is None:
        return [("runtime", runtime, "a Python or Node.js runtime (python3.x, nodejsNN.x)")]
    folder = Path(root, code_path)
    if not folder.is_dir():
        return [("code_path", str(code_path), "a folder holding the function's code (there is none)")]
    if len(handler) > LAMBDA_HANDLER_LENGTH:
        return [("handler", handler, f"at most {LAMBDA_HANDLER_LENGTH} characters (Lambda's limit)")]
    if family == "python":
        module, dot, function = handler.rpartition(".")
        module = module.replace(".", "/")
    else:
        directory, slash, file = handler.rpartition("/")
        module, dot, function = file.partition(".")
        module = directory + slash + module
    if not (module and dot and function):
        return [("handler", handler, "module.function, such as app.handler")]
    files = [module + suffix for suffix in HANDLER_FILE_SUFFIXES[family]]
    found = [folder / file for file in files if (folder / file).is_file()]
    if not found:
        looked_for = f"runtime {runtime} looks for {' or '.join(files)} there, and there is none"
        return [("handler", handler, f"a function in a file of {code_path}; {looked_for}")]
    if family == "python" and not _defines(found[0], function):
        return [("handler", handler, f"a function {found[0].name} defines ({function} is not among its names)")]
    files = _code_files(folder)
    size = sum(path.stat().st_size for path in files)
    # Deflated as the archive will be, only when it could matter: that reads every file.
    zipped = sum(len(zlib.compress(path.read_bytes())) for path in files) if size > LAMBDA_ZIPPED_BYTES else size
    if size > LAMBDA_UNZIPPED_BYTES or zipped > LAMBDA_ZIPPED_BYTES:
        allowed = f"{LAMBDA_ZIPPED_BYTES // 2**20} MB zipped and {LAMBDA_UNZIPPED_BYTES // 2**20} MB unzipped"
        here = f"{zipped / 2**20:.0f} MB zipped, {size / 2**20:.0f} MB unzipped here"
        return [("code_path", str(code_path), f"code of at most {allowed}, as Lambda takes it uploaded ({here})")]
    return []


# CPython 3.11's AST constructor keeps its recursion depth per interpreter, not per thread: two
# threads parsing at once (Pulumi runs component code in threads) fail with a SystemError.
_PARSING = threading.Lock()


def _defines(module: Path, name: str) -> bool:
    """Whether a Python module binds `name` at its top level (a def, a class, an assignment or an
    import): Lambda's runtime looks the handler up there. A module Python cannot parse binds nothing."""
    try:
        with _PARSING:
            tree = ast.parse(module.read_bytes())
    except (SyntaxError, ValueError):
        return False
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return True
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and any(
            isinstance(target, ast.Name) and target.id == name for target in targets
        ):
            return True
        if isinstance(node, (ast.Import, ast.ImportFrom)) and any(
            (alias.asname or alias.name.split(".")[0]) == name for alias in node.names
        ):
            return True
    return False


def _code_files(root: Path) -> list[Path]:
    """The files of `root` a function ships: no Python bytecode, whose bytes depend on the machine
    that ran the tests and would change the code hash (and so the function) without a change of code."""
    return sorted(
        path for path in root.rglob("*") if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    )


def code_archive(directory: str | Path, prefix: str = "") -> pulumi.AssetArchive:
    """The files `directory` ships (_code_files), as the function's code."""
    root = Path(directory)
    return pulumi.AssetArchive(
        {f"{prefix}{path.relative_to(root)}": pulumi.FileAsset(str(path)) for path in _code_files(root)}
    )


def hooks_archive() -> pulumi.AssetArchive:
    """The hook handlers, shipped from the installed package as `rollback_guard.hooks`: the
    package's own `__init__.py` (which imports nothing) and `hooks/`."""
    hooks = code_archive(PACKAGE_DIRECTORY / "hooks", "rollback_guard/hooks/")
    package = pulumi.FileAsset(str(PACKAGE_DIRECTORY / "__init__.py"))
    return pulumi.AssetArchive({"rollback_guard/__init__.py": package, **hooks.assets})


def hook_handler(module: str) -> str:
    """The handler of a hook module in hooks_archive()."""
    return f"rollback_guard.hooks.{module}.handler"


def logged_function(
    name: str,
    parent: pulumi.Resource,
    *,
    log_retention_days: int,
    statements: Sequence[pulumi.Input[dict[str, Any]]] = (),
    tracing: bool = True,
    **function_args: Any,
) -> tuple[aws.lambda_.Function, aws.iam.Role]:
    """A function named `<name>-<stack>` whose log group exists first (so retention applies from the
    first invocation) and whose role may write to that log group plus `statements`; traced by X-Ray
    unless `tracing` is off."""
    child = pulumi.ResourceOptions(parent=parent)
    function_name = f"{name}-{pulumi.get_stack()}"
    log_group = aws.cloudwatch.LogGroup(
        f"{name}-logs", name=f"/aws/lambda/{function_name}", retention_in_days=log_retention_days, opts=child
    )
    role = service_role(f"{name}-role", "lambda.amazonaws.com", child)
    traced = [XRAY_WRITE] if tracing else []
    policy = role_policy(f"{name}-policy", role.id, [write_logs(log_group.arn), *traced, *statements], child)
    function = aws.lambda_.Function(
        f"{name}-function",
        name=function_name,
        role=role.arn,
        tracing_config=aws.lambda_.FunctionTracingConfigArgs(mode="Active" if tracing else "PassThrough"),
        logging_config=aws.lambda_.FunctionLoggingConfigArgs(log_format="JSON", log_group=log_group.name),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[policy, log_group]),
        **function_args,
    )
    return function, role


@dataclass
class CanaryFunctionArgs:
    # A folder holding the function's code, and its handler (module.function), whose file must be
    # there for the runtime: Python or Node.js (function_code_problems).
    code_path: str
    handler: str
    runtime: str = "python3.13"
    memory_mb: int = 256
    timeout_seconds: int = 10
    tracing: bool = True
    # None: share the account's unreserved concurrency.
    reserved_concurrency: int | None = None
    log_retention_days: int = 30
    environment: Mapping[str, str] = field(default_factory=dict)


class CanaryFunction(pulumi.ComponentResource):
    """A function published as numbered versions behind the alias `live`.

    Pulumi creates the alias once, on the first version, and then leaves it to CodeDeploy: a new
    version is published by `pulumi up`, but users reach it only through a CodeDeploy deployment
    that shifts the alias (and can shift it back)."""

    function: aws.lambda_.Function
    alias: aws.lambda_.Alias
    role: aws.iam.Role

    def __init__(self, name: str, args: CanaryFunctionArgs, opts: pulumi.ResourceOptions | None = None):
        problems = function_code_problems(args.code_path, args.handler, args.runtime)
        rules.refuse(f"function {name}", [f"{argument} {value!r}: {allowed}" for argument, value, allowed in problems])
        super().__init__("rollback-guard:lambda_function:CanaryFunction", name, None, opts)
        self.function, self.role = logged_function(
            name,
            self,
            log_retention_days=args.log_retention_days,
            tracing=args.tracing,
            code=code_archive(args.code_path),
            handler=args.handler,
            runtime=args.runtime,
            memory_size=args.memory_mb,
            timeout=args.timeout_seconds,
            # Versions are immutable and numbered: CodeDeploy shifts between them, never $LATEST.
            publish=True,
            reserved_concurrent_executions=args.reserved_concurrency,
            environment=aws.lambda_.FunctionEnvironmentArgs(variables=dict(args.environment))
            if args.environment
            else None,
        )
        self.alias = aws.lambda_.Alias(
            f"{name}-{ALIAS_NAME}",
            name=ALIAS_NAME,
            function_name=self.function.name,
            function_version=self.function.version,
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=CODEDEPLOY_OWNED_ALIAS_PROPERTIES),
        )
        self.register_outputs(
            {"functionName": self.function.name, "aliasArn": self.alias.arn, "version": self.function.version}
        )


def invoked_by_rule(
    name: str, rule: aws.cloudwatch.EventRule, function: aws.lambda_.Function, opts: pulumi.ResourceOptions
) -> None:
    """`rule` invokes `function`: its target, and the function's permission for that rule only."""
    aws.cloudwatch.EventTarget(f"{name}-target", rule=rule.name, arn=function.arn, opts=opts)
    aws.lambda_.Permission(
        f"{name}-invoke",
        action="lambda:InvokeFunction",
        function=function.name,
        principal="events.amazonaws.com",
        source_arn=rule.arn,
        opts=opts,
    )
