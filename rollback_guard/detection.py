"""One detection model: how long a bad release stays in front of users, simulated.

A Monte Carlo model of a release path (a Lambda alias or an ECS service released by CodeDeploy or
ECS) at a given traffic: Poisson requests split between the versions as the deployment shifts them,
each failing independently at its version's error rate; CloudWatch's one-minute datapoints, each
visible after an ingestion delay; the rollback alarms' metric math (rollback_guard/components/
alarms.py: the new version's guarded error rate for Lambda, the load balancer's and each target
group's guarded 5xx rate for ECS), M of N, evaluated once a minute; CodeDeploy polling them while
the deployment runs, the Lambda post-traffic hook after the last shift, ECS's termination wait; and
the canary judge, whose decisions are rollback_guard/hooks/verdict.py's own code (Evidence,
errors_say_rollback(), probes_say_rollback()), fed the per-version minutes it would read and the probes it
would send. `ops plan`, its PNG, the README's figures, the settings' refusals and `make bench` all
come from here.

Figures from AWS's documentation or from the stack (not assumptions):
- the traffic schedule of each deployment config (CodeDeploy's predefined configs, custom shifts,
  ECS-native canary/linear), the watch after the last shift (watchMinutes, terminationWaitMinutes,
  bakeTimeMinutes), the alarms' threshold, guard, period, M and N: from the stack's settings;
- the traffic: the stack's expectedRequestsPerSecond; the probes: its judge settings;
- one-minute resolution of Lambda and ALB metrics; TreatMissingData notBreaching (alarms.py).

Assumptions AWS does not document (ASSUMPTIONS holds them as data, printed by `ops plan` and
`make bench`):
1. Requests are a Poisson process at a constant rate over the release; each fails independently
   with its version's rate; a bad version fails from its first request. `Conditions` relaxes this
   one thing at a time (ROBUSTNESS_SCENARIOS: errors in bursts, cold starts, drift, a shared
   outage, a traffic ramp, late requests); `make bench` runs every scenario.
2. A deployment starts at a uniformly random point of its clock minute (the first datapoint is a
   partial minute); an alarm period longer than a minute starts with that minute.
3. Ingestion delay: each datapoint becomes visible 60-150 s after its period ends, uniformly and
   independently (alarms.py INGESTION_DELAY_SECONDS, observed, undocumented); an alarm sees a
   datapoint only once every earlier one is visible, the judge (which rebuilds its evidence from
   GetMetricData at every look) as soon as it is.
4. An alarm is evaluated every 60 s at a uniformly random phase, over its N most recent visible
   datapoints (the missing newest ones are skipped, as CloudWatch's evaluation range does); all
   alarms of a group share that phase; datapoints before the deployment count as not breaching.
5. CodeDeploy reads a deployment's alarms every 60 s at a uniformly random phase
   (codedeploy.py ALARM_POLL_SECONDS, undocumented) while the deployment runs: for Lambda until the
   last traffic step, then the post-traffic hook reads them every POLL_SECONDS (15 s,
   hooks/alarm_watch.py) for watchMinutes; for ECS through the termination wait (or bake time).
6. Only error-rate alarms are modelled: the bad version's hosts stay healthy (no unhealthy-host
   alarm), its latency is normal, and it answers with target 5xx (no ELB 5xx).
7. Rollback durations (ROLLBACK_SECONDS): CodeDeploy flips a Lambda alias back in 10 s and reroutes
   an ALB to blue in 60 s; ECS restarts a rolling service's old tasks in 180 s. Estimates, not
   measurements. The share on the new version stops growing at the decision.
8. The judge (hooks/judge.py) starts 0-10 s after the first traffic shift (an EventBridge rule on
   the deployment's START event, JUDGE_START_SECONDS; in AWS it starts before the shift, so this is
   conservative), looks at once and then every JUDGE_LOOK_SECONDS (judge.py LOOK_SECONDS) until
   the deployment ends (watch and termination wait included), and judges the settled per-version
   minutes (visible after the alarms' ingestion delay and ended verdict.py SETTLE_SECONDS ago; a
   minute whose requests come later than that counts with half of them), with the old version's
   HISTORY_MINUTES before the release for the over-dispersion. With the application's 10 s counts
   (PathModel.release_metrics), the same requests split into 10 s buckets are judged too, each
   bucket RELEASE_SETTLE_SECONDS after its end (assumed), each stream on half the budget. A bad
   verdict rolls back at once (StopDeployment's own latency ignored). Only CodeDeploy paths have a
   judge.
9. Probes: the path's smoke checks sent to the new version at probes_per_second from the judge's
   start until the deployment ends or max_probes_per_release, each answered at once; a probe fails
   with the new version's error rate when the failure is one the probes exercise, otherwise (and
   for a healthy release) with the baseline rate, never 0. Lambda probes invoke the version, outside
   the alias's metrics. ECS probes go through the test listener to green's target group, whose
   metrics count them: the judge takes the probes it sent and their failures out of green's
   minutes again, so it sees the real traffic; the alarms take out the probes (which the judge
   counts in a metric of its own) but keep their failures (the "static" and "judge" detectors are
   a stack without probes, so without them).
10. Time to restore runs from the deployment's first traffic shift (the bad version's first
   request) to the end of the rollback; exposure is the new version's share when traffic is
   restored (100% for a miss); errors served count the new version's failed requests until then
   (rolled-back runs only); a miss is a deployment that ends, watch included, without a rollback.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from rollback_guard.components.alarms import EVALUATION_INTERVAL_SECONDS, INGESTION_DELAY_SECONDS
from rollback_guard.components.codedeploy import ALARM_POLL_SECONDS
from rollback_guard.extras import require
from rollback_guard.hooks.alarm_watch import POLL_SECONDS as HOOK_POLL_SECONDS
from rollback_guard.hooks.judge import HISTORY_MINUTES, RELEASE_SETTLE_SECONDS
from rollback_guard.hooks.judge import LOOK_SECONDS as JUDGE_LOOK_SECONDS_IN_AWS
from rollback_guard.hooks.release_series import PERIOD_SECONDS as FINE_SECONDS
from rollback_guard.hooks.verdict import FALSE_ROLLBACK_BUDGET, SETTLE_SECONDS, Dispersion, Evidence, Minute

# numpy is the `model` extra's: the rest of the library does without it.
np = require("numpy", "model", "the detection model (rollback_guard.detection)")

# How long putting traffic back takes once a rollback is decided (assumption 7).
ROLLBACK_SECONDS = {
    "codedeploy-blue-green": 60,  # CodeDeploy reroutes the listeners to blue, still running
    "ecs-blue-green": 60,  # ECS restores the listener rule weights to blue
    "ecs-canary": 60,
    "ecs-linear": 60,
    "rolling": 180,  # ECS must start tasks of the previous revision again
    "lambda-canary": 10,  # CodeDeploy flips the alias back
}
# The canary judge's cadence (assumption 8).
JUDGE_LOOK_SECONDS = JUDGE_LOOK_SECONDS_IN_AWS
JUDGE_START_SECONDS = (0, 10)
# Paths whose deployment the judge can stop (StopDeployment is CodeDeploy's).
JUDGED_STRATEGIES = frozenset({"codedeploy-blue-green", "lambda-canary"})
MINUTE = 60
# Minutes carry epoch seconds for the judge's explanations: the model's clock starts here.
_EPOCH = 1_767_225_600.0  # 2026-01-01T00:00:00Z

# (seconds after the release starts, percent of traffic on the new version from then on)
Schedule = Sequence[tuple[int, float]]
Detector = Literal["static", "judge", "judge+probes", "all"]
DETECTORS: tuple[Detector, ...] = ("static", "judge", "judge+probes", "all")


@dataclass(frozen=True)
class Conditions:
    """What real traffic does beyond assumption 1 (Poisson requests, each failing independently at a
    constant rate): the robustness scenarios of `make bench`. The default is assumption 1 itself."""

    name: str = "independent errors"
    # Each version's errors per minute have this variance over their mean (negative binomial:
    # errors in bursts), independently of the other version's.
    dispersion: float = 1.0
    # Extra errors (Poisson, this mean) in the new version's first minute of traffic: cold starts.
    cold_start_errors: float = 0.0
    # Both versions' error rates times this at the release's start and at its end (watch included),
    # linearly in between: a dependency drifting. `new_drift`: the new version's alone, at the end.
    drift: tuple[float, float] = (1.0, 1.0)
    new_drift: float = 1.0
    # A shared dependency's outage: for one minute, at a uniformly random minute of the release
    # (watch included), both versions fail at least this share of their requests.
    outage: float = 0.0
    # Traffic times this at the release's start and at its end, linearly in between.
    ramp: tuple[float, float] = (1.0, 1.0)
    # A minute's requests are ingested up to this many seconds (uniformly) after its errors; the
    # judge counts a minute with what it has of it once the minute has settled (SETTLE_SECONDS).
    late_requests_seconds: float = 0.0

    def rate(self, base: float, when: np.ndarray, new: bool) -> np.ndarray:
        """Error rates at `when` (the share of the release gone, 0 to 1)."""
        start, end = self.drift
        level = start + (end - start) * when
        if new:
            level = level * (1 + (self.new_drift - 1) * when)
        return np.clip(base * level, 0.0, 1.0)

    def traffic(self, when: np.ndarray) -> np.ndarray:
        return self.ramp[0] + (self.ramp[1] - self.ramp[0]) * when

    def errors(self, rng: np.random.Generator, requests: np.ndarray, rate: np.ndarray) -> np.ndarray:
        if self.dispersion <= 1:
            return rng.binomial(requests, rate)
        mean = requests * rate
        excess = self.dispersion - 1
        bursts = rng.gamma(np.where(mean > 0, mean / excess, 1.0), excess)
        return np.minimum(requests, rng.poisson(np.where(mean > 0, bursts, 0.0)))


INDEPENDENT = Conditions()
# What real traffic does, one thing at a time and two together: `make bench` (benchmarks/
# robustness.py) measures the judge's false rollbacks and detection under each.
ROBUSTNESS_SCENARIOS: tuple[Conditions, ...] = (
    INDEPENDENT,
    Conditions("errors in bursts, variance 3x the mean", dispersion=3.0),
    Conditions("errors in bursts, variance 10x the mean", dispersion=10.0),
    Conditions("cold starts: 2 errors in the new version's first minute", cold_start_errors=2.0),
    Conditions("cold starts and bursts 3x", dispersion=3.0, cold_start_errors=2.0),
    Conditions("a shared dependency drifts: both versions' errors x1 to x2", drift=(1.0, 2.0)),
    Conditions("the new version drifts within tolerance: x1 to x1.2", new_drift=1.2),
    Conditions("a one-minute shared outage: both versions fail 10%", outage=0.1),
    Conditions("traffic ramps from half to twice the declared rate", ramp=(0.5, 2.0)),
    Conditions("requests ingested up to 60 s after their errors", late_requests_seconds=60.0),
)


@dataclass(frozen=True)
class Assumption:
    what: str
    value: str
    source: str

    def line(self) -> str:
        return f"{self.what}: {self.value} ({self.source})"


ASSUMPTIONS: tuple[Assumption, ...] = (
    Assumption("traffic", "Poisson at the stack's expectedRequestsPerSecond, constant", "the stack file; assumed"),
    Assumption("errors", "each request fails independently at its version's rate, from the first", "assumed"),
    Assumption("deployment start", "uniform within its clock minute (a partial first datapoint)", "assumed"),
    Assumption(
        "ingestion delay",
        f"uniform {INGESTION_DELAY_SECONDS[0]}-{INGESTION_DELAY_SECONDS[1]} s per datapoint, independently; "
        "alarms see them in order",
        "observed, undocumented: alarms.py INGESTION_DELAY_SECONDS",
    ),
    Assumption(
        "alarm evaluation",
        f"every {EVALUATION_INTERVAL_SECONDS} s at a random phase, over the N newest visible datapoints",
        "undocumented: alarms.py EVALUATION_INTERVAL_SECONDS",
    ),
    Assumption(
        "CodeDeploy alarm polling",
        f"every {ALARM_POLL_SECONDS} s at a random phase while the deployment runs",
        "undocumented: codedeploy.py ALARM_POLL_SECONDS",
    ),
    Assumption(
        "Lambda post-traffic watch",
        f"the hook reads the alarms every {HOOK_POLL_SECONDS} s for watchMinutes after the last shift",
        "hooks/alarm_watch.py POLL_SECONDS",
    ),
    Assumption("alarms modelled", "error rates only: hosts healthy, latency normal, no ELB 5xx", "assumed"),
    Assumption(
        "ECS rolling update",
        "every task replaced at once; ECS keeps watching its alarms for their worst detection time after",
        "ECS computes this bake time from the alarms, without a published formula: assumed",
    ),
    Assumption(
        "rollback",
        "Lambda 10 s, ALB reroute 60 s, rolling 180 s; the share stops growing at the decision",
        "estimates: rollback_guard/detection.py ROLLBACK_SECONDS",
    ),
    Assumption(
        "judge",
        f"starts {JUDGE_START_SECONDS[0]}-{JUDGE_START_SECONDS[1]} s after the first shift, looks every "
        f"{JUDGE_LOOK_SECONDS} s until the deployment ends, over minutes settled {SETTLE_SECONDS} s after their "
        f"end; application 10 s counts readable {RELEASE_SETTLE_SECONDS} s after their bucket; CodeDeploy paths only",
        "hooks/judge.py LOOK_SECONDS; start assumed; decisions: hooks/verdict.py",
    ),
    Assumption(
        "probes",
        "the judge's probes_per_second from its start; fail at the new version's rate if they exercise the "
        "failure, else at the baseline rate; ECS probes count in green's target-group metrics (the judge takes "
        "them out again, the alarms all but their failures), Lambda's not",
        "the stack's judge settings; assumed",
    ),
    Assumption(
        "figures",
        "restore from the first traffic shift; exposure = share at restore (100% if missed); errors served "
        "over rolled-back runs; miss = the deployment and its watch end without a rollback",
        "definitions",
    ),
)


# --- the traffic schedule of a deployment


def share_at(schedule: Schedule, seconds: float) -> float:
    """The share of traffic on the new version `seconds` after the release started."""
    return max((share for start, share in schedule if start <= seconds), default=0.0)


def codedeploy_schedule(config: Any) -> Schedule:
    """A predefined config's name (CodeDeployDefault.ECSLinear10PercentEvery1Minutes) or a custom
    shift (rollback_guard.components.codedeploy.TimeBasedShift)."""
    if not isinstance(config, str):
        kind, percentage, interval = config.kind, config.percentage, config.interval_minutes
    elif "AllAtOnce" in config:
        return [(0, 100.0)]
    else:
        kind = "linear" if "Linear" in config else "canary"
        numbers = [int(n) for n in "".join(c if c.isdigit() else " " for c in config).split()]
        percentage, interval = numbers[0], numbers[1]
    if kind == "canary":
        return [(0, float(percentage)), (interval * 60, 100.0)]
    return _linear(percentage, interval * 60)


def ecs_schedule(deployment: Any) -> Schedule:
    """The schedule of a service's `deployment` settings (settings.DeploymentSettings)."""
    name = deployment.strategy_name
    if name == "codedeploy-blue-green":
        return codedeploy_schedule(deployment.config)
    if name == "ecs-canary":
        return [(0, float(deployment.canary_percent)), (deployment.canary_bake_minutes * 60, 100.0)]
    if name == "ecs-linear":
        return _linear(deployment.step_percent, deployment.step_bake_minutes * 60)
    return [(0, 100.0)]  # rolling (every task replaced within the first minutes), ecs-blue-green


