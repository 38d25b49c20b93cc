"""Symmetry: detect the symmetries of a picture and restore the cells that break them."""

from __future__ import annotations

from typing import cast

import numpy as np

from arcforge_solver.dsl.core import DSLError, Grid, quarter_turns
from arcforge_solver.dsl.primitive import SYMMETRIES, grid_op, primitive

_IMAGES = {
    "lr": lambda g: g[:, ::-1],
    "ud": lambda g: g[::-1, :],
    "rot180": lambda g: g[::-1, ::-1],
    "transpose": lambda g: g.T,
    "rot90": lambda g: quarter_turns(g, 1),
}


def _complete(grid: Grid, kinds: tuple[str, ...], hole: int) -> Grid:
    out = grid.copy()
    for _ in range(3):  # symmetries combine: fill until stable
        before = out.copy()
        for kind in kinds:
            if kind in ("transpose", "rot90") and out.shape[0] != out.shape[1]:
                raise DSLError("needs a square grid")
            image = _IMAGES[kind](out)
            take = (out == hole) & (image != hole)
            out[take] = image[take]
        if np.array_equal(before, out):
            break
    return cast("Grid", out)


@primitive(grid_op(SYMMETRIES, "hole", max_arg_cost=1, order=630))
def complete_symmetry(grid: Grid, kinds: str, hole: int = 0) -> Grid:
    """Fill `hole`-coloured cells from their mirror images under the symmetries in `kinds`
    ('lr', 'ud', 'rot180', 'transpose', 'rot90', joined with '+'), until stable."""
    out = _complete(grid, tuple(kinds.split("+")), hole)
    if np.array_equal(out, grid):
        raise DSLError("nothing to complete")
    return out


@primitive(grid_op(SYMMETRIES, bg=True, max_arg_cost=2, order=590))
def symmetrise(grid: Grid, kinds: str, bg: int = 0) -> Grid:
    """Overlay the grid with its images under `kinds`: foreground wins over `bg`."""
    out = grid.copy()
    for kind in kinds.split("+"):
        image = _IMAGES[kind](out)
        if image.shape != out.shape:
            raise DSLError("needs a square grid")
        take = (out == bg) & (image != bg)
        out[take] = image[take]
    return cast("Grid", out)


@primitive
def is_symmetric(grid: Grid, kind: str) -> bool:
    image = _IMAGES[kind](grid)
    return image.shape == grid.shape and bool(np.array_equal(image, grid))


