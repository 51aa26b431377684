"""The canary judge's statistics (hooks/verdict.py), read as policy: healthy releases are rarely
rolled back however often the judge looks, a broken version is found at once, the rank test's
p-values are what enumeration says, and every finding explains itself."""

from __future__ import annotations

import itertools
import math

import numpy
import pytest

from rollback_guard.hooks.verdict import (
    COLD_START_ERRORS,
    FALSE_ROLLBACK_BUDGET,
    MAX_DISPERSION,
    SETTLE_SECONDS,
    UNCOMPARED_RUN,
    Dispersion,
    Evidence,
    Finding,
    Minute,
    rank_p_value,
    settled,
    threshold,
)


def healthy_release(rng: numpy.random.Generator, baseline: float, ceiling_percent: float) -> bool:
    """One release whose new version is exactly as good as the old, judged as the Lambda judges
    it: a verdict at every minute, the probe test after every probe. Linear 10% a minute, then
    ten more minutes on the new version alone (the post-traffic watch); 1000 requests and 60
    probes a minute; p90 latencies from one distribution. True if it was rolled back."""
    evidence = Evidence(ceiling_percent)
    for index in range(20):
        new = int(rng.binomial(1000, min(1.0, 0.1 * (index + 1))))
        latencies = 100 * rng.lognormal(0, 0.1, 2)
        evidence.add_minute(
            Minute(
                start=60.0 * index,
                new_requests=new,
                new_errors=int(rng.binomial(new, baseline)),
                old_requests=1000 - new,
                old_errors=int(rng.binomial(1000 - new, baseline)),
                new_latency=latencies[0] if new else None,
                old_latency=latencies[1] if new < 1000 else None,
            )
        )
        # The probe test's evidence only grows at a failure: asking right after each one is asking
        # after every probe.
        failures = int(rng.binomial(60, baseline))
        done = 0
        for position in sorted(rng.choice(60, failures, replace=False)):
            evidence.add_probes(int(position) - done, 0)
            evidence.add_probes(1, 1)
            done = int(position) + 1
            if evidence.probes_say_rollback():
                return True
        evidence.add_probes(60 - done, 0)
        if evidence.verdict():
            return True
    return False


@pytest.mark.parametrize("baseline", [0.001, 0.01])
def test_looking_every_minute_rolls_back_at_most_the_budget_of_healthy_releases(baseline):
    # The path's threshold is 1%: at a 1% baseline the new version sits exactly on its ceiling.
    rng = numpy.random.default_rng(2026)
    releases = 2000
    rolled_back = sum(healthy_release(rng, baseline, ceiling_percent=1.0) for _ in range(releases))
    assert rolled_back <= FALSE_ROLLBACK_BUDGET * releases


def brute_force_p_value(new: list[float], old: list[float]) -> float:
    """Every way of splitting the pooled values into groups of len(new) and len(old), each equally
    likely if both come from one distribution: the share whose U is at least the observed one."""

    def u(first, second):
        return sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in first for b in second)

    pooled, observed = new + old, u(new, old)
    splits = list(itertools.combinations(range(len(pooled)), len(new)))
    at_least = 0
    for chosen in splits:
        first = [pooled[i] for i in chosen]
        second = [pooled[i] for i in range(len(pooled)) if i not in chosen]
        at_least += u(first, second) >= observed - 1e-9
    return at_least / len(splits)


@pytest.mark.parametrize(("m", "n"), [(1, 1), (2, 3), (3, 3), (4, 2), (4, 5), (5, 5), (3, 7)])
def test_the_rank_tests_p_value_is_what_enumerating_every_split_gives(m, n):
    rng = numpy.random.default_rng(m * 10 + n)
    for _ in range(20):
        values = rng.permutation(m + n).astype(float).tolist()  # distinct, in a random order
        new, old = values[:m], values[m:]
        assert rank_p_value(new, old) == pytest.approx(brute_force_p_value(new, old), abs=1e-12)


@pytest.mark.parametrize(("m", "n", "levels"), [(5, 5, 4), (8, 8, 3), (4, 6, 2)])
def test_with_many_ties_the_rank_test_still_rejects_a_true_null_at_most_as_often_as_its_level(m, n, levels):
    # Latencies that repeat (a coarse clock, say): both versions from one discrete distribution.
    rng = numpy.random.default_rng(m * 100 + n * 10 + levels)
    samples = 4000
    values = rng.integers(0, levels, (samples, m + n)).astype(float).tolist()
    p_values = numpy.array([rank_p_value(row[:m], row[m:]) for row in values])
    for level in (0.01, 0.05, 0.1):
        slack = 3 * math.sqrt(level * (1 - level) / samples)
        assert (p_values <= level).mean() <= level + slack


