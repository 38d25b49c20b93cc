"""A cell rule whose table only memorises the train cells: kept as a last resort, never trusted to
stop the search, and reported as such (`learn.memorised`, the engine's `memorised` stat)."""

from __future__ import annotations

import numpy as np

from arcforge_solver.engines.protocol import Deadline, EngineContext, EngineResult
from arcforge_solver.engines.search.learn import MEMORISED_TABLE, memorised
from arcforge_solver.engines.search.program import Node
from arcforge_solver.engines.search.search_engine import SearchEngine
from arcforge_solver.tasks.model import Pair, Task


def table(n: int) -> dict[int, int]:
    return {1000 + k: 5 for k in range(n)}


def cell_rule(entries: int, inner: Node | None = None) -> Node:
    return Node("apply_cell_rule", (inner or Node("grid"),), ("moore", table(entries)))


def test_a_rule_table_past_the_limit_is_memorised() -> None:
    assert not memorised(cell_rule(MEMORISED_TABLE))
    assert memorised(cell_rule(MEMORISED_TABLE + 1))
    # anywhere in the program, not only its last step
    assert memorised(Node("flip_lr", (cell_rule(MEMORISED_TABLE + 1),)))


def test_colour_maps_and_object_recolouring_are_never_memorised() -> None:
    # their keys are colours and object properties, each seen on many cells: rules, whatever their size
    assert not memorised(Node("map_colours", (Node("grid"),), ({c: (c + 1) % 10 for c in range(9)},)))
    assert not memorised(Node("recolour_objects", (Node("grid"),), ("size", table(MEMORISED_TABLE + 4))))


def speckled(seed: int, changed: int) -> Task:
    """Random 5 x 5 inputs whose outputs turn `changed` random cells to colour 5: only a table
    keyed on each changed cell's whole neighbourhood reproduces them."""
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(2):
        grid = rng.integers(0, 4, (5, 5)).astype(np.int8)
        out = grid.copy()
        cells = rng.choice(25, size=changed, replace=False)
        out.flat[cells] = 5
        pairs.append(Pair(grid, out))
    return Task("speckled", tuple(pairs), (Pair(rng.integers(0, 4, (5, 5)).astype(np.int8)),))


def run(task: Task, deepest: int) -> EngineResult:
    engine = SearchEngine(
        max_cost=1, deepest=deepest, max_evaluations=6000, enumerate_share=0.9, generations=2
    )
    return engine.solve(task, Deadline(300), EngineContext(seed=4))


def test_a_memorised_fit_is_kept_but_does_not_stop_the_search() -> None:
    task = speckled(seed=2, changed=4)  # eight changed cells over the two pairs
    shallow, deeper = run(task, deepest=1), run(task, deepest=2)
    for result in (shallow, deeper):
        assert result.stats["train_solved"] and result.stats["memorised"]
        best = result.candidates[0]
        assert best.train_fitness == 1.0 and "apply_cell_rule" in best.source
    # as for an unsolved task, the search goes on past max_cost and spends the cap on level 2
    assert deeper.stats["evaluations"] > 10 * shallow.stats["evaluations"]
    assert deeper.stats["enumerated"] > shallow.stats["enumerated"]


def test_a_small_rule_table_is_trusted() -> None:
    # every cell next to colour 1 turns 2: a rule over neighbour colours, a table of a few entries
    rng = np.random.default_rng(7)
    pairs = []
    for _ in range(3):
        grid = np.zeros((6, 6), dtype=np.int8)
        grid.flat[rng.choice(36, size=3, replace=False)] = 1
        out = grid.copy()
        for r, c in zip(*np.nonzero(grid == 1), strict=True):
            for dr, dc in ((0, 1), (1, 0), (0, -1), (-1, 0)):
                rr, cc = r + dr, c + dc
                if 0 <= rr < 6 and 0 <= cc < 6 and grid[rr, cc] == 0:
                    out[rr, cc] = 2
        pairs.append(Pair(grid, out))
    task = Task("halo", tuple(pairs[:2]), (Pair(pairs[2].input, pairs[2].output),))
    result = run(task, deepest=1)
    assert result.stats["train_solved"] and not result.stats["memorised"]
    assert np.array_equal(result.candidates[0].predictions[0], pairs[2].output)
