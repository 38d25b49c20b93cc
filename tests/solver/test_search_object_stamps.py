"""Object stamps: marks painted around every object of one shape and colours (`dsl.stamp_objects`),
fitted from the train pairs (`learn.fit_object_stamps`) where the marks differ from one cell of an
object to the next, so that no stamp per colour explains them; and role stamps, keyed on shape and
colour pattern, whose marks may paint the object's own colours."""

from __future__ import annotations

import numpy as np

from arcforge_solver.dsl import objects, stamp_objects
from arcforge_solver.dsl.rules import ROLE, object_colours, object_key, role_key
from arcforge_solver.engines.search.learn import (
    MAX_STAMPED_BOX,
    fit_object_stamps,
    fit_stamps,
    memorised,
    table_size,
)
from arcforge_solver.engines.search.program import Node
from arcforge_solver.tasks.model import Pair, Task
from tests.solver.search_checks import assert_best_program_runs

SQUARE = "2x2:5555"
CORNERS = ((-1, -1, 1), (-1, 2, 2), (2, -1, 3), (2, 2, 4))
"""A different colour at each diagonal corner of a grey 2 x 2 square."""


def squares(seed: int, size: int = 11, count: int = 2) -> np.ndarray:
    """Grey 2 x 2 squares, each in a 5 x 5 block of its own, so every corner shows."""
    rng = np.random.default_rng(seed)
    grid = np.zeros((size, size), dtype=np.int8)
    blocks = [(r, c) for r in range(0, size - 4, 5) for c in range(0, size - 4, 5)]
    for k in rng.choice(len(blocks), size=count, replace=False):
        r, c = (b + 1 + int(rng.integers(0, 2)) for b in blocks[int(k)])
        grid[r : r + 2, c : c + 2] = 5
    return grid


def cornered(grid: np.ndarray) -> np.ndarray:
    """What the rule gives, written out by hand."""
    out = grid.copy()
    for r, c in zip(*np.nonzero(grid == 5), strict=True):
        if r and c and grid[r - 1, c] == 0 and grid[r, c - 1] == 0:  # a square's top-left cell
            for dr, dc, colour in CORNERS:
                out[r + dr, c + dc] = colour
    return out


def test_an_object_stamp_paints_around_objects_of_its_key_only() -> None:
    grid = np.zeros((6, 7), dtype=np.int8)
    grid[1:3, 1:3] = 5
    grid[3, 5] = 6  # an object with no stamp
    (square, single) = objects(grid, 0, diagonal=True, by_colour=False)
    assert object_key(square) == SQUARE and object_key(single) == "1x1:6"
    out = stamp_objects(grid, {SQUARE: CORNERS})
    assert out.tolist() == [
        [1, 0, 0, 2, 0, 0, 0],
        [0, 5, 5, 0, 0, 0, 0],
        [0, 5, 5, 0, 0, 0, 0],
        [3, 0, 0, 4, 0, 6, 0],
        [0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0],
    ]
    # marks land on background only, and those beyond the edge are dropped
    grid[0, 0] = 7
    assert stamp_objects(grid, {SQUARE: CORNERS})[0, 0] == 7
    assert stamp_objects(grid[1:, 1:], {SQUARE: CORNERS})[2, 2] == 4


def test_object_stamps_are_fitted_and_carry_to_a_new_grid_where_a_cell_stamp_cannot() -> None:
    inputs = [squares(seed) for seed in (1, 2)]
    targets = [cornered(g) for g in inputs]
    fresh = squares(7, size=14, count=3)
    fitted = fit_object_stamps(inputs, targets, [fresh], bg=0)
    assert fitted == ({SQUARE: tuple(sorted(CORNERS))}, False)
    assert np.array_equal(stamp_objects(fresh, fitted[0]), cornered(fresh))
    # one colour's cells show four different marks: no stamp per colour fits
    assert fit_stamps(inputs, targets, [fresh], bg=0) is None


def test_no_object_stamp_for_changed_objects_unseen_shapes_or_no_change() -> None:
    inputs = [squares(seed) for seed in (1, 2)]
    targets = [cornered(g) for g in inputs]
    recoloured = [t.copy() for t in targets]
    for t in recoloured:
        t[t == 5] = 8  # the objects' own cells change too
    assert fit_object_stamps(inputs, recoloured, [], bg=0) is None
    odd = squares(3)
    odd[odd == 5] = 6  # a test object whose colours no train input shows: only its shape is known
    assert fit_object_stamps(inputs, targets, [odd], bg=0) == ({"2x2:aaaa": tuple(sorted(CORNERS))}, True)
    odd[odd == 6] = 0
    odd[1:4, 1] = 5  # a test object whose shape no train input shows
    assert fit_object_stamps(inputs, targets, [odd], bg=0) is None
    assert fit_object_stamps(inputs, targets, [None], bg=0) is not None  # a test not yet known
    assert fit_object_stamps(inputs, inputs, [], bg=0) is None


def scene(corners: list[tuple[int, int]], block_top: int) -> np.ndarray:
    """Grey 2 x 2 squares at `corners` (their top-left cells) and a colour-6 block of five columns
    from row `block_top` to the bottom of a 16 x 16 grid."""
    grid = np.zeros((16, 16), dtype=np.int8)
    for r, c in corners:
        grid[r : r + 2, c : c + 2] = 5
    grid[block_top:, 11:] = 6
    return grid


