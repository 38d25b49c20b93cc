"""Objects: connected components, their properties, selection and painting."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from arcforge_solver.dsl.core import DSLError, Grid, Mask, colour_counts, quarter_turns
from arcforge_solver.dsl.primitive import DIRECTIONS, Search, grid_op, primitive


@dataclass(frozen=True, eq=False)
class Obj:
    """A connected set of cells: its bounding box `patch` (cells outside the object are -1),
    position `top`, `left` in the source grid, and the source grid's shape."""

    patch: Grid
    top: int
    left: int
    source_shape: tuple[int, int]

    @property
    def mask(self) -> Mask:
        return self.patch >= 0

    @property
    def size(self) -> int:
        return int(np.count_nonzero(self.patch >= 0))

    @property
    def height(self) -> int:
        return int(self.patch.shape[0])

    @property
    def width(self) -> int:
        return int(self.patch.shape[1])

    @property
    def colour(self) -> int:
        """The object's most common colour."""
        return int(
            np.argmax(colour_counts(np.where(self.patch >= 0, self.patch, 0).astype(np.int8)[self.mask]))
        )

    @property
    def colours(self) -> int:
        return len(set(int(v) for v in self.patch[self.mask]))

    def touches_border(self) -> bool:
        h, w = self.source_shape
        return self.top == 0 or self.left == 0 or self.top + self.height == h or self.left + self.width == w

    def shape_key(self) -> bytes:
        """Identifies the object's shape (mask), not its colour or place."""
        return bytes(self.patch.shape) + np.packbits(self.mask).tobytes()


Objects = tuple[Obj, ...]


def _label(fg: Mask, colours: Grid | None, diagonal: bool) -> tuple[np.ndarray, int]:
    """Label connected components of `fg` (same colour only, when `colours` is given), numbered in
    reading order of their first cell."""
    h, w = fg.shape
    width = w + 2
    # One flat Python list with a border of -1: list indexing is several times cheaper than numpy
    # scalar indexing, and the border spares every bounds check.
    keys = np.full((h + 2, width), -1, dtype=np.int16)
    keys[1:-1, 1:-1] = np.where(fg, colours if colours is not None else 0, -1)
    cells = keys.ravel().tolist()
    steps = [width, -width, 1, -1]
    if diagonal:
        steps += [width + 1, width - 1, -width + 1, -width - 1]
    labels = [0] * len(cells)
    count = 0
    for start in np.flatnonzero(keys.ravel() >= 0).tolist():
        if labels[start]:
            continue
        count += 1
        labels[start] = count
        key = cells[start]
        stack = [start]
        while stack:
            at = stack.pop()
            for step in steps:
                near = at + step
                if cells[near] == key and not labels[near]:
                    labels[near] = count
                    stack.append(near)
    grid_labels = np.array(labels, dtype=np.int32).reshape(h + 2, width)[1:-1, 1:-1]
    return np.ascontiguousarray(grid_labels), count


def _objects_from_labels(grid: Grid, labels: np.ndarray, count: int) -> Objects:
    w = labels.shape[1]
    flat = labels.ravel()
    where = np.flatnonzero(flat)
    order = where[np.argsort(flat[where], kind="stable")]  # by label, reading order within one
    starts = np.concatenate(([0], np.cumsum(np.bincount(flat[where], minlength=count + 1)[1:-1])))
    rows, cols = order // w, order % w
    values = grid.ravel()[order]
    tops, lefts = np.minimum.reduceat(rows, starts), np.minimum.reduceat(cols, starts)
    heights = np.maximum.reduceat(rows, starts) - tops + 1
    widths = np.maximum.reduceat(cols, starts) - lefts + 1
    shape = (int(grid.shape[0]), int(grid.shape[1]))
    ends = [*starts.tolist()[1:], len(order)]
    out = []
    for k, (top, left, height, width) in enumerate(
        zip(tops.tolist(), lefts.tolist(), heights.tolist(), widths.tolist(), strict=True)
    ):
        cells = slice(int(starts[k]), ends[k])
        patch = np.full((height, width), -1, dtype=np.int8)
        patch[rows[cells] - top, cols[cells] - left] = values[cells]
        patch.flags.writeable = False  # objects are shared through the cache
        out.append(Obj(patch, top, left, shape))
    return tuple(out)


