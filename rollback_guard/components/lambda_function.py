"""Lambda functions: the released function behind its `live` alias, and the helper every function
of this project is built with (its own log group with retention, its own role, scoped logging).

What a function's arguments may be is declared here once (RUNTIMES, MEMORY_MB, ... beside each
field of CanaryFunctionArgs), with AWS's limits from rollback_guard.limits: the Lambda canary and
this project's stack files read the same declarations."""

from __future__ import annotations

import ast
import os
import re
import threading
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from rollback_guard.components.arguments import LOG_RETENTION, OneOf, Text, Whole, allow, problems
from rollback_guard.components.iam import role_policy, service_role, write_logs
from rollback_guard.components.naming import physical_name, too_long
from rollback_guard.components.parts import Component
from rollback_guard.limits import (
    AUTONAME_SUFFIX,
    LAMBDA_ENVIRONMENT_BYTES,
    LAMBDA_HANDLER_LENGTH,
    LAMBDA_MEMORY_MB,
    LAMBDA_RESERVED_KEYS,
    LAMBDA_TIMEOUT_SECONDS,
    LAMBDA_UNZIPPED_BYTES,
    LAMBDA_ZIPPED_BYTES,
    NAME_RULES,
)
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

# --- what a function's arguments may be, declared once: the components' Args and the stack files read these

# The Python and Node.js runtimes Lambda supports and has not deprecated, whose handlers can be
# checked before `up` (HANDLER_FILE_SUFFIXES): https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html
LAMBDA_RUNTIMES = ("python3.11", "python3.12", "python3.13", "python3.14", "nodejs20.x", "nodejs22.x", "nodejs24.x")
RUNTIME = OneOf(LAMBDA_RUNTIMES, why="Lambda's supported Python and Node.js runtimes, whose handler can be checked")
MEMORY_MB = Whole(*LAMBDA_MEMORY_MB, "MB", why="Lambda's range")
TIMEOUT_SECONDS = Whole(1, LAMBDA_TIMEOUT_SECONDS, "seconds", why="Lambda's 15 minutes")
# Lambda's quota is per account (1,000 by default), of which 100 must stay unreserved; `ops preflight`
# checks a reservation against the account's own quota.
RESERVED_CONCURRENCY = Whole(
    1,
    10_000,
    why="or None to share the account's unreserved concurrency; Lambda keeps 100 of the account's quota unreserved",
)
# module.function (Python packages dotted, pkg.module.function); Node.js may name a folder (src/app.handler).
HANDLER = Text(
    r"(?:[\w-]+/)*[\w-]+(?:\.[\w-]+)+",
    f"module.function, such as app.handler (Node.js: folder/module.function), at most {LAMBDA_HANDLER_LENGTH} "
    "characters",
    max_length=LAMBDA_HANDLER_LENGTH,
)
# Environment variable names Lambda takes (and none it sets itself, limits.LAMBDA_RESERVED_KEYS).
ENVIRONMENT_KEY = r"[A-Za-z][A-Za-z0-9_]*"
ENVIRONMENT_RULE = (
    f"names of letters, digits and _ starting with a letter, none of Lambda's reserved ones, to text values; at "
    f"most {LAMBDA_ENVIRONMENT_BYTES} bytes in all (Lambda's limit)"
)


def project_root() -> Path:
    """The folder a relative `code_path` is read from: the Pulumi project's (the folder of
    Pulumi.yaml), as the Pulumi CLI tells the program (`pulumi.get_root_directory()`, an absolute
    path), so `pulumi -C <project>` or a program started from another folder finds the same code.
    Mocks tell no folder (the SDK answers a placeholder, "root_directory"), and neither does a CLI too
    old to: then it is the working directory, where the CLI starts a program and tests run."""
    root = pulumi.get_root_directory()
    if isinstance(root, str) and Path(root).is_absolute() and Path(root).is_dir():
        return Path(root)
    return Path(os.getcwd())


