"""Symmetry: detect the symmetries of a picture and restore the cells that break them."""

from __future__ import annotations

import numpy as np

from arcforge_solver.dsl.core import DSLError, Grid

_IMAGES = {
    "lr": lambda g: g[:, ::-1],
    "ud": lambda g: g[::-1, :],
    "rot180": lambda g: g[::-1, ::-1],
    "transpose": lambda g: g.T,
    "rot90": lambda g: np.rot90(g, 1),
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
    return out


def complete_symmetry(grid: Grid, kinds: str, hole: int = 0) -> Grid:
    """Fill `hole`-coloured cells from their mirror images under the symmetries in `kinds`
    ('lr', 'ud', 'rot180', 'transpose', 'rot90', joined with '+'), until stable."""
    out = _complete(grid, tuple(kinds.split("+")), hole)
    if np.array_equal(out, grid):
        raise DSLError("nothing to complete")
    return out


def symmetrise(grid: Grid, kinds: str, bg: int = 0) -> Grid:
    """Overlay the grid with its images under `kinds`: foreground wins over `bg`."""
    out = grid.copy()
    for kind in kinds.split("+"):
        image = _IMAGES[kind](out)
        if image.shape != out.shape:
            raise DSLError("needs a square grid")
        take = (out == bg) & (image != bg)
        out[take] = image[take]
    return out


def is_symmetric(grid: Grid, kind: str) -> bool:
    image = _IMAGES[kind](grid)
    return image.shape == grid.shape and bool(np.array_equal(image, grid))


def _motif(grid: Grid, known: np.ndarray, ph: int, pw: int) -> Grid | None:
    """The ph x pw motif every known cell agrees with, or None."""
    h, w = grid.shape
    nr, nc = -(-h // ph), -(-w // pw)
    g = np.full((nr * ph, nc * pw), -1, dtype=np.int16)
    g[:h, :w] = np.where(known, grid, -1)
    blocks = g.reshape(nr, ph, nc, pw).transpose(1, 3, 0, 2).reshape(ph, pw, -1)
    high = blocks.max(axis=2)
    low = np.where(blocks < 0, 99, blocks).min(axis=2)
    if (high < 0).any() or not np.array_equal(high, low):
        return None
    return high.astype(np.int8)


def complete_tiling(grid: Grid, hole: int = 0) -> Grid:
    """Fill `hole` cells of a grid that repeats with some period (rows and columns) from the
    cells that share their place in the period; the smallest period that fits wins."""
    h, w = grid.shape
    known = grid != hole
    periods = sorted(
        ((ph, pw) for ph in range(1, h + 1) for pw in range(1, w + 1)), key=lambda p: p[0] * p[1]
    )
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
    return part.copy()


def extract_tiling_fill(grid: Grid, hole: int) -> Grid:
    """The content that a periodic tiling puts into the `hole`-coloured rectangle."""
    rows = np.flatnonzero((grid == hole).any(axis=1))
    cols = np.flatnonzero((grid == hole).any(axis=0))
    if rows.size == 0:
        raise DSLError("no hole")
    filled = complete_tiling(grid, hole)
    return filled[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].copy()