_CACHE: dict[tuple[bytes, tuple[int, ...], int, bool, bool], Objects] = {}
_CACHE_SIZE = 2048


@primitive(Search(("grid",), "objs", bg=True, order=10))
def objects(grid: Grid, bg: int = 0, diagonal: bool = False, by_colour: bool = True) -> Objects:
    """Connected components of non-`bg` cells: one colour each when `by_colour`, else any mix;
    `diagonal` joins cells that touch at corners. In reading order of their first cell."""
    # many primitives ask for the same grid's objects: remember the last few thousand answers
    key = (grid.dtype.str.encode() + grid.tobytes(), grid.shape, bg, diagonal, by_colour)
    found = _CACHE.get(key)
    if found is None:
        labels, count = _label(grid != bg, grid if by_colour else None, diagonal)
        found = _objects_from_labels(grid, labels, count) if 0 < count <= 200 else ()
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.clear()
        _CACHE[key] = found
    if not found:
        raise DSLError("no objects, or too many")
    return found


@primitive(Search(("grid",), "objs", bg=True, order=20))
def objects_multi(grid: Grid, bg: int = 0) -> Objects:
    """Components of any non-background colours, joined diagonally too."""
    return objects(grid, bg, diagonal=True, by_colour=False)


@primitive
def bg_regions(grid: Grid, bg: int = 0) -> Objects:
    """Connected regions of background cells."""
    labels, count = _label(grid == bg, None, False)
    if count == 0:
        raise DSLError("no background")
    return _objects_from_labels(grid, labels, count)


@primitive(Search(("obj",), "grid", cost=0, bg=True, order=150))
def object_grid(obj: Obj, bg: int = 0) -> Grid:
    """The object's bounding box as a grid, `bg` outside the object."""
    return np.where(obj.patch >= 0, obj.patch, np.int8(bg)).astype(np.int8)


@primitive
def object_mask(obj: Obj) -> Mask:
    return obj.mask


ObjKey = Callable[[Obj], float]

PROPERTIES: dict[str, ObjKey] = {
    "size": lambda o: o.size,
    "area": lambda o: o.height * o.width,
    "height": lambda o: o.height,
    "width": lambda o: o.width,
    "colours": lambda o: o.colours,
    "density": lambda o: o.size / (o.height * o.width),
    "top": lambda o: o.top,
    "left": lambda o: o.left,
    "bottom": lambda o: -(o.top + o.height),
    "right": lambda o: -(o.left + o.width),
}


def _single_extreme(objs: Objects, values: list[Any], largest: bool, what: str) -> Obj:
    """The one object whose value is the largest (or smallest); DSLError on a tie or no objects."""
    if not objs:
        raise DSLError("no objects")
    best = max(values) if largest else min(values)
    winners = [o for o, v in zip(objs, values, strict=True) if v == best]
    if len(winners) != 1:
        raise DSLError(f"no single object with the {'largest' if largest else 'smallest'} {what}")
    return winners[0]


def _select(objs: Objects, prop: str, largest: bool) -> Obj:
    key = PROPERTIES[prop]
    return _single_extreme(objs, [key(o) for o in objs], largest, prop)


@primitive(Search(("objs",), "obj", (("size", "area", "height", "width", "colours", "density"),), order=30))
def largest(objs: Objects, prop: str = "size") -> Obj:
    """The one object with the largest `prop` (size, area, height, width, colours, density…)."""
    return _select(objs, prop, True)


