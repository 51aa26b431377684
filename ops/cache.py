"""`ops plan`'s results, kept so that the same plan on the same inputs is printed again at once
instead of rebuilding the stack under mocks and rerunning the detection model (seconds).

Where: `$ROLLBACK_GUARD_CACHE_DIR` if set, else `$XDG_CACHE_HOME/rollback-guard/plan`
(`~/.cache/rollback-guard/plan` by default): outside the repository, one JSON file per key, the
newest `KEEP` kept.

The key is a SHA-256 over everything the output depends on (`key`):
- the arguments that shape the output: the command, the stack, --json, --png;
- the relative path and bytes of every project file a plan reads (`inputs`): Pulumi.yaml and every
  Pulumi.*.yaml, settings.py, program.py, every file of ops/ and of rollback_guard/ (source and
  package data, the detection model and the judge included), functions/ and each folder a stack
  file names as a `codePath`;
- the interpreter (its version and sys.path) and every installed distribution's name and version
  (the names of the .dist-info / .egg-info folders on sys.path: pulumi, pulumi-aws, numpy,
  matplotlib, pydantic and the rest);
- the environment variables those libraries read that could change a result (PULUMI_*, MPL*,
  MATPLOTLIB*, NPY_*, PYTHON*; none naming a secret) and matplotlib's rc files.

An entry holds what the run wrote on stdout and stderr and the timeline PNG; a hit writes the same
PNG and prints the same bytes. Only a run that exits 0 is stored, and only when the key computed
after it is still the one computed before it (a file edited while the plan ran is not stored
under its old key). A cache that cannot be read or written is no cache: the plan is computed.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Bump when an entry's layout or what the key covers changes.
FORMAT = 1
KEEP = 64
CACHE_DIR_VARIABLE = "ROLLBACK_GUARD_CACHE_DIR"
ENVIRONMENT_PREFIXES = ("PULUMI_", "MPL", "MATPLOTLIB", "NPY_", "PYTHON")
NEVER_HASHED = ("PASSPHRASE", "TOKEN", "SECRET", "PASSWORD")
SOURCE_FILES = ("Pulumi.yaml", "settings.py", "program.py")
SOURCE_TREES = ("ops", "rollback_guard", "functions")
SKIPPED_PARTS = frozenset({"__pycache__"})
SKIPPED_SUFFIXES = (".pyc", ".pyo")


def default_dir() -> Path:
    explicit = os.environ.get(CACHE_DIR_VARIABLE)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "rollback-guard" / "plan"


@dataclass(frozen=True)
class Entry:
    out: str
    err: str
    timeline: str  # where the PNG was written, as the command line gave it
    png: bytes

    def replay(self, out, err) -> None:
        Path(self.timeline).write_bytes(self.png)
        err.write(self.err)
        out.write(self.out)


def key(arguments: dict[str, Any], root: Path = ROOT) -> str:
    digest = hashlib.sha256()

    def feed(label: str, data: bytes) -> None:
        label_bytes = label.encode()
        digest.update(len(label_bytes).to_bytes(8, "big") + label_bytes + len(data).to_bytes(8, "big") + data)

    feed("format", str(FORMAT).encode())
    feed("arguments", json.dumps(arguments, sort_keys=True, default=str).encode())
    for path in inputs(root):
        feed(f"file:{path.relative_to(root).as_posix()}", path.read_bytes())
    feed("python", f"{sys.version}|{sys.implementation.cache_tag}".encode())
    feed("sys.path", json.dumps(sys.path).encode())
    feed("distributions", "\n".join(_distributions()).encode())
    for name in sorted(os.environ):
        if name.startswith(ENVIRONMENT_PREFIXES) and not any(word in name for word in NEVER_HASHED):
            feed(f"env:{name}", os.environ[name].encode())
    for rc in _matplotlib_rc_files():
        feed(f"rc:{rc}", rc.read_bytes())
    return digest.hexdigest()


def key_or_none(arguments: dict[str, Any]) -> str | None:
    """The key, or None (no caching) when an input cannot be read: the plan says why, not the cache."""
    try:
        return key(arguments)
    except OSError:
        return None


def inputs(root: Path = ROOT) -> list[Path]:
    """Every project file a plan's output depends on, sorted."""
    found = {root / name for name in SOURCE_FILES}
    stack_files = set(root.glob("Pulumi.*.yaml"))
    found |= stack_files
    trees = [root / name for name in SOURCE_TREES] + _code_folders(root, stack_files)
    for tree in trees:
        found |= set(_files_under(tree))
    return sorted(path for path in found if path.is_file())


