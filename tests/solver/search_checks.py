"""One check that several search tests share: a small search finds a train-exact program of the
expected form, and the program it writes out runs and gives the expected test output."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from arcforge_solver.engines.protocol import Candidate, Deadline, EngineContext
from arcforge_solver.engines.search.search_engine import SearchEngine
from arcforge_solver.tasks.model import Task


def assert_best_program_runs(
    task: Task, expected: Callable[[np.ndarray], np.ndarray], marker: str
) -> Candidate:
    """The best candidate of a one-level search on `task`: train-exact, `marker` in its source, and
    `expected(test input)` both as its prediction and from its source run as the runtime runs it."""
    engine = SearchEngine(max_cost=1, deepest=1, max_evaluations=3000, generations=1)
    best = engine.solve(task, Deadline(300), EngineContext(seed=3)).candidates[0]
    assert best.train_fitness == 1.0 and marker in best.source, best.source
    test_input = task.test[0].input
    assert np.array_equal(best.predictions[0], expected(test_input))
    namespace: dict[str, object] = {}
    exec(best.source, namespace)  # the program as the runtime writes it out: literals only
    assert np.array_equal(namespace["solve"](test_input), expected(test_input))  # type: ignore[operator]
    return best
