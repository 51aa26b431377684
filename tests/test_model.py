"""The detection model (rollback_guard/detection.py): it reproduces the issue's independent figures for the static
alarms, its judge is hooks/verdict.py's own code, the judge with its probes meets the goals it can
meet, it is repeatable, and settings can ask it about a path at load in a fraction of a second."""

from __future__ import annotations

import dataclasses
import re
import time

import pytest

import rollback_guard.detection as model
from rollback_guard.detection import (
    ASSUMPTIONS,
    ROBUSTNESS_SCENARIOS,
    PathModel,
    assess,
    codedeploy_schedule,
    simulate,
    simulate_detectors,
)
from rollback_guard.hooks import judge, verdict

LAMBDA_LINEAR = "CodeDeployDefault.LambdaLinear10PercentEvery1Minute"
LAMBDA_CANARY = "CodeDeployDefault.LambdaCanary10Percent5Minutes"
ECS_LINEAR = "CodeDeployDefault.ECSLinear10PercentEvery1Minutes"
ECS_CANARY = "CodeDeployDefault.ECSCanary10Percent5Minutes"
MINUTES = 60
HEALTHY = 0.001  # the old version's error rate behind a bad release


def lambda_path(config: str = LAMBDA_LINEAR, watch_minutes: int = 10, name: str = "greeter") -> PathModel:
    """The production stack's function: 3 of 3 one-minute datapoints above 1%, a guard of 50."""
    return PathModel(name, "lambda", "lambda-canary", config, codedeploy_schedule(config), watch_minutes * 60, 1.0, 50)


def ecs_path(config: str = ECS_LINEAR, wait_minutes: int = 15, name: str = "web") -> PathModel:
    """The production stack's service: the same alarms, blue kept 15 minutes after the last shift."""
    schedule = codedeploy_schedule(config)
    return PathModel(name, "ecs", "codedeploy-blue-green", config, schedule, wait_minutes * 60, 1.0, 50)


PATHS = {
    "Lambda linear": lambda_path(),
    "Lambda canary": lambda_path(LAMBDA_CANARY),
    "ECS linear": ecs_path(),
    "ECS canary": ecs_path(ECS_CANARY),
}


# --- the static alarms, as the independent model saw them (its Lambda deployments end at
# their last step: no post-traffic watch)


def test_a_lambda_linear_release_failing_every_request_at_10_rps_is_restored_after_six_minutes_on_alarms():
    alarms = simulate(lambda_path(), 10, HEALTHY, 1.0, "static", runs=1000, seed=1, post_shift_watch=False)
    assert alarms.miss_rate == 0
    assert 5.9 * MINUTES <= alarms.restore_median_s <= 6.5 * MINUTES, "the issue: 6.2 min"
    assert 6.9 * MINUTES <= alarms.restore_p95_s <= 7.7 * MINUTES, "the issue: 7.3 min"
    assert 2.2 * MINUTES <= alarms.floor_median_s <= 2.6 * MINUTES, "the one-minute floor: 2.4 min"
    assert 3.1 * MINUTES <= alarms.floor_p95_s <= 3.5 * MINUTES, "the one-minute floor: 3.3 min at p95"
    assert 60 <= alarms.exposure_median_percent <= 80, "most traffic has moved by the time the alarm acts"


def test_a_lambda_canary_at_10_rps_misses_most_bad_releases_on_alarms_ending_with_the_deployment():
    alarms = simulate(lambda_path(LAMBDA_CANARY), 10, HEALTHY, 1.0, "static", runs=600, seed=2, post_shift_watch=False)
    assert alarms.miss_rate >= 0.85, "the issue: 93%; the deployment is done before the third datapoint lands"


def test_the_post_traffic_watch_rolls_that_canary_back_late_instead():
    alarms = simulate(lambda_path(LAMBDA_CANARY), 10, HEALTHY, 1.0, "static", runs=600, seed=2)
    assert alarms.miss_rate <= 0.02
    assert alarms.restore_median_s > 5 * MINUTES and alarms.exposure_p95_percent == 100, "after the last shift"


def test_at_1_rps_the_guard_blinds_a_lambda_linear_release_until_all_traffic_is_on_it():
    bare = simulate(lambda_path(), 1, HEALTHY, 1.0, "static", runs=400, seed=3, post_shift_watch=False)
    assert bare.miss_rate == 1, "the issue: 50 new-version calls a minute, three minutes running, never happen"
    watched = simulate(lambda_path(), 1, HEALTHY, 1.0, "static", runs=400, seed=3)
    assert watched.restore_median_s > 12 * MINUTES, "only the watch after the last shift sees enough calls"