@primitive(Search(("objs",), "obj", (("size", "area", "height", "width", "colours", "density"),), order=40))
def smallest(objs: Objects, prop: str = "size") -> Obj:
    """The one object with the smallest `prop`."""
    return _select(objs, prop, False)


@primitive(Search(("objs",), "obj", ("in_colour",), order=50))
def by_colour(objs: Objects, colour: int) -> Obj:
    """The one object of colour `colour`."""
    found = [o for o in objs if o.colour == colour]
    if len(found) != 1:
        raise DSLError("no single object of that colour")
    return found[0]


@primitive(Search(("objs",), "obj", order=60))
def unique_shape(objs: Objects) -> Obj:
    """The one object whose shape no other object has."""
    keys = [o.shape_key() for o in objs]
    found = [o for o, k in zip(objs, keys, strict=False) if keys.count(k) == 1]
    if len(found) != 1:
        raise DSLError("no single object of a unique shape")
    return found[0]


@primitive(Search(("objs",), "obj", order=70))
def unique_colour(objs: Objects) -> Obj:
    """The one object whose colour no other object has."""
    colours = [o.colour for o in objs]
    found = [o for o, c in zip(objs, colours, strict=False) if colours.count(c) == 1]
    if len(found) != 1:
        raise DSLError("no single object of a unique colour")
    return found[0]


@primitive(Search(("objs",), "obj", order=80))
def most_common_shape(objs: Objects) -> Obj:
    """An object of the shape most objects share (first in reading order)."""
    keys = [o.shape_key() for o in objs]
    counts = [keys.count(k) for k in keys]
    best = max(counts)
    if best < 2 or counts.count(best) != best:
        raise DSLError("no single most common shape")
    return objs[counts.index(best)]


@primitive(Search(("objs",), "obj", order=90))
def symmetric_object(objs: Objects) -> Obj:
    """The one object whose cells are left-right symmetric."""
    found = [o for o in objs if np.array_equal(o.patch, o.patch[:, ::-1])]
    if len(found) != 1:
        raise DSLError("no single symmetric object")
    return found[0]


@primitive(Search(("objs",), "obj", order=100))
def asymmetric_object(objs: Objects) -> Obj:
    """The one object whose cells are not left-right symmetric."""
    found = [o for o in objs if not np.array_equal(o.patch, o.patch[:, ::-1])]
    if len(found) != 1:
        raise DSLError("no single asymmetric object")
    return found[0]


@primitive
def count_objects(objs: Objects) -> int:
    return len(objs)


@primitive
def filter_objects(objs: Objects, prop: str, keep_largest: bool) -> Objects:
    """All objects whose `prop` equals the largest (or smallest) value."""
    key = PROPERTIES[prop]
    values = [key(o) for o in objs]
    best = max(values) if keep_largest else min(values)
    return tuple(o for o, v in zip(objs, values, strict=False) if v == best)


@primitive
def paint_objects(grid: Grid, objs: Objects) -> Grid:
    """Draw objects onto a copy of `grid` at their places."""
    out = grid.copy()
    for o in objs:
        sub = out[o.top : o.top + o.height, o.left : o.left + o.width]
        if sub.shape != o.patch.shape:
            raise DSLError("object does not fit")
        m = o.mask
        sub[m] = o.patch[m]
    return cast("Grid", out)


@primitive
def keep_objects(grid: Grid, objs: Objects, bg: int = 0) -> Grid:
    """A blank grid with only these objects."""
    return paint_objects(np.full_like(grid, bg), objs)


@primitive
def erase_objects(grid: Grid, objs: Objects, bg: int = 0) -> Grid:
    """The grid with these objects' cells set to `bg`."""
    out = grid.copy()
    for o in objs:
        sub = out[o.top : o.top + o.height, o.left : o.left + o.width]
        sub[o.mask] = bg
    return cast("Grid", out)


