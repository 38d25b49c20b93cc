"""Filling and moving: enclosed areas, gravity, lines and rays."""

from __future__ import annotations

import itertools
from typing import cast

import numpy as np

from arcforge_solver.dsl.core import DSLError, Grid, Mask, quarter_turns
from arcforge_solver.dsl.primitive import DIRECTIONS, grid_op, primitive


def _reach_from_border(passable: Mask, diagonal: bool = False) -> Mask:
    """Cells of `passable` connected to the grid's edge through passable cells."""
    reached = np.zeros_like(passable)
    reached[0, :] = passable[0, :]
    reached[-1, :] = passable[-1, :]
    reached[:, 0] |= passable[:, 0]
    reached[:, -1] |= passable[:, -1]
    while True:
        # grow by one step with shifted in-place ORs (np.pad per step cost more than the step itself)
        grown = reached.copy()
        grown[1:, :] |= reached[:-1, :]
        grown[:-1, :] |= reached[1:, :]
        grown[:, 1:] |= reached[:, :-1]
        grown[:, :-1] |= reached[:, 1:]
        if diagonal:
            grown[1:, 1:] |= reached[:-1, :-1]
            grown[1:, :-1] |= reached[:-1, 1:]
            grown[:-1, 1:] |= reached[1:, :-1]
            grown[:-1, :-1] |= reached[1:, 1:]
        grown &= passable
        if np.array_equal(grown, reached):
            return reached
        reached = grown


@primitive
def enclosed(grid: Grid, bg: int = 0) -> Mask:
    """Background cells that cannot reach the edge (4-way) without crossing another colour."""
    free = grid == bg
    return cast("Mask", free & ~_reach_from_border(free))


@primitive(grid_op("out_colour", bg=True, order=610))
def fill_enclosed(grid: Grid, colour: int, bg: int = 0) -> Grid:
    """Flood-fill every enclosed background area with `colour`."""
    inside = enclosed(grid, bg)
    if not inside.any():
        raise DSLError("nothing enclosed")
    out = grid.copy()
    out[inside] = colour
    return cast("Grid", out)


@primitive(grid_op("out_colour", bg=True, order=620))
def fill_enclosed_diag(grid: Grid, colour: int, bg: int = 0) -> Grid:
    """Like fill_enclosed, but the background may leak out through diagonal gaps too."""
    free = grid == bg
    inside = free & ~_reach_from_border(free, diagonal=True)
    if not inside.any():
        raise DSLError("nothing enclosed")
    out = grid.copy()
    out[inside] = colour
    return cast("Grid", out)


@primitive(grid_op(DIRECTIONS, bg=True, order=550))
def gravity(grid: Grid, direction: str, bg: int = 0) -> Grid:
    """Every non-`bg` cell falls as far as it can towards `direction` (down, up, left, right),
    keeping its order in its column or row."""
    turns = {"down": 0, "left": 1, "up": 2, "right": 3}[direction]
    g = quarter_turns(grid, turns)  # now fall down
    out = np.full_like(g, bg)
    h = g.shape[0]
    for c in range(g.shape[1]):
        col = g[:, c]
        cells = col[col != bg]
        if cells.size:
            out[h - cells.size :, c] = cells
    return np.ascontiguousarray(quarter_turns(out, -turns))


@primitive(grid_op((-1, 0, 1), (-1, 0, 1), bg=True, max_arg_cost=1, order=570))
def move(grid: Grid, dy: int, dx: int, bg: int = 0) -> Grid:
    """Shift the whole picture by (dy, dx); what leaves the grid is lost."""
    h, w = grid.shape
    out = np.full_like(grid, bg)
    src = grid[max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)]
    out[max(0, dy) : max(0, dy) + src.shape[0], max(0, dx) : max(0, dx) + src.shape[1]] = src
    return out


@primitive(grid_op(DIRECTIONS, bg=True, order=580))
def extend_rays(grid: Grid, direction: str, bg: int = 0) -> Grid:
    """Every coloured cell casts its colour towards `direction` over background, to the edge or
    the next coloured cell."""
    turns = {"down": 0, "left": 1, "up": 2, "right": 3}[direction]
    g = quarter_turns(grid, turns).copy()
    for r in range(1, g.shape[0]):
        carry = (g[r] == bg) & (g[r - 1] != bg)
        g[r][carry] = g[r - 1][carry]
    return np.ascontiguousarray(quarter_turns(g, -turns))