def ecs_watch_seconds(service: Any) -> int:
    """How long the alarms still roll back after the last shift. A rolling update's bake time is
    ECS's to choose "based on the alarm configuration" (its documentation gives no formula):
    assumed here to be long enough for the alarms to fire, their worst detection time."""
    deployment, alarms = service.deployment, service.alarms
    name = deployment.strategy_name
    if name == "codedeploy-blue-green":
        return deployment.termination_wait_minutes * 60
    if name == "rolling":
        return alarms.evaluation.worst_detection_seconds
    return deployment.bake_time_minutes * 60


def _linear(step_percent: float, step_seconds: int) -> Schedule:
    steps = math.ceil(100 / step_percent)
    return [(step * step_seconds, float(min(100, (step + 1) * step_percent))) for step in range(steps)]


# --- a release path


@dataclass(frozen=True)
class PathModel:
    """What the model needs of one release path. `requests_per_second` is the traffic the stack
    declares (overall, both versions); the judge's probes come from its settings."""

    name: str
    kind: Literal["lambda", "ecs"]
    strategy: str  # a ROLLBACK_SECONDS key
    config: str  # what the stack file says: a CodeDeploy config name, or the ECS strategy's shape
    schedule: Schedule  # kept as a tuple, so a path can be a cache key
    watch_seconds: int  # after the last shift
    threshold_percent: float
    guard: int
    period_seconds: int = 60
    evaluation_periods: int = 3
    datapoints_to_alarm: int = 3
    requests_per_second: float | None = None
    probes_per_second: float = 2.0
    max_probes: int = 5000
    # The application publishes its own 10 s counts (rollback_guard.release_metrics), which the
    # judge reads beside the standard minutes, each with half the budget (Lambda only).
    release_metrics: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "schedule", tuple((int(start), float(share)) for start, share in self.schedule))

    @classmethod
    def from_function(cls, function: Any) -> PathModel:
        """From settings.FunctionSettings (`expected_requests_per_second` and `judge` required)."""
        alarms = function.alarms
        config = function.deployment_config
        return cls(
            name=function.name,
            kind="lambda",
            strategy="lambda-canary",
            config=_config_text(config),
            schedule=codedeploy_schedule(config),
            watch_seconds=function.watch_minutes * 60,
            guard=alarms.minimum_invocations,
            release_metrics=function.release_metrics,
            **_from_alarms_traffic_and_judge(function),
        )

    @classmethod
    def from_service(cls, service: Any) -> PathModel:
        """From settings.ServiceSettings (`expected_requests_per_second` and `judge` required)."""
        alarms, deployment = service.alarms, service.deployment
        name = deployment.strategy_name
        if name == "codedeploy-blue-green":
            config = _config_text(deployment.config)
        elif name == "ecs-canary":
            config = f"ecs-canary {deployment.canary_percent:g}% for {deployment.canary_bake_minutes} min"
        elif name == "ecs-linear":
            config = f"ecs-linear {deployment.step_percent:g}% every {deployment.step_bake_minutes} min"
        else:
            config = name
        return cls(
            name=service.name,
            kind="ecs",
            strategy=name,
            config=config,
            schedule=ecs_schedule(deployment),
            watch_seconds=ecs_watch_seconds(service),
            guard=alarms.minimum_requests,
            **_from_alarms_traffic_and_judge(service),
        )

    @property
    def last_shift_seconds(self) -> int:
        return self.schedule[-1][0]

    @property
    def rollback_seconds(self) -> int:
        return ROLLBACK_SECONDS[self.strategy]

    @property
    def judged(self) -> bool:
        return self.strategy in JUDGED_STRATEGIES

    @property
    def shape(self) -> str:
        """linear, canary or all at once, from the schedule."""
        if len(self.schedule) == 1:
            return "all-at-once"
        return "canary" if len(self.schedule) == 2 and self.schedule[0][1] < 100 else "linear"

    @property
    def label(self) -> str:
        """How a sentence names it: "Lambda canary (CodeDeployDefault.LambdaCanary10Percent5Minutes)"."""
        kind = "Lambda" if self.kind == "lambda" else "ECS"
        shape = "rolling update" if self.strategy == "rolling" else self.shape
        return f"{kind} {shape} ({self.config})"


