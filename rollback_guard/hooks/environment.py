"""A hook's settings, read from its environment inside the try that ends in a report, so a wrong
value is a Failed status that names the variable, its value and what is allowed."""

from __future__ import annotations

import difflib
import json
import math
import os
import re
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from rollback_guard.hooks.timing import HookError

T = TypeVar("T")


def environment(name: str, parse: Callable[[str], T] = str) -> T:
    """A required environment variable, parsed by `parse` (which raises ValueError saying what is
    allowed)."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        raise HookError(f"environment variable {name} is not set")
    try:
        return parse(raw)
    except (ValueError, TypeError) as error:
        raise HookError(f"environment variable {name} = {_shown(raw)}: {error}") from error


def seconds(high: float, *, zero_allowed: bool = False) -> Callable[[str], float]:
    """A finite number of seconds above 0 (or from 0) and at most `high`."""
    low = "from 0" if zero_allowed else "above 0"

    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and (value >= 0 if zero_allowed else value > 0) and value <= high):
            raise ValueError(f"a number of seconds {low} and at most {high:g}")
        return value

    return parse


def whole_number(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        if not re.fullmatch(r"\d+", raw.strip()) or not low <= int(raw) <= high:
            raise ValueError(f"a whole number from {low} to {high}")
        return int(raw)

    return parse


def matching(pattern: str, rule: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if not re.fullmatch(pattern, raw):
            raise ValueError(rule)
        return raw

    return parse


def json_list(parse_item: Callable[[Any], T], *, at_least: int = 0) -> Callable[[str], list[T]]:
    """A JSON list whose items `parse_item` accepts; its problems name the item."""

    def parse(raw: str) -> list[T]:
        try:
            value = json.loads(raw)
        except ValueError as error:
            raise ValueError(f"not JSON ({error})") from None
        if not isinstance(value, list):
            raise ValueError(f"a JSON list, not {type(value).__name__}")
        if len(value) < at_least:
            raise ValueError(f"a JSON list of at least {at_least} item(s)")
        items = []
        for index, item in enumerate(value):
            try:
                items.append(parse_item(item))
            except (ValueError, TypeError) as error:
                raise ValueError(f"item {index}: {error}") from None
        return items

    return parse


def known_keys(raw: Any, allowed: Iterable[str], what: str) -> dict:
    """`raw` as an object with no keys outside `allowed`, or a ValueError naming the nearest one."""
    allowed = tuple(allowed)
    if not isinstance(raw, dict):
        raise ValueError(f"{what} must be an object with keys {', '.join(allowed)}, not {raw!r}")
    for key in raw:
        if key not in allowed:
            near = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ValueError(f"{what}: unknown key {key!r}{hint}; allowed: {', '.join(allowed)}")
    return raw


def _shown(raw: str) -> str:
    return repr(raw if len(raw) <= 200 else raw[:200] + "…")
