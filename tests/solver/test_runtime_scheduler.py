"""The budget scheduler and timing: durations, per-task time, skipping when the budget is spent, the forecast."""

from __future__ import annotations

import pytest

from arcforge_solver.runtime.scheduler import BudgetScheduler, per_task_allotment
from arcforge_solver.runtime.timing import (
    FORECAST_AFTER,
    forecast_line,
    forecast_total_seconds,
    format_duration,
    make_forecast,
    parse_duration,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("12h", 43200), ("90m", 5400), ("1h30m", 5400), ("45s", 45), ("2.5", 2.5), ("10min", 600), (30, 30)],
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "12 hours", "h", "-5", "0", "3d"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_allotment_spreads_the_remaining_budget_and_respects_the_cap() -> None:
    assert per_task_allotment(100.0, 10, lanes=1, cap_s=30) == 10.0
    assert per_task_allotment(100.0, 10, lanes=2, cap_s=30) == 20.0  # two lanes run side by side
    assert per_task_allotment(1000.0, 10, lanes=1, cap_s=30) == 30.0
    assert per_task_allotment(None, 10, lanes=1, cap_s=30) == 30.0  # no budget: the cap
    assert per_task_allotment(5.0, 10, lanes=1, cap_s=30) == 0.0  # under a second each: not worth starting
    assert per_task_allotment(-3.0, 2, lanes=1, cap_s=30) == 0.0
    assert per_task_allotment(100.0, 0, lanes=1, cap_s=30) == 0.0


def test_forecast_needs_a_few_tasks_then_projects_the_pace() -> None:
    assert (
        make_forecast(
            task_seconds=[10.0] * (FORECAST_AFTER - 1),
            tasks_total=100,
            tasks_done=2,
            elapsed_s=20,
            budget_s=None,
            lanes=1,
        )
        is None
    )
    forecast = make_forecast(
        task_seconds=[10.0, 20.0, 30.0], tasks_total=100, tasks_done=3, elapsed_s=60, budget_s=3600, lanes=2
    )
    assert forecast is not None
    assert forecast.seconds_per_task == 20.0
    assert forecast.total_s == pytest.approx(60 + 97 * 20 / 2)
    assert forecast.within_budget
    assert forecast.line == "at this pace 100 tasks need 17.2 min — within the 1.0 h budget"


def test_forecast_line_over_budget_and_the_plain_function() -> None:
    total = forecast_total_seconds(elapsed_s=3600, seconds_per_task=104, remaining_tasks=395, lanes=1)
    assert total == pytest.approx(3600 + 395 * 104)
    assert (
        forecast_line(400, total, 12 * 3600) == "at this pace 400 tasks need 12.4 h — over the 12.0 h budget"
    )
    assert forecast_line(5, 50, None) == "at this pace 5 tasks need 50 s (no overall budget set)"


def test_scheduler_hands_out_shrinking_time_as_the_budget_goes() -> None:
    clock = [1000.0]
    scheduler = BudgetScheduler(tasks_total=4, budget_s=100.0, cap_s=60.0, lanes=1, clock=1000.0)
    scheduler.elapsed = lambda: clock[0] - 1000.0  # type: ignore[method-assign]
    first = scheduler.next_allotment(4)
    assert first == pytest.approx(100 * 0.98 / 4)
    clock[0] += 90  # the first task overran
    scheduler.finished(90)
    assert scheduler.next_allotment(3) == pytest.approx((98 - 90) / 3)
    clock[0] += 8
    scheduler.finished(8)
    assert scheduler.next_allotment(2) == 0.0  # spent: the rest are skipped
    scheduler.skipped()
    scheduler.skipped()
    assert scheduler.done == 4


def test_format_duration_picks_one_unit_and_reads_back() -> None:
    assert format_duration(40) == "40 s"
    assert format_duration(210) == "3.5 min"
    assert format_duration(7.2 * 3600) == "7.2 h"
    for seconds in (45.0, 5400.0, 43200.0):  # what the progress line writes, the parser reads
        assert parse_duration(format_duration(seconds).replace(" ", "")) == seconds