@primitive(grid_op(bg=True, order=260))
def keep_largest_object(grid: Grid, bg: int = 0) -> Grid:
    """Only the largest component (any colours, diagonal) stays in place."""
    return keep_objects(grid, (largest(objects_multi(grid, bg)),), bg)


@primitive(grid_op((1, 2, 3), bg=True, order=600))
def remove_small_objects(grid: Grid, max_size: int, bg: int = 0) -> Grid:
    """Erase single-colour components of at most `max_size` cells (noise removal)."""
    objs = objects(grid, bg, diagonal=True)
    small = tuple(o for o in objs if o.size <= max_size)
    if not small:
        raise DSLError("nothing small")
    return erase_objects(grid, small, bg)


@primitive(grid_op("out_colour", bg=True, order=720))
def bounding_boxes(grid: Grid, colour: int, bg: int = 0) -> Grid:
    """Fill each multicolour object's bounding box's background cells with `colour`."""
    out = grid.copy()
    for o in objects_multi(grid, bg):
        sub = out[o.top : o.top + o.height, o.left : o.left + o.width]
        sub[sub == bg] = colour
    return cast("Grid", out)


@primitive(grid_op("out_colour", bg=True, order=710))
def outline_objects(grid: Grid, colour: int, bg: int = 0) -> Grid:
    """Background cells next to (8 ways) any object become `colour`: a halo."""
    fg = grid != bg
    near = np.zeros_like(fg)
    padded = np.pad(fg, 1)
    h, w = fg.shape
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            near |= padded[1 + dr : 1 + dr + h, 1 + dc : 1 + dc + w]
    out = grid.copy()
    out[near & ~fg] = colour
    return cast("Grid", out)


@primitive(grid_op(bg=True, order=340))
def hollow_objects(grid: Grid, bg: int = 0) -> Grid:
    """Interior cells of objects (all 4 neighbours foreground) become `bg`."""
    fg = grid != bg
    p = np.pad(fg, 1)
    inner = fg & p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
    out = grid.copy()
    out[inner] = bg
    return cast("Grid", out)


@primitive
def holes(obj: Obj) -> int:
    """How many enclosed background regions the object has."""
    m = np.pad(obj.mask, 1)
    _, count = _label(~m, None, False)
    return count - 1


@primitive(grid_op(bg=True, order=240))
def crop_largest(grid: Grid, bg: int = 0) -> Grid:
    """The largest multicolour object's bounding box."""
    return object_grid(largest(objects_multi(grid, bg)), bg)


@primitive(grid_op(bg=True, order=250))
def crop_smallest(grid: Grid, bg: int = 0) -> Grid:
    """The smallest multicolour object's bounding box."""
    return object_grid(smallest(objects_multi(grid, bg)), bg)


@primitive(Search(("objs",), "parts", bg=True, order=160))
def object_grids(objs: Objects, bg: int = 0) -> tuple[Grid, ...]:
    """Each object's bounding box as a grid, in order: objects as parts."""
    if len(objs) < 2:
        raise DSLError("fewer than two objects")
    return tuple(object_grid(o, bg) for o in objs)


@primitive(Search(("objs",), "obj", ("in_colour",), order=110))
def with_colour(objs: Objects, colour: int) -> Obj:
    """The one object that has some `colour` cells (multicolour objects: the marked one)."""
    found = [o for o in objs if bool((o.patch == colour).any())]
    if len(found) != 1:
        raise DSLError("no single object with that colour")
    return found[0]


def _cells_of_colour(objs: Objects, colour: int) -> list[Any]:
    """How many `colour` cells each object holds."""
    return [int(np.count_nonzero(o.patch == colour)) for o in objs]


@primitive(Search(("objs",), "obj", ("in_colour",), order=112))
def most_of_colour(objs: Objects, colour: int) -> Obj:
    """The one object with the most `colour` cells (multicolour objects: the most marked)."""
    return _single_extreme(objs, _cells_of_colour(objs, colour), True, "count of that colour")


