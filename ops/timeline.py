"""A PNG per stack: for each release path, the share of traffic a bad new version would get over
time, against the detection model's distribution of the time to restore traffic (rollback_guard/detection.py) at
the stack's declared traffic, for the static alarms alone and for the judge with its probes, on a
version failing every request that only real traffic shows (the probes pass)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt
import numpy as np

from ops.budget import Budget, share_at

SCENARIO = "fails-every-request"
SHOWN = (("static", "static alarms alone", "tab:red"), ("judge+probes", "judge with probes", "tab:green"))


def draw(budgets: list[Budget], stack: str, path: Path) -> Path:
    figure, axes = plt.subplots(len(budgets), 1, figsize=(9, 3.6 * len(budgets)), squeeze=False)
    for axis, budget in zip(axes[:, 0], budgets, strict=True):
        _one(axis, budget, stack)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def _one(axis, budget: Budget, stack: str) -> None:
    last_shift = budget.schedule[-1][0]
    window = last_shift + budget.watch_after_last_shift_seconds + budget.rollback_seconds
    end = window + 120
    times = np.arange(0, end + 1, 5)
    axis.step(
        times / 60,
        [share_at(budget.schedule, t) for t in times],
        where="post",
        color="tab:blue",
        label="traffic on a bad new version (never stopped)",
    )
    axis.axvspan(
        last_shift / 60,
        (last_shift + budget.watch_after_last_shift_seconds) / 60,
        alpha=0.10,
        color="tab:blue",
        label="still rolled back after the last shift",
    )
    axis.set_xlabel("minutes after the release starts")
    axis.set_ylabel("% of traffic")
    axis.set_ylim(0, 105)
    axis.set_xlim(0, end / 60)

    density = axis.twinx()
    density.set_ylabel("share of releases restored", fontsize="small")
    bins = np.arange(0, end / 60 + 0.5, 0.5)  # the judge looks every 30 s
    outcomes = budget.outcomes[SCENARIO]
    for detector, name, colour in SHOWN:
        outcome = outcomes[detector]
        restored = [t / 60 for t in outcome.restore_samples if math.isfinite(t)]
        missed = f", {outcome.miss_rate * 100:.0f}% never" if outcome.miss_rate else ""
        if restored:
            density.hist(restored, bins=bins, weights=[1 / outcome.runs] * len(restored), alpha=0.35, color=colour)
            for figure, style in ((outcome.restore_median_s, "-"), (outcome.restore_p95_s, "--")):
                axis.axvline(figure / 60, color=colour, linestyle=style, linewidth=1.2)
            label = (
                f"{name}: restored {outcome.restore_median_s / 60:.1f} median, "
                f"{outcome.restore_p95_s / 60:.1f} p95 (dashed) min{missed}"
            )
        else:
            label = f"{name}: never rolled back"
        axis.plot([], [], color=colour, linewidth=6, alpha=0.5, label=label)
    density.set_ylim(0, max(density.get_ylim()[1], 0.05) * 1.1)
    axis.set_title(
        f"{stack}: {budget.path} ({budget.config}) at {budget.requests_per_second:g} req/s\n"
        "a version failing every request that only real traffic shows (the probes pass)",
        fontsize="medium",
    )
    axis.legend(loc="center right", fontsize="x-small")