def test_an_ecs_linear_release_at_0_2_rps_is_never_rolled_back_by_its_alarms():
    alarms = simulate(ecs_path(), 0.2, HEALTHY, 1.0, "static", runs=400, seed=4)
    assert alarms.miss_rate == 1, "12 requests a minute never clear a guard of 50"


def test_static_alarms_roll_back_many_healthy_releases_whose_error_rate_sits_at_the_threshold():
    lam = simulate(lambda_path(), 10, 0.01, 0.01, "static", runs=2000, seed=5, post_shift_watch=False)
    ecs = simulate(ecs_path(), 10, 0.01, 0.01, "static", runs=2000, seed=5)
    assert 0.12 <= lam.false_rollback_rate <= 0.35, "the issue: 22% of healthy Lambda releases"
    assert ecs.false_rollback_rate >= 0.75, "the issue: 87% of healthy ECS releases"


# --- the judge is the code that runs in AWS


def test_the_model_judges_with_verdict_py_and_the_judges_cadence():
    assert model.Evidence is verdict.Evidence and model.Minute is verdict.Minute
    assert model.JUDGE_LOOK_SECONDS == judge.LOOK_SECONDS


def test_a_change_to_the_verdicts_budget_changes_what_the_model_measures(monkeypatch):
    fast = simulate(lambda_path(), 10, HEALTHY, 0.2, "judge+probes", runs=100, seed=6)
    monkeypatch.setitem(verdict.BUDGET_SHARES, "probes", 1e-30)  # the probe test never decides
    slow = simulate(lambda_path(), 10, HEALTHY, 0.2, "judge+probes", runs=100, seed=6)
    assert fast.restore_p95_s < 1 * MINUTES < 2 * MINUTES < slow.restore_p95_s


# --- the goals for the judge with probes, on the production settings


@pytest.mark.parametrize("name", PATHS)
@pytest.mark.parametrize("traffic", [1, 10])
def test_probes_restore_traffic_from_a_version_failing_a_fifth_of_them_within_two_minutes(name, traffic):
    caught = simulate(PATHS[name], traffic, HEALTHY, 0.2, "judge+probes", True, runs=150, seed=7)
    assert caught.miss_rate == 0
    assert caught.restore_p95_s <= 2 * MINUTES, "below the one-minute metrics' floor"
    assert caught.exposure_p95_percent <= 15, "still on the first step"


@pytest.mark.parametrize("config", [LAMBDA_LINEAR, LAMBDA_CANARY])
def test_a_lambda_version_failing_every_request_only_real_traffic_shows_is_restored_within_four_minutes_at_10_rps(
    config,
):
    seen = simulate(lambda_path(config), 10, HEALTHY, 1.0, "judge+probes", False, runs=300, seed=8)
    assert seen.miss_rate == 0
    assert seen.restore_p95_s <= 4 * MINUTES


@pytest.mark.xfail(
    strict=True,
    reason="settled minutes (+0.3 min) and the cold-start allowance (+0.3 min) put a 20% failure at 4.2-4.3 min p95",
)
@pytest.mark.parametrize("config", [LAMBDA_LINEAR, LAMBDA_CANARY])
def test_goal_a_lambda_failing_a_fifth_only_real_traffic_shows_is_restored_within_four_minutes_at_10_rps(config):
    seen = simulate(lambda_path(config), 10, HEALTHY, 0.2, "judge+probes", False, runs=300, seed=8)
    assert seen.restore_p95_s <= 4 * MINUTES


@pytest.mark.parametrize("config", [LAMBDA_LINEAR, LAMBDA_CANARY])
def test_with_the_applications_10_second_counts_a_lambda_failing_every_request_is_restored_within_90_seconds(config):
    path = dataclasses.replace(lambda_path(config), release_metrics=True)
    seen = simulate(path, 10, HEALTHY, 1.0, "judge+probes", False, runs=300, seed=8)
    assert seen.miss_rate == 0
    assert seen.restore_p95_s <= 90


@pytest.mark.parametrize("conditions", ROBUSTNESS_SCENARIOS, ids=[c.name for c in ROBUSTNESS_SCENARIOS])
def test_under_every_robustness_scenario_the_judge_rolls_back_few_healthy_releases_at_10_rps(conditions):
    # `make bench` (benchmarks/robustness.py) measures the budget itself, with more runs and cells.
    outcome = simulate(
        PATHS["Lambda linear"], 10, 0.005, 0.005, "judge+probes", runs=600, seed=4, conditions=conditions
    )
    assert outcome.false_rollback_rate <= 0.01


@pytest.mark.parametrize("name", ["Lambda linear", "ECS linear"])
def test_the_judge_rolls_back_at_most_half_a_percent_of_healthy_releases_at_the_threshold(name):
    outcome = simulate(PATHS[name], 10, 0.01, 0.01, "judge+probes", runs=1000, seed=9)
    assert outcome.false_rollback_rate <= 0.005


