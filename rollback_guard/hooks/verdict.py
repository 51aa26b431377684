"""The canary judge's decision: is the new version worse than the old one, on the evidence so far?

Four anytime-valid tests share one false-rollback budget per release (FALSE_ROLLBACK_BUDGET), so
looking every minute, or every second for probes, does not inflate false rollbacks, under what each
test assumes of a healthy release:

- errors against the old version: within each minute, conditional on the minute's errors, each
  error falls on the new version with the new version's share of requests if both versions fail
  alike. A mixture of likelihood ratios over how much worse the new one is (ALTERNATIVE_RATIOS) is a
  supermartingale under that hypothesis, so by Ville's inequality it crosses 1/alpha with
  probability at most alpha (a mixture sequential probability ratio test, as online experimentation
  platforms run). It needs both versions to have traffic, and no minimum count.
- errors against the ceiling: the new version's own error rate against the path's rollback
  threshold, the same way (one-sample binomial mixture). This still judges when the old version no
  longer has traffic (the last step, the watch after it).
- probes: the failures of the smoke checks sent to the new version directly, against the same
  ceiling. Probe results need no CloudWatch, so this test decides within seconds.
- latency: a one-sided Mann-Whitney rank test of the new version's per-minute p90 against the old
  one's (Kayenta's test), with LATENCY_TOLERANCE; its share of the budget is spent over the number
  of minutes compared (m alpha/(k(k+1)) at k >= m minutes, m = LATENCY_MINIMUM_MINUTES: the sum over
  k is alpha), so it too may be run at every look. With whole minutes only, p cannot fall below
  1/C(2k, k): a p90 that stays above the old one is caught after 9 comparable minutes.

What the budget assumes, and where it does not hold (measured from outside): errors independent of
one another, so a minute's errors are binomial given its requests; a healthy new version at most as
error-prone as the ceiling; minutes that do not change once read. Errors in bursts (a retry storm, a
slow dependency: per-minute variance several times the mean), a few cold-start errors in the new
version's first minute, an outage shared by both versions (the ceiling test is absolute), a baseline
above the ceiling, and minutes CloudWatch revises after a look all roll back more healthy releases
than the budget says.

Every finding says which metric, the new and old values, the statistic and its threshold, and the
window, so a rollback explains itself. Pure Python: this module runs in the judge's Lambda and in the
detection model (ops/model.py), so the benchmark measures the code that decides in AWS.
"""

from __future__ import annotations

import datetime
import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

# At most this share of healthy releases is rolled back by the judge, under the assumptions above.
FALSE_ROLLBACK_BUDGET = 0.005
# How the budget is split between the tests (a union bound: the shares add up to 1).
BUDGET_SHARES = {"errors-vs-old": 0.3, "errors-vs-ceiling": 0.25, "probes": 0.25, "latency": 0.2}
# A new version may fail up to this many times as often as the old one before it counts as worse:
# a rollback for a difference that small would be noise to the people who get paged.
TOLERATED_RATIO = 1.25
# How much worse a bad version may be, each equally likely a priori: the mixture is sensitive to
# small regressions and to total failures alike, at the cost of ln(len) in evidence.
ALTERNATIVE_RATIOS = (1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 100.0, 1000.0)
# The new version's p90 latency may be this much above the old one's before it counts as slower.
LATENCY_TOLERANCE = 0.2
# A minute's p90 from fewer requests than this is noise: such minutes are not compared.
LATENCY_MINIMUM_REQUESTS = 10
# The first number of paired minutes the rank test is run on: fewer can never reach a threshold.
LATENCY_MINIMUM_MINUTES = 3
_HIGHEST_RATE = 0.9999


@dataclass(frozen=True)
class Minute:
    """One minute of both versions' metrics: requests, errors and p90 latency (ms, None when the
    minute had no requests), as CloudWatch gives them per Lambda ExecutedVersion or per target
    group. `start` is epoch seconds."""

    start: float
    new_requests: float
    new_errors: float
    old_requests: float = 0.0
    old_errors: float = 0.0
    new_latency: float | None = None
    old_latency: float | None = None


