"""This project's stacks under the mock engine (rollback_guard.testing), from their real
Pulumi.<stack>.yaml, with no AWS account and no Pulumi CLI. `ops plan` and the tests use it.

`build_stack("prod", services={"web": {"desiredCount": 1}})` overlays keys on the stack file (None
removes one), so a test states exactly what it changes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import yaml

import program
from rollback_guard.components.delivery import DeliveryPipeline
from rollback_guard.testing import Built, FakeAws, run
from settings import PROJECT, load_settings

ROOT = Path(__file__).resolve().parent.parent


def stack_config(stack: str) -> dict[str, Any]:
    """The stack file's config, keyed `project:key`."""
    document = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())
    return dict(document["config"])


def overlaid_config(stack: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """The stack's config, overlaid key by key with `overrides`: objects merge at every depth, None
    removes a key."""
    config = stack_config(stack)
    for key, value in overrides.items():
        full_key = key if ":" in key else f"{PROJECT}:{key}"
        merged = _overlaid(config.get(full_key), value)
        if merged is None:
            config.pop(full_key, None)
        else:
            config[full_key] = merged
    return config


def _overlaid(current: Any, value: Any) -> Any:
    if isinstance(current, dict) and isinstance(value, dict):
        merged = {**current}
        for key, override in value.items():
            merged[key] = _overlaid(current.get(key), override)
        return {key: item for key, item in merged.items() if item is not None}
    return value


def use_config(stack: str, overrides: dict[str, Any]) -> None:
    """Makes `stack` the current stack, with its config overlaid, for a `load_settings()` outside
    `build_stack`."""
    pulumi.runtime.set_mocks(FakeAws(), project=PROJECT, stack=stack)
    pulumi.runtime.set_all_config(
        {
            key: json.dumps(value) if isinstance(value, (dict, list)) else str(value)
            for key, value in overlaid_config(stack, overrides).items()
        }
    )


def build_stack(
    stack: str,
    then: Callable[[Any], Any] | None = None,
    mocks: FakeAws | None = None,
    file: str | None = None,
    **overrides: Any,
) -> Built[program.Program | DeliveryPipeline]:
    """The stack built under mocks (`mocks`, FakeAws by default) from Pulumi.<file>.yaml (the stack's
    own by default); returns once every resource is registered (and `then`, given the built program,
    has run: see rollback_guard.testing.run)."""
    return run(
        lambda: program.build(load_settings()),
        project=PROJECT,
        stack=stack,
        config=overlaid_config(file or stack, overrides),
        mocks=mocks,
        then=then,
    )


# Tests and `plan` build the settled stack: every resource registered.
settled_stack = build_stack
