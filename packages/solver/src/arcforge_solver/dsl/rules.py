"""Rules whose tables are learned from a task's train pairs and written into the program:
cell rules over a neighbourhood feature, stamps painted around cells of a colour or around objects
of a shape, object recolouring by a property, and a whole output looked up by the input's shape."""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import numpy as np
import numpy.typing as npt

from arcforge_solver.dsl.core import DSLError, Grid, quarter_turns
from arcforge_solver.dsl.objects import Obj, holes, objects
from arcforge_solver.dsl.primitive import primitive

Codes = npt.NDArray[np.int64]

OUTSIDE = 10
"""The colour code of cells beyond the grid's edge."""

FEATURES = (
    "n4count",
    "between",
    "n8count",
    "n4set",
    "parity",
    "split8set",
    "rays",
    "rowcol",
    "n8set",
    "cross",
    "moore",
)
"""Cell features, most general first."""

ROLE_KINDS = ("between", "rays", "cross", "moore")
"""The features whose code is a colour per place (the cell, then its neighbours or what it sees):
each also has a role form, `KIND roles` (`role_codes`), keyed on which places share a colour
rather than on the colours, so that one entry covers every colouring of a pattern."""
ROLES = " roles"
ROLE_OUTPUT = 16
"""A role rule's table value from here on means the colour of role (value - 16) at that cell."""
_BG_PLACE = 11
"""A place's code in role form when it holds the background (OUTSIDE past the edge); every other
colour is a role, 0, 1, ... in order of first appearance, the cell's own colour first."""


def _neighbours(grid: Grid) -> list[npt.NDArray[np.int64]]:
    """The 8 neighbour colours of every cell (OUTSIDE past the edge): N, E, S, W, NE, SE, SW, NW."""
    p = np.pad(grid.astype(np.int64), 1, constant_values=OUTSIDE)
    h, w = grid.shape
    at = {(dr, dc): p[1 + dr : 1 + dr + h, 1 + dc : 1 + dc + w] for dr in (-1, 0, 1) for dc in (-1, 0, 1)}
    return [
        at[(-1, 0)],
        at[(0, 1)],
        at[(1, 0)],
        at[(0, -1)],
        at[(-1, 1)],
        at[(1, 1)],
        at[(1, -1)],
        at[(-1, -1)],
    ]


def _first_seen(grid: Grid, bg: int) -> list[npt.NDArray[np.int64]]:
    """For each cell, the first non-`bg` colour looking N, E, S, W (OUTSIDE when none)."""
    out = []
    g = grid.astype(np.int64)
    for turns in (0, 1, 2, 3):  # look up in a rotated frame
        r = quarter_turns(g, turns)
        seen = np.full(r.shape, OUTSIDE, dtype=np.int64)
        for i in range(1, r.shape[0]):
            above = r[i - 1]
            seen[i] = np.where(above != bg, above, seen[i - 1])
        out.append(quarter_turns(seen, -turns))
    # turns 0 looks up (N); 1 looks east in the original frame; 2 looks S; 3 looks W
    return out