def test_the_rank_tests_large_sample_p_value_is_close_to_the_exact_one():
    # Beyond m*n = 400 a normal approximation is used: at the boundary it agrees with enumeration
    # of U's distribution to a few thousandths.
    rng = numpy.random.default_rng(5)
    new = (rng.normal(0.3, 1, 20)).tolist()
    old = (rng.normal(0, 1, 21)).tolist()
    exact = rank_p_value(new, old[:20])
    approximate = rank_p_value(new, old)
    assert exact == pytest.approx(approximate, abs=0.05)


@pytest.mark.parametrize(
    ("canary_percent", "requests"),
    [(1, 1000), (10, 1000), (10, 100), (50, 60)],
)
def test_a_version_that_fails_every_request_is_found_in_its_first_minute_of_data(canary_percent, requests):
    new = requests * canary_percent // 100
    # The old version's hour before the release, failing 0.1% independently, as the judge reads it.
    rng = numpy.random.default_rng(canary_percent)
    history = [Minute(-60.0 * k, 0, 0, requests, int(rng.binomial(requests, 0.001))) for k in range(1, 61)]
    evidence = Evidence(ceiling_percent=1.0, history=history)
    evidence.add_minute(Minute(0, new, new, requests - new, (requests - new) // 1000))
    verdict = evidence.verdict()
    assert verdict is not None and verdict.bad
    assert verdict.check in ("errors-vs-old", "errors-vs-ceiling")


def test_two_failed_probes_are_enough_against_a_one_percent_ceiling():
    evidence = Evidence(ceiling_percent=1.0)
    evidence.add_probes(1, 1)
    assert not evidence.probes_say_rollback(), "one failure could be the 1% a healthy version has"
    evidence.add_probes(1, 1)
    assert evidence.probes_say_rollback()


def test_a_version_barely_worse_than_the_old_one_is_not_rolled_back():
    # 1.2 times the old error rate is within TOLERATED_RATIO: noise to the people who get paged.
    evidence = Evidence(ceiling_percent=5.0)
    for minute in range(30):
        evidence.add_minute(Minute(60.0 * minute, 5000, 60, 5000, 50))
    assert evidence.verdict() is None


def explained(finding: Finding) -> str:
    said = finding.explain()
    assert finding.metric in said and finding.window in said
    if finding.check == "latency":
        assert f"{10**-finding.statistic:.2g}" in said and f"{10**-finding.threshold:.2g}" in said
    else:
        assert f"{finding.statistic:.2f}" in said and f"{finding.threshold:.2f}" in said
    return said


def test_every_finding_names_its_metric_values_statistic_threshold_and_window():
    evidence = Evidence(ceiling_percent=1.0)
    for minute in range(12):
        evidence.add_minute(Minute(1_795_700_000.0 + 60 * minute, 100, 20, 900, 1, 210.0, 100.0))
    evidence.add_probes(10, 0)
    names = {
        "errors": "error rate Errors/Invocations of version 2 (old: version 1)",
        "latency": "p90 latency Duration of version 2 (old: version 1)",
        "probes": "probe failure rate of version 2",
    }
    findings = {finding.check: finding for finding in evidence.findings(names)}
    assert set(findings) == {"errors-vs-old", "errors-vs-ceiling", "probes", "latency"}

    errors = explained(findings["errors-vs-old"])
    assert errors.startswith(f"ROLLBACK: errors-vs-old: {names['errors']} 20% against 0.111% over 12 min from ")
    assert findings["errors-vs-old"].threshold == pytest.approx(threshold("errors-vs-old"))
    # Every minute had the old version to compare with: the ceiling test has nothing of its own.
    assert explained(findings["errors-vs-ceiling"]).startswith(
        f"ok: errors-vs-ceiling: {names['errors']} 20% against 1% over 12 min from "
    )
    assert explained(findings["probes"]).startswith(f"ok: probes: {names['probes']} 0% against 1% over 10 probes")
    latency = explained(findings["latency"])
    assert latency.startswith(f"ROLLBACK: latency: {names['latency']} 210 ms against 100 ms over 12 comparable min of ")
    as_dict = findings["latency"].as_dict()
    assert as_dict["explanation"] == latency
    assert {"check", "metric", "newValue", "oldValue", "statistic", "threshold", "window", "bad"} <= set(as_dict)


def test_the_strongest_bad_finding_is_the_verdict():
    evidence = Evidence(ceiling_percent=1.0)
    evidence.add_minute(Minute(0, 100, 100, 900, 1))
    findings = [finding for finding in evidence.findings() if finding.bad]
    verdict = evidence.verdict()
    assert verdict == max(findings, key=lambda finding: finding.statistic - finding.threshold)
    assert math.isfinite(verdict.statistic)


# --- real traffic: bursts, cold starts, shared outages, a baseline above the ceiling


def bursty(rng: numpy.random.Generator, requests: int, rate: float, dispersion: float) -> int:
    """Errors of a minute whose variance is `dispersion` times its mean (negative binomial)."""
    mean = requests * rate
    if dispersion <= 1 or mean <= 0:
        return int(rng.binomial(requests, rate))
    return int(min(requests, rng.poisson(rng.gamma(mean / (dispersion - 1), dispersion - 1))))


def healthy_bursty_release(rng: numpy.random.Generator, baseline: float, dispersion: float, per_minute: int) -> bool:
    """Linear 10% a minute and a 10-minute watch, both versions failing in bursts alike, each
    independently; the judge reads the old version's hour before. True if it was rolled back."""
    history = [
        Minute(-60.0 * (k + 1), 0, 0, per_minute, bursty(rng, per_minute, baseline, dispersion)) for k in range(60)
    ]
    evidence = Evidence(1.0, history=history)
    for index in range(20):
        new = int(rng.binomial(per_minute, min(1.0, 0.1 * (index + 1))))
        old = per_minute - new
        evidence.add_minute(
            Minute(
                60.0 * index,
                new,
                bursty(rng, new, baseline, dispersion),
                old,
                bursty(rng, old, baseline, dispersion),
            )
        )
        if evidence.verdict():
            return True
    return False


@pytest.mark.parametrize(("dispersion", "per_minute"), [(3.0, 600), (10.0, 600), (10.0, 6000)])
def test_errors_in_bursts_the_old_version_shows_too_roll_back_at_most_the_budget_of_healthy_releases(
    dispersion, per_minute
):
    rng = numpy.random.default_rng(int(dispersion * 10 + per_minute))
    releases = 1000
    rolled_back = sum(healthy_bursty_release(rng, 0.005, dispersion, per_minute) for _ in range(releases))
    assert rolled_back <= FALSE_ROLLBACK_BUDGET * releases


def test_without_the_over_dispersion_the_same_bursts_would_roll_back_healthy_releases(monkeypatch):
    # The check that the test above can fail: errors counted at full weight, bursts roll back.
    monkeypatch.setattr(Dispersion, "bound", lambda self: 1.0)
    rng = numpy.random.default_rng(7)
    releases = 400
    rolled_back = sum(healthy_bursty_release(rng, 0.005, 10.0, 600) for _ in range(releases))
    assert rolled_back > 4 * FALSE_ROLLBACK_BUDGET * releases


def test_the_over_dispersion_of_binomial_minutes_is_about_one_and_of_bursts_about_their_variance_ratio():
    rng = numpy.random.default_rng(3)
    for dispersion, low, high in ((1.0, 1.0, 1.5), (3.0, 2.0, 6.0), (10.0, 6.0, 20.0)):
        estimate = Dispersion()
        for _ in range(60):
            estimate.add(1000, bursty(rng, 1000, 0.01, dispersion))
        assert low <= estimate.bound() <= high, (dispersion, estimate.bound())


def test_an_outage_in_the_old_versions_history_does_not_blind_the_judge():
    # A hotfix after an incident: one minute at 30% among an hour at 0.1%.
    history = [Minute(-60.0 * k, 0, 0, 1000, 1) for k in range(1, 60)] + [Minute(-3600.0, 0, 0, 1000, 300)]
    evidence = Evidence(1.0, history=history)
    assert evidence.dispersion.bound() < 1.5 and evidence.dispersion.rate_bound() < 0.005
    evidence.add_minute(Minute(0, 100, 10, 900, 1))
    verdict = evidence.verdict()
    assert verdict is not None and verdict.check == "errors-vs-old", "10% against 0.1% in the first minute"


def test_bursts_that_stay_bursts_are_not_taken_for_incidents():
    rng = numpy.random.default_rng(11)
    evidence = Evidence(
        1.0, history=[Minute(-60.0 * k, 0, 0, 6000, bursty(rng, 6000, 0.005, 10.0)) for k in range(1, 61)]
    )
    assert evidence.dispersion.minutes == 60


def test_an_old_version_whose_whole_history_is_bursty_still_lets_a_total_failure_stop_in_its_first_minute():
    history = [Minute(-60.0 * k, 0, 0, 1000, 0 if k % 2 else 15) for k in range(1, 61)]
    evidence = Evidence(1.0, history=history)
    assert 5 < evidence.dispersion.bound() <= MAX_DISPERSION
    evidence.add_minute(Minute(0, 100, 100, 900, 1))
    assert evidence.verdict() is not None, "a version failing every request still stops in its first minute"


def test_a_few_cold_start_errors_in_the_new_versions_first_minute_do_not_roll_back():
    evidence = Evidence(1.0)
    evidence.add_minute(Minute(0, 30, COLD_START_ERRORS, 270, 0))
    for minute in range(1, 10):
        evidence.add_minute(Minute(60.0 * minute, 60 * minute, 0, 600 - 60 * minute, 0))
    assert evidence.verdict() is None
    findings = {finding.check: finding for finding in evidence.findings()}
    assert findings["errors-vs-old"].new_value > 0, "forgiven, not hidden: the rate still shows them"


def test_with_no_history_a_version_failing_every_request_at_a_tenth_of_the_traffic_stops_in_its_first_minute():
    evidence = Evidence(1.0)
    evidence.add_minute(Minute(0, 12, 12, 108, 0))
    assert evidence.verdict() is not None


def test_the_same_errors_after_the_first_60_seconds_of_traffic_roll_back():
    evidence = Evidence(1.0)
    evidence.add_minute(Minute(0, 30, 0, 270, 0))
    evidence.add_minute(Minute(60, 60, 0, 540, 0))
    evidence.add_minute(Minute(120, 60, COLD_START_ERRORS + 5, 540, 0))
    assert evidence.verdict() is not None


def test_a_one_minute_outage_both_versions_share_does_not_roll_back_even_after_the_last_shift():
    for new_share in (0.1, 0.5, 0.9, 1.0):
        evidence = Evidence(1.0)
        new = int(1000 * new_share)
        evidence.add_minute(Minute(0, new, 0, 1000 - new, 1))
        evidence.add_minute(Minute(60, new, new // 10, 1000 - new, (1000 - new) // 10))
        evidence.add_minute(Minute(120, new, 0, 1000 - new, 1))
        assert evidence.verdict() is None, new_share


def test_where_the_old_version_does_not_serve_the_ceiling_alone_needs_a_run_of_bad_minutes():
    evidence = Evidence(1.0)
    for minute in range(UNCOMPARED_RUN - 1):
        evidence.add_minute(Minute(60.0 * minute, 1000, 100, 0, 0))
        assert evidence.verdict() is None, "fewer bad minutes than the alarms' 3 of 3"
    evidence.add_minute(Minute(60.0 * UNCOMPARED_RUN, 1000, 100, 0, 0))
    verdict = evidence.verdict()
    assert verdict is not None and verdict.check == "errors-vs-ceiling"


def test_a_baseline_above_the_ceiling_is_not_the_new_versions_fault_but_a_worse_version_still_is():
    both_at_two_percent = Evidence(1.0)
    for minute in range(20):
        share = min(1.0, 0.1 * (minute + 1))
        new = int(1000 * share)
        both_at_two_percent.add_minute(Minute(60.0 * minute, new, new // 50, 1000 - new, (1000 - new) // 50))
    assert both_at_two_percent.verdict() is None

    worse = Evidence(1.0, history=[Minute(-60.0 * k, 0, 0, 1000, 20) for k in range(1, 61)])
    worse.add_minute(Minute(0, 100, 20, 900, 18))
    verdict = worse.verdict()
    assert verdict is not None and verdict.check == "errors-vs-old"


def test_only_minutes_that_ended_the_settling_time_ago_are_judged():
    minutes = [Minute(0, 10, 0), Minute(60, 10, 0), Minute(120, 10, 0)]
    assert settled(minutes, now=120 + SETTLE_SECONDS) == minutes[:2]
    assert settled(minutes, now=120 + SETTLE_SECONDS - 1) == minutes[:1]


@pytest.mark.parametrize("seed", range(5))
def test_the_models_shortcut_agrees_with_the_verdicts_error_findings(seed):
    rng = numpy.random.default_rng(seed)
    evidence = Evidence(1.0, history=[Minute(-60.0 * k, 0, 0, 500, int(rng.poisson(2))) for k in range(1, 30)])
    for minute in range(20):
        new = int(rng.integers(0, 500))
        evidence.add_minute(
            Minute(60.0 * minute, new, int(rng.binomial(new, 0.03)), 500 - new, int(rng.binomial(500 - new, 0.01)))
        )
        errors_bad = any(f.bad for f in evidence.findings() if f.check.startswith("errors"))
        assert evidence.errors_say_rollback() == errors_bad
