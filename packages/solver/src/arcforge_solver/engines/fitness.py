"""Train-pair fitness shared by every engine: exact matches first, then partial credit.

A program's fitness on a task is lexicographic in (exact train matches, partial credit), squeezed into
0..1: `(exact + partial) / (n + 1)`, where `partial` is the mean partial score of the pairs it misses
(each below 1) or 1 when it misses none. So a program exact on every pair scores 1.0, one more exact
pair always beats any partial credit, and nothing partial reaches 1.0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import numpy as np

from arcforge_solver.tasks.model import Grid

SHAPE_CREDIT = 0.25
"""What the right shape alone is worth on a missed pair; cell accuracy earns the rest."""


def pair_score(output: Grid | None, expected: Grid) -> float:
    """1.0 for an exact match; otherwise below 1: a little for each right dimension, more for the
    right shape plus the share of cells right."""
    if output is None or not isinstance(output, np.ndarray) or output.ndim != 2:
        return 0.0
    if output.shape != expected.shape:
        same_dims = (output.shape[0] == expected.shape[0]) + (output.shape[1] == expected.shape[1])
        return cast("float", 0.05 * same_dims)
    cells = expected.size
    right = int(np.count_nonzero(output == expected))
    if right == cells:
        return 1.0
    return SHAPE_CREDIT + (1.0 - SHAPE_CREDIT) * right / cells * 0.999


def train_fitness(outputs: Sequence[Grid | None], expected: Sequence[Grid]) -> tuple[float, int]:
    """(fitness 0..1, exact count) of a program's outputs on the train pairs."""
    if len(outputs) != len(expected):
        raise ValueError(f"{len(outputs)} outputs for {len(expected)} train pairs")
    n = len(expected)
    if n == 0:
        return 0.0, 0
    scores = [pair_score(out, exp) for out, exp in zip(outputs, expected, strict=False)]
    exact = sum(1 for s in scores if s == 1.0)
    missed = [s for s in scores if s < 1.0]
    partial = sum(missed) / len(missed) if missed else 1.0
    return (exact + partial) / (n + 1), exact
