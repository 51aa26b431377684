"""A PNG per stack: for each release path, the share of traffic on the new version over time,
against the window in which a bad version is still being detected."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt

from ops.budget import Budget, share_at


def draw(budgets: list[Budget], stack: str, path: Path) -> Path:
    figure, axes = plt.subplots(len(budgets), 1, figsize=(8, 3.2 * len(budgets)), squeeze=False)
    for axis, budget in zip(axes[:, 0], budgets, strict=True):
        end = max(budget.schedule[-1][0] + budget.watch_after_last_shift_seconds, budget.recovery_seconds) + 120
        times = list(range(0, end + 1, 5))
        # If the version is bad, its share grows until the rollback puts everything back on the old one.
        shares = [share_at(budget.schedule, t) if t < budget.recovery_seconds else 0 for t in times]
        axis.step([t / 60 for t in times], shares, where="post", label="traffic on a bad new version")
        axis.axvspan(0, budget.detect_seconds / 60, alpha=0.15, color="tab:red", label="alarm still detecting")
        last_shift = budget.schedule[-1][0]
        axis.axvspan(
            last_shift / 60,
            (last_shift + budget.watch_after_last_shift_seconds) / 60,
            alpha=0.12,
            color="tab:blue",
            label="alarms still roll back after the last shift",
        )
        axis.axvline(
            budget.recovery_seconds / 60, color="tab:green", linestyle="--", label="traffic restored (worst case)"
        )
        axis.set_title(
            f"{stack}: {budget.path} ({budget.strategy})\nworst case {budget.worst_share_percent:g}% of traffic "
            f"on a bad version, restored after {budget.recovery_seconds / 60:.1f} min",
            fontsize="medium",
        )
        axis.set_xlabel("minutes after the release starts")
        axis.set_ylabel("% of traffic")
        axis.set_ylim(0, 105)
        axis.legend(loc="lower right", fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
