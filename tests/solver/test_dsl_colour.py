"""Colour maps, palette rules and counting primitives on hand-made grids."""

from __future__ import annotations

import numpy as np
import pytest

from arcforge_solver.dsl import (
    DSLError,
    as_grid,
    background,
    colour_count_bar,
    colour_histogram_grid,
    colours_by_frequency,
    count_cells_to_row,
    count_colour,
    count_colours,
    count_foreground,
    grid_from_count,
    invert,
    keep_colour,
    keep_least_common,
    keep_most_common,
    least_common_colour,
    majority_colour_cell,
    map_colours,
    most_common_colour,
    paint_background,
    paint_foreground,
    palette,
    palette_size,
    recolour_all_to_least_common,
    recolour_all_to_most_common,
    remove_colour,
    remove_least_common,
    remove_most_common,
    replace_colour,
    square_of_count,
    swap_colours,
)

G = as_grid([[0, 1, 1], [2, 1, 0], [0, 0, 3]])


def eq(a: np.ndarray, rows: list[list[int]]) -> bool:
    return a.dtype == np.int8 and np.array_equal(a, np.array(rows))


def test_statistics() -> None:
    assert background(G) == 0
    assert most_common_colour(G) == 1
    assert least_common_colour(G) == 2  # 2 and 3 tie: the lower wins
    assert palette(G) == (0, 1, 2, 3)
    assert count_colours(G) == 3
    with pytest.raises(DSLError):
        most_common_colour(np.zeros((2, 2), dtype=np.int8))


def test_recolouring() -> None:
    assert eq(replace_colour(G, 1, 5), [[0, 5, 5], [2, 5, 0], [0, 0, 3]])
    with pytest.raises(DSLError):
        replace_colour(G, 1, 1)
    assert eq(swap_colours(G, 1, 2), [[0, 2, 2], [1, 2, 0], [0, 0, 3]])
    assert eq(map_colours(G, {1: 2, 2: 1, 0: 9}), [[9, 2, 2], [1, 2, 9], [9, 9, 3]])
    assert eq(keep_colour(G, 1), [[0, 1, 1], [0, 1, 0], [0, 0, 0]])
    assert eq(remove_colour(G, 1), [[0, 0, 0], [2, 0, 0], [0, 0, 3]])
    assert eq(paint_foreground(G, 4), [[0, 4, 4], [4, 4, 0], [0, 0, 4]])
    assert eq(paint_background(G, 4), [[4, 1, 1], [2, 1, 4], [4, 4, 3]])
    assert eq(invert(as_grid([[0, 5], [5, 5]])), [[5, 0], [0, 0]])


def test_palette_rules() -> None:
    assert eq(keep_most_common(G), [[0, 1, 1], [0, 1, 0], [0, 0, 0]])
    assert eq(keep_least_common(G), [[0, 0, 0], [2, 0, 0], [0, 0, 0]])
    assert eq(remove_most_common(G), [[0, 0, 0], [2, 0, 0], [0, 0, 3]])
    assert eq(remove_least_common(G), [[0, 1, 1], [0, 1, 0], [0, 0, 3]])
    assert eq(recolour_all_to_most_common(G), [[0, 1, 1], [1, 1, 0], [0, 0, 1]])
    assert eq(recolour_all_to_least_common(G), [[0, 2, 2], [2, 2, 0], [0, 0, 2]])
    assert eq(colours_by_frequency(G), [[1], [2], [3]])
    assert eq(colour_histogram_grid(G), [[1, 0, 0], [1, 0, 0], [1, 2, 3]])


def test_counting() -> None:
    assert count_colour(G, 1) == 3
    assert count_foreground(G) == 5
    assert palette_size(G) == 3
    assert eq(grid_from_count(3, 4), [[4, 4, 4]])
    assert eq(grid_from_count(5, 4, width=3), [[4, 4, 4], [4, 4, 0]])
    with pytest.raises(DSLError):
        grid_from_count(0, 4)
    assert eq(square_of_count(2, 6), [[6, 6], [6, 6]])
    assert eq(majority_colour_cell(G), [[1]])
    assert eq(colour_count_bar(G, 1), [[1, 1, 1]])
    assert eq(count_cells_to_row(G), [[1, 1, 1, 1, 1]])
