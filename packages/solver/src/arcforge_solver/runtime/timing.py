"""Time, in one place: the `Deadline` an engine must return by, reading and writing durations
("11h", "90m", "1h30m", "45s", 20), and the forecast arithmetic (how long a run takes at a pace).

This module imports nothing else of the solver: the runtime, the engines and the CLI all use it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

FORECAST_AFTER = 3
"""Tasks finished before the first forecast: fewer say too little about the pace."""

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(h|m|s)")
_UNIT_SECONDS = {"h": 3600, "m": 60, "s": 1}


class Deadline:
    """A point in monotonic time that an engine must return by."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started = time.monotonic()
        self.at = self.started + seconds

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self.at

    def elapsed(self) -> float:
        return time.monotonic() - self.started


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
            value = sum(float(n) * _UNIT_SECONDS[unit] for n, unit in parts)
    if value <= 0:
        raise ValueError(f"duration {text!r} must be positive")
    return value


def format_duration(seconds: float) -> str:
    """`7.2 h`, `3.5 min` or `40 s`: one unit, for people."""
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.0f} s"


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
