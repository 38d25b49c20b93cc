"""Task-level parameter inference: final steps whose parameters are fitted to the train outputs.

Given the values a program gives on the train inputs, each fitter looks for a table that turns them
into the expected outputs: a colour map, a cell rule over a neighbourhood feature, stamps painted
around the cells of each colour, or an object recolouring keyed on an object property. The fitted
table is written into the program as a literal, so the program stays plain source that behaves the
same anywhere.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from arcforge_solver import dsl
from arcforge_solver.dsl.geometry import transformed
from arcforge_solver.dsl.objects import objects
from arcforge_solver.dsl.rules import (
    FEATURES,
    OBJECT_PROPERTIES,
    OUTSIDE,
    ROLE,
    ROLE_KINDS,
    ROLES,
    ObjectStamps,
    Stamps,
    cell_features,
    grid_text,
    object_colours,
    object_key,
    object_property,
    role_codes,
    role_key,
    role_outputs,
    shape_key,
    stamp_cells,
    stamp_objects,
)
from arcforge_solver.engines.search.evaluator import same_shapes
from arcforge_solver.engines.search.program import Node
from arcforge_solver.tasks.model import Grid


def fit_colour_map(values: Sequence[Grid], targets: Sequence[Grid]) -> dict[int, int] | None:
    """A colour -> colour table (changes only) that maps every value onto its target, if one exists."""
    if not same_shapes(values, targets):
        return None
    src = np.concatenate([v.ravel() for v in values]).astype(np.int64)
    dst = np.concatenate([t.ravel() for t in targets]).astype(np.int64)
    pairs = np.unique(src * 16 + dst)
    sources = pairs // 16
    if len(np.unique(sources)) != len(sources):
        return None
    table = {int(p // 16): int(p % 16) for p in pairs if p // 16 != p % 16}
    return table or None


def fit_cell_rule(
    values: Sequence[Grid], targets: Sequence[Grid], tests: Sequence[Grid | None], bg: int
) -> list[tuple[str, dict[int, int], bool]]:
    """Cell rules that give the target colour of every train cell: (feature kind, table of changes,
    covered), most general first, ending with the first whose codes on the test inputs were all
    seen on train (covered). A rule that is not covered leaves unseen cells as they are. Where no
    feature gives a covered rule of at most MEMORISED_TABLE entries, the role forms of the colour
    features (`dsl.rules.ROLE_KINDS`) are tried too: one covered and smaller is the last rule."""
    found: list[tuple[str, dict[int, int], bool]] = []
    if not same_shapes(values, targets):
        return found
    dst = np.concatenate([t.ravel() for t in targets]).astype(np.int64)
    own = np.concatenate([v.ravel() for v in values]).astype(np.int64)
    if np.array_equal(dst, own):
        return found
    changed = dst != own
    for kind in FEATURES:
        codes = np.concatenate([cell_features(v, kind, bg).ravel() for v in values])
        table = _consistent_table(codes, dst, changed)
        if table is None:
            continue
        covered = _covers(kind, codes, tests, bg)
        if covered:
            found.append((kind, table, True))
            if len(table) <= MEMORISED_TABLE:
                return found
            break
        if len(found) < 2:  # two guesses from different features make two different attempts
            found.append((kind, table, False))
    best = min((len(t) for _, t, covered in found if covered), default=None)
    for base in ROLE_KINDS:
        kind = base + ROLES
        coded = [role_codes(v, base, bg) for v in values]
        codes = np.concatenate([c.ravel() for c, _ in coded])
        outputs = np.concatenate(
            [role_outputs(t, colours).ravel() for t, (_, colours) in zip(targets, coded, strict=True)]
        )
        table = _consistent_table(codes, outputs, changed)
        if table is not None and (best is None or len(table) < best) and _covers(kind, codes, tests, bg):
            found.append((kind, table, True))
            break
    return found


def _consistent_table(
    codes: npt.NDArray[np.int64], outputs: npt.NDArray[np.int64], changed: Any
) -> dict[int, int] | None:
    """{code: output} of the changed cells, where every code has one output over all cells (the
    unchanged ones included); None where a code has two, or the table is too large to be a rule."""
    order = np.lexsort((outputs, codes))
    c, d = codes[order], outputs[order]
    if ((c[1:] == c[:-1]) & (d[1:] != d[:-1])).any():
        return None
    table = {int(k): int(v) for k, v in zip(codes[changed], outputs[changed], strict=False)}
    return table if len(table) <= 400 else None


def _covers(kind: str, codes: npt.NDArray[np.int64], tests: Sequence[Grid | None], bg: int) -> bool:
    """Whether every test input's codes of `kind` were all seen among the train codes."""
    seen = set(np.unique(codes).tolist())
    return all(t is None or set(np.unique(cell_features(t, kind, bg)).tolist()) <= seen for t in tests)


