"""Flood fill, gravity, rays and symmetry completion on hand-made grids."""

from __future__ import annotations

import numpy as np
import pytest

from arcforge_solver.dsl import (
    DSLError,
    as_grid,
    complete_symmetry,
    complete_tiling,
    connect_pairs,
    draw_border,
    enclosed,
    extend_rays,
    extend_rays_hv,
    extract_hole_fill,
    extract_tiling_fill,
    fill_cols_with_colour,
    fill_enclosed,
    fill_enclosed_diag,
    fill_rows_with_colour,
    gravity,
    is_symmetric,
    move,
    symmetrise,
)


def eq(a: np.ndarray, rows: list[list[int]]) -> bool:
    return a.dtype == np.int8 and np.array_equal(a, np.array(rows))


BOX = as_grid([[0, 0, 0, 0, 0], [0, 2, 2, 2, 0], [0, 2, 0, 2, 0], [0, 2, 2, 2, 0], [0, 0, 0, 0, 0]])


def test_fill_enclosed() -> None:
    assert enclosed(BOX).sum() == 1
    assert fill_enclosed(BOX, 4)[2, 2] == 4
    assert (fill_enclosed(BOX, 4) == 4).sum() == 1
    with pytest.raises(DSLError):
        fill_enclosed(as_grid([[0, 1], [1, 0]]), 4)
    leaky = as_grid([[0, 2, 0], [2, 0, 2], [0, 2, 0]])
    assert fill_enclosed(leaky, 4)[1, 1] == 4
    with pytest.raises(DSLError):
        fill_enclosed_diag(leaky, 4)  # the centre reaches the corners diagonally
    assert fill_enclosed_diag(BOX, 4)[2, 2] == 4


def test_gravity_and_move() -> None:
    g = as_grid([[1, 0], [0, 0], [2, 3]])
    assert eq(gravity(g, "down"), [[0, 0], [1, 0], [2, 3]])
    assert eq(gravity(g, "up"), [[1, 3], [2, 0], [0, 0]])
    assert eq(gravity(g, "left"), [[1, 0], [0, 0], [2, 3]])
    assert eq(gravity(g, "right"), [[0, 1], [0, 0], [2, 3]])
    assert eq(move(as_grid([[1, 0], [0, 0]]), 1, 1), [[0, 0], [0, 1]])
    assert eq(move(as_grid([[1, 2], [0, 0]]), 0, -1), [[2, 0], [0, 0]])


def test_rays_and_lines() -> None:
    g = as_grid([[0, 0, 0], [0, 3, 0], [0, 0, 0]])
    assert eq(extend_rays(g, "down"), [[0, 0, 0], [0, 3, 0], [0, 3, 0]])
    assert eq(extend_rays(g, "left"), [[0, 0, 0], [3, 3, 0], [0, 0, 0]])
    assert eq(extend_rays_hv(g), [[0, 3, 0], [3, 3, 3], [0, 3, 0]])
    assert eq(
        connect_pairs(as_grid([[4, 0, 0, 4], [0, 0, 0, 0], [4, 0, 0, 0]])),
        [[4, 4, 4, 4], [4, 0, 0, 0], [4, 0, 0, 0]],
    )
    with pytest.raises(DSLError):
        connect_pairs(as_grid([[4, 0, 5]]))
    assert eq(fill_rows_with_colour(as_grid([[0, 2, 0], [0, 0, 0]])), [[2, 2, 2], [0, 0, 0]])
    assert eq(fill_cols_with_colour(as_grid([[0, 2], [0, 0]])), [[0, 2], [0, 2]])
    assert eq(draw_border(np.zeros((3, 3), dtype=np.int8), 1), [[1, 1, 1], [1, 0, 1], [1, 1, 1]])


def test_symmetry_completion() -> None:
    broken = as_grid([[1, 2, 2, 0], [3, 4, 4, 3]])
    assert eq(complete_symmetry(broken, "lr", 0), [[1, 2, 2, 1], [3, 4, 4, 3]])
    with pytest.raises(DSLError):
        complete_symmetry(as_grid([[1, 1]]), "lr", 0)
    assert eq(symmetrise(as_grid([[1, 0], [0, 0]]), "lr+ud"), [[1, 1], [1, 1]])
    assert is_symmetric(as_grid([[1, 2, 1]]), "lr") and not is_symmetric(as_grid([[1, 2]]), "lr")
    holed = as_grid([[1, 2, 2, 1], [3, 4, 9, 9]])
    assert eq(extract_hole_fill(holed, "lr", 9), [[4, 3]])
    square = as_grid([[1, 2, 3], [2, 5, 9], [3, 6, 9]])
    assert eq(complete_symmetry(square, "transpose", 9), [[1, 2, 3], [2, 5, 6], [3, 6, 9]])


def test_tiling_completion() -> None:
    g = as_grid([[1, 2, 1, 2], [3, 4, 0, 4], [1, 0, 1, 2]])
    assert eq(complete_tiling(g, 0), [[1, 2, 1, 2], [3, 4, 3, 4], [1, 2, 1, 2]])
    # a whole row's 3s are holes: the period's place still has a known cell two rows down
    rows = as_grid([[1, 2, 1, 2], [0, 4, 0, 4], [1, 2, 1, 2], [3, 4, 3, 4]])
    assert eq(complete_tiling(rows, 0), [[1, 2, 1, 2], [3, 4, 3, 4], [1, 2, 1, 2], [3, 4, 3, 4]])
    # one known cell: a 1 x 1 period, though no row or column alone has a known cell everywhere
    assert eq(complete_tiling(as_grid([[0, 0], [0, 2]]), 0), [[2, 2], [2, 2]])
    h = as_grid([[1, 2, 1, 2], [3, 4, 7, 7], [1, 2, 7, 7]])
    assert eq(extract_tiling_fill(h, 7), [[3, 4], [1, 2]])
    with pytest.raises(DSLError):
        complete_tiling(as_grid([[1, 2], [3, 4]]), 0)
