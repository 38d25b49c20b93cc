"""The budget scheduler: how long each task may take, and whether the run will fit its budget.

The allotment is a plain function; durations and the forecast arithmetic (which engines use too, to
compare population sizes before choosing one) live in `runtime.timing`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from arcforge_solver.runtime.timing import Forecast, make_forecast

MIN_TASK_SECONDS = 1.0
"""Below this a task is not worth starting; it is skipped and keeps its fallback entries."""
RESERVE_FRACTION = 0.02
"""Part of the budget kept back for writing the submission and shutting down."""


def per_task_allotment(
    remaining_budget_s: float | None, remaining_tasks: int, lanes: int, cap_s: float | None
) -> float:
    """Seconds for the next task: the remaining budget spread evenly over the remaining tasks across
    `lanes` parallel workers, never above the per-task cap (None: no cap, the budget decides) nor past
    the end of the budget. 0 means no time is left for it.

    Time a task leaves unused (it was solved early) stays in the budget, so the tasks after it get
    more: with no cap, the tasks an engine cannot solve share the whole budget."""
    if remaining_tasks <= 0:
        return 0.0
    if remaining_budget_s is None:
        if cap_s is None:
            raise ValueError("a run without a time budget needs a per-task cap")
        return cap_s
    left = max(0.0, remaining_budget_s)
    share = min(left, left * max(1, lanes) / remaining_tasks)
    if cap_s is not None:
        share = min(cap_s, share)
    return share if share >= MIN_TASK_SECONDS else 0.0


@dataclass
class BudgetScheduler:
    """Tracks one run's clock: hands out per-task seconds and keeps the pace for forecasts."""

    tasks_total: int
    budget_s: float | None
    cap_s: float | None
    """None: no per-task cap (only with a budget)."""
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