def test_a_large_object_gets_no_marks_and_its_shape_may_be_new_on_test() -> None:
    layouts = [[(1, 1), (1, 6)], [(6, 1), (1, 6)]]
    # a 5 x 5 block (25 cells, as large as a stamped box may be) with a mark at its corner: fitted
    inputs = [scene(at, 11) for at in layouts]
    targets = [cornered(g) for g in inputs]
    for t in targets:
        t[10, 10] = 7
    fitted = fit_object_stamps(inputs, targets, [], bg=0)
    assert fitted is not None and not fitted[1]
    assert fitted[0][object_key(objects(inputs[0], 0, True, False)[-1])] == ((-1, -1, 7),)
    # a 6 x 5 block (30 cells) gets no marks, so a mark at its corner is not fitted
    inputs = [scene(at, 10) for at in layouts]
    targets = [cornered(g) for g in inputs]
    for t in targets:
        t[9, 10] = 7
    assert MAX_STAMPED_BOX < 30
    assert fit_object_stamps(inputs, targets, [], bg=0) is None
    # unmarked, it is left alone: the squares' stamps fit, and a test block of a new size is no
    # unseen key
    targets = [cornered(g) for g in inputs]
    test = scene([(1, 1), (6, 6)], 8)
    assert fit_object_stamps(inputs, targets, [test], bg=0) == ({SQUARE: tuple(sorted(CORNERS))}, False)


def test_an_object_stamp_counts_its_marks_and_is_a_fitted_rule() -> None:
    node = Node("stamp_objects", (Node("grid"),), ({SQUARE: CORNERS},))
    assert table_size(node) == 4
    assert not memorised(node)


def test_the_search_answers_with_the_object_stamp_and_its_source_runs() -> None:
    inputs = [squares(seed) for seed in (1, 2, 3)]
    test_input = squares(7, size=14, count=3)
    task = Task(
        "corners",
        tuple(Pair(g, cornered(g)) for g in inputs),
        (Pair(test_input, cornered(test_input)),),
    )
    assert_best_program_runs(task, cornered, "stamp_objects(")


def plus(grid: np.ndarray, r: int, c: int, centre: int, arms: int) -> None:
    """A plus of five cells around (r, c): `centre` in the middle, `arms` around it."""
    grid[r - 1 : r + 2, c] = arms
    grid[r, c - 1 : c + 2] = arms
    grid[r, c] = centre


def grown(grid: np.ndarray) -> np.ndarray:
    """Each plus grows diagonal rays of its centre's colour and longer arms of its arms' colour."""
    out = grid.copy()
    for r, c in zip(
        *np.nonzero((grid != 0) & (np.roll(grid, 1, 0) != 0) & (np.roll(grid, -1, 0) != 0)), strict=True
    ):
        if grid[r, c - 1] == 0:
            continue
        for d in (-1, 1):
            out[r + d, c + d] = out[r + d, c - d] = grid[r, c]
            out[r + 2 * d, c] = out[r, c + 2 * d] = grid[r - 1, c]
    return out


def pluses(colours: list[tuple[int, int]]) -> np.ndarray:
    grid = np.zeros((6 * len(colours), 7), dtype=np.int8)
    for k, (centre, arms) in enumerate(colours):
        plus(grid, 6 * k + 3, 3, centre, arms)
    return grid


def test_role_stamps_paint_the_objects_own_colours_on_a_colouring_train_never_shows() -> None:
    inputs = [pluses([(2, 8)]), pluses([(4, 1), (3, 7)])]
    targets = [grown(g) for g in inputs]
    test = pluses([(6, 9)])  # colours no train plus has
    (obj,) = objects(test, 0, diagonal=True, by_colour=False)
    assert role_key(obj) == "3x3:.a.aba.a." and object_colours(obj) == (9, 6)
    fitted = fit_object_stamps(inputs, targets, [test], bg=0)
    assert fitted is not None
    stamps, roles = fitted
    assert roles and set(stamps) == {"3x3:.a.aba.a."}
    # every mark paints a role (the arms' colour is the first in reading order), none a fixed colour
    assert {colour for _, _, colour in stamps["3x3:.a.aba.a."]} == {ROLE, ROLE + 1}
    assert np.array_equal(stamp_objects(test, stamps, roles=True), grown(test))
    # keyed on colours, the same pairs fit no stamp for the test plus
    assert stamp_objects(test, stamps).tolist() == test.tolist()


def test_stamps_on_colours_come_before_role_stamps_where_both_fit() -> None:
    inputs = [pluses([(2, 8)]), pluses([(2, 8), (2, 8)])]
    targets = [grown(g) for g in inputs]
    fitted = fit_object_stamps(inputs, targets, [pluses([(2, 8)])], bg=0)
    assert fitted is not None and fitted[1] is False and set(fitted[0]) == {"3x3:.8.828.8."}


def test_a_role_beyond_the_objects_colours_paints_nothing() -> None:
    grid = np.zeros((5, 5), dtype=np.int8)
    grid[2, 2] = 3
    out = stamp_objects(grid, {"1x1:a": ((0, 1, ROLE), (1, 0, ROLE + 1))}, roles=True)
    assert out[2, 3] == 3 and out[3, 2] == 0


def test_the_search_writes_role_stamps_into_a_program_that_runs() -> None:
    task = Task(
        "pluses",
        tuple(Pair(g, grown(g)) for g in (pluses([(2, 8)]), pluses([(4, 1), (3, 7)]), pluses([(5, 2)]))),
        (Pair(pluses([(6, 9)]), grown(pluses([(6, 9)]))),),
    )
    assert_best_program_runs(task, grown, "roles=True")
