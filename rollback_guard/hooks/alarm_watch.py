"""Keep watching the rollback alarms after the last traffic shift.

CodeDeploy watches a deployment group's alarms only while the deployment runs, and a Lambda
deployment ends at its last traffic step. An alarm needs its datapoints plus CloudWatch's delay, so
a version that goes bad late in the shift would complete. The post-traffic hook therefore polls the
alarms for a while after the last shift and fails if one fires: a failed hook rolls back.

ALARM fails the watch; OK and INSUFFICIENT_DATA do not (the alarms treat missing data as not
breaching, so INSUFFICIENT_DATA means a new alarm, not a bad version), as CodeDeploy itself treats
them. A missing alarm, or alarms that cannot be read, fail it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from rollback_guard.hooks import aws, timing
from rollback_guard.hooks.logs import log
from rollback_guard.hooks.timing import Deadline, HookError

POLL_SECONDS = 15
# Alarms that cannot be read for this long are not being watched: the release does not go on. Less
# than the minute between two evaluations, so an alarm that went to ALARM (and stays there until
# the next evaluation at least) cannot pass unseen between two reads.
UNREADABLE_SECONDS = 45
# DescribeAlarms takes at most 100 names; a deployment group has at most 10 alarms.
MAX_ALARMS = 100


@dataclass(frozen=True)
class AlarmWatch:
    alarm_names: tuple[str, ...]
    seconds: float
    # Also asked at every poll, after the alarms (the post-traffic hook asks the canary judge): a
    # HookError fails the watch, a transient AwsCallFailed is retried as a failed alarm read is.
    also: Callable[[Deadline], None] | None = None

    def __post_init__(self) -> None:
        if self.seconds > 0 and not self.alarm_names:
            raise HookError("a watch needs at least one alarm to watch (ROLLBACK_ALARMS is empty)")

    def run(self, deadline: Deadline) -> int:
        """Polls every POLL_SECONDS until `seconds` have passed, the last poll at the end: a
        HookError when an alarm is in ALARM or missing, or when the alarms could not be read for
        UNREADABLE_SECONDS (a watch passes only on a read made once its time is up). Returns the
        number of polls that read the alarms."""
        if not self.alarm_names:
            return 0
        started = last_read = timing.clock.now()
        polls = 0
        while True:
            deadline.check(f"watching {', '.join(self.alarm_names)}")
            try:
                self._check_states(deadline, timing.clock.now() - started)
                if self.also:
                    self.also(deadline)
            except aws.AwsCallFailed as error:
                if not error.transient or timing.clock.now() - last_read >= UNREADABLE_SECONDS:
                    raise HookError(f"the rollback alarms cannot be watched: {error}") from error
                log(logging.WARNING, "alarm poll failed; retrying", error=str(error))
            else:
                last_read, polls = timing.clock.now(), polls + 1
                if last_read >= started + self.seconds:
                    return polls
            left = started + self.seconds - timing.clock.now()
            pause = min(POLL_SECONDS, left) if left > 0 else POLL_SECONDS
            with deadline.waiting_for(f"the next read of {', '.join(self.alarm_names)}"):
                timing.clock.sleep(min(pause, max(0.0, deadline.remaining())))

    def _check_states(self, deadline: Deadline, watched: float) -> None:
        cloudwatch = aws.client("cloudwatch")
        alarms = aws.call(
            deadline,
            f"cloudwatch DescribeAlarms {', '.join(self.alarm_names)}",
            cloudwatch.describe_alarms,
            AlarmNames=list(self.alarm_names),
            MaxRecords=MAX_ALARMS,
        )["MetricAlarms"]
        found = {alarm["AlarmName"]: alarm for alarm in alarms}
        missing = [name for name in self.alarm_names if name not in found]
        if missing:
            raise HookError(f"rollback alarm(s) {', '.join(missing)} not found: a deleted alarm cannot stop a release")
        for name in self.alarm_names:
            if found[name]["StateValue"] == "ALARM":
                raise HookError(
                    f"rollback alarm {name} is in ALARM {watched:.0f}s after the last traffic shift: "
                    f"{found[name].get('StateReason', 'no reason given')}"
                )
