"""The canary judge's decision: is the new version worse than the old one, on the evidence so far?

Four anytime-valid tests share one false-rollback budget per release (FALSE_ROLLBACK_BUDGET), so
looking every minute, or every second for probes, does not inflate false rollbacks, under what each
test assumes of a healthy release:

- errors against the old version: within each minute, conditional on the minute's errors, each
  error falls on the new version with the new version's share of requests if both versions fail
  alike. A mixture of likelihood ratios over how much worse the new one is (ALTERNATIVE_RATIOS) is a
  supermartingale under that hypothesis, so by Ville's inequality it crosses 1/alpha with
  probability at most alpha (a mixture sequential probability ratio test, as online experimentation
  platforms run). It needs both versions to have traffic, and no minimum count. An outage both
  versions share moves both counts alike, so this test does not see it.
- errors against the ceiling: the new version's own error rate against the path's rollback
  threshold, or against TOLERATED_RATIO times the old version's rate in the same minute when that
  is higher (a shared outage, or a baseline above the threshold, is not the new version's fault).
  In a minute the old version does not serve (the last step, the watch after it) there is nothing
  to compare with: that minute adds at most 1/UNCOMPARED_RUN of the threshold, unless it is the
  last of a run of UNCOMPARED_RUN bad minutes (it then adds the least of their evidence, per
  alternative), so the ceiling alone rolls back on a run of bad minutes, as the production alarms'
  3 of 3 do, or on several scattered ones (a trickle of traffic), never on one minute's outage.
  The earlier minutes are known before the minute is, so the factor stays at most the minute's own
  likelihood ratio and the test stays valid; a version that starts failing late loses only
  UNCOMPARED_RUN - 1 minutes, not the evidence of all its healthy minutes.
- probes: the failures of the smoke checks sent to the new version directly, against the same
  ceiling (or TOLERATED_RATIO times the old version's rate, bounded above, when that is higher).
  Probe results need no CloudWatch, so this test decides within seconds.
- latency: a one-sided Mann-Whitney rank test of the new version's per-minute p90 against the old
  one's (Kayenta's test), with LATENCY_TOLERANCE; its share of the budget is spent over the number
  of minutes compared (m alpha/(k(k+1)) at k >= m minutes, m = LATENCY_MINIMUM_MINUTES: the sum over
  k is alpha), so it too may be run at every look.

Real traffic, and what the two error tests do about it:
- Errors in bursts (a retry storm, a slow dependency): a minute's errors vary more than a binomial
  count. The over-dispersion (variance over the binomial variance, Pearson's statistic) is estimated
  from the old version's own minutes, before the release (`history`) and during it (at
  DISPERSION_CONFIDENCE, with a prior of DISPERSION_PRIOR for an old version with little history;
  its incident minutes left out: INCIDENT_ERRORS), at least 1 and at most MAX_DISPERSION; both error tests count errors
  at 1/dispersion of their weight (a tempered, quasi-likelihood ratio: errors in clumps of k count
  as the k-fold clumps they are). Under a Gaussian approximation of each minute's log ratio the
  tempered ratio is again a supermartingale; for heavy-tailed bursts it is not exact, which is why
  `make bench` measures it (robustness suite). Bursts in the new version alone, with an old version
  that never had them, are a difference the test is right to see.
- Cold starts: up to COLD_START_ERRORS errors of the new version's first 60 s of traffic are not
  counted (its first clock minute is mostly partial, so the next one too), in a period where they
  are at most half its requests (or it has fewer than twice the allowance): a version failing most
  of its requests is forgiven nothing, and
  stops in its first minute from about 10 requests on (with no history of the old version, whose
  errors then weigh 1/DISPERSION_PRIOR, at a 10% step; the probes do not wait for traffic).
- The looks: evidence comes from settled minutes only (ended SETTLE_SECONDS ago: `settled`), so the
  minutes counted do not change between looks. A minute CloudWatch still revises after that (its
  errors ingested before all its requests) inflates the new version's rate only where the old
  version's is not inflated alike: both tests compare with the old version's minute.

What the budget still assumes: a healthy new version at most TOLERATED_RATIO times as error-prone as
the old one, or as the ceiling when the old one does not serve; over-dispersion that the old
version's minutes show; minutes that do not change once settled.

Every finding says which metric, the new and old values, the statistic and its threshold, and the
window, so a rollback explains itself. Pure Python: this module runs in the judge's Lambda and in the
detection model (rollback_guard/detection.py), so the benchmark measures the code that decides in AWS.
"""