def load(directory: Path, entry_key: str) -> Entry | None:
    path = directory / f"{entry_key}.json"
    try:
        document = json.loads(path.read_text())
        if document.get("format") != FORMAT:
            return None
        entry = Entry(document["out"], document["err"], document["timeline"], base64.b64decode(document["png"]))
        os.utime(path)  # the newest are kept
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return entry


def store(directory: Path, entry_key: str, entry: Entry) -> None:
    document = {
        "format": FORMAT,
        "out": entry.out,
        "err": entry.err,
        "timeline": entry.timeline,
        "png": base64.b64encode(entry.png).decode(),
    }
    with contextlib.suppress(OSError):  # read-only or full: the next run computes again
        directory.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(handle, "w") as file:
                json.dump(document, file)
            os.replace(temporary, directory / f"{entry_key}.json")  # atomic: readers see all or nothing
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        _prune(directory)


def _prune(directory: Path) -> None:
    entries = sorted(directory.glob("*.json"), key=lambda path: path.stat().st_mtime_ns, reverse=True)
    for stale in entries[KEEP:]:
        with contextlib.suppress(OSError):
            stale.unlink()


def _files_under(tree: Path) -> Iterator[Path]:
    if not tree.is_dir():
        return
    for path in tree.rglob("*"):
        if SKIPPED_PARTS.isdisjoint(path.parts) and not path.name.endswith(SKIPPED_SUFFIXES):
            yield path


def _code_folders(root: Path, stack_files: set[Path]) -> list[Path]:
    """The folders the stack files name as a function's code (`codePath`), inside the project."""
    import yaml

    folders = []
    for stack_file in stack_files:
        try:
            document = yaml.load(stack_file.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except yaml.YAMLError:
            continue  # the plan fails on it, and a failing plan is not stored
        for value in _values_of(document, ("codePath", "code_path")):
            folder = (root / str(value)).resolve()
            if folder.is_relative_to(root):
                folders.append(folder)
    return folders


def _values_of(document: Any, names: tuple[str, ...]) -> Iterator[Any]:
    if isinstance(document, dict):
        for name, value in document.items():
            if name in names:
                yield value
            yield from _values_of(value, names)
    elif isinstance(document, list):
        for item in document:
            yield from _values_of(item, names)


def _distributions() -> list[str]:
    """`name-version.dist-info` of everything importable: what is installed, at which version."""
    found = []
    for entry in sys.path:
        with contextlib.suppress(OSError):
            found += [
                f"{entry}/{name}" for name in os.listdir(entry or ".") if name.endswith((".dist-info", ".egg-info"))
            ]
    return sorted(found)


def _matplotlib_rc_files() -> list[Path]:
    """The matplotlibrc files matplotlib would read (it uses the first): they change the PNG."""
    candidates = [Path.cwd() / "matplotlibrc"]
    if os.environ.get("MATPLOTLIBRC"):
        given = Path(os.environ["MATPLOTLIBRC"])
        candidates += [given, given / "matplotlibrc"]
    config = os.environ.get("MPLCONFIGDIR") or Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / (
        "matplotlib"
    )
    candidates.append(Path(config) / "matplotlibrc")
    return [candidate for candidate in candidates if candidate.is_file()]