@pytest.mark.xfail(strict=True, reason="ECS: the 60 s reroute puts the one-minute floor at 4.1 min (p95)")
def test_goal_an_ecs_failure_only_real_traffic_shows_is_restored_within_four_minutes():
    seen = simulate(ecs_path(), 10, HEALTHY, 1.0, "judge+probes", False, runs=300, seed=10)
    assert seen.restore_p95_s <= 4 * MINUTES


@pytest.mark.xfail(strict=True, reason="3 errors a minute at the 10% step: too few to decide within 5 min")
def test_goal_a_5_percent_regression_at_10_rps_on_a_lambda_canary_is_restored_within_five_minutes():
    seen = simulate(lambda_path(LAMBDA_CANARY), 10, HEALTHY, 0.05, "judge+probes", False, runs=300, seed=11)
    assert seen.restore_p95_s <= 5 * MINUTES


# --- what really runs, and the model's contract


def test_what_runs_is_the_first_of_the_alarms_the_judge_and_the_probes_to_act():
    runs = simulate_detectors(lambda_path(), 10, HEALTHY, 1.0, runs=200, seed=12, keep_samples=True)
    for run, restored in enumerate(runs["all"].restore_samples):
        first = min(runs["static"].restore_samples[run], runs["judge+probes"].restore_samples[run])
        assert restored == first


def test_a_seed_makes_the_model_repeatable():
    first = simulate_detectors(ecs_path(), 1, 0.01, 0.05, runs=100, seed=13)
    again = simulate_detectors(ecs_path(), 1, 0.01, 0.05, runs=100, seed=13)
    other = simulate_detectors(ecs_path(), 1, 0.01, 0.05, runs=100, seed=14)
    assert {k: o.as_dict() for k, o in first.items()} == {k: o.as_dict() for k, o in again.items()}
    assert first["static"].as_dict() != other["static"].as_dict()


def test_every_assumption_aws_does_not_document_says_where_it_comes_from():
    named = {assumption.what for assumption in ASSUMPTIONS}
    assert {"ingestion delay", "alarm evaluation", "CodeDeploy alarm polling", "rollback", "judge", "probes"} <= named
    assert all(assumption.source for assumption in ASSUMPTIONS)
    assert "60-150 s" in next(a.value for a in ASSUMPTIONS if a.what == "ingestion delay")


def test_a_healthy_release_has_a_false_rollback_rate_and_a_bad_one_a_miss_rate():
    healthy = simulate(lambda_path(), 1, 0.001, 0.001, "all", runs=50, seed=15)
    bad = simulate(lambda_path(), 1, 0.001, 1.0, "all", runs=50, seed=15)
    assert healthy.miss_rate is None and healthy.false_rollback_rate is not None
    assert bad.false_rollback_rate is None and bad.miss_rate is not None


# --- the assessment settings ask for at load


def test_settings_can_assess_a_path_at_load_in_well_under_half_a_second():
    for name, path in PATHS.items():
        started = time.perf_counter()
        assess(dataclasses.replace(path, name=f"{name}-timed"), 10)
        assert time.perf_counter() - started < 0.5, name


def test_a_path_whose_alarms_cannot_see_a_bad_release_is_refused_with_the_number():
    native = PathModel(
        "web", "ecs", "ecs-linear", "ecs-linear 10% every 1 min", codedeploy_schedule(ECS_LINEAR), 900, 1.0, 50
    )
    assessment = assess(native, 0.2)
    assert assessment.problem() == (
        "this ECS linear (ecs-linear 10% every 1 min) misses 100% of bad releases at 0.2 req/s "
        "(alarms only: no judge on this strategy)"
    )


def test_a_judged_lambda_canary_at_10_rps_catches_bad_releases_its_alarms_alone_would_not():
    without_watch = lambda_path(LAMBDA_CANARY, watch_minutes=0, name="no-watch")
    assessment = assess(without_watch, 10)
    assert assessment.static_miss_rate >= 0.85, "the alarms end with the deployment"
    assert assessment.problem() is None, "the judge looks at the new version's first minutes"
    assert assessment.message().startswith(
        "this Lambda canary (CodeDeployDefault.LambdaCanary10Percent5Minutes) misses 0% of bad releases at "
        "10 req/s and restores traffic within "
    )
    assert re.search(r"within \d\.\d min \(p95\) \(its alarms alone miss (8[5-9]|9\d)%\)$", assessment.message())


def test_the_assessment_uses_the_traffic_the_stack_declares():
    declared = dataclasses.replace(lambda_path(), requests_per_second=1.0)
    assert assess(declared).requests_per_second == 1.0
    with pytest.raises(ValueError, match="expectedRequestsPerSecond"):
        assess(lambda_path())