@primitive(grid_op(bg=True, order=350))
def extend_rays_hv(grid: Grid, bg: int = 0) -> Grid:
    """Rays in all four directions from every coloured cell (crossings keep the first drawn)."""
    out = grid.copy()
    for d in ("down", "up", "left", "right"):
        ray = extend_rays(grid, d, bg)
        free = out == bg
        out[free] = ray[free]
    return cast("Grid", out)


@primitive(grid_op(bg=True, order=360))
def connect_pairs(grid: Grid, bg: int = 0) -> Grid:
    """Join two cells of the same colour in the same row or column with a line of that colour,
    over background only."""
    out = grid.copy()
    for axis_grid, put in ((grid, out), (grid.T, out.T)):
        for r in range(axis_grid.shape[0]):
            row = axis_grid[r]
            idx = np.flatnonzero(row != bg)
            for a, b in itertools.pairwise(idx):
                if row[a] == row[b] and b - a > 1:
                    seg = put[r, a + 1 : b]
                    seg[seg == bg] = row[a]
    if np.array_equal(out, grid):
        raise DSLError("nothing to connect")
    return cast("Grid", out)


@primitive(grid_op(bg=True, order=365))
def fill_pair_boxes(grid: Grid, bg: int = 0) -> Grid:
    """A colour with exactly two cells fills the box they are opposite corners of (drawn in
    colour order; other colours stay); DSLError when no colour has two cells."""
    out = grid.copy()
    drawn = False
    for colour in np.unique(grid):
        if colour == bg:
            continue
        rows, cols = np.nonzero(grid == colour)
        if rows.size != 2:
            continue
        out[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] = colour
        drawn = True
    if not drawn:
        raise DSLError("no colour has exactly two cells")
    return cast("Grid", out)


@primitive(grid_op(bg=True, order=370))
def fill_rows_with_colour(grid: Grid, bg: int = 0) -> Grid:
    """A row holding exactly one colour besides `bg` is painted that colour end to end."""
    out = grid.copy()
    for r in range(grid.shape[0]):
        colours = set(int(v) for v in grid[r]) - {bg}
        if len(colours) == 1:
            out[r] = colours.pop()
    return cast("Grid", out)


@primitive(grid_op(bg=True, order=380))
def fill_cols_with_colour(grid: Grid, bg: int = 0) -> Grid:
    """A column holding exactly one colour besides `bg` is painted that colour end to end."""
    return np.ascontiguousarray(fill_rows_with_colour(np.ascontiguousarray(grid.T), bg).T)


@primitive(grid_op("out_colour", order=730))
def draw_border(grid: Grid, colour: int) -> Grid:
    """Paint the outermost ring of cells `colour`."""
    out = grid.copy()
    out[0, :] = colour
    out[-1, :] = colour
    out[:, 0] = colour
    out[:, -1] = colour
    return cast("Grid", out)


@primitive(grid_op(bg=True, order=450))
def connect_diagonal_pairs(grid: Grid, bg: int = 0) -> Grid:
    """Join two cells of the same colour on the same diagonal with a diagonal line over background."""
    out = grid.copy()
    h, w = grid.shape
    found = False
    for flip in (False, True):
        g = grid[:, ::-1] if flip else grid
        o = out[:, ::-1] if flip else out
        for k in range(-h + 1, w):
            diag = np.diagonal(g, k)
            idx = np.flatnonzero(diag != bg)
            for a, b in itertools.pairwise(idx):
                if diag[a] == diag[b] and b - a > 1:
                    for t in range(a + 1, b):
                        r, c = (t, t + k) if k >= 0 else (t - k, t)
                        if o[r, c] == bg:
                            o[r, c] = diag[a]
                            found = True
    if not found:
        raise DSLError("nothing to connect")
    return cast("Grid", out)


@primitive(grid_op(bg=True, order=460))
def diagonal_rays(grid: Grid, bg: int = 0) -> Grid:
    """Every single coloured cell casts rays along both diagonals, over background, to the edges."""
    out = grid.copy()
    h, w = grid.shape
    for r, c in zip(*np.nonzero(grid != bg), strict=True):
        colour = grid[r, c]
        for dr, dc in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
            rr, cc = r + dr, c + dc
            while 0 <= rr < h and 0 <= cc < w and grid[rr, cc] == bg:
                if out[rr, cc] == bg:
                    out[rr, cc] = colour
                rr, cc = rr + dr, cc + dc
    return cast("Grid", out)