def _from_alarms_traffic_and_judge(section: Any) -> dict[str, Any]:
    """What a service's or a function's model takes alike from its settings."""
    alarms, judge = section.alarms, section.judge
    return {
        "threshold_percent": alarms.error_rate_percent,
        "period_seconds": alarms.period_seconds,
        "evaluation_periods": alarms.evaluation_periods,
        "datapoints_to_alarm": alarms.datapoints_to_alarm,
        "requests_per_second": section.expected_requests_per_second,
        "probes_per_second": judge.probes_per_second,
        "max_probes": judge.max_probes_per_release,
    }


def _config_text(config: Any) -> str:
    if isinstance(config, str):
        return config
    return f"{config.kind} {config.percentage}% every {config.interval_minutes} min"


# --- outcomes


@dataclass(frozen=True)
class Outcome:
    """One detector over `runs` releases. Times in seconds from the first bad request; restore
    figures over the rolled-back runs; exposure in percent of traffic over all runs (100 for a
    miss). `miss_rate` is for a bad version, `false_rollback_rate` for a healthy one (new error =
    baseline); the other is None. `floor_*`: the first bad request's minute made visible, plus the
    rollback, the best any reader of one-minute metrics could do (bad versions only)."""

    detector: str
    runs: int
    rollbacks: int
    restore_median_s: float | None
    restore_p95_s: float | None
    miss_rate: float | None
    false_rollback_rate: float | None
    exposure_median_percent: float
    exposure_p95_percent: float
    errors_served_median: float | None
    errors_served_p95: float | None
    # The share of all requests from the start to the restore that the new version served.
    served_share_median_percent: float | None
    floor_median_s: float | None = None
    floor_p95_s: float | None = None
    # Every run's time to restore (inf for a miss), for pictures; left out of as_dict.
    restore_samples: tuple[float, ...] = field(default=(), repr=False, compare=False)

    def as_dict(self) -> dict:
        return {key: _rounded(value) for key, value in asdict(self).items() if key != "restore_samples"}


