"""The solver's defaults, in one place: the CLI, `RunConfig` and the task runner read them from here.

Written as the CLI takes them, so that a caller that builds solver arguments (tasks.py, the Kaggle
notebook) can leave a flag out and get the same run.
"""

from __future__ import annotations

import os

TIME_PER_TASK_S = 20.0
"""The per-task cap of a run without `--time-budget` (a local `invoke test-run`). A run with a budget and
no `--time-per-task` has no per-task cap: tasks get the budget spread over them (see `time_per_task_cap`)."""
TIME_BUDGET_S: float | None = None
"""Wall-clock budget of the whole run (`--time-budget`); None: no overall budget."""
ENGINE = "search"
"""`--engine` when no model is given: the model-free search."""
ENGINE_WITH_MODEL = "hybrid"
"""`--engine` when `--model-dir` is given: the DSL search and the LLM together."""
SEED = 0
"""`--seed`: a run is repeatable for a seed."""
TEST_MODE_TASKS = 5
"""Tasks `--test-mode` runs, like the notebook's TEST_MODE."""


def workers() -> int:
    """One worker process per CPU (`--workers auto` also leaves a core to each GPU lane)."""
    return os.cpu_count() or 1


def time_per_task_cap(time_budget_s: float | None, time_per_task_s: float | None) -> float | None:
    """The per-task cap a run uses: `--time-per-task` when given; else none when there is a whole-run
    budget (the competition run spreads it over the tasks); else the local TIME_PER_TASK_S."""
    if time_per_task_s is not None:
        return time_per_task_s
    return None if time_budget_s is not None else TIME_PER_TASK_S


PORTFOLIO_LIMIT = 8
"""Most DSL search processes one task gets at once (each holds its own value cache in memory)."""


def engine_for(model_dir: object | None) -> str:
    """The engine when `--engine` is not given: hybrid with a model, else the search."""
    return ENGINE_WITH_MODEL if model_dir else ENGINE
