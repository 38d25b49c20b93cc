"""Augmentations of a task, each with an exact inverse: the 8 dihedral transforms, colour permutations
that keep 0 (the background) fixed, and the order of the train pairs.

A rule that holds for a task holds for its rotated, mirrored or recoloured copy, so the model trains on
every view, answers under several, and scores each candidate under all of them (the ARChitects' recipe,
"The LLM ARChitect", 2024). An answer produced under an augmentation is mapped back with `invert_grid`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from arcforge_solver.tasks.model import Grid, Pair

IDENTITY_COLOURS = tuple(range(10))
DIHEDRAL_NAMES = ("id", "rot90", "rot180", "rot270", "flip", "flip·rot90", "flip·rot180", "flip·rot270")


def dihedral(grid: Grid, index: int) -> Grid:
    """Transform `index` of the dihedral group: rotate a quarter turn `index % 4` times, then mirror
    left-right when `index >= 4`."""
    out = np.rot90(np.asarray(grid), index % 4)
    if index >= 4:
        out = np.fliplr(out)
    return np.ascontiguousarray(out)


def dihedral_inverse(grid: Grid, index: int) -> Grid:
    out = np.asarray(grid)
    if index >= 4:
        out = np.fliplr(out)
    return np.ascontiguousarray(np.rot90(out, -(index % 4)))


@dataclass(frozen=True)
class Augmentation:
    """One view of a task."""

    dihedral: int = 0
    """0-7, see `dihedral`."""
    colours: tuple[int, ...] = IDENTITY_COLOURS
    """Colour c becomes `colours[c]`; a permutation of 0-9 with `colours[0] == 0`."""
    order: tuple[int, ...] | None = None
    """The train pairs in this order (indices into the task's train pairs); None keeps it."""

    def __post_init__(self) -> None:
        if not 0 <= self.dihedral < 8:
            raise ValueError(f"dihedral must be 0-7, not {self.dihedral}")
        if sorted(self.colours) != list(range(10)) or self.colours[0] != 0:
            raise ValueError(f"colours must permute 0-9 keeping 0 fixed, not {self.colours}")
        if self.order is not None and sorted(self.order) != list(range(len(self.order))):
            raise ValueError(f"order must permute the train pair indices, not {self.order}")

    @property
    def is_identity(self) -> bool:
        in_order = self.order is None or list(self.order) == sorted(self.order)
        return self.dihedral == 0 and self.colours == IDENTITY_COLOURS and in_order

    def describe(self) -> str:
        parts = [DIHEDRAL_NAMES[self.dihedral]]
        if self.colours != IDENTITY_COLOURS:
            parts.append("colours " + "".join(str(c) for c in self.colours))
        if self.order is not None:
            parts.append("order " + ",".join(str(i) for i in self.order))
        return " ".join(parts)

    # -- grids ----------------------------------------------------------------------------------
    def grid(self, grid: Grid) -> Grid:
        lookup = np.asarray(self.colours, dtype=np.int8)
        return dihedral(lookup[np.asarray(grid, dtype=np.int64)], self.dihedral)

    def invert_grid(self, grid: Grid) -> Grid:
        inverse = np.argsort(np.asarray(self.colours)).astype(np.int8)
        return inverse[dihedral_inverse(np.asarray(grid, dtype=np.int64), self.dihedral)]

    # -- pairs ----------------------------------------------------------------------------------
    def pairs(self, pairs: Sequence[Pair]) -> list[Pair]:
        """The pairs reordered (when `order` is set and matches their number) and transformed."""
        ordered = list(pairs)
        if self.order is not None and len(self.order) == len(ordered):
            ordered = [ordered[i] for i in self.order]
        return [
            Pair(self.grid(p.input), self.grid(p.output) if p.output is not None else None) for p in ordered
        ]

    def invert_pairs(self, pairs: Sequence[Pair]) -> list[Pair]:
        """The inverse of `pairs`: the original pairs in their original order."""
        restored = [
            Pair(self.invert_grid(p.input), self.invert_grid(p.output) if p.output is not None else None)
            for p in pairs
        ]
        if self.order is not None and len(self.order) == len(restored):
            back: list[Pair | None] = [None] * len(restored)
            for position, index in enumerate(self.order):
                back[index] = restored[position]
            restored = [p for p in back if p is not None]
        return restored


def random_colours(rng: random.Random) -> tuple[int, ...]:
    rest = list(range(1, 10))
    rng.shuffle(rest)
    return (0, *rest)


def sample_augmentations(
    count: int,
    train_pairs: int,
    *,
    seed: int,
    colours: bool = True,
    shuffle_order: bool = True,
) -> list[Augmentation]:
    """`count` views: the identity first, then the other dihedral transforms in turn, each with a random
    colour permutation and train-pair order. Repeatable for a seed."""
    rng = random.Random(seed)
    views = [Augmentation()]
    for index in range(1, count):
        order: tuple[int, ...] | None = None
        if shuffle_order and train_pairs > 1:
            shuffled = list(range(train_pairs))
            rng.shuffle(shuffled)
            order = tuple(shuffled)
        views.append(
            Augmentation(
                dihedral=index % 8,
                colours=random_colours(rng) if colours else IDENTITY_COLOURS,
                order=order,
            )
        )
    return views