@dataclass(frozen=True)
class Finding:
    """One test's state: `bad` when its evidence crossed its threshold."""

    check: str
    metric: str
    new_value: float | None
    old_value: float | None
    # log10 of the mixture likelihood ratio, or -log10 of the p-value for the rank test, so that
    # for every check a larger statistic is stronger evidence against the new version.
    statistic: float
    threshold: float
    window: str
    bad: bool

    def explain(self) -> str:
        old = "" if self.old_value is None else f" against {self._value(self.old_value)}"
        new = "no data" if self.new_value is None else self._value(self.new_value)
        verdict = "ROLLBACK" if self.bad else "ok"
        if self.check == "latency":
            test = f"rank test p = {10**-self.statistic:.2g}, rolls back below {10**-self.threshold:.2g}"
        else:
            test = f"likelihood ratio 10^{self.statistic:.2f}, rolls back from 10^{self.threshold:.2f}"
        return f"{verdict}: {self.check}: {self.metric} {new}{old} over {self.window}; {test}"

    def _value(self, value: float) -> str:
        return f"{value:.4g} ms" if self.check == "latency" else f"{value * 100:.3g}%"

    def as_dict(self) -> dict:
        return {
            "check": self.check,
            "metric": self.metric,
            "newValue": self.new_value,
            "oldValue": self.old_value,
            "statistic": round(self.statistic, 3),
            "threshold": round(self.threshold, 3),
            "window": self.window,
            "bad": self.bad,
            "explanation": self.explain(),
        }


def threshold(check: str, budget: float = FALSE_ROLLBACK_BUDGET) -> float:
    """log10 of the likelihood ratio at which `check` rolls back."""
    return -math.log10(budget * BUDGET_SHARES[check])


def _log_mean_exp(logs: Iterable[float]) -> float:
    values = list(logs)
    top = max(values)
    return top + math.log(sum(math.exp(value - top) for value in values) / len(values))


@dataclass
class RateEvidence:
    """A one-sample binomial mixture test: failures among trials against a ceiling rate. Its
    likelihood ratio depends on the totals only, so it can be kept as two counts."""

    ceiling: float
    trials: float = 0.0
    failures: float = 0.0
    alternatives: tuple[float, ...] = field(init=False)

    def __post_init__(self) -> None:
        if not 0 < self.ceiling < 1:
            raise ValueError(f"ceiling {self.ceiling!r}: a rate above 0 and below 1")
        self.alternatives = tuple(
            sorted({min(_HIGHEST_RATE, self.ceiling * ratio) for ratio in ALTERNATIVE_RATIOS} - {self.ceiling})
        )

    def add(self, trials: float, failures: float) -> None:
        self.trials += trials
        self.failures += min(failures, trials)

    def log_ratio(self) -> float:
        """Natural log of the mixture likelihood ratio against the ceiling."""
        if self.trials <= 0:
            return 0.0
        successes = self.trials - self.failures
        return _log_mean_exp(
            self.failures * math.log(rate / self.ceiling) + successes * math.log((1 - rate) / (1 - self.ceiling))
            for rate in self.alternatives
        )

    @property
    def rate(self) -> float | None:
        return self.failures / self.trials if self.trials else None


@dataclass
class ComparisonEvidence:
    """Errors of the new version against the old one's, minute by minute, conditional on each
    minute's errors (see the module docstring). Kept per alternative, so adding a minute is cheap."""

    log_ratios: list[float] = field(default_factory=lambda: [0.0] * len(ALTERNATIVE_RATIOS))
    new_requests: float = 0.0
    new_errors: float = 0.0
    old_requests: float = 0.0
    old_errors: float = 0.0

    def add(self, minute: Minute) -> None:
        n_new, n_old = minute.new_requests, minute.old_requests
        if n_new <= 0 or n_old <= 0:
            return  # one version alone says nothing about the other
        x, y = min(minute.new_errors, n_new), min(minute.old_errors, n_old)
        self.new_requests, self.new_errors = self.new_requests + n_new, self.new_errors + x
        self.old_requests, self.old_errors = self.old_requests + n_old, self.old_errors + y
        if x + y <= 0:
            return
        null = TOLERATED_RATIO * n_new / (TOLERATED_RATIO * n_new + n_old)
        for index, ratio in enumerate(ALTERNATIVE_RATIOS):
            worse = ratio * TOLERATED_RATIO * n_new
            alternative = worse / (worse + n_old)
            self.log_ratios[index] += x * math.log(alternative / null) + y * math.log((1 - alternative) / (1 - null))

    def log_ratio(self) -> float:
        return _log_mean_exp(self.log_ratios)


def rank_p_value(new: Sequence[float], old: Sequence[float]) -> float:
    """One-sided Mann-Whitney: the probability, if both series come from one distribution, of a
    U statistic at least as large as the one of `new` over `old` (ties count a half). Exact for
    small samples, normal with a continuity correction beyond."""
    m, n = len(new), len(old)
    if not m or not n:
        return 1.0
    u = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in new for b in old)
    if m * n <= 400:
        counts = _u_counts(m, n)
        total = sum(counts)
        at_least = math.ceil(u - 1e-9)  # a half from a tie rounds up: conservative
        return sum(counts[at_least:]) / total
    mean, sd = m * n / 2, math.sqrt(m * n * (m + n + 1) / 12)
    return 0.5 * math.erfc((u - 0.5 - mean) / sd / math.sqrt(2))


