"""Shared pieces of the DSL: the error type, grid checks and colour statistics."""

from __future__ import annotations

from typing import Any, TypeVar, cast

import numpy as np
import numpy.typing as npt

from arcforge_solver.dsl.primitive import primitive

Grid = npt.NDArray[np.int8]
Mask = npt.NDArray[np.bool_]

MAX_SIDE = 30


class DSLError(ValueError):
    """A primitive does not apply to its input (wrong shape, nothing to select…)."""


ArrayT = TypeVar("ArrayT", bound="np.ndarray[Any, Any]")


@primitive
def quarter_turns(grid: ArrayT, turns: int) -> ArrayT:
    """`grid` turned a quarter anticlockwise `turns` times (negative: clockwise), as a view, like
    `np.rot90` but by slicing alone: a tenth of its cost, which counts on the search's hot paths."""
    turns %= 4
    if turns == 1:
        return cast("ArrayT", grid[:, ::-1].T)
    if turns == 2:
        return cast("ArrayT", grid[::-1, ::-1])
    if turns == 3:
        return cast("ArrayT", grid.T[:, ::-1])
    return grid


@primitive
def as_grid(values: object) -> Grid:
    """A fresh int8 grid from nested lists or an array."""
    return np.array(values, dtype=np.int8)


@primitive
def check_grid(grid: Grid) -> Grid:
    """The grid itself when it is a valid ARC grid (2-D, 1-30 a side, colours 0-9)."""
    if grid.ndim != 2 or not (1 <= grid.shape[0] <= MAX_SIDE and 1 <= grid.shape[1] <= MAX_SIDE):
        raise DSLError(f"not a valid grid shape: {grid.shape}")
    return grid


@primitive
def colour_counts(grid: Grid) -> npt.NDArray[np.int64]:
    """How many cells of each colour 0-9."""
    return np.bincount(grid.ravel().astype(np.int64) & 15, minlength=10)[:10]


@primitive
def background(grid: Grid) -> int:
    """The most common colour (lowest on ties)."""
    return int(np.argmax(colour_counts(grid)))


@primitive
def most_common_colour(grid: Grid, bg: int = 0) -> int:
    """The most common colour other than `bg`; DSLError on an empty grid."""
    counts = colour_counts(grid)
    counts[bg] = 0
    if counts.sum() == 0:
        raise DSLError("no colour besides the background")
    return int(np.argmax(counts))


@primitive
def least_common_colour(grid: Grid, bg: int = 0) -> int:
    """The rarest colour present other than `bg`."""
    counts = colour_counts(grid).astype(np.float64)
    counts[bg] = 0
    counts[counts == 0] = np.inf
    if not np.isfinite(counts).any():
        raise DSLError("no colour besides the background")
    return int(np.argmin(counts))


@primitive
def palette(grid: Grid) -> tuple[int, ...]:
    """The colours present, ascending."""
    return tuple(int(c) for c in np.flatnonzero(colour_counts(grid)))


@primitive
def count_colours(grid: Grid, bg: int = 0) -> int:
    """How many distinct colours other than `bg`."""
    counts = colour_counts(grid)
    counts[bg] = 0
    return int(np.count_nonzero(counts))
