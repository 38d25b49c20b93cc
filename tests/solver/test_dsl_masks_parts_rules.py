"""Masks, boolean ops, grid splitting and part combination, and learned-table rules."""

from __future__ import annotations

import numpy as np
import pytest

from arcforge_solver.dsl import (
    FEATURES,
    DSLError,
    apply_cell_rule,
    apply_mask,
    as_grid,
    cell_and,
    cell_diff,
    cell_features,
    cell_nor,
    cell_or,
    cell_xor,
    colour_mask,
    combine_and,
    combine_diff,
    combine_nor,
    combine_or,
    combine_xor,
    from_mask,
    layout_summary,
    majority_part,
    mask_of,
    overlay,
    overlay_parts,
    overlay_parts_reversed,
    part_at,
    part_fewest_cells,
    part_fewest_colours,
    part_most_cells,
    part_most_colours,
    part_most_common,
    part_symmetric,
    part_unique,
    parts_summary,
    recolour_objects,
    separator_lines,
    split_by_lines,
    split_cols,
    split_rows,
    where_different,
    where_equal,
)

A = as_grid([[1, 0], [1, 0]])
B = as_grid([[2, 2], [0, 0]])


def eq(a: np.ndarray, rows: list[list[int]]) -> bool:
    return a.dtype == np.int8 and np.array_equal(a, np.array(rows))


def test_masks_and_boolean_ops() -> None:
    assert mask_of(A).tolist() == [[True, False], [True, False]]
    assert colour_mask(B, 2).sum() == 2
    assert eq(from_mask(mask_of(A), 5), [[5, 0], [5, 0]])
    assert eq(apply_mask(B, mask_of(A)), [[2, 0], [0, 0]])
    assert eq(overlay(A, B), [[2, 2], [1, 0]])
    assert eq(cell_and(A, B, 3), [[3, 0], [0, 0]])
    assert eq(cell_or(A, B, 3), [[3, 3], [3, 0]])
    assert eq(cell_xor(A, B, 3), [[0, 3], [3, 0]])
    assert eq(cell_nor(A, B, 3), [[0, 0], [0, 3]])
    assert eq(cell_diff(A, B, 3), [[0, 0], [3, 0]])
    assert eq(where_equal(A, as_grid([[1, 1], [0, 0]])), [[1, 0], [0, 0]])
    assert eq(where_different(A, as_grid([[1, 1], [0, 0]])), [[0, 0], [1, 0]])
    with pytest.raises(DSLError):
        overlay(A, as_grid([[1]]))


SPLIT = as_grid([[1, 0, 5, 1, 1], [1, 0, 5, 0, 0]])


def test_splitting() -> None:
    colour, rows, cols = separator_lines(SPLIT)
    assert (colour, rows, cols) == (5, [], [2])
    parts = split_by_lines(SPLIT)
    assert [p.tolist() for p in parts] == [[[1, 0], [1, 0]], [[1, 1], [0, 0]]]
    with pytest.raises(DSLError):
        split_by_lines(as_grid([[1, 2], [3, 4]]))
    assert [p.tolist() for p in split_rows(as_grid([[1], [2], [3], [4]]), 2)] == [[[1], [2]], [[3], [4]]]
    assert [p.tolist() for p in split_rows(as_grid([[1], [9], [3]]), 2)] == [[[1]], [[3]]]  # a divider row
    assert [p.tolist() for p in split_cols(as_grid([[1, 2, 3, 4]]), 2)] == [[[1, 2]], [[3, 4]]]
    quads = as_grid([[1, 8, 2], [8, 8, 8], [3, 8, 0]])
    assert eq(layout_summary(quads), [[1, 2], [3, 0]])


def test_combining_parts() -> None:
    parts = split_by_lines(SPLIT)
    assert eq(combine_and(parts, 3), [[3, 0], [0, 0]])
    assert eq(combine_or(parts, 3), [[3, 3], [3, 0]])
    assert eq(combine_xor(parts, 3), [[0, 3], [3, 0]])
    assert eq(combine_nor(parts, 3), [[0, 0], [0, 3]])
    assert eq(combine_diff(parts, 3), [[0, 0], [3, 0]])
    assert eq(overlay_parts((A, B)), [[2, 2], [1, 0]])
    assert eq(overlay_parts_reversed((A, B)), [[1, 2], [1, 0]])
    assert eq(majority_part((A, A, B)), A.tolist())
    with pytest.raises(DSLError):
        combine_and((A, as_grid([[1]])), 3)


def test_choosing_parts() -> None:
    c = as_grid([[3, 4], [3, 4]])
    parts = (A, B, c)
    assert eq(part_most_cells(parts), c.tolist())
    assert eq(part_most_colours(parts), c.tolist())
    with pytest.raises(DSLError):
        part_fewest_cells(parts)  # A and B tie
    assert eq(part_fewest_colours((A, c)), A.tolist())
    assert eq(part_unique((A, A, B)), B.tolist())
    assert eq(part_most_common((A, A, B)), A.tolist())
    assert eq(part_symmetric((A, B)), B.tolist())
    assert eq(part_at(parts, -1), c.tolist())
    with pytest.raises(DSLError):
        part_at(parts, 3)
    assert eq(parts_summary((A, B, c, np.zeros((2, 2), dtype=np.int8))), [[1, 2], [3, 0]])


def test_cell_rules() -> None:
    g = as_grid([[0, 0, 0], [0, 1, 0], [0, 0, 0]])
    codes = cell_features(g, "n4count")
    assert codes[1, 1] == 16 and codes[0, 1] == 1 and codes[0, 0] == 0
    # background cells next to one foreground cell become 2
    assert eq(apply_cell_rule(g, "n4count", {1: 2}), [[0, 2, 0], [2, 1, 2], [0, 2, 0]])
    for kind in FEATURES:
        assert cell_features(g, kind).shape == g.shape
    # "between": a background cell with the same colour seen both left and right of it
    line = as_grid([[3, 0, 0, 3, 0]])
    between = cell_features(line, "between")
    assert between[0, 1] == between[0, 2] != between[0, 4]
    assert len(np.unique(cell_features(g, "moore"))) == 9  # every cell sees a different picture
    with pytest.raises(ValueError):
        cell_features(g, "nope")


def test_recolour_objects_by_property() -> None:
    g = as_grid([[1, 1, 0, 1], [0, 0, 0, 0], [1, 0, 0, 0]])
    assert eq(recolour_objects(g, "size", {2: 4, 1: 6}), [[4, 4, 0, 6], [0, 0, 0, 0], [6, 0, 0, 0]])
    assert eq(recolour_objects(g, "is_largest", {True: 3}), [[3, 3, 0, 1], [0, 0, 0, 0], [1, 0, 0, 0]])
    # both ends in one table, whatever the number of sizes between: largest 1, smallest 2, the rest erased
    bars = as_grid(
        [[1, 0, 1, 0, 1, 0, 1], [1, 0, 1, 0, 1, 0, 0], [1, 0, 1, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0]]
    )
    table = {1: 1, -1: 2, 0: 0}
    assert eq(
        recolour_objects(bars, "size_extreme", table),
        [[1, 0, 0, 0, 0, 0, 2], [1, 0, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0]],
    )
