"""What a component's arguments may be, declared once, beside each field of its Args:

    memory_mb: int = field(default=256, metadata=allow(Whole(128, 10_240, "MB")))

`problems(args)` checks an Args (and the dataclasses it holds) against the declarations: the
types first, then each field's rule, one line per problem naming the field, the value and what is
allowed (`LambdaCanaryArgs.memory_mb = 64: a whole number from 128 to 10240 MB`). A value that is a `pulumi.Output` is
not known yet: `resolved()` checks it when it resolves, with the same message. This project's
stack files (settings.py) turn the same declarations into their JSON Schema, so a rule is written
once, here, and holds for the components used directly.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import pulumi

from rollback_guard.limits import LOG_RETENTION_DAYS
from rollback_guard.policy.rules import PROD_MIN_LOG_RETENTION_DAYS, UnsafeConfiguration

RULE = "rollback_guard.rule"
T = TypeVar("T")


class Rule(Protocol):
    """What a field allows: Whole, Number, OneOf and Text below, or a component's own (a CIDR block)."""

    @property
    def allowed(self) -> str:
        """What a refusal says is allowed, and the stack files' schema describes."""
        ...

    def allows(self, value: Any) -> bool: ...

    def schema(self) -> dict:
        """The JSON Schema of the values allowed, for the stack files' schema."""
        ...


@dataclass(frozen=True)
class Whole:
    """A whole number from `low` to `high`, in multiples of `step`."""

    low: int
    high: int
    unit: str = ""
    why: str = ""
    step: int = 1

    @property
    def allowed(self) -> str:
        steps = f" in multiples of {self.step}" if self.step > 1 else ""
        return f"a whole number from {self.low} to {self.high}{_unit(self.unit)}{steps}{_why(self.why)}"

    def allows(self, value: Any) -> bool:
        return _is_whole(value) and self.low <= value <= self.high and value % self.step == 0

    def schema(self) -> dict:
        steps = {"multipleOf": self.step} if self.step > 1 else {}
        return {"type": "integer", "minimum": self.low, "maximum": self.high, **steps, "description": self.allowed}


@dataclass(frozen=True)
class Number:
    """A number from `low` to `high`; above `low` only, when `above` says so."""

    low: float
    high: float
    unit: str = ""
    why: str = ""
    above: bool = False

    @property
    def allowed(self) -> str:
        low = f"above {self.low:g}" if self.above else f"from {self.low:g}"
        high = f"at most {self.high:g}" if self.above else f"to {self.high:g}"
        return f"a number {low}{',' if self.above else ''} {high}{_unit(self.unit)}{_why(self.why)}"

    def allows(self, value: Any) -> bool:
        if not _is_number(value) or value != value or value in (float("inf"), float("-inf")):
            return False
        return (self.low < value if self.above else self.low <= value) and value <= self.high

    def schema(self) -> dict:
        bound = {"exclusiveMinimum": self.low} if self.above else {"minimum": self.low}
        return {"type": "number", **bound, "maximum": self.high, "description": self.allowed}


@dataclass(frozen=True)
class OneOf:
    """One of `choices` (numbers compared as numbers, so True is not 1)."""

    choices: tuple
    why: str = ""

    @property
    def allowed(self) -> str:
        return f"one of {', '.join(map(str, self.choices))}{_why(self.why)}"

    def allows(self, value: Any) -> bool:
        return not isinstance(value, bool) and any(type(value) is type(c) and value == c for c in self.choices)

    def schema(self) -> dict:
        return {"enum": list(self.choices), "description": self.allowed}


@dataclass(frozen=True)
class Text:
    """A string matching `pattern` whole, described by `rule`."""

    pattern: str
    rule: str
    max_length: int | None = None

    @property
    def allowed(self) -> str:
        return self.rule

    def allows(self, value: Any) -> bool:
        return (
            isinstance(value, str)
            and re.fullmatch(self.pattern, value) is not None
            and (self.max_length is None or len(value) <= self.max_length)
        )

    def schema(self) -> dict:
        length = {} if self.max_length is None else {"maxLength": self.max_length}
        return {"type": "string", "pattern": f"^(?:{self.pattern})$", **length, "description": self.rule}


# Rules many components' fields share.
PORT = Whole(1, 65535)
LOG_RETENTION = OneOf(
    LOG_RETENTION_DAYS,
    f"CloudWatch Logs' retention periods, in days; production at least {PROD_MIN_LOG_RETENTION_DAYS}",
)


def allow(rule: Rule) -> dict[str, Rule]:
    """A field's metadata declaring what it allows."""
    return {RULE: rule}


def rule_of(args_class: type, name: str) -> Rule | None:
    """The rule declared for `args_class.name`, for whoever reads the declarations (the stack files'
    schema, the docs)."""
    declared = {f.name: f for f in dataclasses.fields(args_class)}[name]
    return declared.metadata.get(RULE)


