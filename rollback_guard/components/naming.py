"""The names the components give AWS resources that AWS names by the caller (functions, log groups,
task families, alarms, CodeDeploy configs, pipelines): `<prefix><name>-<stack>`, where the prefix is
the Pulumi project's name and a dash, so two projects of one account with a `LambdaCanary("api")`
in their `prod` stacks do not collide.

The stack setting `rollback-guard:namePrefix` replaces the prefix: a shorter one where names run
into AWS's length limits, or "" for stacks created before names carried the project (this
project's own stacks, whose names must not change: a Lambda function or a task family renamed is
replaced). Resources AWS names itself, or Pulumi auto-names, are unique already.
"""

from __future__ import annotations

import re

import pulumi

NAME_PREFIX_SETTING = "namePrefix"
# What a prefix may hold: every caller-named resource here takes letters, digits, dashes and underscores.
PREFIX_PATTERN = r"[A-Za-z0-9_-]*"


def name_prefix() -> str:
    """The prefix of the names this stack gives its resources: `rollback-guard:namePrefix`, or the
    project's name (with anything a name may not hold made a dash) and a dash."""
    configured = pulumi.Config("rollback-guard").get(NAME_PREFIX_SETTING)
    if configured is not None and not re.fullmatch(PREFIX_PATTERN, configured):
        raise pulumi.RunError(
            f"rollback-guard:{NAME_PREFIX_SETTING} = {configured!r}: letters, digits, dashes and underscores only"
        )
    return prefix_of(pulumi.get_project(), configured)


def prefix_of(project: str, configured: str | None) -> str:
    """The prefix of a project's names: the one configured, or the project's name made a name and a dash."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", project) + "-" if configured is None else configured


def physical_name(name: str) -> str:
    """The name AWS knows a resource the component `name` creates by: `<prefix><name>-<stack>`."""
    return f"{name_prefix()}{name}-{pulumi.get_stack()}"


def too_long(what: str, name: str, limit: int, shorten: str | None = None) -> list[str]:
    """A name that AWS would refuse for its length, as a refusal says it: which resource, the name,
    the limit, and what to shorten: `shorten` (the argument it came from) when given, else whichever
    of the component's name, the stack's and the prefix the name holds."""
    if len(name) <= limit:
        return []
    if shorten is None:
        ways = ["the component's name"]
        if pulumi.get_stack() in name:
            ways.append("the stack's")
        prefix = name_prefix()
        advice = f"shorten {' or '.join(ways)}"
        if prefix and prefix in name:
            advice += f", or set a shorter rollback-guard:{NAME_PREFIX_SETTING} (now {prefix!r})"
    else:
        advice = f"shorten {shorten}"
    return [f"{what} would be named {name!r} ({len(name)} characters); AWS allows {limit}: {advice}"]