from __future__ import annotations

import datetime
import functools
import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

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
# Errors of the new version's first minute of traffic not counted: a new Lambda version's or
# task's first requests may fail on a cold start (a timeout while it initialises) before it is warm.
COLD_START_ERRORS = 5
# Over-dispersion: the estimate at this confidence (Wilson-Hilferty's chi-square quantile; 0.5 is
# the median, about the point estimate: an upper 0.8 bound costs a 20% failure at 1 req/s 0.6 min of
# detection, and the burst scenarios of `make bench` stay within the budget without it), at
# least 1 (never sharper than binomial), at most MAX_DISPERSION (an outage in the old version's
# history must not blind the judge: at 20, a version failing every request still stops in its first
# minute from about 60 requests).
DISPERSION_CONFIDENCE = 0.5
# Before the old version's minutes say otherwise, its errors are taken to be this bursty, with the
# weight of this many minutes: 3 with no history, about 1.2 after an hour of independent errors.
DISPERSION_PRIOR = 3.0
DISPERSION_PRIOR_MINUTES = 5
MAX_DISPERSION = 20.0
# An old version's minute with at least this many errors, at this many times the ceiling, was an
# incident: left out of its over-dispersion and rate. Bursts at 10 times the binomial variance
# reach it with a negligible chance at any traffic (their spread is about the square root of ten
# times the mean).
INCIDENT_ERRORS = 20
INCIDENT_CEILINGS = 10
# A minute the old version does not serve counts no more than its UNCOMPARED_RUN - 1 predecessors:
# the production alarms' 3 of 3.
UNCOMPARED_RUN = 3
# A minute counts once it ended this long ago: most datapoints are ingested 60-150 s after their
# minute (observed, components/alarms.py INGESTION_DELAY_SECONDS); waiting for every one of them
# (150 s) would cost detection about 0.4 min more, and a minute partly ingested still meets the
# old version's minute, partly ingested alike, in both error tests.
SETTLE_SECONDS = 120
# The new version's p90 latency may be this much above the old one's before it counts as slower.
LATENCY_TOLERANCE = 0.2
# A minute's p90 from fewer requests than this is noise: such minutes are not compared.
LATENCY_MINIMUM_REQUESTS = 10
# The first number of paired minutes the rank test is run on: fewer can never reach a threshold.
LATENCY_MINIMUM_MINUTES = 3
_HIGHEST_RATE = 0.9999
_Z = {0.5: 0.0, 0.8: -0.8416, 0.9: -1.2816, 0.95: -1.6449}


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
    """One test's state: `bad` when its evidence crossed its threshold. `dispersion`: the weight
    of an error was 1/dispersion (the error tests; 1 for the others)."""

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
    dispersion: float = 1.0

    def explain(self) -> str:
        old = "" if self.old_value is None else f" against {self._value(self.old_value)}"
        new = "no data" if self.new_value is None else self._value(self.new_value)
        verdict = "ROLLBACK" if self.bad else "ok"
        if self.check == "latency":
            test = f"rank test p = {10**-self.statistic:.2g}, rolls back below {10**-self.threshold:.2g}"
        else:
            test = f"likelihood ratio 10^{self.statistic:.2f}, rolls back from 10^{self.threshold:.2f}"
        if self.dispersion > 1:
            test += f"; errors weighed 1/{self.dispersion:.3g} for bursts"
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
            "dispersion": round(self.dispersion, 3),
            "explanation": self.explain(),
        }


def threshold(check: str, budget: float = FALSE_ROLLBACK_BUDGET) -> float:
    """log10 of the likelihood ratio at which `check` rolls back."""
    return -math.log10(budget * BUDGET_SHARES[check])


def _log_mean_exp(logs: Iterable[float]) -> float:
    values = list(logs)
    top = max(values)
    return top + math.log(sum(math.exp(value - top) for value in values) / len(values))


def _log_binomial_ratio(failures: float, trials: float, alternative: float, null: float) -> float:
    return failures * math.log(alternative / null) + (trials - failures) * math.log((1 - alternative) / (1 - null))


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

    def log_ratio(self, null: float | None = None) -> float:
        """Natural log of the mixture likelihood ratio against the ceiling, or against `null` when
        that is higher (the same alternatives, relative to it)."""
        if self.trials <= 0:
            return 0.0
        null = self.ceiling if null is None or null <= self.ceiling else min(null, _HIGHEST_RATE / 2)
        alternatives = (
            self.alternatives
            if null == self.ceiling
            else sorted({min(_HIGHEST_RATE, null * ratio) for ratio in ALTERNATIVE_RATIOS} - {null})
        )
        return _log_mean_exp(_log_binomial_ratio(self.failures, self.trials, rate, null) for rate in alternatives)

    @property
    def rate(self) -> float | None:
        return self.failures / self.trials if self.trials else None


