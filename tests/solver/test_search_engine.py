"""The search engine end to end on hand-made ARC-like tasks: solving, deduplication, determinism,
the deadline, distinct attempts, and rendered source that matches the in-process evaluation."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from arcforge_solver import dsl
from arcforge_solver.engines.protocol import Deadline, EngineContext
from arcforge_solver.engines.ranking import pick_attempts
from arcforge_solver.engines.registry import load_engine
from arcforge_solver.engines.search.enumerate import Budget, Enumerator
from arcforge_solver.engines.search.evaluator import fingerprint
from arcforge_solver.engines.search.search_engine import SearchEngine, TaskSearch
from arcforge_solver.tasks.model import Grid, Pair, Task

RNG = np.random.default_rng(7)


def g(rows: list[list[int]]) -> Grid:
    return np.array(rows, dtype=np.int8)


def noise(h: int, w: int, colours: int = 3, density: float = 0.3) -> Grid:
    grid = RNG.integers(1, colours + 1, size=(h, w)).astype(np.int8)
    grid[RNG.random((h, w)) > density] = 0
    return grid


def make_task(name: str, inputs: list[Grid], fn: Any) -> Task:
    """Train pairs from all inputs but the last; the last is the test, with its answer."""
    pairs = tuple(Pair(i, fn(i)) for i in inputs)
    return Task(name, pairs[:-1], pairs[-1:])


def solve(task: Task, seconds: float = 20.0, **options: Any) -> Any:
    blind = Task(task.task_id, task.train, tuple(Pair(p.input) for p in task.test))
    return SearchEngine(**options).solve(blind, Deadline(seconds), EngineContext(seed=1))


def run_source(source: str, grid: Grid) -> Any:
    namespace: dict[str, Any] = {}
    exec(compile(source, "<program>", "exec"), namespace)
    return namespace["solve"](grid)


def box(h: int, w: int, top: int, left: int, size: int) -> Grid:
    """A hollow square of colour 2."""
    grid = np.zeros((h, w), dtype=np.int8)
    grid[top : top + size, left : left + size] = 2
    grid[top + 1 : top + size - 1, left + 1 : left + size - 1] = 0
    return grid


def with_objects(shapes: list[tuple[int, int, int, int, int]], h: int = 10, w: int = 10) -> Grid:
    """A grid with filled rectangles (top, left, height, width, colour)."""
    grid = np.zeros((h, w), dtype=np.int8)
    for top, left, hh, ww, colour in shapes:
        grid[top : top + hh, left : left + ww] = colour
    return grid


def split_grid(a: Grid, b: Grid) -> Grid:
    return np.hstack([a, np.full((a.shape[0], 1), 5, dtype=np.int8), b])


TASKS = {
    "flip": make_task("flip", [noise(3, 4), noise(4, 4), noise(5, 3), noise(4, 6)], dsl.flip_lr),
    "colour-map": make_task(
        "colour-map",
        [noise(4, 4), noise(5, 5), noise(3, 6), noise(6, 4)],
        lambda x: dsl.map_colours(x, {1: 2, 2: 1, 3: 4}),
    ),
    "crop-largest": make_task(
        "crop-largest",
        [
            with_objects([(1, 1, 2, 3, 1), (5, 5, 3, 4, 3), (0, 8, 1, 1, 2)]),
            with_objects([(0, 0, 4, 2, 2), (6, 6, 2, 2, 1)]),
            with_objects([(2, 2, 3, 3, 4), (7, 1, 1, 2, 2), (0, 6, 2, 2, 1)]),
            with_objects([(1, 5, 5, 2, 3), (8, 0, 1, 3, 1)]),
        ],
        dsl.crop_largest,
    ),
    "fill-enclosed": make_task(
        "fill-enclosed",
        [box(8, 8, 1, 1, 4), box(9, 7, 3, 2, 5), box(6, 10, 0, 4, 5), box(10, 10, 2, 3, 6)],
        lambda x: dsl.fill_enclosed(x, 4),
    ),
    "split-and": make_task(
        "split-and",
        [
            split_grid(g([[1, 0, 1], [0, 1, 0], [1, 1, 0]]), g([[1, 1, 0], [0, 1, 1], [0, 0, 1]])),
            split_grid(g([[0, 0, 1], [1, 1, 0], [1, 0, 0]]), g([[1, 0, 1], [1, 0, 0], [0, 1, 1]])),
            split_grid(g([[1, 1, 1], [0, 0, 1], [0, 1, 0]]), g([[0, 1, 1], [1, 0, 1], [1, 1, 0]])),
            split_grid(g([[0, 1, 1], [1, 0, 1], [1, 1, 0]]), g([[1, 1, 0], [1, 0, 1], [0, 1, 1]])),
        ],
        lambda x: dsl.combine_and(dsl.split_by_lines(x), 3),
    ),
    "gravity": make_task(
        "gravity", [noise(5, 5), noise(6, 4), noise(4, 7), noise(6, 6)], lambda x: dsl.gravity(x, "down")
    ),
    "halo": make_task(
        "halo",
        [
            with_objects([(1, 1, 1, 1, 1), (4, 5, 1, 1, 1)], 7, 7),
            with_objects([(0, 0, 1, 1, 1), (3, 3, 1, 1, 1), (6, 1, 1, 1, 1)], 8, 6),
            with_objects([(2, 6, 1, 1, 1), (4, 2, 1, 1, 1)], 6, 9),
            with_objects([(1, 2, 1, 1, 1), (5, 5, 1, 1, 1), (8, 8, 1, 1, 1)], 9, 9),
        ],
        lambda x: dsl.apply_cell_rule(x, "n4count", {1: 2}),
    ),
}


@pytest.mark.parametrize("name", list(TASKS))
def test_solves_hand_made_tasks(name: str) -> None:
    task = TASKS[name]
    result = solve(task, max_cost=3)
    assert result.stats["train_solved"], (name, result.candidates[0].source if result.candidates else None)
    best = result.candidates[0]
    assert best.trusted and best.train_fitness == 1.0 and best.train_exact == len(task.train)
    attempts = pick_attempts(result.candidates)
    expected = task.test[0].output
    assert any(a.predictions[0] is not None and np.array_equal(a.predictions[0], expected) for a in attempts)
    assert result.stats["evaluations"] > 0 and result.stats["evals_per_s"] > 0


def test_rendered_source_matches_in_process_predictions() -> None:
    for name in ("crop-largest", "colour-map", "split-and", "halo"):
        task = TASKS[name]
        result = solve(task, max_cost=3)
        for candidate in result.candidates:
            for test, predicted in zip(task.test, candidate.predictions, strict=True):
                if predicted is None:
                    continue
                out = run_source(candidate.source, test.input)
                assert np.array_equal(out, predicted), candidate.source
            for pair in task.train:
                out = run_source(candidate.source, pair.input)
                assert isinstance(out, np.ndarray) and out.ndim == 2


def test_enumeration_keeps_one_program_per_train_behaviour() -> None:
    task = TASKS["flip"]
    state = TaskSearch(task, seed=0)
    enumerator = Enumerator(state.ev, state.domain, state.bg, lambda node, values, cost: None)
    enumerator.run(2, Budget(time.monotonic() + 60, state.ev, max_evaluations=4000))
    assert enumerator.duplicates > 0  # e.g. rot90(rot90(grid)) is rot180(grid)
    for kind, found in enumerator.pool.items():
        prints = [fingerprint(f.values[: state.ev.n_train]) for f in found]
        assert len(prints) == len(set(prints)), kind
    costs = [f.cost for f in enumerator.pool["grid"]]
    assert costs == sorted(costs)  # breadth first by cost
    keys = {f.node.key for f in enumerator.pool["grid"]}
    assert "rot180(grid)" in keys and "rot90(rot90(grid))" not in keys


def unsolvable(side: int = 6, n_pairs: int = 3) -> Task:
    """Random side x side inputs with unrelated random 3x5 outputs: nothing fits."""
    rng = np.random.default_rng(3)
    pairs = tuple(
        Pair(rng.integers(0, 4, (side, side)).astype(np.int8), rng.integers(0, 4, (3, 5)).astype(np.int8))
        for _ in range(n_pairs)
    )
    return Task("noise", pairs, (Pair(rng.integers(0, 4, (side, side)).astype(np.int8)),))


def test_deterministic_for_a_seed() -> None:
    task = unsolvable()
    runs = [
        SearchEngine(max_evaluations=2500, generations=3, population=16).solve(
            task, Deadline(120), EngineContext(seed=5)
        )
        for _ in range(2)
    ]
    assert [c.source for c in runs[0].candidates] == [c.source for c in runs[1].candidates]
    assert runs[0].stats["evaluations"] == runs[1].stats["evaluations"]
    assert runs[0].candidates and runs[0].stats["generations"] >= 1


def test_returns_by_the_deadline() -> None:
    task = unsolvable()
    for seconds in (0.0, 0.5):
        deadline = Deadline(seconds)
        result = SearchEngine().solve(task, deadline, EngineContext())
        # generous: the engine checks its deadline inside every loop, so it overruns by one evaluation at most
        assert time.monotonic() - deadline.at < 1.0
        assert result.task_id == "noise"
        assert all(c.train_fitness < 1.0 for c in result.candidates)


def test_attempts_differ_when_train_cannot_tell_programs_apart() -> None:
    # symmetric top-to-bottom inputs: flip_lr and rot180 agree on train, not on the test input
    def sym(rows: list[list[int]]) -> Grid:
        half = g(rows)
        return np.vstack([half, half[::-1]])

    inputs = [sym([[1, 0, 0], [0, 2, 0]]), sym([[3, 3, 0, 0]]), sym([[0, 1], [2, 2], [0, 0]])]
    task = Task(
        "ambiguous",
        tuple(Pair(i, dsl.flip_lr(i)) for i in inputs),
        (Pair(g([[1, 2, 0], [0, 0, 3]])),),
    )
    result = SearchEngine(max_cost=2).solve(task, Deadline(20), EngineContext())
    attempts = pick_attempts(result.candidates)
    assert len(attempts) == 2
    assert all(a.train_fitness == 1.0 for a in attempts)
    assert not np.array_equal(attempts[0].predictions[0], attempts[1].predictions[0])
    assert attempts[0].complexity <= attempts[1].complexity


def test_registry_builds_it_and_ignores_unknown_options() -> None:
    engine = load_engine("search", {"population": 8, "model_dir": "/nowhere", "samples_per_call": 3})
    assert engine.name == "search" and engine.parallel is True
    assert isinstance(engine, SearchEngine) and engine.population == 8
