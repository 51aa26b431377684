"""Time for hooks: deadlines on the monotonic clock, and work that is given up at its deadline.

A Python thread cannot be killed, so work that outlives its deadline is abandoned on a daemon
thread, and the deadline itself refuses what such work would do next: every call starts only while
the deadline leaves time (`check`, `seconds_for`), and an HTTP request gets no more than that time.
What a hook does because a check passed (log "passed", write a record) is done by the runner,
never by the check.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")
# A call ends this much before its check's deadline, so that the check reports what the call ran
# into (an endpoint that never answered, named) rather than racing the deadline to a vaguer report.
CALL_MARGIN_SECONDS = 0.25
SHORTEST_CALL_SECONDS = 0.01


class HookError(Exception):
    """The release must not go on: a check failed, ran out of time, or the hook is misconfigured."""


class Clock:
    """Monotonic time and sleeping, in one place (`timing.clock`, read at each use), so a test can
    play minutes of watching quickly."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))


clock = Clock()


class Deadline:
    """A moment on the monotonic clock (None: no deadline of our own, as in a local run without a
    Lambda context), and what is being waited for until then, so a cut-off can say what was slow."""

    def __init__(self, at: float | None, waiting: Counter[str] | None = None, lock: threading.Lock | None = None):
        self.at = at
        self._lock = lock or threading.Lock()
        self._waiting: Counter[str] = Counter() if waiting is None else waiting

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(clock.now() + seconds)

    @classmethod
    def of_invocation(cls, context: Any) -> Deadline:
        """When Lambda ends this invocation."""
        if context is None or not hasattr(context, "get_remaining_time_in_millis"):
            return cls(None)
        return cls.after(context.get_remaining_time_in_millis() / 1000)

    @property
    def bounded(self) -> bool:
        return self.at is not None

    def remaining(self) -> float:
        return math.inf if self.at is None else self.at - clock.now()

    def less(self, seconds: float) -> Deadline:
        """The deadline `seconds` earlier, waiting for the same things."""
        return Deadline(None if self.at is None else self.at - seconds, self._waiting, self._lock)

    def check(self, what: str) -> None:
        """A HookError unless there is time left to start `what`."""
        if self.remaining() <= 0:
            raise HookError(f"{what}: not started, no time left")

    def seconds_for(self, what: str, wanted: float) -> float:
        """`wanted` seconds for `what`, cut to end a margin before the deadline; HookError when no
        time is left."""
        self.check(what)
        return min(wanted, max(self.remaining() - CALL_MARGIN_SECONDS, SHORTEST_CALL_SECONDS))

    @contextmanager
    def waiting_for(self, what: str) -> Iterator[None]:
        with self._lock:
            self._waiting[what] += 1
        try:
            yield
        finally:
            with self._lock:
                self._waiting[what] -= 1

    def waited_for(self) -> list[str]:
        with self._lock:
            return sorted(what for what, count in self._waiting.items() if count > 0)


def run_within(deadline: Deadline, what: str, work: Callable[[], T]) -> T:
    """`work()`'s result, or a HookError naming what it was still waiting for when `deadline`
    passed. Work still running then is abandoned (see the module docstring)."""
    budget = deadline.remaining()
    if budget <= 0:
        raise HookError(f"no time left for {what}")
    if math.isinf(budget):
        return work()
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = work()
        except BaseException as error:  # handed to the waiting thread, which decides
            outcome["error"] = error

    thread = threading.Thread(target=run, name=what, daemon=True)
    thread.start()
    thread.join(budget)
    if thread.is_alive():
        waiting = deadline.waited_for()
        raise HookError(
            f"{what} did not finish within the {budget:.1f}s it had"
            + (f"; still waiting for {', '.join(waiting)}" if waiting else "")
        )
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]
