"""The optional dependencies (pyproject's extras): a module one of them provides, imported with an
error that names the extra to install when it is missing."""

from __future__ import annotations

import importlib
from types import ModuleType


def require(module: str, extra: str, needed_for: str) -> ModuleType:
    """`module`, or a ModuleNotFoundError naming `extra`, the command that installs it and what
    needs it. Another module missing inside `module` is not this extra's: it is raised unchanged."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as missing:
        if missing.name != module.split(".")[0]:
            raise
        raise ModuleNotFoundError(
            f"{needed_for} needs {missing.name}, from the `{extra}` extra: pip install 'rollback-guard[{extra}]'",
            name=missing.name,
        ) from missing