def _period_classes(grid: Grid, known: np.ndarray, ph: int, pw: int) -> tuple[np.ndarray, np.ndarray]:
    """For each place in a ph x pw period, the highest and lowest known colour there (-1 and 99
    where no cell is known)."""
    h, w = grid.shape
    nr, nc = -(-h // ph), -(-w // pw)
    g = np.full((nr * ph, nc * pw), -1, dtype=np.int16)
    g[:h, :w] = np.where(known, grid, -1)
    blocks = g.reshape(nr, ph, nc, pw).transpose(1, 3, 0, 2).reshape(ph, pw, -1)
    return blocks.max(axis=2), np.where(blocks < 0, 99, blocks).min(axis=2)


def _motif(grid: Grid, known: np.ndarray, ph: int, pw: int) -> Grid | None:
    """The ph x pw motif every known cell agrees with, or None."""
    high, low = _period_classes(grid, known, ph, pw)
    if (high < 0).any() or not np.array_equal(high, low):
        return None
    return cast("Grid | None", high.astype(np.int8))


def _agrees(grid: Grid, known: np.ndarray, ph: int, pw: int) -> bool:
    """No two known cells at the same place in a ph x pw period differ (places none is known at
    are allowed: unlike a motif, this holds for every finer period too)."""
    high, low = _period_classes(grid, known, ph, pw)
    return bool(((high < 0) | (high == low)).all())


@primitive(grid_op("hole", max_arg_cost=1, order=650))
def complete_tiling(grid: Grid, hole: int = 0) -> Grid:
    """Fill `hole` cells of a grid that repeats with some period (rows and columns) from the
    cells that share their place in the period; the smallest period that fits wins."""
    h, w = grid.shape
    known = grid != hole
    # a period repeats at least twice along an axis, or spans it
    heights = [p for p in range(1, h + 1) if 2 * p <= h or p == h]
    widths = [p for p in range(1, w + 1) if 2 * p <= w or p == w]
    # Known cells that agree in a period agree in (ph, w) and (h, pw) too, whose places only split
    # its places; so only the heights and widths that agree alone are paired: the same first fit,
    # with far fewer tries.
    heights = [p for p in heights if _agrees(grid, known, p, w)]
    widths = [p for p in widths if _agrees(grid, known, h, p)]
    periods = sorted(((ph, pw) for ph in heights for pw in widths), key=lambda p: p[0] * p[1])
    for ph, pw in periods:
        if ph == h and pw == w:
            continue
        motif = _motif(grid, known, ph, pw)
        if motif is not None:
            out = np.tile(motif, (h // ph + 1, w // pw + 1))[:h, :w]
            if np.array_equal(out, grid):
                raise DSLError("nothing to complete")
            return np.ascontiguousarray(out)
    raise DSLError("no period fits")


@primitive(grid_op(SYMMETRIES, "hole", max_arg_cost=1, order=640))
def extract_hole_fill(grid: Grid, kinds: str, hole: int) -> Grid:
    """The content that symmetry puts into the `hole`-coloured rectangle, cropped to it."""
    rows = np.flatnonzero((grid == hole).any(axis=1))
    cols = np.flatnonzero((grid == hole).any(axis=0))
    if rows.size == 0:
        raise DSLError("no hole")
    filled = _complete(grid, tuple(kinds.split("+")), hole)
    part = filled[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    if (part == hole).any():
        raise DSLError("symmetry does not fill the hole")
    return cast("Grid", part.copy())


@primitive(grid_op("hole", max_arg_cost=1, order=660))
def extract_tiling_fill(grid: Grid, hole: int) -> Grid:
    """The content that a periodic tiling puts into the `hole`-coloured rectangle."""
    rows = np.flatnonzero((grid == hole).any(axis=1))
    cols = np.flatnonzero((grid == hole).any(axis=0))
    if rows.size == 0:
        raise DSLError("no hole")
    filled = complete_tiling(grid, hole)
    return cast("Grid", filled[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].copy())


def _mirror_fill(grid: Grid, hole: int, axis: int, centre2: int) -> Grid | None:
    """Fill holes from the mirror image about the line at centre2/2 along `axis`; None when known
    cells disagree with their mirror images."""
    g = grid if axis == 0 else grid.T
    n = g.shape[0]
    rows = np.arange(max(0, centre2 - n + 1), min(n, centre2 + 1))
    rows = rows[2 * rows != centre2]  # the row on the line mirrors itself
    a, b = g[rows], g[centre2 - rows]
    known = (a != hole) & (b != hole)
    if (a[known] != b[known]).any():
        return None
    out = g.copy()
    out[rows] = np.where((a == hole) & (b != hole), b, a)
    return out if axis == 0 else np.ascontiguousarray(out.T)


@primitive(grid_op("hole", max_arg_cost=1, order=500))
def restore_symmetry(grid: Grid, hole: int) -> Grid:
    """Fill `hole` cells from mirror images about the rows' and columns' axes of symmetry, wherever
    those axes lie (not only the grid's middle). Each axis must agree with every known cell."""
    out = grid.copy()
    found = False
    for axis in (0, 1):
        n = grid.shape[axis]
        best = None
        best_pairs = 0
        for centre2 in range(n // 2, 2 * n - 1 - n // 2):
            filled = _mirror_fill(out, hole, axis, centre2)
            if filled is None:
                continue
            pairs = min(centre2 + 1, 2 * n - 1 - centre2)
            if pairs > best_pairs:
                best, best_pairs = filled, pairs
        if best is not None and best_pairs * 2 >= n:
            found = found or not np.array_equal(best, out)
            out = best
    if out.shape[0] == out.shape[1]:
        t = out.T
        known = (out != hole) & (t != hole)
        if not (out[known] != t[known]).any():
            take = (out == hole) & (t != hole)
            if take.any():
                out = out.copy()
                out[take] = t[take]
                found = True
    if not found:
        raise DSLError("nothing to restore")
    return cast("Grid", out)


@primitive(grid_op("hole", max_arg_cost=1, order=510))
def complete_diagonal_tiling(grid: Grid, hole: int = 0) -> Grid:
    """Fill `hole` cells of a grid whose colour depends only on (row + col) mod k, or on
    (row - col) mod k, for the smallest k that fits."""
    h, w = grid.shape
    rows, cols = np.indices((h, w))
    known = grid != hole
    for k in range(2, h + w):
        for index in ((rows + cols) % k, (rows - cols) % k):
            motif = np.full(k, -1, dtype=np.int16)
            ok = True
            for phase in range(k):
                cells = grid[(index == phase) & known]
                if cells.size == 0:
                    ok = False
                    break
                if (cells != cells[0]).any():
                    ok = False
                    break
                motif[phase] = cells[0]
            if ok:
                out = motif[index].astype(np.int8)
                if np.array_equal(out, grid):
                    raise DSLError("nothing to complete")
                return cast("Grid", out)
    raise DSLError("no diagonal period fits")