@primitive(Search(("objs",), "obj", ("in_colour",), order=114))
def fewest_of_colour(objs: Objects, colour: int) -> Obj:
    """The one object with the fewest `colour` cells."""
    return _single_extreme(objs, _cells_of_colour(objs, colour), False, "count of that colour")


@primitive(Search(("objs",), "obj", order=120))
def touching_border(objs: Objects) -> Obj:
    """The one object that touches the grid's edge."""
    found = [o for o in objs if o.touches_border()]
    if len(found) != 1:
        raise DSLError("no single object on the edge")
    return found[0]


@primitive(Search(("objs",), "obj", order=130))
def not_touching_border(objs: Objects) -> Obj:
    """The one object clear of the grid's edge."""
    found = [o for o in objs if not o.touches_border()]
    if len(found) != 1:
        raise DSLError("no single object clear of the edge")
    return found[0]


@primitive(Search(("objs",), "obj", order=140))
def with_holes(objs: Objects) -> Obj:
    """The one object that encloses background."""
    found = [o for o in objs if holes(o) > 0]
    if len(found) != 1:
        raise DSLError("no single object with holes")
    return found[0]


@primitive(grid_op("hole", bg=True, order=490))
def move_until_touch(grid: Grid, colour: int, bg: int = 0) -> Grid:
    """Slide every `colour` cell together, in a straight line towards the rest of the picture, until
    it touches it (4-way)."""
    mover = grid == colour
    rest = (grid != bg) & ~mover
    if not mover.any() or not rest.any():
        raise DSLError("nothing to move or to move to")
    mr, mc = np.nonzero(mover)
    rr, rc = np.nonzero(rest)
    dy = int(np.sign(rr.mean() - mr.mean())) if (rr.max() < mr.min() or rr.min() > mr.max()) else 0
    dx = int(np.sign(rc.mean() - mc.mean())) if (rc.max() < mc.min() or rc.min() > mc.max()) else 0
    if dy and dx:
        dx = 0 if abs(rr.mean() - mr.mean()) >= abs(rc.mean() - mc.mean()) else dx
        dy = 0 if dx else dy
    if not dy and not dx:
        raise DSLError("no clear direction")
    h, w = grid.shape
    steps = 0
    while True:
        nr, nc = mr + dy * (steps + 1), mc + dx * (steps + 1)
        if nr.min() < 0 or nc.min() < 0 or nr.max() >= h or nc.max() >= w or rest[nr, nc].any():
            break
        steps += 1
        touch_r, touch_c = nr + dy, nc + dx
        inside = (touch_r >= 0) & (touch_r < h) & (touch_c >= 0) & (touch_c < w)
        if rest[touch_r[inside], touch_c[inside]].any():
            break
    out = grid.copy()
    out[mr, mc] = bg
    out[mr + dy * steps, mc + dx * steps] = colour
    return cast("Grid", out)


@primitive(grid_op(DIRECTIONS, bg=True, order=560))
def gravity_objects(grid: Grid, direction: str, bg: int = 0) -> Grid:
    """Objects (any colours, joined diagonally) fall as rigid wholes towards `direction` (down, up,
    left, right) until they rest on the edge or on another object; the nearest fall first."""
    turns = {"down": 0, "left": 1, "up": 2, "right": 3}[direction]
    g = np.ascontiguousarray(quarter_turns(grid, turns))
    objs = sorted(objects_multi(g, bg), key=lambda o: -(o.top + o.height))
    out = np.full_like(g, bg)
    h = g.shape[0]
    for o in objs:
        rows, cols = np.nonzero(o.mask)
        rows = rows + o.top
        cols = cols + o.left
        drop = 0
        while rows.max() + drop + 1 < h and not (out[rows + drop + 1, cols] != bg).any():
            drop += 1
        out[rows + drop, cols] = o.patch[o.mask]
    return np.ascontiguousarray(quarter_turns(out, -turns))
