"""Primitives added from the ARC-AGI-2 tune split's failures: the unit a grid repeats
(`tile_unit`), the colours in band order (`colour_bands`), the box between two cells of a colour
(`fill_pair_boxes`), objects chosen by how many cells of a colour they hold (`most_of_colour`,
`fewest_of_colour`), a small output looked up by the input's foreground shape
(`output_by_shape`, fitted by `learn.fit_output_by_shape`), and objects recoloured by which end
of the size order they are at (`size_extreme`, fitted by `learn.fit_object_recolour`)."""

from __future__ import annotations

import numpy as np
import pytest

from arcforge_solver.dsl import (
    DSLError,
    as_grid,
    colour_bands,
    fewest_of_colour,
    fill_pair_boxes,
    grid_text,
    most_of_colour,
    object_grid,
    objects_multi,
    output_by_shape,
    recolour_objects,
    tile,
    tile_unit,
)
from arcforge_solver.engines.protocol import Deadline, EngineContext
from arcforge_solver.engines.search.learn import fit_object_recolour, fit_output_by_shape
from arcforge_solver.engines.search.search_engine import SearchEngine
from arcforge_solver.tasks.model import Pair, Task


def test_tile_unit_undoes_tile_and_refuses_a_grid_that_repeats_nothing() -> None:
    unit = as_grid([[1, 2, 3], [4, 4, 1]])
    assert np.array_equal(tile_unit(tile(unit, 3, 1)), unit)
    assert np.array_equal(tile_unit(tile(unit, 1, 2)), unit)
    assert np.array_equal(tile_unit(tile(unit, 2, 2)), unit)
    # a repeat that does not fit a whole number of times is not one
    with pytest.raises(DSLError):
        tile_unit(as_grid([[1, 2, 1, 2, 1]]))
    with pytest.raises(DSLError):
        tile_unit(unit)


def test_colour_bands_reads_the_bands_along_the_axis_they_spread_on() -> None:
    side_by_side = as_grid([[4, 4, 2, 2, 2, 8], [4, 4, 4, 2, 8, 8], [4, 2, 2, 2, 8, 8]])
    assert colour_bands(side_by_side).tolist() == [[4, 2, 8]]
    stacked = side_by_side.T[::-1].copy()  # the same bands, bottom to top
    assert colour_bands(stacked).tolist() == [[8], [2], [4]]
    with pytest.raises(DSLError):
        colour_bands(as_grid([[5, 5], [5, 5]]))


def test_objects_are_chosen_by_their_count_of_a_colour_and_ties_are_refused() -> None:
    grid = as_grid(
        [
            [1, 2, 1, 0, 0, 0, 0],
            [1, 1, 1, 0, 1, 2, 1],
            [2, 1, 2, 0, 1, 1, 1],
            [0, 0, 0, 0, 0, 0, 0],
            [1, 1, 0, 0, 0, 0, 0],
            [1, 1, 0, 0, 0, 0, 0],
        ]
    )
    objs = objects_multi(grid)
    assert object_grid(most_of_colour(objs, 2)).tolist() == [[1, 2, 1], [1, 1, 1], [2, 1, 2]]
    assert object_grid(fewest_of_colour(objs, 2)).tolist() == [[1, 1], [1, 1]]
    with pytest.raises(DSLError):
        fewest_of_colour(objs, 9)  # no object has any: all tie at zero


L_SHAPE = [[1, 0], [1, 1]]
BAR = [[1, 1, 1]]


def scene(shape: list[list[int]], colour: int, size: int = 5, at: tuple[int, int] = (1, 1)) -> np.ndarray:
    grid = np.zeros((size, size), dtype=np.int8)
    patch = np.array(shape, dtype=np.int8) * colour
    grid[at[0] : at[0] + patch.shape[0], at[1] : at[1] + patch.shape[1]] = patch
    return grid


