"""Counting, and grids made from counts."""

from __future__ import annotations

import numpy as np

from arcforge_solver.dsl.core import DSLError, Grid, colour_counts, most_common_colour
from arcforge_solver.dsl.primitive import grid_op, primitive


@primitive
def count_colour(grid: Grid, colour: int) -> int:
    return int(np.count_nonzero(grid == colour))


@primitive
def count_foreground(grid: Grid, bg: int = 0) -> int:
    return int(np.count_nonzero(grid != bg))


@primitive
def grid_from_count(count: int, colour: int, width: int = 0, bg: int = 0) -> Grid:
    """`count` cells of `colour` in a row (width 0), or filling rows of `width` from the top left."""
    if count < 1 or count > 900:
        raise DSLError("count out of range")
    if width <= 0:
        if count > 30:
            raise DSLError("too long")
        return np.full((1, count), colour, dtype=np.int8)
    rows = -(-count // width)
    if rows > 30 or width > 30:
        raise DSLError("too large")
    out = np.full(rows * width, bg, dtype=np.int8)
    out[:count] = colour
    return out.reshape(rows, width)


@primitive
def square_of_count(count: int, colour: int) -> Grid:
    """A count x count square of `colour`."""
    if not 1 <= count <= 30:
        raise DSLError("count out of range")
    return np.full((count, count), colour, dtype=np.int8)


@primitive(grid_op(bg=True, order=400))
def majority_colour_cell(grid: Grid, bg: int = 0) -> Grid:
    """A 1x1 grid of the most common foreground colour."""
    return np.array([[most_common_colour(grid, bg)]], dtype=np.int8)


@primitive(grid_op("in_colour", bg=True, order=740))
def colour_count_bar(grid: Grid, colour: int, bg: int = 0) -> Grid:
    """A 1-row grid with one `colour` cell per cell of that colour in the input."""
    return grid_from_count(count_colour(grid, colour), colour, 0, bg)


@primitive(grid_op(bg=True, order=410))
def count_cells_to_row(grid: Grid, bg: int = 0) -> Grid:
    """A 1-row grid of the foreground cells' most common colour, one per foreground cell."""
    return grid_from_count(count_foreground(grid, bg), most_common_colour(grid, bg), 0, bg)


@primitive
def palette_size(grid: Grid, bg: int = 0) -> int:
    counts = colour_counts(grid)
    counts[bg] = 0
    return int(np.count_nonzero(counts))
