"""More time buys deeper enumeration: levels past `max_cost` run only when unsolved and time is left,
and a run bounded by `max_evaluations` stays deterministic for a seed."""

from __future__ import annotations

import numpy as np

from arcforge_solver.engines.protocol import Deadline, EngineContext
from arcforge_solver.engines.search.search_engine import SearchEngine
from arcforge_solver.tasks.model import Pair, Task
from tests.solver.test_search_engine import unsolvable as noise_task


def run(task: Task, **options: object) -> object:
    engine = SearchEngine(max_cost=1, max_evaluations=6000, enumerate_share=0.9, generations=2, **options)
    return engine.solve(task, Deadline(300), EngineContext(seed=4))


def test_unsolved_search_goes_past_max_cost_while_its_share_lasts() -> None:
    task = noise_task(side=4, n_pairs=2)
    shallow = run(task, deepest=1)
    deeper = run(task, deepest=2)
    assert shallow.stats["completed_cost"] == 1  # type: ignore[attr-defined]
    # level 2 is far bigger than 6000 evaluations: the deeper run spends the cap on it
    assert deeper.stats["evaluations"] > 10 * shallow.stats["evaluations"]  # type: ignore[attr-defined]
    assert deeper.stats["enumerated"] > shallow.stats["enumerated"]  # type: ignore[attr-defined]


def test_solved_search_does_not_deepen() -> None:
    rng = np.random.default_rng(5)
    inputs = [rng.integers(0, 4, (3, 4)).astype(np.int8) for _ in range(3)]
    task = Task("flip", tuple(Pair(i, i[:, ::-1].copy()) for i in inputs[:2]), (Pair(inputs[2]),))
    result = run(task, deepest=4)
    assert result.stats["train_solved"] and result.stats["completed_cost"] == 1  # type: ignore[attr-defined]


def test_deepening_is_deterministic_for_a_seed() -> None:
    task = noise_task(side=4, n_pairs=2)
    runs = [run(task, deepest=3) for _ in range(2)]
    assert [c.source for c in runs[0].candidates] == [c.source for c in runs[1].candidates]  # type: ignore[attr-defined]
    assert runs[0].stats == {
        **runs[1].stats,
        "seconds": runs[0].stats["seconds"],
        "evals_per_s": runs[0].stats["evals_per_s"],
    }  # type: ignore[attr-defined]
