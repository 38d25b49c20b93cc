"""The budget: measured pace, the forecast table, shrinking the shape to fit."""

from __future__ import annotations

from arcforge_solver.engines.llm.budget import (
    Shape,
    Throughput,
    fit_shape,
    forecast_rows,
    pace_line,
    table_populations,
    task_seconds,
)


def _pace(seconds_per_program: float, tasks: int = 2) -> Throughput:
    pace = Throughput()
    for _ in range(tasks):
        pace.record_task(seconds=30.0, programs=10)
    pace.record_generation(new_tokens=4000, seconds=seconds_per_program * 10, completions=10)
    return pace


def test_pace_from_measurements_after_the_warm_up_task() -> None:
    pace = Throughput()
    pace.record_generation(new_tokens=100, seconds=50.0, completions=8)  # first task: slow warm-up
    pace.record_task(60.0, 8)
    assert pace.generation_seconds == 0.0  # warm-up is not priced into programs
    assert not pace.measured
    pace.record_generation(new_tokens=2000, seconds=10.0, completions=8)
    pace.record_evaluation(programs=8, seconds=0.8)
    assert pace.tokens_per_second() == 200.0
    assert pace.seconds_per_program() == 10.0 / 8 + 0.1
    pace.record_task(14.0, 8)
    assert pace.measured
    assert pace.seconds_per_task() == 37.0
    assert "200.0 tokens/s" in pace_line(pace)


def test_task_seconds_scale_with_programs() -> None:
    pace = _pace(2.0)
    assert task_seconds(Shape(4, 3, 2), pace) == 24.0
    assert task_seconds(Shape(2, 3, 2), pace) == 12.0


def test_seed_table_population_2_fits_population_5_does_not() -> None:
    # 400 tasks at 7 s per program: population 2 × 9 generations is 126 s a task (14 h); population 5 is 35 h.
    pace = _pace(7.0)
    rows = forecast_rows(
        pace, populations=[2, 5], generations=9, samples_per_call=2, tasks_left=400, budget_s=20 * 3600
    )
    assert [row.fits for row in rows] == [True, False]
    assert rows[0].line() == "population 2 × 9 generations: 14.0 h ✓"
    assert rows[1].line() == "population 5 × 9 generations: 35.0 h ✗"
    assert rows[1].shape.samples_per_call == 2


def test_fit_shape_keeps_the_ceiling_until_the_pace_is_known() -> None:
    ceiling = Shape(8, 3, 4)
    assert fit_shape(ceiling, Throughput(), seconds=0.1) == ceiling
    assert fit_shape(ceiling, _pace(1.0, tasks=1), seconds=0.1) == ceiling


def test_fit_shape_keeps_what_fits() -> None:
    ceiling = Shape(8, 3, 4)
    assert fit_shape(ceiling, _pace(1.0), seconds=100.0) == ceiling


def test_fit_shape_shrinks_to_the_most_programs_that_fit() -> None:
    ceiling = Shape(8, 3, 4)
    # 1 s per program, 20 s a task, 85 % usable: 17 programs at most -> 8 × 2 = 16.
    shape = fit_shape(ceiling, _pace(1.0), seconds=20.0)
    assert shape == Shape(8, 2, 4)
    assert task_seconds(shape, _pace(1.0)) <= 20.0 * 0.85
    # 7 s a task: 5 programs -> population 5 × 1 generation; samples never exceed the population.
    assert fit_shape(ceiling, _pace(1.0), seconds=7.0) == Shape(5, 1, 4)
    assert fit_shape(Shape(8, 3, 8), _pace(1.0), seconds=3.0) == Shape(2, 1, 2)


def test_fit_shape_ties_go_to_the_wider_population() -> None:
    # 6 programs fit: 6 × 1 and 3 × 2 and 2 × 3 tie; the widest wins.
    assert fit_shape(Shape(6, 3, 2), _pace(1.0), seconds=6 / 0.85 + 0.01) == Shape(6, 1, 2)


def test_fit_shape_floor_is_one_program() -> None:
    assert fit_shape(Shape(8, 3, 4), _pace(50.0), seconds=1.0) == Shape(1, 1, 1)


def test_table_populations_end_at_the_ceiling() -> None:
    assert table_populations(5) == [1, 2, 3, 5]
    assert table_populations(8) == [1, 2, 3, 5, 8]
    assert table_populations(10) == [1, 2, 3, 5, 8, 10]
    assert table_populations(1) == [1]


def test_rows_without_a_budget_carry_no_verdict() -> None:
    (row,) = forecast_rows(
        _pace(1.0), populations=[2], generations=1, samples_per_call=1, tasks_left=3600, budget_s=None
    )
    assert row.fits
    assert row.line() == "population 2 × 1 generation: 2.0 h"
