"""The enumeration's order within a level: steps that cannot give a grid of the train outputs' shape
are put off to the level's end, and a whole level still holds every program it held before."""

from __future__ import annotations

import time

import numpy as np

from arcforge_solver.engines.search.enumerate import Budget, Enumerator, ShapeHabits
from arcforge_solver.engines.search.evaluator import Values
from arcforge_solver.engines.search.program import Node
from arcforge_solver.engines.search.search_engine import TaskSearch
from arcforge_solver.tasks.model import Pair, Task


def same_shape_task() -> Task:
    """Random 6x6 inputs with unrelated random 6x6 outputs: nothing fits, every step is tried."""
    rng = np.random.default_rng(11)
    pairs = tuple(
        Pair(rng.integers(0, 4, (6, 6)).astype(np.int8), rng.integers(0, 4, (6, 6)).astype(np.int8))
        for _ in range(2)
    )
    return Task("same-shape", pairs, (Pair(rng.integers(0, 4, (6, 6)).astype(np.int8)),))


def level_two(task: Task) -> tuple[Enumerator, frozenset[str], list[tuple[Node, bool]]]:
    """Level 2 enumerated in full: the steps level 1 saw always change the shape, then each grid level
    2 offered, in order, and whether it has the outputs' shape."""
    state = TaskSearch(task, seed=1)
    offered: list[tuple[Node, bool]] = []
    targets = state.ev.targets

    def on_grid(node: Node, values: Values, cost: int) -> float:
        shaped = all(v.shape == t.shape for v, t in zip(values[: len(targets)], targets, strict=False))
        offered.append((node, shaped))
        return state.on_enumerated(node, values, cost)

    enumerator = Enumerator(state.ev, state.domain, state.bg, on_grid)
    assert enumerator.run(1, Budget(time.monotonic() + 300, state.ev))
    offered.clear()
    changes = enumerator.habits.changes()
    assert enumerator.run(2, Budget(time.monotonic() + 300, state.ev))
    return enumerator, changes, offered


def test_every_grid_of_the_outputs_shape_comes_before_the_put_off_steps() -> None:
    enumerator, changes, offered = level_two(same_shape_task())
    assert enumerator.deferred > 0
    assert {"scale_up", "left_half"} <= changes  # learned at level 1, on the input
    # a shape-changing step on a grid of the outputs' shape: put off
    right_shape = {f.node.key for f in enumerator.pool["grid"] if f.target_shaped}
    put_off = [
        i
        for i, (node, _) in enumerate(offered)
        if node.op in changes and node.args[0].op != "input" and node.args[0].key in right_shape
    ]
    shaped = [i for i, (_, ok) in enumerate(offered) if ok]
    assert put_off and shaped
    assert max(shaped) < min(put_off)


def test_the_order_changes_no_level_contents() -> None:
    """The put-off steps still run: two whole levels hold the same values either way."""
    task = same_shape_task()
    contents = []
    for shape_first in (True, False):
        state = TaskSearch(task, seed=1)
        enumerator = Enumerator(
            state.ev, state.domain, state.bg, state.on_enumerated, shape_first=shape_first
        )
        assert enumerator.run(2, Budget(time.monotonic() + 300, state.ev))
        contents.append((set(enumerator.seen), state.ev.evaluations, enumerator.deferred > 0))
    assert contents[0][:2] == contents[1][:2]
    assert contents[0][2] and not contents[1][2]


def test_habits_sort_steps_by_what_they_did_to_the_shape() -> None:
    habits = ShapeHabits()
    square, wide = np.zeros((3, 3), np.int8), np.zeros((3, 6), np.int8)
    habits.observe("keeper", (square, square), (square, square), 2)
    habits.observe("changer", (square, square), (wide, wide), 2)
    habits.observe("mixed", (square, square), (square, wide), 2)
    habits.observe("mixed", (square, square), (square, square), 2)
    habits.observe("test-only", (square, square, square), (square, square, wide), 2)
    assert habits.keeps() == {"keeper", "test-only"}
    assert habits.changes() == {"changer"}