def code_folder(code_path: str | Path) -> Path:
    """Where the function's code is: `code_path`, a relative one from project_root()."""
    return project_root() / Path(code_path).expanduser()


def code_problems(where: str, code_path: Any, handler: Any, runtime: Any) -> list[str]:
    """The refusals of a function's code, each naming the argument of `where` (an Args class or
    path, `LambdaCanaryArgs`): a `code_path` that is not a folder's path, or not a folder (said with
    the folder it looked in), a handler the runtime would not find there. Nothing for a handler or
    runtime of the wrong type, which arguments.problems() names."""
    if not isinstance(code_path, (str, Path)):
        return [f"{where}.code_path = {code_path!r}: a folder's path (a str or a pathlib.Path)"]
    if not all(isinstance(value, str) for value in (handler, runtime)):
        return []
    folder = code_folder(code_path)
    found = []
    for argument, value, allowed in function_code_problems(folder, handler, runtime):
        if argument == "code_path":
            there = "a file" if folder.exists() else "nothing"
            value, allowed = (
                str(code_path),
                (
                    f"a folder holding the function's code, and {folder} is {there} (a relative path is read from the "
                    "Pulumi project's folder; under mocks, from the working directory)"
                ),
            )
        else:
            # Said as the caller gave it, not as resolved.
            allowed = allowed.replace(str(folder), str(code_path))
        found.append(f"{where}.{argument} = {value!r}: {allowed}")
    return found


def environment_size(environment: Mapping[str, Any]) -> int:
    """A function's environment as Lambda counts it against LAMBDA_ENVIRONMENT_BYTES: its names and
    values, in bytes (as rollback_guard.limits counts a registered function's)."""
    return sum(len(str(key).encode()) + len(str(value).encode()) for key, value in environment.items())


def environment_problems(where: str, environment: Any) -> list[str]:
    """The refusals of a function's environment (its names, the values known, the size once all are
    known), each naming `where`; an Output's part is checked by checked_environment when known."""
    if isinstance(environment, pulumi.Output):
        return []
    if not isinstance(environment, Mapping):
        return [f"{where} = {environment!r}: a mapping of {ENVIRONMENT_RULE}"]
    found = []
    refused = [key for key in environment if not (isinstance(key, str) and re.fullmatch(ENVIRONMENT_KEY, key))]
    refused += [key for key in environment if key in LAMBDA_RESERVED_KEYS]
    if refused:
        found.append(f"{where} names {refused!r}: {ENVIRONMENT_RULE}")
    not_text = {key: value for key, value in environment.items() if not isinstance(value, (str, pulumi.Output))}
    if not_text:
        found.append(f"{where} values {not_text!r}: text (a str, or an Output of one), {ENVIRONMENT_RULE}")
    if not found and all(isinstance(value, str) for value in environment.values()):
        found += _environment_fits(where, environment)
    return found


def _environment_fits(where: str, environment: Mapping[str, str]) -> list[str]:
    size = environment_size(environment)
    if size <= LAMBDA_ENVIRONMENT_BYTES:
        return []
    return [f"{where} = {size} bytes of names and values: {ENVIRONMENT_RULE}"]


def checked_environment(
    what: str, where: str, environment: pulumi.Input[Mapping[str, pulumi.Input[str]]]
) -> pulumi.Input[Mapping[str, pulumi.Input[str]]]:
    """The environment as the function takes it: with Outputs among it, checked once every value is
    known (the known ones were checked by environment_problems), failing the update before the
    function is created; refusals never show the values, which may be secrets. Without, as given."""
    if not isinstance(environment, pulumi.Output) and not any(
        isinstance(value, pulumi.Output) for value in environment.values()
    ):
        return environment
    return pulumi.Output.from_input(environment).apply(
        lambda known: _raise_unless_fits(what, where, dict(known)) or dict(known)
    )