def _rounded(value: Any) -> Any:
    return round(value, 4) if isinstance(value, float) else value


@dataclass
class _Runs:
    """Per-run decision times of each detector (seconds; inf = never) and what scoring needs."""

    path: PathModel
    baseline: float
    new_error: float
    decisions: dict[str, np.ndarray]
    floor: np.ndarray
    errors_served: Any  # (rows, decision times, generator) -> failed requests served until restored
    seed: int


def simulate(
    path: PathModel,
    traffic_rps: float,
    baseline: float,
    new_error: float,
    detector: Detector = "all",
    probes_exercise_failure: bool = True,
    runs: int = 1000,
    seed: int = 0,
    post_shift_watch: bool = True,
    conditions: Conditions = INDEPENDENT,
) -> Outcome:
    """`runs` releases of a version failing `new_error` of its requests (fractions: 0.05 is 5%)
    against an old one failing `baseline`, at `traffic_rps` overall. `detector`: the static alarms
    alone (a stack without the judge), the judge on metrics alone, the judge with its probes, or
    everything that runs (the first to act wins). `post_shift_watch=False` leaves out the Lambda
    post-traffic hook's watch (the deployment's end is then its last step). `conditions`: what
    the traffic does beyond independent errors (a robustness scenario)."""
    return simulate_detectors(
        path,
        traffic_rps,
        baseline,
        new_error,
        (detector,),
        probes_exercise_failure=probes_exercise_failure,
        runs=runs,
        seed=seed,
        post_shift_watch=post_shift_watch,
        conditions=conditions,
    )[detector]


def simulate_detectors(
    path: PathModel,
    traffic_rps: float,
    baseline: float,
    new_error: float,
    detectors: Iterable[Detector] = DETECTORS,
    *,
    probes_exercise_failure: bool = True,
    runs: int = 1000,
    seed: int = 0,
    post_shift_watch: bool = True,
    keep_samples: bool = False,
    conditions: Conditions = INDEPENDENT,
) -> dict[str, Outcome]:
    """Several detectors on the same simulated releases (same traffic, errors, delays, probes).
    `keep_samples` keeps every run's time to restore in the outcomes (restore_samples)."""
    wanted = tuple(detectors)
    unknown = set(wanted) - set(DETECTORS)
    if unknown:
        raise ValueError(f"detectors {sorted(unknown)}: choose from {', '.join(DETECTORS)}")
    if not (0 <= baseline <= 1 and 0 <= new_error <= 1):
        raise ValueError("error rates are fractions from 0 to 1")
    if traffic_rps <= 0:
        raise ValueError("traffic: requests a second above 0")
    simulated = _simulate(
        path,
        traffic_rps,
        baseline,
        new_error,
        wanted,
        probes_exercise_failure=probes_exercise_failure,
        runs=runs,
        seed=seed,
        post_shift_watch=post_shift_watch,
        conditions=conditions,
    )
    return {detector: _score(simulated, detector, keep_samples) for detector in wanted}


def _score(runs: _Runs, detector: str, keep_samples: bool = False) -> Outcome:
    path = runs.path
    decided = runs.decisions[detector]
    rolled = np.isfinite(decided)
    count = len(decided)
    restore = decided[rolled] + path.rollback_seconds
    exposure = np.full(count, 100.0)
    exposure[rolled] = 100 * _share_array(path.schedule, decided[rolled])
    healthy = runs.new_error <= runs.baseline
    rng = np.random.default_rng([runs.seed, DETECTORS.index(detector)])
    errors = runs.errors_served(np.flatnonzero(rolled), decided[rolled], rng) if rolled.any() else np.array([])
    served = np.median(_served_share(path.schedule, decided[rolled], path.rollback_seconds)) if rolled.any() else None
    floor = runs.floor[np.isfinite(runs.floor)]
    return Outcome(
        detector=detector,
        runs=count,
        rollbacks=int(rolled.sum()),
        restore_median_s=float(np.median(restore)) if rolled.any() else None,
        restore_p95_s=float(np.percentile(restore, 95)) if rolled.any() else None,
        miss_rate=None if healthy else float(1 - rolled.mean()),
        false_rollback_rate=float(rolled.mean()) if healthy else None,
        exposure_median_percent=float(np.median(exposure)),
        exposure_p95_percent=float(np.percentile(exposure, 95)),
        errors_served_median=float(np.median(errors)) if rolled.any() else None,
        errors_served_p95=float(np.percentile(errors, 95)) if rolled.any() else None,
        served_share_median_percent=None if served is None else float(served),
        floor_median_s=None if healthy or not len(floor) else float(np.median(floor)),
        floor_p95_s=None if healthy or not len(floor) else float(np.percentile(floor, 95)),
        restore_samples=tuple((decided + path.rollback_seconds).tolist()) if keep_samples else (),
    )


def _served_share(schedule: Schedule, decided: np.ndarray, rollback: float) -> np.ndarray:
    """Of all requests from the start to the restore, the percentage the new version served."""
    new = _cumulative(schedule, decided) + _share_array(schedule, decided) * rollback
    return 100 * new / np.maximum(decided + rollback, 1e-9)


