"""The solver's defaults, in one place: the CLI, `RunConfig` and the task runner read them from here.

Written as the CLI takes them, so that a caller that builds solver arguments (tasks.py, the Kaggle
notebook) can leave a flag out and get the same run.
"""

from __future__ import annotations

import os

TIME_PER_TASK_S = 20.0
"""Most seconds one task may take (`--time-per-task`)."""
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
    """`--workers`: one worker process per CPU."""
    return os.cpu_count() or 1


def engine_for(model_dir: object | None) -> str:
    """The engine when `--engine` is not given: hybrid with a model, else the search."""
    return ENGINE_WITH_MODEL if model_dir else ENGINE
