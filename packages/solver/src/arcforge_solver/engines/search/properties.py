"""Properties every train output of a task shares, and how many of them a predicted test output breaks.

A program can reproduce every train pair and still answer the test input with a grid no train output
would look like. Each check learns a rule from the train pairs, and only when every pair obeys it:
- `size`: the output has the input's shape, or one constant shape, or a fixed ratio to the input;
- `palette`: the output's colours lie within the input's colours, or within the train outputs'
  colours (learned only when each train output's colours lie within the other outputs');
- `symmetry`: the output is left-right, top-bottom, diagonal or half-turn symmetric;
- `objects`: the output has as many objects as its input, or one constant number of objects.
A candidate's demerits are the number of checks its test outputs break; the ranking demotes it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction

import numpy as np

from arcforge_solver.dsl.core import DSLError
from arcforge_solver.dsl.objects import objects
from arcforge_solver.tasks.model import Grid, Task

CHECKS = ("size", "palette", "symmetry", "objects")

Rule = Callable[[Grid, Grid], bool]
"""rule(input, output): does this pair obey it."""


def _colours(grid: Grid) -> set[int]:
    return {int(c) for c in np.unique(grid)}


def _object_count(grid: Grid, bg: int) -> int:
    try:
        return len(objects(grid, bg))
    except DSLError:
        return 0


def _ratio(i: Grid, o: Grid) -> tuple[Fraction, Fraction]:
    return Fraction(o.shape[0], i.shape[0]), Fraction(o.shape[1], i.shape[1])


SYMMETRIES: dict[str, Callable[[Grid], Grid]] = {
    "lr": lambda g: g[:, ::-1],
    "ud": lambda g: g[::-1, :],
    "half-turn": lambda g: g[::-1, ::-1],
    "diagonal": lambda g: g.T,
}


def _symmetric(flip: Callable[[Grid], Grid]) -> Rule:
    def rule(i: Grid, o: Grid) -> bool:
        return bool(np.array_equal(o, flip(o)))  # unequal shapes are unequal

    return rule


def learn_rules(task: Task, bg: int, checks: Sequence[str] = CHECKS) -> dict[str, list[Rule]]:
    """For each enabled check, the rules every train pair obeys (an empty list: nothing learned)."""
    pairs = [(p.input, p.output) for p in task.train if p.output is not None]
    rules: dict[str, list[Rule]] = {name: [] for name in checks}
    if len(pairs) < 2:
        return rules  # one pair proves no rule
    candidates: dict[str, list[Rule]] = {name: [] for name in CHECKS}
    shapes = {o.shape for _, o in pairs}
    if len(shapes) == 1:
        shape = shapes.pop()
        candidates["size"].append(lambda i, o: o.shape == shape)
    ratios = {_ratio(i, o) for i, o in pairs}
    if len(ratios) == 1:
        ratio = ratios.pop()
        candidates["size"].append(lambda i, o: _ratio(i, o) == ratio)
    candidates["palette"].append(lambda i, o: _colours(o) <= _colours(i))
    outs = [_colours(o) for _, o in pairs]
    if all(c <= set().union(*(d for j, d in enumerate(outs) if j != k)) for k, c in enumerate(outs)):
        palette = set().union(*outs)
        candidates["palette"].append(lambda i, o: _colours(o) <= palette)
    candidates["symmetry"] += [_symmetric(flip) for flip in SYMMETRIES.values()]
    candidates["objects"].append(lambda i, o: _object_count(o, bg) == _object_count(i, bg))
    counts = {_object_count(o, bg) for _, o in pairs}
    if len(counts) == 1:
        count = counts.pop()
        candidates["objects"].append(lambda i, o: _object_count(o, bg) == count)
    for name in checks:
        rules[name] = [rule for rule in candidates[name] if all(rule(i, o) for i, o in pairs)]
    return rules


class PropertyChecks:
    """The task's learned rules, applied to predicted test outputs."""

    def __init__(self, task: Task, bg: int, checks: Sequence[str] = CHECKS) -> None:
        unknown = sorted(set(checks) - set(CHECKS))
        if unknown:
            raise ValueError(f"unknown property check {', '.join(unknown)} (known: {', '.join(CHECKS)})")
        self.rules = learn_rules(task, bg, checks)
        self.test_inputs = [p.input for p in task.test]

    def broken(self, predictions: Sequence[Grid | None]) -> list[str]:
        """The checks that some predicted test output breaks."""
        out = []
        for name, rules in self.rules.items():
            for i, prediction in zip(self.test_inputs, predictions, strict=False):
                if prediction is not None and not all(rule(i, prediction) for rule in rules):
                    out.append(name)
                    break
        return out

    def demerits(self, predictions: Sequence[Grid | None]) -> int:
        return len(self.broken(predictions))
