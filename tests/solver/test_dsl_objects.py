"""Object primitives: components, properties, selection and painting."""

from __future__ import annotations

import numpy as np
import pytest

from arcforge_solver.dsl import (
    DSLError,
    as_grid,
    asymmetric_object,
    bg_regions,
    bounding_boxes,
    by_colour,
    count_objects,
    crop_largest,
    crop_smallest,
    erase_objects,
    filter_objects,
    gravity_objects,
    holes,
    hollow_objects,
    keep_largest_object,
    keep_objects,
    largest,
    most_common_shape,
    object_grid,
    object_grids,
    object_mask,
    objects,
    objects_multi,
    outline_objects,
    paint_objects,
    remove_small_objects,
    smallest,
    symmetric_object,
    unique_colour,
    unique_shape,
)

G = as_grid(
    [
        [1, 1, 0, 0, 2],
        [1, 1, 0, 0, 0],
        [0, 0, 0, 3, 3],
        [2, 0, 0, 0, 3],
    ]
)


def eq(a: np.ndarray, rows: list[list[int]]) -> bool:
    return a.dtype == np.int8 and np.array_equal(a, np.array(rows))


def test_components_by_colour_and_connectivity() -> None:
    objs = objects(G)
    assert [(o.colour, o.size, o.top, o.left) for o in objs] == [
        (1, 4, 0, 0),
        (2, 1, 0, 4),
        (3, 3, 2, 3),
        (2, 1, 3, 0),
    ]
    assert count_objects(objs) == 4
    diag = objects(as_grid([[1, 0], [0, 1]]), diagonal=True)
    assert len(diag) == 1 and diag[0].size == 2
    multi = objects_multi(as_grid([[1, 2], [0, 0]]))
    assert len(multi) == 1 and multi[0].colours == 2
    assert len(bg_regions(as_grid([[0, 1, 0]]))) == 2
    with pytest.raises(DSLError):
        objects(np.zeros((3, 3), dtype=np.int8))


def test_selection() -> None:
    objs = objects(G)
    assert eq(object_grid(largest(objs)), [[1, 1], [1, 1]])
    assert eq(object_grid(smallest(objs, "density")), [[3, 3], [0, 3]])
    with pytest.raises(DSLError):
        smallest(objs)  # the two single 2s tie
    assert eq(object_grid(by_colour(objs, 3)), [[3, 3], [0, 3]])
    three = (objs[0], objs[1], objs[2])
    assert by_colour(three, 2).size == 1
    assert most_common_shape(objs).size == 1
    l_shape = objects(as_grid([[3, 3, 0, 1], [0, 3, 0, 1]]))
    assert asymmetric_object(l_shape).colour == 3
    assert symmetric_object(l_shape).colour == 1
    assert [o.size for o in filter_objects(objs, "size", keep_largest=False)] == [1, 1]
    assert object_mask(objs[2]).tolist() == [[True, True], [False, True]]


def test_unique_selectors_reject_ties() -> None:
    objs = objects(as_grid([[1, 0, 1], [0, 0, 0], [2, 0, 2]]))
    with pytest.raises(DSLError):
        unique_shape(objs)
    with pytest.raises(DSLError):
        unique_colour(objs)
    single = objects(as_grid([[1, 1, 0, 2], [0, 0, 0, 0], [0, 3, 3, 0]]))
    assert unique_shape(single).colour == 2


def test_painting_and_erasing() -> None:
    objs = objects(G)
    blank = np.zeros_like(G)
    assert np.array_equal(paint_objects(blank, objs), G)
    assert eq(keep_objects(G, (objs[2],)), [[0] * 5, [0] * 5, [0, 0, 0, 3, 3], [0, 0, 0, 0, 3]])
    assert eq(erase_objects(G, (objs[0],))[:2, :2], [[0, 0], [0, 0]])
    assert eq(keep_largest_object(as_grid([[1, 0, 2, 2]])), [[0, 0, 2, 2]])
    assert eq(
        remove_small_objects(G, 1), [[1, 1, 0, 0, 0], [1, 1, 0, 0, 0], [0, 0, 0, 3, 3], [0, 0, 0, 0, 3]]
    )
    assert eq(crop_largest(G), [[1, 1], [1, 1]])
    assert eq(crop_smallest(as_grid([[1, 1, 0, 2]])), [[2]])
    assert [g.shape for g in object_grids(objs)] == [(2, 2), (1, 1), (2, 2), (1, 1)]


def test_shape_decorations() -> None:
    ring = as_grid([[1, 1, 1], [1, 0, 1], [1, 1, 1]])
    assert holes(objects(ring)[0]) == 1
    assert holes(objects(as_grid([[1, 1]]))[0]) == 0
    assert eq(hollow_objects(as_grid([[2] * 3] * 3)), ring.tolist() and [[2, 2, 2], [2, 0, 2], [2, 2, 2]])
    assert eq(
        outline_objects(as_grid([[0, 0, 0], [0, 1, 0], [0, 0, 0]]), 4), [[4, 4, 4], [4, 1, 4], [4, 4, 4]]
    )
    assert eq(bounding_boxes(as_grid([[1, 0], [0, 1]]), 5), [[1, 5], [5, 1]])


def test_rigid_gravity() -> None:
    g = as_grid([[1, 1, 0], [0, 0, 0], [0, 2, 0], [0, 0, 0]])
    assert eq(gravity_objects(g, "down"), [[0, 0, 0], [0, 0, 0], [1, 1, 0], [0, 2, 0]])
    assert eq(gravity_objects(g, "right"), [[0, 1, 1], [0, 0, 0], [0, 0, 2], [0, 0, 0]])


def _reference_components(grid: np.ndarray, diagonal: bool, by_colour: bool) -> list[set[tuple[int, int]]]:
    """Components by repeated merging of touching cells: slow, and plainly right."""
    h, w = grid.shape
    cells = [(r, c) for r in range(h) for c in range(w) if grid[r, c] != 0]
    owner = {cell: {cell} for cell in cells}
    steps = [(1, 0), (0, 1), (1, 1), (1, -1)] if diagonal else [(1, 0), (0, 1)]
    for r, c in cells:
        for dr, dc in steps:
            near = (r + dr, c + dc)
            if (
                near in owner
                and (not by_colour or grid[near] == grid[r, c])
                and owner[near] is not owner[(r, c)]
            ):
                merged = owner[(r, c)] | owner[near]
                for cell in merged:
                    owner[cell] = merged
    seen: list[set[tuple[int, int]]] = []
    for cell in cells:  # reading order of each component's first cell
        if not any(owner[cell] is s for s in seen):
            seen.append(owner[cell])
    return seen


@pytest.mark.parametrize("diagonal,by_colour", [(False, True), (True, False), (True, True)])
def test_objects_match_a_reference_labelling(diagonal: bool, by_colour: bool) -> None:
    rng = np.random.default_rng(7)
    for _ in range(60):
        h, w = (int(v) for v in rng.integers(1, 13, size=2))
        grid = (rng.integers(1, 4, size=(h, w)) * (rng.random((h, w)) < 0.55)).astype(np.int8)
        expected = _reference_components(grid, diagonal, by_colour)
        if not expected:
            continue
        found = objects(grid, 0, diagonal=diagonal, by_colour=by_colour)
        assert len(found) == len(expected)
        for obj, cells in zip(found, expected, strict=True):
            rows, cols = np.nonzero(obj.patch >= 0)
            assert {(int(r) + obj.top, int(c) + obj.left) for r, c in zip(rows, cols, strict=True)} == cells
            assert all(obj.patch[r - obj.top, c - obj.left] == grid[r, c] for r, c in cells)
