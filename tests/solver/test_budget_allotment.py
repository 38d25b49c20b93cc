"""The per-task seconds on a competition run: no local cap with a whole-run budget, tasks share the
budget over the lanes, and no task is given more than the budget has left."""

from __future__ import annotations

import pytest

from arcforge_solver.runtime.defaults import TIME_PER_TASK_S, time_per_task_cap
from arcforge_solver.runtime.scheduler import RESERVE_FRACTION, BudgetScheduler, per_task_allotment


def test_a_budget_without_a_cap_is_spread_over_the_tasks_and_lanes() -> None:
    # 240 tasks, 11 h, 4 lanes: each task gets 11 h × 4 / 240 = 660 s, not a local 10 or 20 s.
    assert per_task_allotment(11 * 3600, 240, 4, None) == pytest.approx(660.0)
    assert per_task_allotment(11 * 3600, 240, 4, 10.0) == 10.0


def test_time_saved_by_early_solves_goes_to_the_tasks_left() -> None:
    first = per_task_allotment(1000.0, 10, 1, None)
    # Nine tasks were solved in a second each: the last one gets what is left.
    assert first == pytest.approx(100.0)
    assert per_task_allotment(1000.0 - 9.0, 1, 1, None) == pytest.approx(991.0)


def test_no_task_outlasts_the_budget_when_lanes_outnumber_tasks() -> None:
    assert per_task_allotment(100.0, 1, 4, None) == pytest.approx(100.0)  # not 400 s
    assert per_task_allotment(100.0, 2, 4, None) == pytest.approx(100.0)
    assert per_task_allotment(0.5, 1, 4, None) == 0.0  # under a second: skipped


def test_a_run_without_a_budget_needs_a_cap() -> None:
    assert per_task_allotment(None, 5, 1, 20.0) == 20.0
    with pytest.raises(ValueError, match="needs a per-task cap"):
        per_task_allotment(None, 5, 1, None)


def test_the_local_default_applies_only_without_a_budget() -> None:
    assert time_per_task_cap(None, None) == TIME_PER_TASK_S
    assert time_per_task_cap(11 * 3600, None) is None
    assert time_per_task_cap(11 * 3600, 10.0) == 10.0
    assert time_per_task_cap(None, 3.0) == 3.0


def test_scheduler_without_a_cap() -> None:
    scheduler = BudgetScheduler(tasks_total=240, budget_s=11 * 3600, cap_s=None, lanes=4)
    assert scheduler.next_allotment(240) == pytest.approx(
        11 * 3600 * (1 - RESERVE_FRACTION) * 4 / 240, rel=1e-3
    )
