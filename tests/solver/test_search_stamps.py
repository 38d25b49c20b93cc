"""Stamps: marks painted around every cell of a colour (`dsl.stamp_cells`), fitted from the train
pairs (`learn.fit_stamps`) where a cell table would only memorise the neighbourhoods it saw."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from arcforge_solver.dsl import stamp_cells
from arcforge_solver.engines.protocol import Deadline, EngineContext
from arcforge_solver.engines.search.learn import fit_stamps, memorised, table_size
from arcforge_solver.engines.search.program import Node
from arcforge_solver.engines.search.search_engine import SearchEngine
from arcforge_solver.tasks.model import Pair, Task

# colour 2 gets yellow corners, colour 1 an orange cross and turns 3 itself; colour 8 nothing
RULE = {
    2: ((-1, -1, 4), (-1, 1, 4), (1, -1, 4), (1, 1, 4)),
    1: ((-1, 0, 7), (0, -1, 7), (0, 1, 7), (1, 0, 7), (0, 0, 3)),
}


def scattered(seed: int, size: int = 9) -> np.ndarray:
    """A background grid with a 2, a 1 and an 8, each at least two cells from the others."""
    rng = np.random.default_rng(seed)
    grid = np.zeros((size, size), dtype=np.int8)
    placed: list[tuple[int, int]] = []
    for colour in (2, 1, 8):
        while True:
            r, c = (int(x) for x in rng.integers(0, size, 2))
            if all(max(abs(r - a), abs(c - b)) > 2 for a, b in placed):
                break
        placed.append((r, c))
        grid[r, c] = colour
    return grid


def painted(grid: np.ndarray) -> np.ndarray:
    """What the rule above gives, written out by hand."""
    out = grid.copy()
    h, w = grid.shape
    for r, c in zip(*np.nonzero(grid == 2), strict=True):
        for dr, dc in ((-1, -1), (-1, 1), (1, -1), (1, 1)):
            if 0 <= r + dr < h and 0 <= c + dc < w and grid[r + dr, c + dc] == 0:
                out[r + dr, c + dc] = 4
    for r, c in zip(*np.nonzero(grid == 1), strict=True):
        out[r, c] = 3
        for dr, dc in ((-1, 0), (0, -1), (0, 1), (1, 0)):
            if 0 <= r + dr < h and 0 <= c + dc < w and grid[r + dr, c + dc] == 0:
                out[r + dr, c + dc] = 7
    return out


def test_a_stamp_paints_background_around_each_cell_and_recolours_the_cell_itself() -> None:
    grid = np.array([[0, 0, 0, 0], [0, 2, 5, 0], [0, 0, 0, 0]], dtype=np.int8)
    out = stamp_cells(grid, {2: ((0, 1, 4), (1, 0, 4), (0, -1, 4), (0, 0, 6), (-2, 0, 4))})
    # the 5 to its right is not background and stays; the mark two rows up falls off the grid
    assert out.tolist() == [[0, 0, 0, 0], [4, 6, 5, 0], [0, 4, 0, 0]]
    assert grid[1, 1] == 2  # the input is not changed


def test_stamps_are_fitted_from_the_train_pairs_and_carry_to_a_new_grid() -> None:
    inputs = [scattered(seed) for seed in (1, 2, 3)]
    stamps = fit_stamps(inputs, [painted(g) for g in inputs], [scattered(9)], bg=0)
    assert stamps is not None
    assert {c: sorted(m) for c, m in stamps.items()} == {c: sorted(m) for c, m in RULE.items()}
    fresh = scattered(11, size=12)
    assert np.array_equal(stamp_cells(fresh, stamps), painted(fresh))


def test_changes_that_no_stamp_explains_are_not_fitted() -> None:
    rng = np.random.default_rng(5)
    inputs = [scattered(seed) for seed in (1, 2)]
    speckled = []
    for grid in inputs:
        out = grid.copy()
        out.flat[rng.choice(out.size, size=6, replace=False)] = 5
        speckled.append(out)
    assert fit_stamps(inputs, speckled, [], bg=0) is None
    assert fit_stamps(inputs, inputs, [], bg=0) is None  # nothing changes: nothing to learn
    assert fit_stamps(inputs, [g[:-1] for g in inputs], [], bg=0) is None  # other shapes


def test_a_stamp_counts_its_marks_and_is_never_memorised() -> None:
    node = Node("stamp_cells", (Node("grid"),), (RULE,))
    assert table_size(node) == 9
    assert not memorised(node)


def test_the_search_answers_a_stamp_task_with_the_stamp_not_a_cell_table() -> None:
    inputs = [scattered(seed) for seed in (1, 2, 3)]
    test_input = scattered(11, size=12)
    task = Task(
        "stamps",
        tuple(Pair(g, painted(g)) for g in inputs),
        (Pair(test_input, painted(test_input)),),
    )
    engine = SearchEngine(max_cost=1, deepest=1, max_evaluations=3000, generations=1)
    result = engine.solve(task, Deadline(300), EngineContext(seed=3))
    best = result.candidates[0]
    assert best.train_fitness == 1.0 and "stamp_cells(" in best.source
    assert not result.stats["memorised"]
    assert np.array_equal(best.predictions[0], painted(test_input))
    again = engine.solve(task, Deadline(300), EngineContext(seed=3))
    assert [c.source for c in again.candidates] == [c.source for c in result.candidates]


def test_no_stamp_is_fitted_when_a_test_input_has_a_colour_no_train_input_has() -> None:
    inputs = [scattered(seed) for seed in (1, 2, 3)]
    targets = [painted(g) for g in inputs]
    unseen = scattered(9)
    unseen[unseen == 8] = 6  # a colour whose cells the stamps never saw
    assert fit_stamps(inputs, targets, [scattered(9)], bg=0) is not None
    assert fit_stamps(inputs, targets, [scattered(9), unseen], bg=0) is None
    assert fit_stamps(inputs, targets, [None], bg=0) is not None  # a test not yet known


def test_the_learned_fits_scan_counts_a_stamp_right_and_a_cell_table_wrong(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    benchmarks = Path(__file__).resolve().parents[2] / "benchmarks"
    if str(benchmarks) not in sys.path:
        sys.path.insert(0, str(benchmarks))
    scan = importlib.import_module("learned_fits")
    inputs = [scattered(seed) for seed in (1, 2, 3)]
    test_input = scattered(11, size=12)
    task = {
        "train": [{"input": g.tolist(), "output": painted(g).tolist()} for g in inputs],
        "test": [{"input": test_input.tolist(), "output": painted(test_input).tolist()}],
    }
    (tmp_path / "stamps.json").write_text(json.dumps(task))
    assert scan.main([str(tmp_path), "--split", "all"]) == 0
    captured = capsys.readouterr()
    # not a terminal: the progress comes as whole lines, no carriage returns
    assert captured.err.splitlines() == ["[1/1] stamps"]
    lines = captured.out.splitlines()
    assert "1 tasks from" in lines[0]
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:] if not line.startswith(" ")}
    assert rows["stamp_cells"] == ["1", "1"]
    # a cell table fits these three pairs too, but memorises neighbourhoods the test does not show
    assert rows["apply_cell_rule"] == ["1", "0"]
