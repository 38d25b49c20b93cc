"""The budget scheduler: how long each task may take, and whether the run will fit its budget.

The pieces are plain functions so that an engine (the LLM engine measures seconds per task on its
first tasks) can compute the same forecasts the runtime prints, for example to compare population
sizes before choosing one.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

FORECAST_AFTER = 3
"""Tasks finished before the first forecast: fewer say too little about the pace."""
MIN_TASK_SECONDS = 1.0
"""Below this a task is not worth starting; it is skipped and keeps its fallback entries."""
RESERVE_FRACTION = 0.02
"""Part of the budget kept back for writing the submission and shutting down."""

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(h|m|s)")


def parse_duration(text: str | float | int) -> float:
    """Seconds from `12h`, `90m`, `45s`, `1h30m`, or a plain number of seconds."""
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        cleaned = text.strip().lower().replace("min", "m")
        try:
            value = float(cleaned)
        except ValueError:
            parts = _DURATION.findall(cleaned)
            if not parts or _DURATION.sub("", cleaned).strip():
                raise ValueError(
                    f"cannot read duration {text!r}; write e.g. 12h, 90m, 1h30m or 45s"
                ) from None
            value = sum(float(n) * {"h": 3600, "m": 60, "s": 1}[unit] for n, unit in parts)
    if value <= 0:
        raise ValueError(f"duration {text!r} must be positive")
    return value


def format_duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.0f} s"


def per_task_allotment(
    remaining_budget_s: float | None, remaining_tasks: int, lanes: int, cap_s: float
) -> float:
    """Seconds for the next task: the remaining budget spread evenly over the remaining tasks across
    `lanes` parallel workers, never above the per-task cap. 0 means no time is left for it."""
    if remaining_tasks <= 0:
        return 0.0
    if remaining_budget_s is None:
        return cap_s
    share = max(0.0, remaining_budget_s) * max(1, lanes) / remaining_tasks
    share = min(cap_s, share)
    return share if share >= MIN_TASK_SECONDS else 0.0


def forecast_total_seconds(
    elapsed_s: float, seconds_per_task: float, remaining_tasks: int, lanes: int
) -> float:
    """Projected wall-clock seconds of the whole run at a measured pace per task."""
    return elapsed_s + max(0, remaining_tasks) * seconds_per_task / max(1, lanes)


@dataclass(frozen=True)
class Forecast:
    tasks: int
    total_s: float
    budget_s: float | None
    seconds_per_task: float

    @property
    def within_budget(self) -> bool:
        return self.budget_s is None or self.total_s <= self.budget_s

    @property
    def line(self) -> str:
        return forecast_line(self.tasks, self.total_s, self.budget_s)


def forecast_line(tasks: int, total_s: float, budget_s: float | None) -> str:
    """`at this pace 400 tasks need 7.2 h — within the 12.0 h budget`."""
    head = f"at this pace {tasks} tasks need {format_duration(total_s)}"
    if budget_s is None:
        return head + " (no overall budget set)"
    verdict = "within" if total_s <= budget_s else "over"
    return f"{head} — {verdict} the {format_duration(budget_s)} budget"


def make_forecast(
    *,
    task_seconds: Sequence[float],
    tasks_total: int,
    tasks_done: int,
    elapsed_s: float,
    budget_s: float | None,
    lanes: int,
) -> Forecast | None:
    """A forecast from the seconds the finished tasks took, once FORECAST_AFTER have finished."""
    if len(task_seconds) < FORECAST_AFTER:
        return None
    pace = sum(task_seconds) / len(task_seconds)
    total = forecast_total_seconds(elapsed_s, pace, tasks_total - tasks_done, lanes)
    return Forecast(tasks=tasks_total, total_s=total, budget_s=budget_s, seconds_per_task=pace)


@dataclass
class BudgetScheduler:
    """Tracks one run's clock: hands out per-task seconds and keeps the pace for forecasts."""

    tasks_total: int
    budget_s: float | None
    cap_s: float
    lanes: int = 1
    clock: float = field(default_factory=time.monotonic)
    task_seconds: list[float] = field(default_factory=list)
    done: int = 0

    def elapsed(self) -> float:
        return time.monotonic() - self.clock

    def remaining_budget(self) -> float | None:
        if self.budget_s is None:
            return None
        return self.budget_s * (1 - RESERVE_FRACTION) - self.elapsed()

    def next_allotment(self, waiting_tasks: int) -> float:
        """Seconds for the next task given how many are not finished yet (it included)."""
        return per_task_allotment(self.remaining_budget(), waiting_tasks, self.lanes, self.cap_s)

    def finished(self, seconds: float) -> None:
        self.done += 1
        self.task_seconds.append(seconds)

    def skipped(self) -> None:
        self.done += 1

    def forecast(self) -> Forecast | None:
        return make_forecast(
            task_seconds=self.task_seconds,
            tasks_total=self.tasks_total,
            tasks_done=self.done,
            elapsed_s=self.elapsed(),
            budget_s=self.budget_s,
            lanes=self.lanes,
        )