@dataclass
class Dispersion:
    """Pearson's over-dispersion of a version's errors per minute, kept as sums so a minute is
    cheap to add: X^2 = (sum x^2/n - 2 p sum x + p^2 sum n) / (p (1 - p)), p = sum x / sum n."""

    minutes: int = 0
    requests: float = 0.0
    errors: float = 0.0
    squares: float = 0.0

    def add(self, requests: float, errors: float) -> None:
        if requests <= 0:
            return
        errors = min(errors, requests)
        self.minutes += 1
        self.requests += requests
        self.errors += errors
        self.squares += errors * errors / requests

    def rate_bound(self) -> float:
        """An upper bound of the error rate (about 95%, a normal bound whose variance is widened by
        the over-dispersion): a baseline estimated from few bursty errors is not read low."""
        if not self.requests:
            return 0.0
        spread = self.bound()
        return min(1.0, (self.errors + 1.645 * math.sqrt(spread * (self.errors + 1)) + spread) / self.requests)

    def bound(self) -> float:
        """The over-dispersion at DISPERSION_CONFIDENCE, from 1 to MAX_DISPERSION, with
        DISPERSION_PRIOR_MINUTES minutes at DISPERSION_PRIOR added to what the minutes say: an old
        version with little history (a first release, an idle one) is not taken to have no bursts."""
        pearson, quantile = 0.0, 0.0
        if self.minutes >= 2 and self.errors < self.requests:
            if self.errors > 0:
                rate = self.errors / self.requests
                pearson = (self.squares - 2 * rate * self.errors + rate * rate * self.requests) / (rate * (1 - rate))
            freedom = self.minutes - 1
            # Wilson-Hilferty: the chi-square quantile with `freedom` degrees below which Pearson's
            # statistic falls with probability 1 - DISPERSION_CONFIDENCE if the minutes were binomial.
            spread = 2 / (9 * freedom)
            quantile = freedom * max(1 - spread + _Z[DISPERSION_CONFIDENCE] * math.sqrt(spread), 0.05) ** 3
        prior = DISPERSION_PRIOR_MINUTES
        estimate = (pearson + prior * DISPERSION_PRIOR) / (quantile + prior)
        return min(MAX_DISPERSION, max(1.0, estimate))


@dataclass
class ComparisonEvidence:
    """Errors of the new version against the old one's, minute by minute, conditional on each
    minute's errors (see the module docstring). Kept per alternative, untempered, so adding a
    minute is cheap: dividing each sum by the dispersion tempers every minute alike."""

    log_ratios: list[float] = field(default_factory=lambda: [0.0] * len(ALTERNATIVE_RATIOS))
    new_requests: float = 0.0
    new_errors: float = 0.0
    old_requests: float = 0.0
    old_errors: float = 0.0

    def add(self, n_new: float, x: float, n_old: float, y: float, forgiven: float = 0.0) -> None:
        """`forgiven`: errors left out of `x` (cold starts), still reported in the rates."""
        if n_new <= 0 or n_old <= 0:
            return  # one version alone says nothing about the other
        self.new_requests, self.new_errors = self.new_requests + n_new, self.new_errors + x + forgiven
        self.old_requests, self.old_errors = self.old_requests + n_old, self.old_errors + y
        if x + y <= 0:
            return
        null = TOLERATED_RATIO * n_new / (TOLERATED_RATIO * n_new + n_old)
        for index, ratio in enumerate(ALTERNATIVE_RATIOS):
            worse = ratio * TOLERATED_RATIO * n_new
            self.log_ratios[index] += _log_binomial_ratio(x, x + y, worse / (worse + n_old), null)

    def log_ratio(self, dispersion: float = 1.0) -> float:
        return _log_mean_exp(total / dispersion for total in self.log_ratios)