# The declared types problems() checks, as dataclasses spell them under
# `from __future__ import annotations`: what each allows, and the test.
_SCALARS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "int": ("a whole number (int)", lambda value: _is_whole(value)),
    "float": ("a number", lambda value: _is_number(value)),
    "bool": ("True or False", lambda value: isinstance(value, bool)),
    "str": ("a string", lambda value: isinstance(value, str)),
}


def problems(args: Any, path: str | None = None) -> list[str]:
    """Every field of `args` (a dataclass instance) and of the dataclasses it holds whose value
    its declared type or rule refuses, one line each: `LambdaCanaryArgs.memory_mb = 64: a whole
    number from 128 to 10240 MB`. Outputs are skipped: `resolved()` checks them when known."""
    path = path or type(args).__name__
    found = []
    for declared in dataclasses.fields(args):
        value = getattr(args, declared.name, None)
        where = f"{path}.{declared.name}"
        spelled = _spelled(declared.type)
        optional = spelled.endswith(" | None")
        if isinstance(value, pulumi.Output) or (value is None and optional):
            continue
        scalar = _SCALARS.get(spelled.removesuffix(" | None"))
        rule = declared.metadata.get(RULE)
        options = _options_class(declared)
        if options and not isinstance(value, options):
            article = "an" if options.__name__[0] in "AEIOU" else "a"
            found += refusals(where, value, [f"{article} {options.__name__}, not {type(value).__name__}"])
        elif scalar and not scalar[1](value):
            allowed = rule.allowed if rule else scalar[0] + (" or None" if optional else "")
            found += refusals(where, value, [f"{allowed}, not {type(value).__name__}"])
        elif rule and not rule.allows(value):
            found += refusals(where, value, [rule.allowed])
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            found += problems(value, where)
    return found


def refusals(where: str, value: Any, lines: list[str]) -> list[str]:
    """Each of `lines` (what a rule says of `value`, such as a production floor) as a refusal of the
    argument `where`, in the form every refusal takes: `<where> = <value>: <line>`."""
    return [f"{where} = {value!r}: {line}" for line in lines]


def refused_by(rule: Rule) -> Callable[[Any], str | None]:
    """A check for resolved(): what `rule` allows, when it refuses a value."""
    return lambda value: None if rule.allows(value) else rule.allowed


def resolved(what: str, where: str, value: pulumi.Input[T], check: Callable[[T], str | None]) -> pulumi.Output[T]:
    """`value` once known, refused (failing the update with UnsafeConfiguration, before the
    resources that take it are created) when `check` finds a problem: the same line a known value
    gets at construction. `what` names the component, as refusals do (`service web`)."""

    def checked(known: T) -> T:
        if known is not None and (problem := check(known)):
            raise UnsafeConfiguration(what, refusals(where, known, [problem]))
        return known

    return pulumi.Output.from_input(value).apply(checked)


def _options_class(declared: dataclasses.Field) -> type | None:
    """The options class a field holds when its type is that class and its default one of them
    (`release: EcsRelease = field(default_factory=EcsRelease)`): a value of another kind cannot
    stand in for it. A field typed as a union of classes is left to its component."""
    factory = declared.default_factory
    if not (isinstance(factory, type) and dataclasses.is_dataclass(factory)):
        default = declared.default
        factory = type(default) if dataclasses.is_dataclass(default) and not isinstance(default, type) else None
    return factory if factory and _spelled(declared.type) == factory.__name__ else None


def _spelled(declared: Any) -> str:
    """A field's type as `from __future__ import annotations` spells it (`int | None`)."""
    if isinstance(declared, str):
        return declared
    return declared.__name__ if isinstance(declared, type) else str(declared)


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _unit(unit: str) -> str:
    return f" {unit}" if unit else ""


def _why(why: str) -> str:
    return f" ({why})" if why else ""


def documented_fields(args_class: type) -> dict[str, str]:
    """The fields an Args class's docstring documents, under its `Attributes:` section (Google
    style, which `help()` and editors show), each `name: what it is. Default: value, and why.`
    and its continuation lines, indented deeper."""
    section = re.search(r"^( *)Attributes:\s*$\n(.*)", args_class.__doc__ or "", re.MULTILINE | re.DOTALL)
    if not section:
        return {}
    entries: dict[str, str] = {}
    entry_indent = None
    for line in section.group(2).splitlines():
        indent = len(line) - len(line.lstrip())
        if not line.strip():
            continue
        if indent <= len(section.group(1)):
            break  # the next section
        entry_indent = entry_indent or indent
        if indent == entry_indent and (entry := re.match(r"\s*(\w+):\s*(.*)$", line)):
            entries[entry.group(1)] = entry.group(2).strip()
        elif entries:
            last = next(reversed(entries))
            entries[last] = f"{entries[last]} {line.strip()}".strip()
    return entries