def _bits(colours: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    return cast("npt.NDArray[np.int64]", np.left_shift(np.int64(1), colours))


def _colour_places(grid: Grid, kind: str, bg: int) -> list[npt.NDArray[np.int64]]:
    """The colours a `ROLE_KINDS` feature reads per cell: the cell's own first."""
    own = grid.astype(np.int64)
    if kind == "cross":
        return [own, *_neighbours(grid)[:4]]
    if kind == "moore":
        return [own, *_neighbours(grid)]
    north, east, south, west = _first_seen(grid, bg)
    if kind == "rays":
        return [own, north, east, south, west]
    if kind == "between":
        return [own, np.where(east == west, east, OUTSIDE), np.where(north == south, north, OUTSIDE)]
    raise ValueError(f"feature kind {kind!r} has no role form")


@primitive
def role_codes(grid: Grid, kind: str, bg: int = 0) -> tuple[Codes, npt.NDArray[np.int64]]:
    """The `KIND roles` code of every cell (per place, the cell's own first: OUTSIDE, background,
    or the role of its colour), and the colour of each role at each cell (`colours[role]`, the
    grid's shape; -1 where the cell has no such role)."""
    places = [p.ravel() for p in _colour_places(grid, kind, bg)]
    size = places[0].size
    cells = np.arange(size)
    colours = np.full((len(places), size), -1, dtype=np.int64)
    count = np.zeros(size, dtype=np.int64)
    code = np.zeros(size, dtype=np.int64)
    for place in places:
        digit = np.where(place == OUTSIDE, OUTSIDE, np.where(place == bg, _BG_PLACE, -1))
        for role in range(int(count.max()) if size else 0):
            digit = np.where((digit < 0) & (colours[role] == place), role, digit)
        fresh = digit < 0
        colours[count[fresh], cells[fresh]] = place[fresh]
        digit = np.where(fresh, count, digit)
        count += fresh
        code = code * 16 + digit
    return code.reshape(grid.shape), colours.reshape(-1, *grid.shape)


@primitive
def role_outputs(targets: Grid, colours: npt.NDArray[np.int64]) -> Codes:
    """`targets` as a role rule's table values: the colour of a role where some role at that cell
    has it (a cell that keeps its own colour keeps role 0), else the colour itself."""
    out = targets.astype(np.int64)
    for role in range(colours.shape[0]):
        out = np.where(colours[role] == targets, ROLE_OUTPUT + role, out)
    return out


@primitive
def cell_features(grid: Grid, kind: str, bg: int = 0) -> Codes:
    """An integer code per cell describing the cell and its surroundings by `kind` (`KIND roles`
    for the role form of a `ROLE_KINDS` feature)."""
    if kind.endswith(ROLES):
        return role_codes(grid, kind.removesuffix(ROLES), bg)[0]
    if kind in ROLE_KINDS:  # the colours at its places, one base-11 digit each (OUTSIDE is 10)
        own, *others = _colour_places(grid, kind, bg)
        code = own
        for colour in others:
            code = code * 11 + colour
        return code
    own = grid.astype(np.int64)
    if kind in ("n4count", "n8count"):
        nbrs = _neighbours(grid)[: 4 if kind == "n4count" else 8]
        count = sum(((n != bg) & (n != OUTSIDE)).astype(np.int64) for n in nbrs)
        return cast("Codes", own * 16 + count)
    if kind in ("n4set", "n8set"):
        nbrs = _neighbours(grid)[: 4 if kind == "n4set" else 8]
        mask = np.zeros_like(own)
        for n in nbrs:
            mask |= _bits(n)
        return own * 2048 + mask
    if kind == "split8set":
        nbrs = _neighbours(grid)
        straight = np.zeros_like(own)
        diagonal = np.zeros_like(own)
        for n in nbrs[:4]:
            straight |= _bits(n)
        for n in nbrs[4:]:
            diagonal |= _bits(n)
        return (own * 2048 + straight) * 2048 + diagonal
    if kind == "parity":
        rows, cols = np.indices(grid.shape)
        return cast("Codes", own * 4 + (rows % 2) * 2 + cols % 2)
    if kind == "rowcol":
        row = np.zeros(grid.shape[0], dtype=np.int64)
        col = np.zeros(grid.shape[1], dtype=np.int64)
        bits = _bits(own)
        row = np.bitwise_or.reduce(bits, axis=1)
        col = np.bitwise_or.reduce(bits, axis=0)
        return cast("Codes", own * (1 << 22) + row[:, None] * 2048 + col[None, :])
    raise ValueError(f"unknown feature kind {kind!r}")


@primitive
def apply_cell_rule(grid: Grid, kind: str, table: Mapping[int, int], bg: int = 0) -> Grid:
    """Each cell whose feature code is in `table` takes the colour the table gives; the rest stay.
    In a role rule (`KIND roles`) a value from ROLE_OUTPUT on gives the colour of that role there."""
    colours = None
    if kind.endswith(ROLES):
        codes, colours = role_codes(grid, kind.removesuffix(ROLES), bg)
    else:
        codes = cell_features(grid, kind, bg)
    uniq, inverse = np.unique(codes, return_inverse=True)
    new = np.array([table.get(int(u), -1) for u in uniq], dtype=np.int64)[inverse.reshape(codes.shape)]
    if colours is not None and (new >= ROLE_OUTPUT).any():
        role = np.clip(new - ROLE_OUTPUT, 0, colours.shape[0] - 1)
        taken = np.take_along_axis(colours, role[None], axis=0)[0]
        new = np.where(new >= ROLE_OUTPUT, taken, new)  # -1 where the cell has no such role: it stays
    return np.where(new >= 0, new, grid).astype(np.int8)


Stamps = Mapping[int, tuple[tuple[int, int, int], ...]]
"""Source colour -> marks (row offset, column offset, colour) painted around each of its cells."""


@primitive
def stamp_cells(grid: Grid, stamps: Stamps, bg: int = 0) -> Grid:
    """Around every cell of a colour in `stamps`, paint each of its marks: onto background cells
    at an offset, or onto the cell itself at (0, 0). Marks read the input grid, so their order does
    not matter unless two land on the same cell."""
    out = grid.copy()
    h, w = grid.shape
    for colour, marks in stamps.items():
        rows, cols = np.nonzero(grid == colour)
        for dr, dc, new in marks:
            r, c = rows + dr, cols + dc
            inside = (r >= 0) & (r < h) & (c >= 0) & (c < w)
            r, c = r[inside], c[inside]
            if dr or dc:
                free = grid[r, c] == bg
                r, c = r[free], c[free]
            out[r, c] = new
    return cast("Grid", out)


ObjectStamps = Mapping[str, tuple[tuple[int, int, int], ...]]
"""Object key (`object_key`, or `role_key` for role stamps) -> marks (row, column, colour) from the
top-left of its bounding box; in role stamps a colour of `ROLE` + k is the object's k-th colour."""

ROLE = 10
"""In a role stamp's marks, `ROLE` + k stands for the object's k-th colour (`role_key`'s order)."""

_ROLE_LETTERS = "abcdefghij"


@primitive
def object_key(obj: Obj) -> str:
    """An object's shape and colours as text: "2x3:55.555" (rows of its box, '.' where not its)."""
    cells = "".join("." if v < 0 else str(int(v)) for v in obj.patch.ravel())
    return f"{obj.height}x{obj.width}:{cells}"


@primitive
def role_key(obj: Obj) -> str:
    """An object's shape and colour pattern, whatever its colours: "3x3:.a.aba.a." (its colours
    lettered in reading order; `object_colours` gives them in the same order)."""
    return _roles(obj)[0]


@primitive
def object_colours(obj: Obj) -> tuple[int, ...]:
    """An object's colours in reading order of their first cell: its role colours (`role_key`)."""
    return _roles(obj)[1]


def _roles(obj: Obj) -> tuple[str, tuple[int, ...]]:
    letters: dict[int, str] = {}
    cells = []
    for value in obj.patch.ravel().tolist():
        if value < 0:
            cells.append(".")
            continue
        if value not in letters:
            letters[value] = _ROLE_LETTERS[len(letters)]
        cells.append(letters[value])
    return f"{obj.height}x{obj.width}:{''.join(cells)}", tuple(letters)


@primitive
def stamp_objects(grid: Grid, stamps: ObjectStamps, bg: int = 0, roles: bool = False) -> Grid:
    """Around every object (any colours, joined diagonally too) whose key (`object_key`, or
    `role_key` with `roles`) is in `stamps`, paint its marks onto the background cells they land
    on; other objects stay as they are. With `roles`, a mark colour of `ROLE` + k paints the
    object's k-th colour, so one stamp serves every colouring of a shape. Marks read the input grid,
    so their order does not matter unless two land on one cell."""
    out = grid.copy()
    h, w = grid.shape
    for obj in objects(grid, bg, diagonal=True, by_colour=False):
        key, colours = _roles(obj) if roles else (object_key(obj), ())
        for dr, dc, mark in stamps.get(key, ()):
            r, c = obj.top + dr, obj.left + dc
            if mark >= ROLE and mark - ROLE >= len(colours):
                continue  # a role this object's colouring lacks
            if 0 <= r < h and 0 <= c < w and grid[r, c] == bg:
                out[r, c] = colours[mark - ROLE] if mark >= ROLE else mark
    return cast("Grid", out)


OBJECT_PROPERTIES = (
    "size",
    "is_largest",
    "is_smallest",
    "size_extreme",
    "size_rank",
    "shape",
    "holes",
    "touches_border",
    "height",
    "width",
    "colour",
)
"""Properties an object recolouring rule may key on, most general first."""


@primitive
def object_property(obj: Obj, everyone: tuple[Obj, ...], prop: str) -> object:
    """The value of `prop` for `obj` among `everyone`: an int, bool or bytes."""
    if prop == "size":
        return obj.size
    if prop in ("is_largest", "is_smallest", "size_extreme", "size_rank"):
        sizes = sorted({o.size for o in everyone}, reverse=True)
        if prop == "is_largest":
            return obj.size == sizes[0]
        if prop == "is_smallest":
            return obj.size == sizes[-1]
        if prop == "size_extreme":  # 1 the largest, -1 the smallest, 0 any between: both ends in one table
            return 1 if obj.size == sizes[0] else -1 if obj.size == sizes[-1] else 0
        return sizes.index(obj.size)
    if prop == "shape":
        return obj.shape_key()
    if prop == "holes":
        return holes(obj)
    if prop == "touches_border":
        return obj.touches_border()
    if prop == "height":
        return obj.height
    if prop == "width":
        return obj.width
    if prop == "colour":
        return obj.colour
    raise ValueError(f"unknown object property {prop!r}")


@primitive
def recolour_objects(
    grid: Grid, prop: str, table: Mapping[object, int], bg: int = 0, diagonal: bool = False
) -> Grid:
    """Recolour every one-colour object whose `prop` value is in `table` to the colour it gives."""
    objs = objects(grid, bg, diagonal=diagonal)
    out = grid.copy()
    for o in objs:
        colour = table.get(object_property(o, objs, prop))
        if colour is not None:
            sub = out[o.top : o.top + o.height, o.left : o.left + o.width]
            sub[o.mask] = colour
    return cast("Grid", out)


@primitive
def grid_text(grid: Grid) -> str:
    """The grid as rows of digits joined by '/' ([[1, 2], [3, 4]]: '12/34'), the form of
    `output_by_shape`'s keys and outputs."""
    return "/".join("".join(str(int(cell)) for cell in row) for row in grid)


@primitive
def shape_key(grid: Grid, bg: int = 0) -> str:
    """The grid's foreground shape, whatever its colours: the cells that are not `bg`, cropped to
    their box, as `grid_text` of 0 and 1 (a 3 x 3 L: '100/100/111')."""
    rows, cols = np.nonzero(grid != bg)
    if rows.size == 0:
        raise DSLError("nothing but background")
    return grid_text(grid[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] != bg)


@primitive
def output_by_shape(grid: Grid, table: Mapping[str, str], bg: int = 0) -> Grid:
    """The grid `table` gives (as `grid_text`) for this grid's foreground shape (`shape_key`);
    DSLError for a shape the table does not hold."""
    output = table.get(shape_key(grid, bg))
    if output is None:
        raise DSLError("a shape the table does not hold")
    return np.array([[int(c) for c in row] for row in output.split("/")], dtype=np.int8)
