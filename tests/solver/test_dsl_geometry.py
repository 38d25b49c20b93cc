"""Geometry primitives on hand-made grids."""

from __future__ import annotations

import numpy as np
import pytest

from arcforge_solver.dsl import (
    DSLError,
    antitranspose,
    as_grid,
    bottom_half,
    crop,
    crop_to_content,
    dedupe,
    downscale_blocks,
    flip_lr,
    flip_ud,
    left_half,
    mirror_extend_4,
    mirror_extend_lr,
    mirror_extend_ud,
    pad,
    remove_bg_rows_cols,
    right_half,
    rot90,
    rot180,
    rot270,
    rotate_tile_4,
    scale_down,
    scale_up,
    scale_up_xy,
    self_kron,
    self_kron_inverse,
    tile,
    top_half,
    transpose,
)

G = as_grid([[1, 2, 3], [4, 5, 6]])


def eq(a: np.ndarray, rows: list[list[int]]) -> bool:
    return a.dtype == np.int8 and np.array_equal(a, np.array(rows))


def test_rotations_and_flips() -> None:
    assert eq(rot90(G), [[3, 6], [2, 5], [1, 4]])
    assert eq(rot270(G), [[4, 1], [5, 2], [6, 3]])
    assert eq(rot180(G), [[6, 5, 4], [3, 2, 1]])
    assert eq(flip_lr(G), [[3, 2, 1], [6, 5, 4]])
    assert eq(flip_ud(G), [[4, 5, 6], [1, 2, 3]])
    assert eq(transpose(G), [[1, 4], [2, 5], [3, 6]])
    assert eq(antitranspose(G), [[6, 3], [5, 2], [4, 1]])


def test_primitives_do_not_change_their_input() -> None:
    g = G.copy()
    for fn in (rot90, flip_lr, transpose, mirror_extend_4):
        fn(g)
    assert np.array_equal(g, G)


def test_crops() -> None:
    assert eq(crop(G, 0, 1, 2, 2), [[2, 3], [5, 6]])
    with pytest.raises(DSLError):
        crop(G, 1, 1, 2, 2)
    g = as_grid([[0, 0, 0, 0], [0, 3, 0, 0], [0, 0, 4, 0], [0, 0, 0, 0]])
    assert eq(crop_to_content(g), [[3, 0], [0, 4]])
    assert eq(crop_to_content(as_grid([[5, 5], [5, 1]]), bg=5), [[1]])
    with pytest.raises(DSLError):
        crop_to_content(as_grid([[0, 0]]))
    assert eq(remove_bg_rows_cols(as_grid([[1, 0, 2], [0, 0, 0], [3, 0, 4]])), [[1, 2], [3, 4]])


def test_scaling() -> None:
    g = as_grid([[1, 2]])
    assert eq(scale_up(g, 2), [[1, 1, 2, 2], [1, 1, 2, 2]])
    assert eq(scale_up_xy(g, 1, 2), [[1, 1, 2, 2]])
    assert eq(scale_down(scale_up(G, 3), 3), G.tolist())
    with pytest.raises(DSLError):
        scale_down(G, 2)
    assert eq(downscale_blocks(scale_up_xy(G, 2, 3)), G.tolist())
    with pytest.raises(DSLError):
        downscale_blocks(G)
    with pytest.raises(DSLError):
        scale_up(np.zeros((20, 20), dtype=np.int8), 2)  # past 30 a side


def test_tiling_and_mirrors() -> None:
    g = as_grid([[1, 2]])
    assert eq(tile(g, 2, 2), [[1, 2, 1, 2], [1, 2, 1, 2]])
    assert eq(mirror_extend_lr(g), [[1, 2, 2, 1]])
    assert eq(mirror_extend_ud(g), [[1, 2], [1, 2]])
    assert eq(
        mirror_extend_4(as_grid([[1, 2], [3, 4]]))[:, :],
        [[1, 2, 2, 1], [3, 4, 4, 3], [3, 4, 4, 3], [1, 2, 2, 1]],
    )
    out = rotate_tile_4(as_grid([[1, 2], [3, 4]]))
    assert out.shape == (4, 4) and eq(out[:2, :2], [[1, 2], [3, 4]])
    assert eq(pad(as_grid([[1]]), 1, 7), [[7, 7, 7], [7, 1, 7], [7, 7, 7]])


def test_self_kron() -> None:
    g = as_grid([[1, 0], [0, 1]])
    assert eq(self_kron(g), [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
    assert eq(self_kron_inverse(g), [[0, 0, 1, 0], [0, 0, 0, 1], [1, 0, 0, 0], [0, 1, 0, 0]])


def test_halves_and_dedupe() -> None:
    g = as_grid([[1, 1], [2, 2], [3, 3], [4, 4]])
    assert eq(top_half(g), [[1, 1], [2, 2]])
    assert eq(bottom_half(g), [[3, 3], [4, 4]])
    assert eq(left_half(G), [[1], [4]])
    assert eq(right_half(G), [[3], [6]])
    assert eq(dedupe(as_grid([[1, 1, 2], [1, 1, 2], [3, 3, 4]])), [[1, 2], [3, 4]])