@dataclass
class CeilingEvidence:
    """The new version's errors against the ceiling, or against TOLERATED_RATIO times the old
    version's rate in the same minute when that is higher; a minute without the old version counts
    with the least of its and the previous minutes' evidence (module docstring). Per alternative,
    untempered, like ComparisonEvidence."""

    ceiling: float
    # How many periods in a row (UNCOMPARED_RUN minutes of them).
    run: int = UNCOMPARED_RUN
    # What one period alone may add, per alternative (natural log): a share of the threshold.
    cap: float = math.inf
    log_ratios: list[float] = field(default_factory=lambda: [0.0] * len(ALTERNATIVE_RATIOS))
    trials: float = 0.0
    failures: float = 0.0
    # The previous periods' evidence, per alternative; before any, none (0: a period of nothing).
    recent: deque[list[float]] = field(init=False)

    def __post_init__(self) -> None:
        self.recent = deque([[0.0] * len(ALTERNATIVE_RATIOS)] * (self.run - 1), self.run - 1)

    def add(self, n_new: float, x: float, n_old: float, y: float, old_rate: float = 0.0, forgiven: float = 0.0) -> None:
        """`old_rate`: the old version's rate over all its minutes read (before and during the
        release): a baseline above the ceiling is not the new version's fault either."""
        if n_new <= 0:
            return
        self.trials, self.failures = self.trials + n_new, self.failures + x + forgiven
        same_minute = y / n_old if n_old > 0 else 0.0
        null = max(self.ceiling, TOLERATED_RATIO * max(same_minute, old_rate))
        null = min(null, _HIGHEST_RATE / ALTERNATIVE_RATIOS[0])
        minute = [_log_binomial_ratio(x, n_new, min(_HIGHEST_RATE, null * ratio), null) for ratio in ALTERNATIVE_RATIOS]
        if n_old <= 0:
            counted = [
                value if value <= self.cap else max(self.cap, min(value, *before))
                for value, *before in zip(minute, *self.recent, strict=False)
            ]
            self.log_ratios = [total + value for total, value in zip(self.log_ratios, counted, strict=True)]
        self.recent.append(minute)

    def log_ratio(self, dispersion: float = 1.0) -> float:
        return _log_mean_exp(total / dispersion for total in self.log_ratios)

    @property
    def rate(self) -> float | None:
        return self.failures / self.trials if self.trials else None


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


def settled(
    minutes: Iterable[Minute], now: float, period_seconds: int = 60, settle_seconds: float = SETTLE_SECONDS
) -> list[Minute]:
    """The periods (a minute, or a high-resolution metric's 10 s) that ended `settle_seconds` before
    `now` (epoch seconds): the ones to judge on."""
    return [minute for minute in minutes if minute.start + period_seconds + settle_seconds <= now]


def strongest(findings: Iterable[Finding]) -> Finding | None:
    """The bad finding furthest past its threshold, or None: the verdict among several tests."""
    bad = [finding for finding in findings if finding.bad]
    return max(bad, key=lambda finding: finding.statistic - finding.threshold) if bad else None