def _raise_unless_fits(what: str, where: str, known: dict) -> None:
    rules.refuse(what, environment_problems(where, known))


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
    if family == "python":
        files.append(f"{module}/__init__.py")  # a package, which Python imports as the module
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
    """Whether a Python module may bind `name` when imported (a def, a class, an assignment or an
    import, at its top level or under its top-level if, try or with): Lambda's runtime looks the
    handler up there. A star import or a module __getattr__ may bind anything, so it counts. A
    module Python cannot parse binds nothing."""
    try:
        with _PARSING:
            tree = ast.parse(module.read_bytes())
    except (SyntaxError, ValueError):
        return False
    return any(_binds(node, name) for node in _run_on_import(tree.body))


def _run_on_import(statements: list[ast.stmt]):
    """The statements importing a module runs: its own, and those in its blocks, not in functions or classes."""
    for node in statements:
        yield node
        for block in ("body", "orelse", "finalbody", "handlers"):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                yield from _run_on_import(getattr(node, block, None) or [])


def _binds(node: ast.AST, name: str) -> bool:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return node.name in (name, "__getattr__")
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return any(isinstance(target, ast.Name) and target.id == name for target in targets)
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return any(alias.name == "*" or (alias.asname or alias.name.split(".")[0]) == name for alias in node.names)
    return False


def _code_files(root: Path) -> list[Path]:
    """The files of `root` a function ships: no Python bytecode, whose bytes depend on the machine
    that ran the tests and would change the code hash (and so the function) without a change of code."""
    return sorted(
        path for path in root.rglob("*") if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    )


def code_archive(directory: str | Path, prefix: str = "") -> pulumi.AssetArchive:
    """The files `directory` ships (_code_files), as the function's code (a relative `directory`
    from the working directory: components pass code_folder(), from the project's)."""
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


def name_problems(what: str, type_token: str, name: str, *, autonamed: bool = False) -> list[str]:
    """A name AWS would refuse for a resource of `type_token` (rollback_guard.limits.NAME_RULES): too
    long, or holding what it may not. `autonamed`: `name` is the logical name, to which Pulumi adds
    a dash and 7 random characters."""
    rule = NAME_RULES[type_token]
    held = f"{name}-{'x' * (AUTONAME_SUFFIX - 1)}" if autonamed else name
    found = too_long(what, held, rule.max_length)
    if not found and not re.fullmatch(rule.pattern, held):
        found.append(f"{what} would be named {held!r}: AWS allows {rule.allowed}")
    return found