STAMP_RADII = (1, 2)
"""Stamp sizes tried, smallest first: 3 x 3, then 5 x 5 around each cell."""


def fit_stamps(
    values: Sequence[Grid], targets: Sequence[Grid], tests: Sequence[Grid | None], bg: int
) -> Stamps | None:
    """Stamps (`dsl.stamp_cells`) that turn every value into its target: for each colour, the
    marks that every one of its cells shows in the target at the same offset. The smallest radius
    whose stamps reproduce all targets, or None; None too when a test value holds a colour no
    train value has, whose cells the stamps could not know (on ARC-AGI-2's tune split both such
    fits were wrong on test)."""
    if not same_shapes(values, targets) or all(
        np.array_equal(v, t) for v, t in zip(values, targets, strict=True)
    ):
        return None
    known = set().union(*(np.unique(v).tolist() for v in values)) | {bg}
    if any(isinstance(t, np.ndarray) and not set(np.unique(t).tolist()) <= known for t in tests):
        return None
    wide = max(STAMP_RADII)
    padded = [np.pad(v.astype(np.int64), wide, constant_values=OUTSIDE) for v in values]
    # a wider window holds every offset of a narrower one: each offset is read once
    marks_at: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for radius in STAMP_RADII:
        stamps: dict[int, list[tuple[int, int, int]]] = {}
        for dr in range(-radius, radius + 1):
            for dc in range(-radius, radius + 1):
                if (dr, dc) not in marks_at:
                    marks_at[(dr, dc)] = _marks_at(values, targets, padded, (dr, dc), wide=wide, bg=bg)
                for colour, new in marks_at[(dr, dc)]:
                    stamps.setdefault(colour, []).append((dr, dc, new))
        if not stamps:
            continue
        fitted = {colour: tuple(marks) for colour, marks in stamps.items()}
        if all(np.array_equal(stamp_cells(v, fitted, bg), t) for v, t in zip(values, targets, strict=True)):
            return fitted
    return None


