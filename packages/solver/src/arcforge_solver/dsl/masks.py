"""Masks, overlays and boolean operations on grids of the same shape."""

from __future__ import annotations

from typing import cast

import numpy as np

from arcforge_solver.dsl.core import DSLError, Grid, Mask
from arcforge_solver.dsl.primitive import Search, primitive


@primitive
def mask_of(grid: Grid, bg: int = 0) -> Mask:
    """Where the grid is not `bg`."""
    return cast("Mask", grid != bg)


@primitive
def colour_mask(grid: Grid, colour: int) -> Mask:
    return cast("Mask", grid == colour)


@primitive
def from_mask(mask: Mask, colour: int, bg: int = 0) -> Grid:
    """`colour` where the mask is set, `bg` elsewhere."""
    return cast("Grid", np.where(mask, np.int8(colour), np.int8(bg)).astype(np.int8))


def _same_shape(a: Grid, b: Grid) -> None:
    if a.shape != b.shape:
        raise DSLError(f"shapes differ: {a.shape} and {b.shape}")


@primitive(Search(("grid", "grid"), "grid", bg=True, order=10))
def overlay(base: Grid, top: Grid, bg: int = 0) -> Grid:
    """`top` drawn over `base`: top's non-`bg` cells win."""
    _same_shape(base, top)
    return np.where(top != bg, top, base).astype(np.int8)


@primitive(Search(("grid", "grid"), "grid", ("out_colour",), bg=True, order=40))
def cell_and(a: Grid, b: Grid, colour: int, bg: int = 0) -> Grid:
    """`colour` where both grids are foreground."""
    _same_shape(a, b)
    return from_mask((a != bg) & (b != bg), colour, bg)


@primitive
def cell_or(a: Grid, b: Grid, colour: int, bg: int = 0) -> Grid:
    """`colour` where either grid is foreground."""
    _same_shape(a, b)
    return from_mask((a != bg) | (b != bg), colour, bg)


@primitive(Search(("grid", "grid"), "grid", ("out_colour",), bg=True, order=50))
def cell_xor(a: Grid, b: Grid, colour: int, bg: int = 0) -> Grid:
    """`colour` where exactly one grid is foreground."""
    _same_shape(a, b)
    return from_mask((a != bg) ^ (b != bg), colour, bg)


@primitive
def cell_nor(a: Grid, b: Grid, colour: int, bg: int = 0) -> Grid:
    """`colour` where neither grid is foreground."""
    _same_shape(a, b)
    return from_mask((a == bg) & (b == bg), colour, bg)


@primitive
def cell_diff(a: Grid, b: Grid, colour: int, bg: int = 0) -> Grid:
    """`colour` where `a` is foreground and `b` is not."""
    _same_shape(a, b)
    return from_mask((a != bg) & (b == bg), colour, bg)


@primitive(Search(("grid", "grid"), "grid", bg=True, order=20))
def where_equal(a: Grid, b: Grid, bg: int = 0) -> Grid:
    """`a`'s colour where the two grids agree, `bg` elsewhere."""
    _same_shape(a, b)
    return np.where(a == b, a, np.int8(bg)).astype(np.int8)


@primitive(Search(("grid", "grid"), "grid", bg=True, order=30))
def where_different(a: Grid, b: Grid, bg: int = 0) -> Grid:
    """`a`'s colour where the grids differ, `bg` elsewhere."""
    _same_shape(a, b)
    return np.where(a != b, a, np.int8(bg)).astype(np.int8)


@primitive
def apply_mask(grid: Grid, mask: Mask, bg: int = 0) -> Grid:
    """The grid where the mask is set, `bg` elsewhere."""
    if grid.shape != mask.shape:
        raise DSLError("mask shape differs")
    return np.where(mask, grid, np.int8(bg)).astype(np.int8)
