"""ARC task values: grids, train/test pairs and tasks, as the engines see them."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

Grid = npt.NDArray[np.int8]
"""A 2-D array of colours 0-9, 1-30 rows by 1-30 columns."""

GridList = list[list[int]]
"""A grid as JSON has it."""


def to_grid(rows: GridList) -> Grid:
    return np.asarray(rows, dtype=np.int8)


def to_list(grid: Grid) -> GridList:
    return [[int(v) for v in row] for row in np.asarray(grid).tolist()]


@dataclass(frozen=True)
class Pair:
    input: Grid
    output: Grid | None = None  # None for test inputs whose answer is not known


@dataclass(frozen=True)
class Task:
    task_id: str
    train: tuple[Pair, ...]
    test: tuple[Pair, ...]
    source: str = ""  # the file it came from, for error messages
    meta: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def test_inputs(self) -> tuple[Grid, ...]:
        return tuple(p.input for p in self.test)