def _marks_at(
    values: Sequence[Grid],
    targets: Sequence[Grid],
    padded: Sequence[npt.NDArray[np.int64]],
    offset: tuple[int, int],
    *,
    wide: int,
    bg: int,
) -> list[tuple[int, int]]:
    """(colour, mark colour) for each colour whose every cell shows one colour at `offset` in the
    targets, where that is a change. `padded`: the values padded by `wide` with OUTSIDE."""
    dr, dc = offset
    codes = []
    for v, t, p in zip(values, targets, padded, strict=True):
        h, w = v.shape
        # the colour whose cell lies at (-dr, -dc) from each cell: the source of a mark here
        source = p[wide - dr : wide - dr + h, wide - dc : wide - dc + w]
        fits = (source != bg) & (source != OUTSIDE)
        if dr or dc:
            fits &= v == bg
        codes.append(source[fits] * 16 + t[fits])
    pairs = np.unique(np.concatenate(codes))
    sources, counts = np.unique(pairs // 16, return_counts=True)
    found = []
    for colour in sources[counts == 1].tolist():
        new = int(pairs[pairs // 16 == colour][0] % 16)
        if new != (colour if dr == dc == 0 else bg):
            found.append((int(colour), new))
    return found


OBJECT_STAMP_RADII = (1, 2)
"""How far beyond an object's bounding box its marks may reach, nearest first."""
MAX_STAMPED_OBJECTS = 40
"""More objects than this in one grid (speckle) are not fitted."""
MAX_STAMPED_BOX = 25
"""An object whose bounding box holds more cells than this gets no marks: its key is a whole
picture, which a stamp memorises. On ARC-AGI-2's tune split at 2 s the two first choices stamping
such objects (boxes of 187 and 400 cells) were wrong on test; the right ones stamp boxes of 4."""


def fit_object_stamps(
    values: Sequence[Grid], targets: Sequence[Grid], tests: Sequence[Grid | None], bg: int
) -> tuple[ObjectStamps, bool] | None:
    """(stamps, roles) for `dsl.stamp_objects` that turn every value into its target, where the
    targets only paint background cells: for each object shape and colours (`dsl.object_key`),
    the marks that every object with that key shows at the same place around (or inside) its
    bounding box. Where a cell stamp (`fit_stamps`) needs one mark per colour, these may differ
    from one cell of an object to the next (a colour at each corner of a square). The nearest
    reach that reproduces all targets, or None; None too when a test value holds an object whose
    key no train value has. Objects with boxes over `MAX_STAMPED_BOX` cells get no marks and are
    not held to that.

    Where no such stamps fit, role stamps (`roles` True) are tried: keyed on shape and colour
    pattern (`dsl.role_key`), a mark may paint one of the object's own colours, so one stamp serves
    shapes coloured differently in each pair (0962bcdd and 93b581b8 of the tune split, whose test
    objects are coloured as no train object is)."""
    if not same_shapes(values, targets) or all(
        np.array_equal(v, t) for v, t in zip(values, targets, strict=True)
    ):
        return None
    if any(np.any((v != t) & (v != bg)) for v, t in zip(values, targets, strict=True)):
        return None  # an object's own cell changed: not a stamp
    try:
        found = [objects(v, bg, diagonal=True, by_colour=False) for v in values]
        seen = [objects(t, bg, diagonal=True, by_colour=False) for t in tests if isinstance(t, np.ndarray)]
    except dsl.DSLError:
        return None
    if any(len(objs) > MAX_STAMPED_OBJECTS for objs in found):
        return None
    stamped = [[o for o in objs if o.height * o.width <= MAX_STAMPED_BOX] for objs in found]
    unseen = [o for objs in seen for o in objs if o.height * o.width <= MAX_STAMPED_BOX]
    for roles in (False, True):
        fitted = _fit_marks(values, targets, stamped, unseen, bg=bg, roles=roles)
        if fitted is not None:
            return fitted, roles
    return None


def _fit_marks(
    values: Sequence[Grid],
    targets: Sequence[Grid],
    stamped: Sequence[Sequence[dsl.Obj]],
    tested: Sequence[dsl.Obj],
    *,
    bg: int,
    roles: bool,
) -> ObjectStamps | None:
    """`fit_object_stamps` for one kind of key: `stamped` are each value's objects that may get
    marks, `tested` the test values' objects that need a known key."""

    def key_of(obj: dsl.Obj) -> tuple[str, tuple[int, ...]]:
        return (role_key(obj), object_colours(obj)) if roles else (object_key(obj), ())

    keys = {key_of(o)[0] for objs in stamped for o in objs}
    if any(key_of(o)[0] not in keys for o in tested):
        return None
    for reach in OBJECT_STAMP_RADII:
        # per (key, row, column): the mark colours that explain every such cell (a colour, or
        # with roles also ROLE + k where it is the object's k-th colour)
        shown: dict[tuple[str, int, int], set[int]] = {}
        for v, t, objs in zip(values, targets, stamped, strict=True):
            h, w = v.shape
            for obj in objs:
                key, colours = key_of(obj)
                for dr in range(-reach, obj.height + reach):
                    for dc in range(-reach, obj.width + reach):
                        r, c = obj.top + dr, obj.left + dc
                        if 0 <= r < h and 0 <= c < w and v[r, c] == bg:
                            new = int(t[r, c])
                            codes = {new} | {ROLE + k for k, own in enumerate(colours) if own == new}
                            place = (key, dr, dc)
                            shown[place] = shown[place] & codes if place in shown else codes
        marks: dict[str, list[tuple[int, int, int]]] = {}
        for (key, dr, dc), codes in shown.items():
            if codes and bg not in codes:
                marks.setdefault(key, []).append((dr, dc, max(codes)))  # a role over its colour
        if not marks:
            continue
        fitted = {key: tuple(sorted(m)) for key, m in marks.items()}
        if all(
            np.array_equal(stamp_objects(v, fitted, bg, roles), t)
            for v, t in zip(values, targets, strict=True)
        ):
            return fitted
    return None


def fit_object_recolour(
    values: Sequence[Grid], targets: Sequence[Grid], tests: Sequence[Grid | None], bg: int
) -> tuple[str, dict[Any, int], bool] | None:
    """(property, table, diagonal): recolouring one-colour objects by a property value reproduces
    every target, cells outside objects being unchanged. Prefers properties that cover the test
    objects."""
    if not same_shapes(values, targets):
        return None
    if any(np.array_equal(v, t) for v, t in zip(values, targets, strict=False)) and all(
        np.array_equal(v, t) for v, t in zip(values, targets, strict=False)
    ):
        return None
    for diagonal in (False, True):
        observed: list[tuple[dsl.Obj, tuple[dsl.Obj, ...], int]] = []
        ok = True
        for v, t in zip(values, targets, strict=False):
            try:
                objs = objects(v, bg, diagonal=diagonal)
            except dsl.DSLError:
                ok = False
                break
            covered = np.zeros(v.shape, dtype=bool)
            for o in objs:
                region = (slice(o.top, o.top + o.height), slice(o.left, o.left + o.width))
                new = t[region][o.mask]
                if (new != new[0]).any():
                    ok = False
                    break
                covered[region] |= o.mask
                observed.append((o, objs, int(new[0])))
            if not ok or not np.array_equal(v[~covered], t[~covered]):
                ok = False
                break
        if not ok:
            continue
        test_objs = []
        for test in tests:
            if test is None:
                continue
            with contextlib.suppress(dsl.DSLError):
                test_objs.append(objects(test, bg, diagonal=diagonal))
        for prop in OBJECT_PROPERTIES:
            table: dict[Any, int] = {}
            consistent = True
            for o, objs, colour in observed:
                key = object_property(o, objs, prop)
                if table.setdefault(key, colour) != colour:
                    consistent = False
                    break
            if not consistent:
                continue
            covered_all = all(object_property(o, objs, prop) in table for objs in test_objs for o in objs)
            if covered_all:
                return prop, table, diagonal
    return None


def fit_tile_layout(
    values: Sequence[Grid], targets: Sequence[Grid], bg: int
) -> tuple[tuple[str, ...], ...] | None:
    """A layout of transformed copies (`tile_transformed`) that builds every target from its value:
    the targets are a x b blocks of the value's shape, and each block is one transform of it."""
    if not all(isinstance(v, np.ndarray) for v in values):
        return None
    ratios = set()
    for v, t in zip(values, targets, strict=True):
        if t.shape[0] % v.shape[0] or t.shape[1] % v.shape[1]:
            return None
        ratios.add((t.shape[0] // v.shape[0], t.shape[1] // v.shape[1]))
    if len(ratios) != 1:
        return None
    a, b = ratios.pop()
    if a * b < 2:
        return None
    layout = []
    for i in range(a):
        row = []
        for j in range(b):
            for name in dsl.TRANSFORMS:
                fits = True
                for v, t in zip(values, targets, strict=True):
                    h, w = v.shape
                    block = t[i * h : (i + 1) * h, j * w : (j + 1) * w]
                    image = transformed(v, name, bg)
                    if image.shape != block.shape or not np.array_equal(image, block):
                        fits = False
                        break
                if fits:
                    row.append(name)
                    break
            else:
                return None
        layout.append(tuple(row))
    return tuple(layout)


MAX_LOOKED_UP_CELLS = 30
"""`output_by_shape` answers small grids (a colour, a short row): a whole picture per shape would
be the train outputs learned by heart."""


def fit_output_by_shape(
    values: Sequence[Any], targets: Sequence[Grid], tests: Sequence[Any], bg: int
) -> dict[str, str] | None:
    """A shape -> output table (`output_by_shape`) that gives every target from its value's
    foreground shape. Only where it is a rule: some shape is seen twice with the same output, no
    two outputs share a shape, and every test value's shape is in the table."""
    if not all(isinstance(v, np.ndarray) for v in (*values, *tests)):
        return None
    if any(t.size > MAX_LOOKED_UP_CELLS for t in targets):
        return None
    table: dict[str, str] = {}
    try:
        for value, target in zip(values, targets, strict=True):
            output = grid_text(target)
            if table.setdefault(shape_key(value, bg), output) != output:
                return None
        covered = all(shape_key(test, bg) in table for test in tests)
    except dsl.DSLError:
        return None
    if len(table) == len(values) or not covered:
        return None
    return table


UNCOVERED_PENALTY = 8
"""Complexity added to a fitted rule that meets test cells it never saw on train."""


def finishers(
    node: Node,
    values: Sequence[Any],
    targets: Sequence[Grid],
    n_train: int,
    bg: int,
    *,
    deep: bool,
    uncovered: set[str] | None = None,
) -> list[Node]:
    """Learned final steps on top of `node` that may turn its values into the targets. `deep` also
    tries the costlier cell rules, object recolouring and tile layouts. Keys of rules that meet
    unseen test cells are added to `uncovered`."""
    if uncovered is None:
        uncovered = set()
    train = values[:n_train]
    out: list[Node] = []
    kw: tuple[tuple[str, Any], ...] = (("bg", bg),) if bg else ()
    if not same_shapes(train, targets):
        if deep:
            layout = fit_tile_layout(train, targets, bg)
            if layout is not None:
                out.append(Node("tile_transformed", (node,), (layout,), kw))
            looked_up = fit_output_by_shape(train, targets, values[n_train:], bg)
            if looked_up is not None:
                out.append(Node("output_by_shape", (node,), (looked_up,), kw))
        return out
    mapping = fit_colour_map(train, targets)
    if mapping is not None:
        out.append(Node("map_colours", (node,), (mapping,)))
    if deep:
        tests = values[n_train:]
        for kind, table, covered in fit_cell_rule(train, targets, tests, bg):
            out.append(Node("apply_cell_rule", (node,), (kind, table), kw))
            if not covered:
                uncovered.add(out[-1].key)
        stamps = fit_stamps(train, targets, tests, bg)
        if stamps is not None:
            out.append(Node("stamp_cells", (node,), (stamps,), kw))
        object_stamps = fit_object_stamps(train, targets, tests, bg)
        if object_stamps is not None:
            stamps_of_objects, roles = object_stamps
            extra = kw + ((("roles", True),) if roles else ())
            out.append(Node("stamp_objects", (node,), (stamps_of_objects,), extra))
        recolour = fit_object_recolour(train, targets, tests, bg)
        if recolour is not None:
            prop, table, diagonal = recolour
            extra = kw + ((("diagonal", True),) if diagonal else ())
            out.append(Node("recolour_objects", (node,), (prop, table), extra))
    return out


def table_size(node: Node) -> int:
    """How many learned entries a node's parameters hold (for complexity): a stamp's marks count
    one each."""
    return sum(
        sum(len(v) if isinstance(v, tuple) else 1 for v in p.values())
        for p in node.params
        if isinstance(p, dict)
    )


FITTED_RULES = ("apply_cell_rule", "stamp_cells", "stamp_objects", "recolour_objects", "output_by_shape")
MEMORISED_TABLE = 5
"""A cell rule with more entries than this has learned the train cells, not a rule. Chosen on the
ARC-AGI-2 tune split at 2 s a task: of the train-exact programs ending in a cell rule, 1 with more
entries was right on test and 70 wrong, against 15 right and 13 wrong with at most 5. Object
recolouring is not counted: its keys are object properties, and all 7 of its fits there (3 with
more than 5 entries) were right."""


def memorised(node: Node) -> bool:
    """The program leans on a fitted cell table too large to trust (`MEMORISED_TABLE`)."""
    return any(n.op == "apply_cell_rule" and table_size(n) > MEMORISED_TABLE for n in node.walk())