def _cumulative(schedule: Schedule, times: np.ndarray) -> np.ndarray:
    """Seconds of all traffic the new version has had by `times` (0 before the start)."""
    starts = np.array([start for start, _ in schedule], dtype=float)
    shares = np.array([share for _, share in schedule], dtype=float) / 100
    at_starts = np.concatenate([[0.0], np.cumsum(np.diff(starts) * shares[:-1])])
    times = np.asarray(times, dtype=float)
    index = np.clip(np.searchsorted(starts, times, side="right") - 1, 0, len(starts) - 1)
    value = at_starts[index] + (times - starts[index]) * shares[index]
    return np.where(times <= 0, 0.0, value)


def _share_array(schedule: Schedule, times: np.ndarray) -> np.ndarray:
    starts = np.array([start for start, _ in schedule], dtype=float)
    shares = np.array([share for _, share in schedule], dtype=float) / 100
    index = np.searchsorted(starts, times, side="right") - 1
    return np.where(index >= 0, shares[np.clip(index, 0, None)], 0.0)


# --- the simulation


@dataclass(frozen=True)
class _Clock:
    """What every detector of a run shares: the minutes, when each becomes visible, the phases."""

    end: int  # the deployment's end, watch included
    watch: int
    bounds: np.ndarray  # (runs, minutes + 1) minute boundaries, seconds from the first shift
    delay: np.ndarray  # (runs, minutes) ingestion delay of each minute's datapoint
    # (runs, minutes) when the judge counts each minute: its datapoint visible and settled
    # (judge.py SETTLE_SECONDS); `late`: its requests not all visible by then (late_requests_seconds)
    counted: np.ndarray
    late: np.ndarray
    evaluation_phase: np.ndarray
    poll_phase: np.ndarray
    judge_start: np.ndarray