class Evidence:
    """What the judge knows about one release: its minutes of metrics, its probes, and the four
    tests over them. `history`: the old version's minutes before the release, or their Dispersion
    (the over-dispersion is estimated from them and the old version's minutes during the release).
    `period_seconds`: 60 for CloudWatch's standard metrics, 10 for high-resolution ones (each
    "minute" is then 10 s; the cold-start allowance and the ceiling's run stay in minutes).
    `add_minute` once per period, in order; `add_probes` as probes answer."""

    def __init__(
        self,
        ceiling_percent: float,
        budget: float = FALSE_ROLLBACK_BUDGET,
        history: Dispersion | Iterable[Minute] = (),
        period_seconds: int = 60,
    ):
        self.ceiling = ceiling_percent / 100
        self.budget = budget
        if isinstance(history, Dispersion):
            self.dispersion = replace(history)
        else:
            self.dispersion = Dispersion()
            for minute in history:
                self._learn(minute.old_requests, minute.old_errors)
        self.comparison = ComparisonEvidence()
        self.traffic = CeilingEvidence(
            self.ceiling,
            run=UNCOMPARED_RUN * 60 // period_seconds,
            cap=threshold("errors-vs-ceiling", budget) * math.log(10) / UNCOMPARED_RUN,
        )
        self.probed = RateEvidence(self.ceiling)
        self.latencies: list[tuple[float, float]] = []
        self.first: float | None = None
        self.last: float | None = None
        self.period = period_seconds
        # When the new version's first traffic was counted, and the errors forgiven since.
        self.new_since: float | None = None
        self.forgiven = 0.0

    def add_minute(self, minute: Minute) -> None:
        self.first = minute.start if self.first is None else self.first
        self.last = minute.start
        n_new, n_old = minute.new_requests, minute.old_requests
        x, y = min(minute.new_errors, n_new), min(minute.old_errors, n_old)
        forgiven = 0.0
        if n_new > 0 and self.new_since is None:
            self.new_since = minute.start
        # The first 60 s of traffic: its first clock minute is mostly partial, so the next one too.
        # A cold start fails a few requests, not most of them: a period of at least twice the
        # allowance failing more than half is a version failing, forgiven nothing (a shorter one,
        # a partial minute's few requests, cannot tell them apart).
        few = x <= n_new / 2 or n_new < 2 * COLD_START_ERRORS
        if self.new_since is not None and minute.start <= self.new_since + 60 and few:
            forgiven = min(x, COLD_START_ERRORS - self.forgiven)
            self.forgiven += forgiven
        self._learn(n_old, y)
        self.comparison.add(n_new, x - forgiven, n_old, y, forgiven)
        self.traffic.add(n_new, x - forgiven, n_old, y, self.dispersion.rate_bound(), forgiven)
        if (
            minute.new_latency is not None
            and minute.old_latency is not None
            and min(n_new, n_old) >= LATENCY_MINIMUM_REQUESTS
        ):
            self.latencies.append((minute.new_latency, minute.old_latency))

    def _learn(self, requests: float, errors: float) -> None:
        """The old version's minute, for its over-dispersion and rate, unless it was an incident
        (a hotfix follows an outage: the outage is not how bursty or error-prone it usually is)."""
        if not (errors >= INCIDENT_ERRORS and errors > INCIDENT_CEILINGS * self.ceiling * requests):
            self.dispersion.add(requests, errors)

    def add_probes(self, trials: int, failures: int) -> None:
        self.probed.add(trials, failures)

    def _window(self) -> str:
        if self.first is None:
            return "no minutes yet"
        minutes = round((self.last - self.first + self.period) / 60, 1)
        minutes = int(minutes) if minutes == int(minutes) else minutes
        return f"{minutes} min from {_clock(self.first)}"

    def findings(self, metric_names: dict[str, str] | None = None) -> list[Finding]:
        names = {
            "errors": "error rate",
            "latency": "p90 latency",
            "probes": "probe failure rate",
            **(metric_names or {}),
        }
        comparison, window, dispersion = self.comparison, self._window(), self.dispersion.bound()
        return [
            self._finding(
                "errors-vs-old",
                names["errors"],
                comparison.new_errors / comparison.new_requests if comparison.new_requests else None,
                comparison.old_errors / comparison.old_requests if comparison.old_requests else None,
                comparison.log_ratio(dispersion),
                window,
                dispersion,
            ),
            self._finding(
                "errors-vs-ceiling",
                names["errors"],
                self.traffic.rate,
                self.ceiling,
                self.traffic.log_ratio(dispersion),
                window,
                dispersion,
            ),
            self._finding(
                "probes",
                names["probes"],
                self.probed.rate,
                self.probe_null(),
                self.probed.log_ratio(self.probe_null()),
                f"{self.probed.trials:.0f} probes",
            ),
            self._latency(names["latency"], window),
        ]

    def verdict(self, metric_names: dict[str, str] | None = None) -> Finding | None:
        """The strongest finding that calls for a rollback, or None."""
        return strongest(self.findings(metric_names))

    def errors_say_rollback(self) -> bool:
        """The two error tests alone (what verdict() finds bad among them), without the findings:
        cheap enough for the detection model's every look."""
        dispersion = self.dispersion.bound()
        return self.comparison.log_ratio(dispersion) / math.log(10) >= threshold(
            "errors-vs-old", self.budget
        ) or self.traffic.log_ratio(dispersion) / math.log(10) >= threshold("errors-vs-ceiling", self.budget)

    def probes_say_rollback(self) -> bool:
        """The probe test alone: cheap enough to ask after every probe."""
        return self.probed.log_ratio(self.probe_null()) / math.log(10) >= threshold("probes", self.budget)

    def probe_null(self) -> float:
        """The probes' ceiling: the path's, or TOLERATED_RATIO times the old version's error rate
        when that is higher (a baseline above the ceiling is not the new version's fault)."""
        return max(self.ceiling, TOLERATED_RATIO * self.dispersion.rate_bound())

    def _finding(
        self,
        check: str,
        metric: str,
        new: float | None,
        old: float | None,
        log_ratio: float,
        window: str,
        dispersion: float = 1.0,
    ) -> Finding:
        statistic, limit = log_ratio / math.log(10), threshold(check, self.budget)
        return Finding(check, metric, new, old, statistic, limit, window, statistic >= limit, dispersion)

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
