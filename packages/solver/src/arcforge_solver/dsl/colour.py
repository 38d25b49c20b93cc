"""Colour maps and palette rules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import numpy as np

from arcforge_solver.dsl.core import DSLError, Grid, colour_counts, least_common_colour, most_common_colour
from arcforge_solver.dsl.primitive import grid_op, primitive


@primitive(grid_op("in_colour", "out_colour", cost=2, order=750))
def replace_colour(grid: Grid, old: int, new: int) -> Grid:
    """Every `old` cell becomes `new`."""
    if old == new:
        raise DSLError("same colour")
    out = grid.copy()
    out[grid == old] = new
    return cast("Grid", out)


@primitive(grid_op("in_colour", "in_colour", cost=2, order=760))
def swap_colours(grid: Grid, a: int, b: int) -> Grid:
    """Exchange two colours."""
    if a == b:
        raise DSLError("same colour")
    out = grid.copy()
    out[grid == a] = b
    out[grid == b] = a
    return cast("Grid", out)


@primitive
def map_colours(grid: Grid, mapping: Mapping[int, int]) -> Grid:
    """Recolour by a table; colours not in it stay."""
    lut = np.arange(16, dtype=np.int8)
    for old, new in mapping.items():
        lut[int(old)] = int(new)
    return lut[grid]


@primitive(grid_op("in_colour", bg=True, order=670))
def keep_colour(grid: Grid, colour: int, bg: int = 0) -> Grid:
    """Only `colour` stays; every other cell becomes `bg`."""
    return np.where(grid == colour, grid, np.int8(bg)).astype(np.int8)


@primitive(grid_op("in_colour", bg=True, order=680))
def remove_colour(grid: Grid, colour: int, bg: int = 0) -> Grid:
    """`colour` becomes `bg`."""
    return np.where(grid == colour, np.int8(bg), grid).astype(np.int8)


@primitive(grid_op("out_colour", bg=True, order=690))
def paint_foreground(grid: Grid, colour: int, bg: int = 0) -> Grid:
    """Every cell that is not `bg` becomes `colour`."""
    return np.where(grid != bg, np.int8(colour), grid).astype(np.int8)


@primitive(grid_op("out_colour", bg=True, order=700))
def paint_background(grid: Grid, colour: int, bg: int = 0) -> Grid:
    """Every `bg` cell becomes `colour`."""
    return np.where(grid == bg, np.int8(colour), grid).astype(np.int8)


@primitive(grid_op(bg=True, order=270))
def invert(grid: Grid, bg: int = 0) -> Grid:
    """Foreground and background swap: a two-colour grid's colours trade places."""
    fg = most_common_colour(grid, bg)
    out = np.full_like(grid, bg)
    out[grid == bg] = fg
    return out


@primitive(grid_op(bg=True, order=280))
def keep_most_common(grid: Grid, bg: int = 0) -> Grid:
    """Only the most common non-background colour stays."""
    return keep_colour(grid, most_common_colour(grid, bg), bg)


@primitive(grid_op(bg=True, order=290))
def keep_least_common(grid: Grid, bg: int = 0) -> Grid:
    """Only the rarest non-background colour stays."""
    return keep_colour(grid, least_common_colour(grid, bg), bg)


@primitive(grid_op(bg=True, order=300))
def remove_most_common(grid: Grid, bg: int = 0) -> Grid:
    return remove_colour(grid, most_common_colour(grid, bg), bg)


@primitive(grid_op(bg=True, order=310))
def remove_least_common(grid: Grid, bg: int = 0) -> Grid:
    return remove_colour(grid, least_common_colour(grid, bg), bg)


@primitive(grid_op(bg=True, order=320))
def recolour_all_to_most_common(grid: Grid, bg: int = 0) -> Grid:
    """All foreground takes the most common foreground colour."""
    return paint_foreground(grid, most_common_colour(grid, bg), bg)


@primitive(grid_op(bg=True, order=330))
def recolour_all_to_least_common(grid: Grid, bg: int = 0) -> Grid:
    """All foreground takes the rarest foreground colour."""
    return paint_foreground(grid, least_common_colour(grid, bg), bg)


@primitive(grid_op(bg=True, order=420))
def colour_histogram_grid(grid: Grid, bg: int = 0) -> Grid:
    """A column per colour (most common first), as tall as its count: bars of colour."""
    counts = colour_counts(grid)
    counts[bg] = 0
    order = [int(c) for c in np.argsort(-counts, kind="stable") if counts[c] > 0]
    if not order:
        raise DSLError("no colours")
    height = int(counts[order[0]])
    if height > 30:
        raise DSLError("too tall")
    out = np.full((height, len(order)), bg, dtype=np.int8)
    for j, c in enumerate(order):
        out[height - int(counts[c]) :, j] = c
    return out


@primitive(grid_op(bg=True, order=430))
def colours_by_frequency(grid: Grid, bg: int = 0) -> Grid:
    """A one-column grid of the colours present, most common first."""
    counts = colour_counts(grid)
    counts[bg] = 0
    order = [int(c) for c in np.argsort(-counts, kind="stable") if counts[c] > 0]
    if not order:
        raise DSLError("no colours")
    return np.array(order, dtype=np.int8).reshape(-1, 1)


@primitive(grid_op(order=435))
def colour_bands(grid: Grid) -> Grid:
    """The colours in the order their bands lie: a one-row grid, left to right, when the colours'
    mean columns spread wider (as a share of the width) than their mean rows do of the height, else
    a one-column grid, top to bottom. Every colour counts, background included."""
    present = np.flatnonzero(colour_counts(grid))
    if present.size < 2:
        raise DSLError("one colour")
    cells = [np.nonzero(grid == c) for c in present]
    mean_row = np.array([rows.mean() for rows, _ in cells]) / grid.shape[0]
    mean_col = np.array([cols.mean() for _, cols in cells]) / grid.shape[1]
    if np.ptp(mean_col) > np.ptp(mean_row):
        return present[np.argsort(mean_col, kind="stable")].astype(np.int8).reshape(1, -1)
    return present[np.argsort(mean_row, kind="stable")].astype(np.int8).reshape(-1, 1)


@primitive(grid_op(order=440))
def majority_fill(grid: Grid) -> Grid:
    """The whole grid in its most common colour (background included)."""
    return np.full_like(grid, int(np.argmax(colour_counts(grid))))


@primitive(grid_op("in_colour", order=470))
def crop_to_colour(grid: Grid, colour: int) -> Grid:
    """The bounding box of every `colour` cell, frame included."""
    rows = np.flatnonzero((grid == colour).any(axis=1))
    if rows.size == 0:
        raise DSLError("colour absent")
    cols = np.flatnonzero((grid == colour).any(axis=0))
    return cast("Grid", grid[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].copy())


@primitive(grid_op("in_colour", order=480))
def crop_inside_colour(grid: Grid, colour: int) -> Grid:
    """What lies strictly inside the bounding box of the `colour` cells (a frame's content)."""
    rows = np.flatnonzero((grid == colour).any(axis=1))
    if rows.size == 0:
        raise DSLError("colour absent")
    cols = np.flatnonzero((grid == colour).any(axis=0))
    if rows[-1] - rows[0] < 2 or cols[-1] - cols[0] < 2:
        raise DSLError("nothing inside")
    return cast("Grid", grid[rows[0] + 1 : rows[-1], cols[0] + 1 : cols[-1]].copy())
