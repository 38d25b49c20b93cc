"""Geometry: rotations, flips, crops, scaling, tiling and mirror-extension."""

from __future__ import annotations

from typing import cast

import numpy as np

from arcforge_solver.dsl.core import DSLError, Grid, check_grid, quarter_turns
from arcforge_solver.dsl.primitive import grid_op, primitive


@primitive(grid_op(order=10))
def rot90(grid: Grid) -> Grid:
    """Rotate a quarter turn anticlockwise."""
    return np.ascontiguousarray(quarter_turns(grid, 1))


@primitive(grid_op(order=20))
def rot180(grid: Grid) -> Grid:
    return np.ascontiguousarray(quarter_turns(grid, 2))


@primitive(grid_op(order=30))
def rot270(grid: Grid) -> Grid:
    """Rotate a quarter turn clockwise."""
    return np.ascontiguousarray(quarter_turns(grid, 3))


@primitive(grid_op(order=40))
def flip_lr(grid: Grid) -> Grid:
    """Mirror left-right."""
    return np.ascontiguousarray(grid[:, ::-1])


@primitive(grid_op(order=50))
def flip_ud(grid: Grid) -> Grid:
    """Mirror top-bottom."""
    return np.ascontiguousarray(grid[::-1, :])


@primitive(grid_op(order=60))
def transpose(grid: Grid) -> Grid:
    return np.ascontiguousarray(grid.T)


@primitive(grid_op(order=70))
def antitranspose(grid: Grid) -> Grid:
    """Mirror about the anti-diagonal."""
    return np.ascontiguousarray(quarter_turns(grid, 2).T)


@primitive
def crop(grid: Grid, top: int, left: int, height: int, width: int) -> Grid:
    """The height x width window at (top, left); DSLError when it leaves the grid or is empty."""
    if top < 0 or left < 0 or height < 1 or width < 1:
        raise DSLError("bad crop window")
    if top + height > grid.shape[0] or left + width > grid.shape[1]:
        raise DSLError("crop window leaves the grid")
    return cast("Grid", grid[top : top + height, left : left + width].copy())


@primitive(grid_op(bg=True, order=80))
def crop_to_content(grid: Grid, bg: int = 0) -> Grid:
    """The bounding box of every cell that is not `bg`."""
    rows = np.flatnonzero((grid != bg).any(axis=1))
    if rows.size == 0:
        raise DSLError("nothing but background")
    cols = np.flatnonzero((grid != bg).any(axis=0))
    return cast("Grid", grid[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].copy())


@primitive(grid_op((2, 3, 4, 5), order=520))
def scale_up(grid: Grid, factor: int) -> Grid:
    """Each cell becomes a factor x factor block."""
    if factor < 1:
        raise DSLError("factor must be positive")
    return check_grid(np.kron(grid, np.ones((factor, factor), dtype=np.int8)).astype(np.int8))


@primitive
def scale_up_xy(grid: Grid, fy: int, fx: int) -> Grid:
    """Each cell becomes an fy x fx block."""
    if fy < 1 or fx < 1:
        raise DSLError("factors must be positive")
    return check_grid(np.repeat(np.repeat(grid, fy, axis=0), fx, axis=1))


@primitive(grid_op((2, 3, 4, 5), order=530))
def scale_down(grid: Grid, factor: int) -> Grid:
    """Keep one cell of each factor x factor block; DSLError when the blocks are not uniform."""
    h, w = grid.shape
    if factor < 2 or h % factor or w % factor:
        raise DSLError("grid does not divide by the factor")
    small = grid[::factor, ::factor]
    if not np.array_equal(np.repeat(np.repeat(small, factor, axis=0), factor, axis=1), grid):
        raise DSLError("blocks are not uniform")
    return np.ascontiguousarray(small)


@primitive(grid_op(order=100))
def downscale_blocks(grid: Grid) -> Grid:
    """Undo any uniform block scaling: the largest factor per axis whose blocks are uniform."""
    h, w = grid.shape
    fy = max(
        f for f in range(1, h + 1) if h % f == 0 and np.array_equal(np.repeat(grid[::f], f, axis=0), grid)
    )
    fx = max(
        f for f in range(1, w + 1) if w % f == 0 and np.array_equal(np.repeat(grid[:, ::f], f, axis=1), grid)
    )
    if fy == 1 and fx == 1:
        raise DSLError("not a scaled grid")
    return np.ascontiguousarray(grid[::fy, ::fx])


@primitive(grid_op((1, 2, 3), (1, 2, 3), order=540))
def tile(grid: Grid, rows: int, cols: int) -> Grid:
    """Repeat the grid rows x cols times."""
    if rows < 1 or cols < 1:
        raise DSLError("tile counts must be positive")
    return check_grid(np.tile(grid, (rows, cols)))


@primitive(grid_op(order=140))
def mirror_extend_lr(grid: Grid) -> Grid:
    """The grid followed by its mirror image on the right."""
    return check_grid(np.hstack([grid, grid[:, ::-1]]))


@primitive(grid_op(order=150))
def mirror_extend_ud(grid: Grid) -> Grid:
    """The grid followed by its mirror image below."""
    return check_grid(np.vstack([grid, grid[::-1, :]]))


@primitive(grid_op(order=160))
def mirror_extend_4(grid: Grid) -> Grid:
    """A 2x2 arrangement: the grid, its left-right mirror, and both mirrored below."""
    top = np.hstack([grid, grid[:, ::-1]])
    return check_grid(np.vstack([top, top[::-1, :]]))