def _simulate(
    path: PathModel,
    traffic: float,
    baseline: float,
    new_error: float,
    wanted: tuple[str, ...],
    *,
    probes_exercise_failure: bool,
    runs: int,
    seed: int,
    post_shift_watch: bool,
    conditions: Conditions = INDEPENDENT,
) -> _Runs:
    if path.period_seconds % MINUTE:
        raise ValueError(f"period {path.period_seconds} s: a multiple of 60")
    rng = np.random.default_rng(seed)
    watch = path.watch_seconds if (post_shift_watch or path.kind != "lambda") else 0
    end = path.last_shift_seconds + watch
    periods_per = path.period_seconds // MINUTE
    minutes = math.ceil(end / MINUTE) + 2 + periods_per

    # Traffic, minute by minute: minute k is [60k - offset, 60k + 60 - offset).
    offset = rng.uniform(0, MINUTE, runs)
    bounds = MINUTE * np.arange(minutes + 1)[None, :] - offset[:, None]
    on_new = _cumulative(path.schedule, bounds)  # seconds of traffic on the new version by each bound
    new_mass = np.clip(np.diff(on_new, axis=1), 0, MINUTE)
    when = np.clip((bounds[:, :-1] + MINUTE / 2) / max(end, 1), 0, 1)  # the share of the release gone
    rate = traffic * conditions.traffic(when)
    new_requests = rng.poisson(rate * new_mass)
    old_requests = rng.poisson(rate * (MINUTE - new_mass))
    new_rate, old_rate = conditions.rate(new_error, when, True), conditions.rate(baseline, when, False)
    if conditions.outage:
        hit = np.arange(minutes)[None, :] == rng.integers(0, math.ceil(end / MINUTE) + 1, runs)[:, None]
        new_rate = np.where(hit, np.maximum(new_rate, conditions.outage), new_rate)
        old_rate = np.where(hit, np.maximum(old_rate, conditions.outage), old_rate)
    new_errors = conditions.errors(rng, new_requests, new_rate)
    old_errors = conditions.errors(rng, old_requests, old_rate)
    if conditions.cold_start_errors:
        first = (new_requests > 0) & (np.cumsum(new_requests > 0, axis=1) == 1)
        cold = rng.poisson(conditions.cold_start_errors, runs)[:, None] * first
        new_errors = np.minimum(new_requests, new_errors + cold)
    delay = rng.uniform(*INGESTION_DELAY_SECONDS, (runs, minutes))
    ends = bounds[:, 1:]
    counted = np.maximum(ends + delay, ends + SETTLE_SECONDS)
    late = ends + delay + rng.uniform(0, conditions.late_requests_seconds, (runs, minutes)) > counted
    clock = _Clock(
        end=end,
        watch=watch,
        bounds=bounds,
        delay=delay,
        counted=counted,
        late=late,
        evaluation_phase=rng.uniform(0, EVALUATION_INTERVAL_SECONDS, runs),
        poll_phase=rng.uniform(0, ALARM_POLL_SECONDS, runs),
        judge_start=rng.uniform(*JUDGE_START_SECONDS, runs),
    )
    history = _history(rng, traffic * conditions.traffic(np.zeros(1)), baseline, conditions, runs)
    fine = None
    if path.release_metrics and path.judged:
        fine = _fine_counts(rng, path, bounds, (new_requests, new_errors, old_requests, old_errors), history)
    probe_seeds = rng.integers(0, 2**63, runs)
    probe_failure_rate = new_error if probes_exercise_failure else baseline
    # ECS probes go through the test listener to green's target group: its 5xx count their
    # failures; the alarms take the probes themselves out of its requests.
    probe_requests = _probes_per_minute(path, clock)
    probe_errors = rng.binomial(probe_requests, probe_failure_rate)
    real = (new_requests, new_errors, old_requests, old_errors)
    probed = (new_requests, new_errors + probe_errors, old_requests, old_errors)

    never = np.full(runs, np.inf)
    decisions: dict[str, np.ndarray] = {}
    if "static" in wanted:
        decisions["static"] = _static_decision(path, clock, real)
    judged = path.judged and any(d != "static" for d in wanted)
    if "judge" in wanted:
        decisions["judge"] = _judge_decisions(path, clock, real, history, fine=fine) if judged else never
    if judged and ("judge+probes" in wanted or "all" in wanted):
        probes = np.array(
            [
                _probe_decision(path, end, float(began), probe_failure_rate, int(seed_), past)
                for began, seed_, past in zip(clock.judge_start, probe_seeds, history, strict=True)
            ]
        )
        static = _static_decision(path, clock, probed) if "all" in wanted else never
        # Only what runs is wanted: the judge's looks need not outlast the first actor.
        limit = None if "judge+probes" in wanted else np.minimum(static, probes)
        judge = _judge_decisions(path, clock, real, history, limit, fine)
        if "judge+probes" in wanted:
            decisions["judge+probes"] = np.minimum(judge, probes)
        if "all" in wanted:
            decisions["all"] = np.minimum(static, np.minimum(judge, probes))
    elif "all" in wanted or "judge+probes" in wanted:  # no judge on this path: its alarms alone
        static = decisions.get("static")
        static = _static_decision(path, clock, real) if static is None else static
        decisions.setdefault("all", static)
        decisions.setdefault("judge+probes", never)

    floor = never
    if new_error > baseline:
        floor = _floor(new_errors, np.maximum.accumulate(bounds[:, 1:] + clock.delay, axis=1), path.rollback_seconds)
    cumulative_errors = np.concatenate([np.zeros((runs, 1), dtype=int), np.cumsum(new_errors, axis=1)], axis=1)

    def errors_served(rows: np.ndarray, decided: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Failed requests of the new version until traffic is back, for `rows` decided at `decided`:
        the minutes before the decision's, the part of its minute before it, and the rollback."""
        minute = np.clip(((decided + offset[rows]) // MINUTE).astype(int), 0, minutes - 1)
        start, stop = on_new[rows, minute], on_new[rows, minute + 1]
        reached = _cumulative(path.schedule, decided)
        span = stop - start
        fraction = np.where(span > 0, (reached - start) / np.where(span > 0, span, 1), 0.0)
        within = rng.binomial(new_errors[rows, minute], np.clip(fraction, 0, 1))
        rolling_back = rng.poisson(traffic * new_error * _share_array(path.schedule, decided) * path.rollback_seconds)
        return cumulative_errors[rows, minute] + within + rolling_back

    return _Runs(path, baseline, new_error, decisions, floor, errors_served, seed)


def _history(
    rng: np.random.Generator, traffic: np.ndarray, baseline: float, conditions: Conditions, runs: int
) -> list[Dispersion]:
    """Per run, the old version's HISTORY_MINUTES before the release (all the traffic, the rate at
    the release's start), as the judge reads them for the over-dispersion."""
    requests = rng.poisson(float(traffic[0]) * MINUTE, (runs, HISTORY_MINUTES))
    errors = conditions.errors(rng, requests, conditions.rate(baseline, np.zeros((runs, 1)), False))
    errors = np.minimum(errors, requests)
    served = requests > 0
    squares = np.where(served, errors**2 / np.maximum(requests, 1), 0.0).sum(axis=1)
    return [
        Dispersion(int(minutes), float(total), float(failed), float(square))
        for minutes, total, failed, square in zip(
            served.sum(axis=1),
            requests.sum(axis=1),
            errors.sum(axis=1),
            squares,
            strict=True,
        )
    ]


def _probes_per_minute(path: PathModel, clock: _Clock) -> np.ndarray:
    """Probes the judge sends green in each minute (ECS; none reach Lambda's alias metrics)."""
    if path.kind != "ecs" or not path.judged or path.probes_per_second <= 0:
        return np.zeros(clock.delay.shape, dtype=int)
    began = clock.judge_start[:, None]
    most = np.minimum(path.max_probes, np.floor((clock.end - began) * path.probes_per_second) + 1)
    # Probes sent before time t: the ones at began + i / rate < t.
    sent = np.clip(np.ceil((clock.bounds - began) * path.probes_per_second), 0, most)
    return np.diff(sent, axis=1).astype(int)


def _static_decision(path: PathModel, clock: _Clock, counts: tuple[np.ndarray, ...]) -> np.ndarray:
    """When CodeDeploy (or the Lambda post-traffic hook) first reads one of the alarms in ALARM."""
    runs = len(clock.poll_phase)
    per = path.period_seconds // MINUTE
    whole = (clock.delay.shape[1] // per) * per

    def per_period(values: np.ndarray) -> np.ndarray:
        return values[:, :whole].reshape(runs, -1, per).sum(axis=2)

    n_new, e_new, n_old, e_old = (per_period(values) for values in counts)
    # A period's datapoint: visible after its delay, and not before the previous one.
    visible = np.maximum.accumulate(clock.bounds[:, per : whole + 1 : per] + clock.delay[:, per - 1 : whole : per], 1)
    in_alarm = np.zeros((runs, n_new.shape[1] + 1), dtype=bool)  # by the number of visible datapoints
    for breach in _alarm_breaches(path, n_new, e_new, n_old, e_old):
        sums = np.concatenate([np.zeros((runs, 1), dtype=int), np.cumsum(breach, axis=1)], axis=1)
        seen = np.arange(sums.shape[1])
        window = sums - sums[:, np.maximum(seen - path.evaluation_periods, 0)]
        in_alarm |= window >= path.datapoints_to_alarm
    evaluations = clock.evaluation_phase[:, None] + EVALUATION_INTERVAL_SECONDS * np.arange(
        math.ceil(clock.end / EVALUATION_INTERVAL_SECONDS) + 2
    )
    seen = _count_at_or_before(visible, evaluations)
    state = np.take_along_axis(in_alarm, seen, axis=1)  # the alarm's state after each evaluation
    return _first_alarmed_poll(path, clock, state)


def _count_at_or_before(ordered: np.ndarray, moments: np.ndarray) -> np.ndarray:
    """Per row, how many of `ordered` (increasing along each row) are at or before each of
    `moments`: one searchsorted over the rows laid end to end, each shifted past the previous."""
    rows, width = ordered.shape
    low = min(ordered.min(), moments.min())
    span = max(ordered.max(), moments.max()) - low + 1
    shift = (np.arange(rows) * span)[:, None]
    found = np.searchsorted((ordered - low + shift).ravel(), (moments - low + shift).ravel(), side="right")
    return found.reshape(moments.shape) - (np.arange(rows) * width)[:, None]


def _alarm_breaches(
    path: PathModel, n_new: np.ndarray, e_new: np.ndarray, n_old: np.ndarray, e_old: np.ndarray
) -> list[np.ndarray]:
    """Per alarm, which periods breach: the guarded rate of alarms.py's metric math above the
    threshold (GreaterThanThreshold; 0 below the guard)."""

    def breach(errors: np.ndarray, requests: np.ndarray) -> np.ndarray:
        return (requests >= path.guard) & (100 * errors > path.threshold_percent * requests)

    if path.kind == "lambda":
        return [breach(e_new, n_new)]  # error-rate: Errors / Invocations of the new ExecutedVersion
    overall = breach(e_new + e_old, n_new + n_old)  # 5xx-rate: the whole load balancer
    if path.strategy == "rolling":
        return [overall]  # one target group serves both versions: target-5xx-rate is the same series
    return [overall, breach(e_new, n_new) | breach(e_old, n_old)]  # target-5xx-rate: MAX of green, blue


def _first_alarmed_poll(path: PathModel, clock: _Clock, state: np.ndarray) -> np.ndarray:
    """The first read of an alarm in ALARM: CodeDeploy's while the deployment runs (for Lambda,
    until the last shift), then the post-traffic hook's every 15 s for its watch. inf if never."""
    runs, last_shift, end = len(clock.poll_phase), clock.end - clock.watch, clock.end
    hooked = path.kind == "lambda"
    until = last_shift if hooked else end
    polls = clock.poll_phase[:, None] + ALARM_POLL_SECONDS * np.arange(math.ceil(until / ALARM_POLL_SECONDS) + 1)
    polls = np.where(polls < until if hooked else polls <= end, polls, np.inf)
    if hooked and clock.watch:
        hook = last_shift + HOOK_POLL_SECONDS * np.arange(clock.watch // HOOK_POLL_SECONDS + 1, dtype=float)
        polls = np.concatenate([polls, np.broadcast_to(hook, (runs, len(hook)))], axis=1)
    evaluation = np.floor((polls - clock.evaluation_phase[:, None]) / EVALUATION_INTERVAL_SECONDS)
    known = np.isfinite(polls) & (evaluation >= 0)
    index = np.clip(np.where(known, evaluation, 0), 0, state.shape[1] - 1).astype(int)
    alarmed = known & np.take_along_axis(state, index, axis=1)
    return np.where(alarmed, polls, np.inf).min(axis=1)


def _floor(new_errors: np.ndarray, visible: np.ndarray, rollback: int) -> np.ndarray:
    """The first failed request's minute, visible, plus the rollback."""
    failed = new_errors > 0
    first = failed.argmax(axis=1)
    return np.where(failed.any(axis=1), visible[np.arange(len(first)), first] + rollback, np.inf)


def _fine_counts(
    rng: np.random.Generator,
    path: PathModel,
    bounds: np.ndarray,
    counts: tuple[np.ndarray, ...],
    history: Sequence[Dispersion],
) -> tuple[np.ndarray, ...]:
    """The application's 10 s counts of the same requests: each minute's requests split over its
    buckets by how much traffic each version had in each, its errors over them by their requests.
    The history's over-dispersion is the minutes' (assumed alike at 10 s). Each bucket counts
    RELEASE_SETTLE_SECONDS after its end (assumed: CloudWatch does not publish the delay)."""
    per = MINUTE // FINE_SECONDS
    edges = bounds[:, :-1, None] + FINE_SECONDS * np.arange(per + 1)
    on_new = _cumulative(path.schedule, edges)
    new_mass = np.diff(on_new, axis=2)
    old_mass = FINE_SECONDS - new_mass

    def split(requests: np.ndarray, errors: np.ndarray, mass: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        total = mass.sum(axis=2, keepdims=True)
        shares = np.where(total > 0, mass / np.where(total > 0, total, 1), 1 / per)
        parts = rng.multinomial(requests, shares)
        weights = parts / np.maximum(parts.sum(axis=2, keepdims=True), 1)
        weights = np.where(parts.sum(axis=2, keepdims=True) > 0, weights, 1 / per)
        return parts, rng.multinomial(errors, weights)

    new_requests, new_errors, old_requests, old_errors = counts
    nr, ne = split(new_requests, new_errors, new_mass)
    orq, oe = split(old_requests, old_errors, old_mass)
    starts = edges[:, :, :-1]
    runs = len(bounds)
    flat = [values.reshape(runs, -1) for values in (starts, nr, ne, orq, oe)]
    return (flat[0], flat[0] + FINE_SECONDS + RELEASE_SETTLE_SECONDS, *flat[1:])


def _judge_decisions(
    path: PathModel,
    clock: _Clock,
    counts: tuple[np.ndarray, ...],
    history: Sequence[Dispersion],
    limit: np.ndarray | None = None,
    fine: tuple[np.ndarray, ...] | None = None,
) -> np.ndarray:
    """Per run, when the judge's metric tests call for a rollback at one of its looks; with the
    application's 10 s counts (`fine`), the earlier of the two streams', each on half the budget."""
    runs = len(clock.judge_start)
    decided = np.full(runs, np.inf)
    budget = FALSE_ROLLBACK_BUDGET / 2 if fine is not None else FALSE_ROLLBACK_BUDGET
    # A minute counts once it is visible and settled (judge.py SETTLE_SECONDS); a minute whose
    # requests are late counts with half of them, as it was when it settled (conservatively: the
    # judge in AWS reads it again, whole, at its next look).
    new_requests, new_errors, old_requests, old_errors = counts
    halved = np.where(clock.late, 0.5, 1.0)
    counts = (np.floor(new_requests * halved), new_errors, np.floor(old_requests * halved), old_errors)
    order = np.argsort(clock.counted, axis=1)
    counted = np.take_along_axis(clock.counted, order, axis=1)
    starts = np.take_along_axis(clock.bounds[:, :-1] + _EPOCH, order, axis=1)
    columns = [np.take_along_axis(values, order, axis=1) for values in counts]
    stops = np.full(runs, float(clock.end)) if limit is None else np.minimum(clock.end, limit)
    # Only the minutes counted by a run's last look matter: the rest stay NumPy.
    used = _count_at_or_before(counted, (stops + JUDGE_LOOK_SECONDS)[:, None])[:, 0]
    fine_used = None
    if fine is not None:
        fine_used = _count_at_or_before(fine[1], (stops + JUDGE_LOOK_SECONDS)[:, None])[:, 0]
    for run in range(runs):
        cut = used[run]
        decided[run] = _metric_decision(
            path.threshold_percent,
            history[run],
            float(clock.judge_start[run]),
            float(stops[run]),
            starts[run, :cut].tolist(),
            counted[run, :cut].tolist(),
            *(column[run, :cut].tolist() for column in columns),
            budget=budget,
        )
        if fine_used is not None:
            cut = fine_used[run]
            decided[run] = min(
                decided[run],
                _metric_decision(
                    path.threshold_percent,
                    history[run],
                    float(clock.judge_start[run]),
                    min(float(stops[run]), decided[run]),
                    (fine[0][run, :cut] + _EPOCH).tolist(),
                    *(column[run, :cut].tolist() for column in fine[1:]),
                    budget=budget,
                    period=FINE_SECONDS,
                ),
            )
    return decided


def _metric_decision(
    ceiling: float,
    history: Dispersion,
    began: float,
    limit: float,
    starts: Sequence[float],
    seen: Sequence[float],
    new_requests: Sequence[int],
    new_errors: Sequence[int],
    old_requests: Sequence[int],
    old_errors: Sequence[int],
    budget: float = FALSE_ROLLBACK_BUDGET,
    period: int = MINUTE,
) -> float:
    """The judge's looks, every JUDGE_LOOK_SECONDS from its start: each adds the minutes counted
    since the last one and asks the error tests. A look whose new minutes hold no error of the new version
    cannot turn the verdict (every test's evidence only falls without one) and is skipped, unless
    errors are weighed for bursts (a smaller over-dispersion could turn it). `seen` is in
    increasing order."""
    evidence = Evidence(ceiling, budget, history, period_seconds=period)
    count, minute = len(seen), 0
    while minute < count:
        wait = seen[minute] - began
        look = began + (JUDGE_LOOK_SECONDS * math.ceil(wait / JUDGE_LOOK_SECONDS) if wait > 0 else 0)
        if look > limit:
            return math.inf
        worse = False
        while minute < count and seen[minute] <= look:
            new = (new_requests[minute], new_errors[minute])
            evidence.add_minute(Minute(starts[minute], *new, old_requests[minute], old_errors[minute]))
            worse = worse or new[1] > 0
            minute += 1
        if (worse or evidence.dispersion.bound() > 1) and evidence.errors_say_rollback():
            return look
    return math.inf


def _probe_decision(
    path: PathModel, end: int, began: float, failure_rate: float, seed: int, history: Dispersion | None = None
) -> float:
    """The judge's probes, one every 1/probes_per_second from its start: the probe test can only
    cross its threshold at a failure (each success lowers every alternative's likelihood ratio), so
    only failures are visited, with the successes before each added with it."""
    rate = path.probes_per_second
    if failure_rate <= 0 or rate <= 0:
        return math.inf
    most = min(path.max_probes, math.floor((end - began) * rate) + 1)
    # The old version's history bounds its error rate, which the probes' ceiling rises to.
    evidence = Evidence(path.threshold_percent, history=history or ())
    rng = np.random.default_rng(seed)
    sent = 0
    while sent < most:
        gaps = rng.geometric(failure_rate, 64).tolist() if failure_rate < 1 else [1] * 64
        for gap in gaps:
            sent += gap
            if sent > most:
                return math.inf
            evidence.add_probes(gap, 1)
            if evidence.probes_say_rollback():
                return began + (sent - 1) / rate
    return math.inf


# --- the assessment settings can ask for at load

# A configuration that lets more bad releases than this through, at its declared traffic, cannot work.
MISS_LIMIT = 0.01
# Small and fixed, so the answer is quick and the same on every load.
ASSESS_RUNS = 200
ASSESS_SEED = 15
# The old version's error rate behind a bad release in the assessment and the plan.
HEALTHY_BASELINE = 0.001


@dataclass(frozen=True)
class Assessment:
    """A path at its declared traffic with everything that runs (static alarms, the judge, its
    probes), for a version failing every request: `miss_rate_real_traffic` when the probes pass
    (only real traffic shows the failure), `miss_rate_probed` when they fail too; `restore_p95_s`
    for the former, over the rollbacks. The static alarms alone: `static_miss_rate` (probes pass)
    and `static_false_rollback_rate`, healthy releases rolled back at a baseline error rate equal
    to the alarms' threshold."""

    path: PathModel
    requests_per_second: float
    miss_rate_real_traffic: float
    miss_rate_probed: float
    restore_p95_s: float | None
    static_miss_rate: float
    static_false_rollback_rate: float

    @classmethod
    def of(
        cls,
        path: PathModel,
        traffic: float,
        real_traffic: Outcome,
        probed: Outcome,
        static_real_traffic: Outcome,
        static_healthy_at_threshold: Outcome,
    ) -> Assessment:
        """From outcomes already simulated: everything that runs on a version failing every request
        that only real traffic shows, and one the probes see; the static alarms alone on the former
        and on healthy releases at the threshold."""
        return cls(
            path=path,
            requests_per_second=traffic,
            miss_rate_real_traffic=real_traffic.miss_rate,
            miss_rate_probed=probed.miss_rate,
            restore_p95_s=real_traffic.restore_p95_s,
            static_miss_rate=static_real_traffic.miss_rate,
            static_false_rollback_rate=static_healthy_at_threshold.false_rollback_rate,
        )

    @property
    def miss_rate(self) -> float:
        return max(self.miss_rate_real_traffic, self.miss_rate_probed)

    def problem(self, limit: float = MISS_LIMIT) -> str | None:
        """One line when the path lets more than `limit` of bad releases through, else None."""
        if self.miss_rate <= limit:
            return None
        return self.message()

    def message(self) -> str:
        """ "this Lambda canary (CodeDeployDefault.LambdaCanary10Percent5Minutes) misses 93% of bad
        releases at 10 req/s", with what it does when it catches them."""
        said = (
            f"this {self.path.label} misses {_percent(self.miss_rate)} of bad releases at "
            f"{self.requests_per_second:g} req/s"
        )
        if self.restore_p95_s is not None and self.miss_rate < 1:
            caught = "the others" if self.miss_rate > 0 else "traffic"
            said += f" and restores {caught} within {self.restore_p95_s / 60:.1f} min (p95)"
        if not self.path.judged:
            said += " (alarms only: no judge on this strategy)"
        elif self.static_miss_rate > self.miss_rate:
            said += f" (its alarms alone miss {_percent(self.static_miss_rate)})"
        return said

    def as_dict(self) -> dict:
        return {
            "path": self.path.name,
            "label": self.path.label,
            "requestsPerSecond": self.requests_per_second,
            "missRateRealTraffic": _rounded(self.miss_rate_real_traffic),
            "missRateProbed": _rounded(self.miss_rate_probed),
            "restoreP95Seconds": _rounded(self.restore_p95_s),
            "staticMissRate": _rounded(self.static_miss_rate),
            "staticFalseRollbackRateAtThreshold": _rounded(self.static_false_rollback_rate),
            "message": self.message(),
        }


def assess(path: PathModel, requests_per_second: float | None = None) -> Assessment:
    """The path at `requests_per_second` (by default the traffic its stack declares): a few
    hundred fixed-seed runs, well under half a second. Cached per path and traffic."""
    traffic = path.requests_per_second if requests_per_second is None else requests_per_second
    if traffic is None:
        raise ValueError(f"{path.name}: no traffic to assess at (expectedRequestsPerSecond)")
    return _assess(path, float(traffic))


def assess_settings(section: Any) -> Assessment:
    """One call for settings: a settings.ServiceSettings or FunctionSettings at the traffic it
    declares. `assess_settings(service).problem()` is None, or the line to refuse (prod) or flag
    (staging) the configuration with."""
    path = PathModel.from_service(section) if hasattr(section, "deployment") else PathModel.from_function(section)
    return assess(path)


@functools.lru_cache(maxsize=256)
def _assess(path: PathModel, traffic: float) -> Assessment:
    real = simulate_detectors(
        path,
        traffic,
        HEALTHY_BASELINE,
        1.0,
        ("static", "all"),
        probes_exercise_failure=False,
        runs=ASSESS_RUNS,
        seed=ASSESS_SEED,
    )
    probed = simulate(path, traffic, HEALTHY_BASELINE, 1.0, "all", True, runs=ASSESS_RUNS, seed=ASSESS_SEED)
    threshold = path.threshold_percent / 100
    healthy = simulate(path, traffic, threshold, threshold, "static", runs=2 * ASSESS_RUNS, seed=ASSESS_SEED)
    return Assessment.of(path, traffic, real["all"], probed, real["static"], healthy)


def _percent(rate: float) -> str:
    """Whole percents, with a decimal below 10% so a figure just over a limit never reads as it."""
    if rate == 0:
        return "0%"
    if rate < 0.001:
        return "<0.1%"
    if 0.99 < rate < 1:
        return ">99%"
    return f"{rate * 100:.1f}%" if rate < 0.1 else f"{rate * 100:.0f}%"
