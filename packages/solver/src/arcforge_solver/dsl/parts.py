"""Splitting a grid into parts (by separator lines or into equal pieces) and combining parts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import numpy as np

from arcforge_solver.dsl.core import DSLError, Grid, colour_counts
from arcforge_solver.dsl.primitive import Search, grid_op, primitive

Grids = tuple[Grid, ...]


@primitive
def separator_lines(grid: Grid) -> tuple[int, list[int], list[int]]:
    """(colour, rows, columns) of the interior full-length one-colour lines that split the grid.
    Lines of a colour other than the background win over background lines, then more lines win.
    DSLError when there are none."""
    h, w = grid.shape
    bg = int(np.argmax(colour_counts(grid)))
    candidates: dict[int, tuple[list[int], list[int]]] = {}
    for r in range(1, h - 1):
        if (grid[r] == grid[r, 0]).all():
            candidates.setdefault(int(grid[r, 0]), ([], []))[0].append(r)
    for c in range(1, w - 1):
        if (grid[:, c] == grid[0, c]).all():
            candidates.setdefault(int(grid[0, c]), ([], []))[1].append(c)
    best: tuple[int, list[int], list[int]] | None = None
    best_rank = (False, 0)
    for colour, (rows, cols) in candidates.items():
        rank = (colour != bg, len(rows) + len(cols))
        if best is None or rank > best_rank:
            best, best_rank = (colour, rows, cols), rank
    if best is None:
        raise DSLError("no separator lines")
    return best


def _spans(cuts: list[int], size: int) -> list[tuple[int, int]]:
    spans = []
    start = 0
    for cut in [*sorted(cuts), size]:
        if cut > start:
            spans.append((start, cut))
        start = cut + 1
    return spans


@primitive(Search(("grid",), "parts", order=10))
def split_by_lines(grid: Grid) -> Grids:
    """The parts between separator lines, in reading order."""
    _, rows, cols = separator_lines(grid)
    parts = tuple(
        grid[r0:r1, c0:c1].copy()
        for r0, r1 in _spans(rows, grid.shape[0])
        for c0, c1 in _spans(cols, grid.shape[1])
    )
    if len(parts) < 2:
        raise DSLError("separators leave fewer than two parts")
    return parts


@primitive(Search(("grid",), "parts", ((2, 3),), order=20))
def split_rows(grid: Grid, n: int) -> Grids:
    """n equal horizontal bands, top to bottom (separator rows between them are dropped)."""
    h = grid.shape[0]
    if n >= 2 and h % n == 0:
        k = h // n
        return tuple(grid[i * k : (i + 1) * k].copy() for i in range(n))
    if n >= 2 and (h - (n - 1)) % n == 0 and h > n:
        k = (h - (n - 1)) // n
        return tuple(grid[i * (k + 1) : i * (k + 1) + k].copy() for i in range(n))
    raise DSLError("rows do not split evenly")


@primitive(Search(("grid",), "parts", ((2, 3),), order=30))
def split_cols(grid: Grid, n: int) -> Grids:
    """n equal vertical bands, left to right."""
    return tuple(np.ascontiguousarray(p.T) for p in split_rows(np.ascontiguousarray(grid.T), n))


def _same_shapes(parts: Sequence[Grid]) -> None:
    if len(parts) < 2 or any(p.shape != parts[0].shape for p in parts):
        raise DSLError("parts differ in shape")


@primitive(Search(("parts",), "grid", ("out_colour",), bg=True, order=40))
def combine_and(parts: Sequence[Grid], colour: int, bg: int = 0) -> Grid:
    """`colour` where every part is foreground."""
    _same_shapes(parts)
    mask = np.logical_and.reduce([p != bg for p in parts])
    return cast("Grid", np.where(mask, np.int8(colour), np.int8(bg)).astype(np.int8))


@primitive(Search(("parts",), "grid", ("out_colour",), bg=True, order=50))
def combine_or(parts: Sequence[Grid], colour: int, bg: int = 0) -> Grid:
    """`colour` where any part is foreground."""
    _same_shapes(parts)
    mask = np.logical_or.reduce([p != bg for p in parts])
    return cast("Grid", np.where(mask, np.int8(colour), np.int8(bg)).astype(np.int8))


@primitive(Search(("parts",), "grid", ("out_colour",), bg=True, order=60))
def combine_xor(parts: Sequence[Grid], colour: int, bg: int = 0) -> Grid:
    """`colour` where exactly one part is foreground."""
    _same_shapes(parts)
    mask = np.sum([p != bg for p in parts], axis=0) == 1
    return cast("Grid", np.where(mask, np.int8(colour), np.int8(bg)).astype(np.int8))


@primitive(Search(("parts",), "grid", ("out_colour",), bg=True, order=70))
def combine_nor(parts: Sequence[Grid], colour: int, bg: int = 0) -> Grid:
    """`colour` where no part is foreground."""
    _same_shapes(parts)
    mask = np.logical_and.reduce([p == bg for p in parts])
    return cast("Grid", np.where(mask, np.int8(colour), np.int8(bg)).astype(np.int8))


@primitive(Search(("parts",), "grid", ("out_colour",), bg=True, order=80))
def combine_diff(parts: Sequence[Grid], colour: int, bg: int = 0) -> Grid:
    """`colour` where the first part is foreground and no other part is."""
    _same_shapes(parts)
    mask = (parts[0] != bg) & np.logical_and.reduce([p == bg for p in parts[1:]])
    return cast("Grid", np.where(mask, np.int8(colour), np.int8(bg)).astype(np.int8))


@primitive(Search(("parts",), "grid", bg=True, order=90))
def overlay_parts(parts: Sequence[Grid], bg: int = 0) -> Grid:
    """Stack the parts, first at the bottom: later parts' foreground wins."""
    _same_shapes(parts)
    out = parts[0].copy()
    for p in parts[1:]:
        out = np.where(p != bg, p, out).astype(np.int8)
    return cast("Grid", out)