def logged_function_name_problems(what: str, name: str) -> list[str]:
    """The names logged_function(name) gives AWS, each checked against AWS's limits: the function,
    its log group, its role and the role's policy. `what` says which function it is."""
    function_name = physical_name(name)
    return [
        *name_problems(what, "aws:lambda/function:Function", function_name),
        *name_problems(f"{what}'s log group", "aws:cloudwatch/logGroup:LogGroup", f"/aws/lambda/{function_name}"),
        *name_problems(f"{what}'s role", "aws:iam/role:Role", f"{name}-role", autonamed=True),
        *name_problems(f"{what}'s policy", "aws:iam/rolePolicy:RolePolicy", f"{name}-policy", autonamed=True),
    ]


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
    """A function named physical_name(name) (`<prefix><name>-<stack>`) whose log group exists first
    (so retention applies from the first invocation) and whose role may write to that log group plus
    `statements`; traced by X-Ray unless `tracing` is off. Its component refuses a name AWS would not
    hold first (logged_function_name_problems)."""
    child = pulumi.ResourceOptions(parent=parent)
    function_name = physical_name(name)
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
    """The function a Lambda canary releases, as Lambda takes it.

    Attributes:
        code_path: Required. The folder holding the function's code, shipped as it is (Python bytecode
            left out). A relative path is read from the Pulumi project's folder (the folder of
            Pulumi.yaml, `pulumi.get_root_directory()`), not the working directory, so the program
            finds its code from wherever `pulumi` runs; under mocks (`rollback_guard.testing`), which
            know no project folder, from the working directory. It must exist and hold the handler's
            module.
        handler: Required. module.function, such as app.handler: the function Lambda calls, which must
            be in the code for the runtime (Python: module.py binds it; Node.js: module.js, .mjs or .cjs).
        runtime: Default: python3.13. One of LAMBDA_RUNTIMES, the Python and Node.js runtimes Lambda
            supports, for which the handler is checked before `up`.
        memory_mb: Default: 256, enough for a small handler; Lambda allows 128 to 10240 MB (and gives
            CPU in proportion).
        timeout_seconds: Default: 10. Lambda allows 1 to 900 seconds; a canary's hooks wait for a
            smoke event, so a LambdaCanary holds it lower (LambdaCanaryArgs.timeout_seconds).
        tracing: Default: True, X-Ray traces every invocation, so a bad release can be followed through
            its calls; False passes traces through only.
        reserved_concurrency: Default: None, sharing the account's unreserved concurrency. 1 to 10000
            reserves that many; Lambda keeps 100 of the account's quota unreserved, which `ops preflight`
            checks against the account's own quota.
        log_retention_days: Default: 30, what production keeps at least. One of CloudWatch Logs'
            retention periods (1, 3, 5, 7, 14, 30, 60, 90, ...).
        environment: Default: none. The function's environment variables: names of letters, digits and
            _ (none of Lambda's reserved ones), text values or Outputs of text (checked when known, never
            shown: they may be secrets), at most 4096 bytes in all.
    """

    code_path: str | Path
    handler: str = field(metadata=allow(HANDLER))
    runtime: str = field(default="python3.13", metadata=allow(RUNTIME))
    memory_mb: int = field(default=256, metadata=allow(MEMORY_MB))
    timeout_seconds: int = field(default=10, metadata=allow(TIMEOUT_SECONDS))
    tracing: bool = True
    reserved_concurrency: int | None = field(default=None, metadata=allow(RESERVED_CONCURRENCY))
    log_retention_days: int = field(default=30, metadata=allow(LOG_RETENTION))
    environment: pulumi.Input[Mapping[str, pulumi.Input[str]]] = field(default_factory=dict)


def canary_function_problems(name: str, args: CanaryFunctionArgs, where: str = "CanaryFunctionArgs") -> list[str]:
    """Everything CanaryFunction(name, args) refuses, each naming the argument: the declarations,
    then (once the values are of the right kind) the code, the environment and the names."""
    found = problems(args, where)
    if not found:
        found += code_problems(where, args.code_path, args.handler, args.runtime)
    found += environment_problems(f"{where}.environment", args.environment)
    return found + logged_function_name_problems("the function", name)


class CanaryFunction(Component):
    """A function published as numbered versions behind the alias `live`.

    Pulumi creates the alias once, on the first version, and then leaves it to CodeDeploy: a new
    version is published by `pulumi up`, but users reach it only through a CodeDeploy deployment
    that shifts the alias (and can shift it back)."""

    function: aws.lambda_.Function
    alias: aws.lambda_.Alias
    role: aws.iam.Role

    def __init__(self, name: str, args: CanaryFunctionArgs, opts: pulumi.ResourceOptions | None = None):
        what = f"function {name}"
        rules.refuse(what, canary_function_problems(name, args))
        super().__init__("rollback-guard:lambda_function:CanaryFunction", name, opts)
        environment = checked_environment(what, "CanaryFunctionArgs.environment", args.environment)
        self.function, self.role = logged_function(
            name,
            self,
            log_retention_days=args.log_retention_days,
            tracing=args.tracing,
            code=code_archive(code_folder(args.code_path)),
            handler=args.handler,
            runtime=args.runtime,
            memory_size=args.memory_mb,
            timeout=args.timeout_seconds,
            # Versions are immutable and numbered: CodeDeploy shifts between them, never $LATEST.
            publish=True,
            reserved_concurrent_executions=args.reserved_concurrency,
            environment=aws.lambda_.FunctionEnvironmentArgs(variables=environment) if args.environment else None,
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