@functools.cache
def _u_counts(m: int, n: int) -> tuple[int, ...]:
    """How many orderings of m and n distinct values give each U from 0 to m*n."""
    # counts[j][u] for the current number of `new` values i and j `old` values.
    previous = [[1] + [0] * (m * n) for _ in range(n + 1)]  # i = 0: only U = 0
    for i in range(1, m + 1):
        current = [[1] + [0] * (m * n)]  # j = 0: only U = 0
        for j in range(1, n + 1):
            # The largest value is either a `new` one (it beats all j old ones) or an `old` one.
            row = [0] * (m * n + 1)
            for u in range(i * j + 1):
                row[u] = (previous[j][u - j] if u >= j else 0) + current[j - 1][u]
            current.append(row)
        previous = current
    return tuple(previous[n])


class Evidence:
    """What the judge knows about one release: its minutes of metrics, its probes, and the four
    tests over them. `add_minute` once per minute (in order), `add_probes` as probes answer."""

    def __init__(self, ceiling_percent: float, budget: float = FALSE_ROLLBACK_BUDGET):
        self.ceiling = ceiling_percent / 100
        self.budget = budget
        self.comparison = ComparisonEvidence()
        self.traffic = RateEvidence(self.ceiling)
        self.probed = RateEvidence(self.ceiling)
        self.latencies: list[tuple[float, float]] = []
        self.first: float | None = None
        self.last: float | None = None

    def add_minute(self, minute: Minute) -> None:
        self.first = minute.start if self.first is None else self.first
        self.last = minute.start
        self.comparison.add(minute)
        self.traffic.add(minute.new_requests, minute.new_errors)
        if (
            minute.new_latency is not None
            and minute.old_latency is not None
            and min(minute.new_requests, minute.old_requests) >= LATENCY_MINIMUM_REQUESTS
        ):
            self.latencies.append((minute.new_latency, minute.old_latency))

    def add_probes(self, trials: int, failures: int) -> None:
        self.probed.add(trials, failures)

    def _window(self) -> str:
        if self.first is None:
            return "no minutes yet"
        minutes = round((self.last - self.first) / 60) + 1
        return f"{minutes} min from {_clock(self.first)}"

    def findings(self, metric_names: dict[str, str] | None = None) -> list[Finding]:
        names = {
            "errors": "error rate",
            "latency": "p90 latency",
            "probes": "probe failure rate",
            **(metric_names or {}),
        }
        comparison, window = self.comparison, self._window()
        found = [
            self._finding(
                "errors-vs-old",
                names["errors"],
                comparison.new_errors / comparison.new_requests if comparison.new_requests else None,
                comparison.old_errors / comparison.old_requests if comparison.old_requests else None,
                comparison.log_ratio(),
                window,
            ),
            self._finding(
                "errors-vs-ceiling", names["errors"], self.traffic.rate, self.ceiling, self.traffic.log_ratio(), window
            ),
            self._finding(
                "probes",
                names["probes"],
                self.probed.rate,
                self.ceiling,
                self.probed.log_ratio(),
                f"{self.probed.trials:.0f} probes",
            ),
        ]
        found.append(self._latency(names["latency"], window))
        return found

    def verdict(self, metric_names: dict[str, str] | None = None) -> Finding | None:
        """The strongest finding that calls for a rollback, or None."""
        bad = [finding for finding in self.findings(metric_names) if finding.bad]
        return max(bad, key=lambda finding: finding.statistic - finding.threshold) if bad else None

    def probes_say_rollback(self) -> bool:
        """The probe test alone: cheap enough to ask after every probe."""
        return self.probed.log_ratio() / math.log(10) >= threshold("probes", self.budget)

    def _finding(
        self, check: str, metric: str, new: float | None, old: float | None, log_ratio: float, window: str
    ) -> Finding:
        statistic, limit = log_ratio / math.log(10), threshold(check, self.budget)
        return Finding(check, metric, new, old, statistic, limit, window, statistic >= limit)

    def _latency(self, metric: str, window: str) -> Finding:
        k, first = len(self.latencies), LATENCY_MINIMUM_MINUTES
        # The latency share of the budget, spent over the minutes compared from the first: the sum
        # of first/(k(k+1)) over k >= first is 1.
        spent = self.budget * BUDGET_SHARES["latency"] * first / (max(k, first) * (max(k, first) + 1))
        limit = -math.log10(spent)
        if k < first:
            return Finding("latency", metric, None, None, 0.0, limit, f"{k} comparable min", False)
        new = [new for new, _ in self.latencies]
        old = [old * (1 + LATENCY_TOLERANCE) for _, old in self.latencies]
        statistic = -math.log10(max(rank_p_value(new, old), 1e-300))
        return Finding(
            "latency",
            metric,
            _median(new),
            _median([old for _, old in self.latencies]),
            statistic,
            limit,
            f"{k} comparable min of {window}",
            statistic >= limit,
        )


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _clock(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