@primitive(Search(("parts",), "grid", bg=True, order=100))
def overlay_parts_reversed(parts: Sequence[Grid], bg: int = 0) -> Grid:
    """Stack the parts, last at the bottom: earlier parts' foreground wins."""
    return overlay_parts(list(parts)[::-1], bg)


@primitive(Search(("parts",), "grid", order=110))
def majority_part(parts: Sequence[Grid]) -> Grid:
    """Cell-wise the most common colour across the parts."""
    _same_shapes(parts)
    stack = np.stack(parts).astype(np.int64)
    counts = np.stack([(stack == c).sum(axis=0) for c in range(10)])
    return cast("Grid", np.argmax(counts, axis=0).astype(np.int8))


def _pick(parts: Sequence[Grid], key: list[float], largest: bool) -> Grid:
    if not parts:
        raise DSLError("no parts")
    best = max(key) if largest else min(key)
    winners = [p for p, k in zip(parts, key, strict=False) if k == best]
    if len(winners) != 1:
        raise DSLError("no single part")
    return cast("Grid", winners[0].copy())


@primitive(Search(("parts",), "grid", bg=True, order=120))
def part_most_cells(parts: Sequence[Grid], bg: int = 0) -> Grid:
    """The part with the most foreground cells."""
    return _pick(parts, [float(np.count_nonzero(p != bg)) for p in parts], True)


@primitive(Search(("parts",), "grid", bg=True, order=130))
def part_fewest_cells(parts: Sequence[Grid], bg: int = 0) -> Grid:
    """The part with the fewest foreground cells."""
    return _pick(parts, [float(np.count_nonzero(p != bg)) for p in parts], False)


@primitive(Search(("parts",), "grid", bg=True, order=140))
def part_most_colours(parts: Sequence[Grid], bg: int = 0) -> Grid:
    """The part with the most distinct colours."""
    return _pick(parts, [float(np.count_nonzero(np.delete(colour_counts(p), bg))) for p in parts], True)


@primitive(Search(("parts",), "grid", bg=True, order=150))
def part_fewest_colours(parts: Sequence[Grid], bg: int = 0) -> Grid:
    """The part with the fewest distinct colours."""
    return _pick(parts, [float(np.count_nonzero(np.delete(colour_counts(p), bg))) for p in parts], False)


@primitive(Search(("parts",), "grid", order=160))
def part_unique(parts: Sequence[Grid]) -> Grid:
    """The one part unlike all the others (the others may repeat)."""
    keys = [(p.shape, p.tobytes()) for p in parts]
    found = [p for p, k in zip(parts, keys, strict=False) if keys.count(k) == 1]
    if len(found) != 1:
        raise DSLError("no single unique part")
    return cast("Grid", found[0].copy())


@primitive(Search(("parts",), "grid", order=170))
def part_most_common(parts: Sequence[Grid]) -> Grid:
    """The part that appears most often."""
    keys = [(p.shape, p.tobytes()) for p in parts]
    counts = [keys.count(k) for k in keys]
    if max(counts) < 2 or counts.count(max(counts)) != max(counts):
        raise DSLError("no single most common part")
    return cast("Grid", parts[counts.index(max(counts))].copy())


@primitive(Search(("parts",), "grid", order=180))
def part_symmetric(parts: Sequence[Grid]) -> Grid:
    """The one part that is left-right symmetric."""
    found = [p for p in parts if np.array_equal(p, p[:, ::-1])]
    if len(found) != 1:
        raise DSLError("no single symmetric part")
    return cast("Grid", found[0].copy())


@primitive(Search(("parts",), "grid", ((0, 1, -1),), order=190))
def part_at(parts: Sequence[Grid], index: int) -> Grid:
    """The part at `index` (negative counts from the end)."""
    if not -len(parts) <= index < len(parts):
        raise DSLError("no such part")
    return cast("Grid", parts[index].copy())


@primitive(Search(("parts",), "grid", bg=True, order=200))
def parts_summary(parts: Sequence[Grid], bg: int = 0) -> Grid:
    """A grid with one cell per part (laid out like the parts when they form a square
    number): each cell the part's most common foreground colour, `bg` when empty."""
    n = len(parts)
    side = round(n**0.5)
    cells = []
    for p in parts:
        counts = colour_counts(p)
        counts[bg] = 0
        cells.append(int(np.argmax(counts)) if counts.sum() else bg)
    if side * side == n:
        return np.array(cells, dtype=np.int8).reshape(side, side)
    return np.array(cells, dtype=np.int8).reshape(1, n)


@primitive
def split_grid_cells(grid: Grid) -> tuple[Grids, int, int]:
    """The parts between separator lines with the (rows, cols) of the layout."""
    _, rows, cols = separator_lines(grid)
    rs = _spans(rows, grid.shape[0])
    cs = _spans(cols, grid.shape[1])
    return tuple(grid[r0:r1, c0:c1].copy() for r0, r1 in rs for c0, c1 in cs), len(rs), len(cs)


@primitive(grid_op(bg=True, order=390))
def layout_summary(grid: Grid, bg: int = 0) -> Grid:
    """One cell per separated part, laid out like the parts: the part's main foreground colour."""
    parts, nr, nc = split_grid_cells(grid)
    cells = []
    for p in parts:
        counts = colour_counts(p)
        counts[bg] = 0
        cells.append(int(np.argmax(counts)) if counts.sum() else bg)
    return np.array(cells, dtype=np.int8).reshape(nr, nc)
