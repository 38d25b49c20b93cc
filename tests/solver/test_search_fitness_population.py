"""The shared fitness (exact first, then partial credit) and population ranking / attempt picking."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from arcforge_solver.engines.fitness import pair_score, train_fitness
from arcforge_solver.engines.protocol import Candidate
from arcforge_solver.engines.ranking import merge, pick_attempts, rank

E1 = np.array([[1, 2], [3, 4]], dtype=np.int8)
E2 = np.array([[5]], dtype=np.int8)


def test_exact_on_all_is_one() -> None:
    assert train_fitness([E1, E2], [E1, E2]) == (1.0, 2)


def test_exact_matches_come_before_partial_credit() -> None:
    one_exact, n1 = train_fitness([E1, None], [E1, E2])
    near_misses, n0 = train_fitness([E1 * 0 + 1, np.array([[4]], dtype=np.int8)], [E1, E2])
    assert n1 == 1 and n0 == 0
    assert one_exact > near_misses


def test_right_shape_beats_wrong_shape_and_accuracy_counts() -> None:
    wrong_shape = pair_score(np.zeros((2, 3), dtype=np.int8), E1)
    right_shape = pair_score(np.zeros((2, 2), dtype=np.int8), E1)
    closer = pair_score(np.array([[1, 2], [0, 0]], dtype=np.int8), E1)
    assert 0 < wrong_shape < right_shape < closer < 1
    assert pair_score(None, E1) == 0.0
    with pytest.raises(ValueError):
        train_fitness([E1], [E1, E2])


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.int8, (3, 3), elements=st.integers(0, 9)), arrays(np.int8, (3, 3), elements=st.integers(0, 9))
)
def test_nothing_partial_reaches_one(output: np.ndarray, expected: np.ndarray) -> None:
    fitness, exact = train_fitness([output], [expected])
    assert (fitness == 1.0) == bool(np.array_equal(output, expected)) == (exact == 1)
    assert 0.0 <= fitness <= 1.0


def cand(fitness: float, complexity: int, prediction: int | None, trusted: bool = True) -> Candidate:
    grid = None if prediction is None else np.array([[prediction]], dtype=np.int8)
    return Candidate(
        f"# {fitness} {complexity} {prediction}", trusted, fitness, int(fitness), (grid,), complexity
    )


def test_rank_prefers_fitness_then_simplicity_then_trusted() -> None:
    a, b, c, d = cand(1.0, 5, 1), cand(1.0, 2, 2), cand(0.5, 1, 3), cand(1.0, 2, 4, trusted=False)
    assert rank([c, a, d, b]) == [b, d, a, c]


def test_attempts_have_different_predictions() -> None:
    best, same, other, empty = cand(1.0, 1, 7), cand(1.0, 2, 7), cand(0.9, 1, 8), cand(1.0, 0, None)
    picked = pick_attempts([same, other, best, empty])
    assert picked == [best, other]
    assert pick_attempts([best, same]) == [best]


def test_merge_drops_repeats() -> None:
    a, b = cand(1.0, 1, 7), cand(1.0, 1, 7)
    c = cand(0.2, 1, 3)
    assert merge([a], [b, c]) == [a, c]
    assert merge([a], [c], limit=1) == [a]
