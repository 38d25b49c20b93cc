"""Views of a task: every grid turned by one dihedral transform, or recoloured by a colour normalisation.

The search solves a view as it solves any task; a program found there is carried back by wrapping
it in DSL steps: the view's forward steps on the input, the exact inverse steps on the output. So the
wrapped program is plain DSL source that reads the original input and answers in the original frame,
and its predictions are the view's predictions mapped back. Views vote with the untransformed run.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from arcforge_solver import dsl
from arcforge_solver.engines.search.program import INPUT, Node
from arcforge_solver.tasks.model import Grid, Pair, Task

Step = tuple[str, tuple[object, ...]]
"""One DSL call on a grid: (primitive name, parameters after the grid)."""

DIHEDRAL: dict[str, str] = {
    "transpose": "transpose",
    "rot90": "rot270",
    "flip_lr": "flip_lr",
    "rot180": "rot180",
    "flip_ud": "flip_ud",
    "rot270": "rot90",
    "antitranspose": "antitranspose",
}
"""Each non-identity dihedral transform and its inverse."""

VIEWS = ("colours", *DIHEDRAL)
"""The views in the order the engine adds them (`augment=N` takes the first N)."""


@dataclass(frozen=True)
class View:
    name: str
    forward: tuple[Step, ...]
    back: tuple[Step, ...]

    def grid(self, grid: Grid) -> Grid:
        return _run(self.forward, grid)

    def unmap(self, grid: Grid | None) -> Grid | None:
        return None if grid is None else _run(self.back, grid)

    def task(self, task: Task) -> Task:
        """The task seen through this view (same id, so the search's seed is the same)."""

        def pair(p: Pair) -> Pair:
            return Pair(self.grid(p.input), None if p.output is None else self.grid(p.output))

        return Task(task.task_id, tuple(pair(p) for p in task.train), tuple(pair(p) for p in task.test))

    def wrap(self, node: Node) -> Node:
        """A program over the original grids that runs `node` inside this view."""
        entered = _chain(self.forward, Node(INPUT))
        return _chain(self.back, _replace_input(node, entered))


def _run(steps: tuple[Step, ...], grid: Grid) -> Grid:
    for op, params in steps:
        grid = getattr(dsl, op)(grid, *params)
    return grid


def _chain(steps: tuple[Step, ...], node: Node) -> Node:
    for op, params in steps:
        node = Node(op, (node,), params)
    return node


def _replace_input(node: Node, new: Node) -> Node:
    if node.op == INPUT:
        return new
    return node.replace_args(tuple(_replace_input(a, new) for a in node.args))


def dihedral_view(name: str) -> View:
    return View(name, ((name, ()),), ((DIHEDRAL[name], ()),))


def colour_view(task: Task) -> View | None:
    """Colours renumbered by how often they occur in the task's grids (most common becomes 0, ties by
    colour), a bijection on 0-9; None when the task is already in that order."""
    counts: Counter[int] = Counter()
    grids = [g for p in task.train for g in (p.input, p.output) if g is not None]
    grids += [p.input for p in task.test]
    for grid in grids:
        values, n = np.unique(grid, return_counts=True)
        counts.update({int(v): int(c) for v, c in zip(values, n, strict=True)})
    order = sorted(range(10), key=lambda c: (-counts[c], c))
    table = {old: new for new, old in enumerate(order) if old != new}
    if not table:
        return None
    inverse = {new: old for old, new in table.items()}
    return View("colours", (("map_colours", (table,)),), (("map_colours", (inverse,)),))


def views(task: Task, count: int) -> list[View]:
    """The first `count` views of VIEWS that change this task."""
    out: list[View] = []
    for name in VIEWS:
        if len(out) >= count:
            break
        view = colour_view(task) if name == "colours" else dihedral_view(name)
        if view is not None:
            out.append(view)
    return out