@primitive(grid_op(order=170))
def rotate_tile_4(grid: Grid) -> Grid:
    """A 2x2 arrangement of the grid and its rotations (square grids)."""
    if grid.shape[0] != grid.shape[1]:
        raise DSLError("needs a square grid")
    top = np.hstack([grid, quarter_turns(grid, 3)])
    bottom = np.hstack([quarter_turns(grid, 1), quarter_turns(grid, 2)])
    return check_grid(np.vstack([top, bottom]))


@primitive(grid_op(bg=True, order=180))
def self_kron(grid: Grid, bg: int = 0) -> Grid:
    """Fractal tiling: a copy of the grid in every block whose cell is not `bg`."""
    mask = (grid != bg).astype(np.int8)
    out = np.kron(mask, grid).astype(np.int8)
    bgs = np.kron(1 - mask, np.ones_like(grid))
    out[bgs.astype(bool)] = bg
    return check_grid(out)


@primitive(grid_op(bg=True, order=190))
def self_kron_inverse(grid: Grid, bg: int = 0) -> Grid:
    """Fractal tiling on the background: a copy of the grid in every block whose cell is `bg`."""
    mask = (grid == bg).astype(np.int8)
    out = np.kron(mask, grid).astype(np.int8)
    out[np.kron(1 - mask, np.ones_like(grid)).astype(bool)] = bg
    return check_grid(out)


@primitive(grid_op(order=105))
def tile_unit(grid: Grid) -> Grid:
    """The smallest block whose whole repeats make up the grid (the input of `tile`); DSLError when
    the grid repeats nothing."""
    h, w = grid.shape
    rows = next(p for p in range(1, h + 1) if h % p == 0 and np.array_equal(grid[p:], grid[: h - p]))
    cols = next(p for p in range(1, w + 1) if w % p == 0 and np.array_equal(grid[:, p:], grid[:, : w - p]))
    if rows == h and cols == w:
        raise DSLError("the grid does not repeat")
    return np.ascontiguousarray(grid[:rows, :cols])


@primitive(grid_op(order=200))
def top_half(grid: Grid) -> Grid:
    return grid[: grid.shape[0] // 2].copy() if grid.shape[0] >= 2 else _raise("too small")


@primitive(grid_op(order=210))
def bottom_half(grid: Grid) -> Grid:
    return grid[(grid.shape[0] + 1) // 2 :].copy() if grid.shape[0] >= 2 else _raise("too small")


@primitive(grid_op(order=220))
def left_half(grid: Grid) -> Grid:
    return grid[:, : grid.shape[1] // 2].copy() if grid.shape[1] >= 2 else _raise("too small")


@primitive(grid_op(order=230))
def right_half(grid: Grid) -> Grid:
    return grid[:, (grid.shape[1] + 1) // 2 :].copy() if grid.shape[1] >= 2 else _raise("too small")


@primitive(grid_op(order=120))
def dedupe_rows(grid: Grid) -> Grid:
    """Collapse runs of identical consecutive rows to one row."""
    keep = np.ones(grid.shape[0], dtype=bool)
    keep[1:] = (grid[1:] != grid[:-1]).any(axis=1)
    return cast("Grid", grid[keep].copy())


@primitive(grid_op(order=130))
def dedupe_cols(grid: Grid) -> Grid:
    """Collapse runs of identical consecutive columns to one column."""
    return np.ascontiguousarray(dedupe_rows(grid.T).T)


@primitive(grid_op(order=110))
def dedupe(grid: Grid) -> Grid:
    """Collapse identical consecutive rows and columns."""
    return dedupe_cols(dedupe_rows(grid))


@primitive(grid_op(bg=True, order=90))
def remove_bg_rows_cols(grid: Grid, bg: int = 0) -> Grid:
    """Drop every row and column that is all `bg`."""
    rows = (grid != bg).any(axis=1)
    cols = (grid != bg).any(axis=0)
    if not rows.any():
        raise DSLError("nothing but background")
    return np.ascontiguousarray(grid[rows][:, cols])


@primitive
def pad(grid: Grid, width: int, colour: int) -> Grid:
    """A border `width` cells wide of `colour` around the grid."""
    return check_grid(np.pad(grid, width, constant_values=colour).astype(np.int8))


def _raise(message: str) -> Grid:
    raise DSLError(message)


TRANSFORMS = ("id", "rot90", "rot180", "rot270", "flip_lr", "flip_ud", "transpose", "antitranspose", "blank")
"""The block transforms `tile_transformed` knows, simplest first; `blank` is an empty block."""


@primitive
def transformed(grid: Grid, name: str, bg: int = 0) -> Grid:
    """The grid under one of TRANSFORMS."""
    if name == "id":
        return grid
    if name == "blank":
        return np.full_like(grid, bg)
    functions = {
        "rot90": rot90,
        "rot180": rot180,
        "rot270": rot270,
        "flip_lr": flip_lr,
        "flip_ud": flip_ud,
        "transpose": transpose,
        "antitranspose": antitranspose,
    }
    return functions[name](grid)


@primitive
def tile_transformed(grid: Grid, layout: tuple[tuple[str, ...], ...], bg: int = 0) -> Grid:
    """Blocks laid out as `layout` says, each the grid under a transform (see TRANSFORMS)."""
    rows = [np.hstack([transformed(grid, name, bg) for name in row]) for row in layout]
    return check_grid(np.vstack(rows))
