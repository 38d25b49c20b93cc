"""Role cell rules (`apply_cell_rule(grid, "KIND roles", table)`): keyed on which places share a
colour, not on the colours, so that a rule learned on some colours holds for the test's new ones."""

from __future__ import annotations

import numpy as np

from arcforge_solver.dsl.rules import ROLE_OUTPUT, apply_cell_rule, cell_features, role_codes
from arcforge_solver.engines.search.learn import fit_cell_rule
from arcforge_solver.tasks.model import Pair, Task
from tests.solver.search_checks import assert_best_program_runs


def bars(seed: int, colours: tuple[int, ...]) -> np.ndarray:
    """Every other row holds two cells of its colour with a gap between them."""
    rng = np.random.default_rng(seed)
    grid = np.zeros((2 * len(colours) + 1, 9), dtype=np.int8)
    for k, colour in enumerate(colours):
        left = int(rng.integers(0, 4))
        grid[2 * k + 1, [left, left + 2 + int(rng.integers(1, 4))]] = colour
    return grid


def bridged(grid: np.ndarray) -> np.ndarray:
    """What the rule gives, written out by hand: each gap takes its row's colour."""
    out = grid.copy()
    for row in range(grid.shape[0]):
        ends = np.flatnonzero(grid[row])
        if len(ends) == 2:
            out[row, ends[0] : ends[1]] = grid[row, ends[0]]
    return out


def test_two_colourings_of_one_pattern_share_a_role_code() -> None:
    one = np.array([[0, 3, 0, 3, 0]], dtype=np.int8)
    other = np.array([[0, 7, 0, 7, 0]], dtype=np.int8)
    literal_one, literal_other = cell_features(one, "between"), cell_features(other, "between")
    assert literal_one[0, 2] != literal_other[0, 2]  # the literal feature tells them apart
    codes_one, colours_one = role_codes(one, "between")
    codes_other, colours_other = role_codes(other, "between")
    assert codes_one[0, 2] == codes_other[0, 2]
    assert colours_one[0, 0, 2] == 3 and colours_other[0, 0, 2] == 7  # role 0 at the middle cell


def test_a_role_rule_paints_the_colour_of_its_role_at_each_cell() -> None:
    grid = np.array([[0, 3, 0, 3, 0], [0, 6, 0, 6, 0]], dtype=np.int8)
    codes, _ = role_codes(grid, "between")
    middle = int(codes[0, 2])
    assert int(codes[1, 2]) == middle
    out = apply_cell_rule(grid, "between roles", {middle: ROLE_OUTPUT})  # "role 0's colour"
    assert out.tolist() == [[0, 3, 3, 3, 0], [0, 6, 6, 6, 0]]


def test_a_rule_learned_on_some_colours_is_fitted_for_a_test_with_new_ones() -> None:
    values = [bars(1, (1, 2, 6)), bars(2, (2, 6, 1))]
    targets = [bridged(v) for v in values]
    test = bars(3, (3, 4, 7))  # colours no train pair has
    fits = fit_cell_rule(values, targets, [test], bg=0)
    assert fits, "no cell rule fits"
    kind, table, covered = fits[-1]
    assert kind.endswith(" roles") and covered and len(table) <= 2
    assert np.array_equal(apply_cell_rule(test, kind, table), bridged(test))
    # the literal features fit the train pairs too, but none covers the test's colours
    assert all(not c for k, _, c in fits if not k.endswith(" roles"))


def test_a_small_covered_literal_rule_needs_no_role_form() -> None:
    values = [bars(1, (1, 1, 1)), bars(2, (1, 1, 1))]
    targets = [bridged(v) for v in values]
    fits = fit_cell_rule(values, targets, [bars(3, (1, 1, 1))], bg=0)
    assert len(fits) == 1 and not fits[0][0].endswith(" roles") and fits[0][2]


def test_the_search_answers_new_colours_with_a_role_rule() -> None:
    train = tuple(Pair(v, bridged(v)) for v in (bars(1, (1, 2, 6)), bars(2, (2, 6, 1))))
    test_input = bars(3, (3, 4, 7))
    task = Task("role-bars", train, (Pair(test_input),))
    assert_best_program_runs(task, bridged, " roles'")