def test_a_shape_table_is_fitted_only_where_a_shape_repeats_and_covers_the_test() -> None:
    values = [scene(L_SHAPE, 3), scene(BAR, 5), scene(L_SHAPE, 8, at=(2, 0))]
    targets = [as_grid([[4]]), as_grid([[7]]), as_grid([[4]])]
    table = fit_output_by_shape(values, targets, [scene(BAR, 2, at=(3, 2))], 0)
    assert table == {"10/11": "4", "111": "7"}
    assert grid_text(as_grid([[1, 2], [3, 4]])) == "12/34"
    assert output_by_shape(scene(L_SHAPE, 6, at=(0, 3)), table).tolist() == [[4]]
    with pytest.raises(DSLError):
        output_by_shape(scene([[1, 1]], 6), table)
    # every shape seen once: a table of the train pairs, not a rule
    assert fit_output_by_shape(values[:2], targets[:2], [scene(BAR, 2)], 0) is None
    # a test shape the table lacks
    assert fit_output_by_shape(values, targets, [scene([[1], [1]], 2)], 0) is None
    # one shape, two outputs
    assert fit_output_by_shape(values, [as_grid([[4]]), as_grid([[7]]), as_grid([[9]])], [], 0) is None


def test_the_search_classifies_by_shape_and_carries_it_to_the_test_input() -> None:
    shapes = {"L": (L_SHAPE, [[4]]), "bar": (BAR, [[7]]), "plus": ([[0, 1, 0], [1, 1, 1], [0, 1, 0]], [[2]])}
    train = [
        ("L", 3, (1, 1)),
        ("bar", 5, (0, 2)),
        ("plus", 1, (1, 0)),
        ("L", 8, (2, 3)),
        ("plus", 6, (2, 2)),
    ]
    pairs = tuple(
        Pair(scene(shapes[name][0], colour, at=at), as_grid(shapes[name][1])) for name, colour, at in train
    )
    test_input = scene(BAR, 9, at=(4, 1))
    task = Task("shape-lookup", pairs, (Pair(test_input, as_grid([[7]])),))
    engine = SearchEngine(max_cost=1, deepest=1, max_evaluations=3000, generations=1)
    result = engine.solve(task, Deadline(300), EngineContext(seed=1))
    best = result.candidates[0]
    assert best.train_fitness == 1.0 and "output_by_shape(" in best.source
    assert best.predictions[0].tolist() == [[7]]


def test_two_cells_of_a_colour_fill_the_box_between_them() -> None:
    grid = as_grid([[0, 0, 0, 0, 0], [0, 3, 0, 0, 0], [0, 0, 0, 0, 7], [0, 0, 3, 7, 0], [5, 0, 0, 0, 0]])
    assert fill_pair_boxes(grid).tolist() == [
        [0, 0, 0, 0, 0],
        [0, 3, 3, 0, 0],
        [0, 3, 3, 7, 7],
        [0, 3, 3, 7, 7],
        [5, 0, 0, 0, 0],
    ]
    with pytest.raises(DSLError):
        fill_pair_boxes(as_grid([[1, 0], [0, 0]]))


def bars(heights: list[int], rows: int = 6) -> np.ndarray:
    """Vertical bars of colour 5 standing on the bottom row, one every other column."""
    grid = np.zeros((rows, 2 * len(heights)), dtype=np.int8)
    for k, height in enumerate(heights):
        grid[rows - height :, 2 * k] = 5
    return grid


def test_the_largest_and_the_smallest_object_are_recoloured_whatever_the_count_between() -> None:
    def answer(heights: list[int]) -> np.ndarray:
        out = np.zeros_like(bars(heights))
        for k, height in enumerate(heights):
            colour = 1 if height == max(heights) else 2 if height == min(heights) else 0
            out[6 - height :, 2 * k] = colour
        return out

    train = [[5, 2, 3, 1], [2, 6, 4]]
    test = [3, 1, 4, 2, 6]  # more bars than any train input: a table by size or rank misses some
    fitted = fit_object_recolour([bars(h) for h in train], [answer(h) for h in train], [bars(test)], 0)
    assert fitted is not None
    prop, table, _ = fitted
    assert prop == "size_extreme" and table == {1: 1, -1: 2, 0: 0}
    assert np.array_equal(recolour_objects(bars(test), prop, table), answer(test))
