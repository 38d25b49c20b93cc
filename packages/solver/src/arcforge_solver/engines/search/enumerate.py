"""Breadth-first enumeration of typed compositions by cost, with behavioural deduplication.

Values are built bottom-up: every program of cost c applies one primitive to programs already
found, whose costs add up to c minus the primitive's cost, so nothing is computed twice. Two
programs whose values on the train inputs are equal count once (the cheaper, found first, stays).
Each new grid is scored against the train outputs, and learned final steps are fitted on it.

Within a level, steps that could give a grid of the train outputs' shape come first (`ShapeHabits`):
only such a grid can be an answer, or take a learned colour map. The rest (a shape-keeping step on
a grid of the wrong shape, a shape-changing one on a grid of the right shape) feed deeper levels
only, so they close the level. A level cut off by the deadline has then spent its time on answers.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from arcforge_solver import dsl
from arcforge_solver.engines.search.evaluator import Evaluator, Values, fingerprint, same_shapes
from arcforge_solver.engines.search.library import BINARY_OPS, UNARY_OPS, OpSpec
from arcforge_solver.engines.search.program import INPUT, Node


class Found:
    """A program the enumeration kept, its values on every input, its cost and its discovery order."""

    __slots__ = ("_colours", "cost", "kind", "node", "order", "score", "target_shaped", "values")

    def __init__(self, node: Node, values: Values, cost: int, order: int = 0, kind: str = "grid") -> None:
        self.kind = kind
        self.node = node
        self.values = values
        self.cost = cost
        self.order = order
        self.score = 1.0  # a grid's train fitness; other kinds are expanded first
        self.target_shaped = False
        """A grid with every train output's shape on its train input."""
        self._colours: tuple[tuple[int, ...], tuple[int, ...]] | None = None

    def colours(self, n_train: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(colours on some train input, colours on every train input) of these values."""
        if self._colours is None:
            sets = [_colours_of(v) for v in self.values[:n_train]]
            some = set().union(*sets) if sets else set()
            every = set.intersection(*sets) if sets else set()
            self._colours = (tuple(sorted(some)), tuple(sorted(every)))
        return self._colours


def _colours_of(value: Any) -> set[int]:
    if isinstance(value, np.ndarray):
        return {int(c) for c in np.flatnonzero(np.bincount(value.ravel() & 15, minlength=10)[:10])}
    if isinstance(value, dsl.Obj):
        return _colours_of(value.patch[value.patch >= 0])
    if isinstance(value, tuple):
        out: set[int] = set()
        for item in value:
            out |= _colours_of(item)
        return out
    return set()


class Budget:
    """When to stop: a monotonic time and an optional cap on evaluations."""

    def __init__(self, until: float, evaluator: Evaluator, max_evaluations: int | None = None) -> None:
        self.until = until
        self.evaluator = evaluator
        self.max_evaluations = max_evaluations

    def spent(self) -> bool:
        if self.max_evaluations is not None and self.evaluator.evaluations >= self.max_evaluations:
            return True
        return time.monotonic() >= self.until


EVALUATE = None
"""What the enumeration's stream yields before each evaluation: the point where it may pause."""

ARG_DOMAINS = ("in_colour", "hole")
"""Parameter domains that depend on the argument's own values."""


class ShapeHabits:
    """What each grid-to-grid step has done to its argument's shape on the train inputs so far."""

    def __init__(self) -> None:
        self.kept: dict[str, int] = {}
        self.changed: dict[str, int] = {}

    def observe(self, name: str, before: Values, after: Values, n_train: int) -> None:
        table = self.kept if same_shapes(after[:n_train], before[:n_train]) else self.changed
        table[name] = table.get(name, 0) + 1

    def keeps(self) -> frozenset[str]:
        """Steps that have kept the shape every time they were seen."""
        return frozenset(name for name in self.kept if name not in self.changed)

    def changes(self) -> frozenset[str]:
        """Steps that have changed the shape every time they were seen."""
        return frozenset(name for name in self.changed if name not in self.kept)


class Enumerator:
    def __init__(
        self,
        evaluator: Evaluator,
        domains: Callable[[Any], tuple[Any, ...]],
        bg: int,
        on_grid: Callable[[Node, Values, int], float | None],
        *,
        binary_max_arg_cost: int = 1,
        shape_first: bool = True,
    ) -> None:
        self.ev = evaluator
        self.domains = domains
        self.bg = bg
        self.on_grid = on_grid
        self.pool: dict[str, list[Found]] = {"grid": [], "objs": [], "obj": [], "parts": []}
        self.seen: dict[tuple[str, bytes], Found] = {}
        self.binary_max_arg_cost = binary_max_arg_cost
        self.duplicates = 0
        self.completed_cost = 0
        self.found = 0
        self.deferred = 0
        """Steps each level put off to its end: they cannot give a grid of the outputs' shape."""
        self.habits = ShapeHabits()
        self.shape_first = shape_first
        """Put off, to each level's end, the steps that cannot give the outputs' shape (`_defers`)."""
        self.stop = False
        self.by_input: dict[str, list[OpSpec]] = {}
        self.free_ops: dict[str, list[OpSpec]] = {}
        for spec in UNARY_OPS:
            table = self.free_ops if spec.cost == 0 else self.by_input
            table.setdefault(spec.inputs[0], []).append(spec)
        values = evaluator.cache[INPUT]
        assert values is not None
        self._add("grid", Node(INPUT), values, 0)
        self._stream = self._work()
        self._paused: int | None = None
        """The stream's item that `run` last stopped at: it comes first in the next call."""

    def _add(self, kind: str, node: Node, values: Values, cost: int) -> Found | None:
        """Keep a new value (and score it if a grid); None for a duplicate on the train inputs."""
        key = (kind, fingerprint(values[: self.ev.n_train]))
        first = self.seen.get(key)
        if first is not None:
            self.duplicates += 1
            # same on train, different on test: not expanded, but still a candidate answer;
            # a train-exact one that agrees on test too is offered as a vote for that answer
            if kind == "grid" and (
                first.score >= 1.0
                or fingerprint(values[self.ev.n_train :]) != fingerprint(first.values[self.ev.n_train :])
            ):
                self.on_grid(node, values, cost)
            return None
        self.found += 1
        found = Found(node, values, cost, self.found, kind)
        if kind == "grid":
            found.target_shaped = same_shapes(values[: self.ev.n_train], self.ev.targets)
        self.seen[key] = found
        self.pool[kind].append(found)
        self.ev.remember(node, values)
        if kind == "grid":
            score = self.on_grid(node, values, cost)
            found.score = score if score is not None else 0.0
        return found

    def param_choices(self, spec: OpSpec, arg: Found | None = None) -> list[tuple[Any, ...]]:
        lists = []
        for domain in spec.params:
            if arg is not None and domain in ARG_DOMAINS:
                some, every = arg.colours(self.ev.n_train)
                lists.append(some if domain == "in_colour" else every)
            else:
                lists.append(self.domains(domain))
        return list(itertools.product(*lists))

    def kwargs(self, spec: OpSpec) -> tuple[tuple[str, Any], ...]:
        return (("bg", self.bg),) if spec.bg and self.bg else ()

    def _apply(self, spec: OpSpec, args: Sequence[Found], cost: int) -> Iterator[int | None]:
        """Evaluate `spec` on `args` with every parameter choice, cost-free steps following each new
        value at once; yields EVALUATE before each evaluation (see `_work`)."""
        kw = self.kwargs(spec)
        for params in self.param_choices(spec, args[0]):
            yield EVALUATE
            node = Node(spec.name, tuple(a.node for a in args), params, kw)
            values = self.ev.apply(node, [a.values for a in args], spec.output)
            if values is None:
                continue
            if len(args) == 1 and args[0].kind == "grid" and spec.output == "grid":
                self.habits.observe(spec.name, args[0].values, values, self.ev.n_train)
            found = self._add(spec.output, node, values, cost)
            if found is not None:
                for free in self.free_ops.get(found.kind, ()):
                    yield from self._apply(free, (found,), cost)

    def run(self, max_cost: int, budget: Budget, max_found: int | None = None) -> bool:
        """Enumerate up to level `max_cost` until done, stopped, out of budget, or (before starting a
        level) holding more than `max_found` programs; True when it got to the end of `max_cost` or
        to `max_found`. A later call goes on exactly where this one stopped, so enumerating in
        several calls does the same work, in the same order, as in one."""
        while not self.stop:
            item = self._paused if self._paused is not None else next(self._stream)
            self._paused = None
            if item is EVALUATE:
                if budget.spent():
                    self._paused = item  # this evaluation is the first of the next call
                    return False
            elif item > max_cost or (max_found is not None and self.found > max_found):
                self._paused = item  # the level starts in a later call, if one allows it
                return True
        return False

    def _work(self) -> Iterator[int | None]:
        """The whole enumeration as one resumable stream: each level's cost as it starts, then
        EVALUATE before each of its evaluations."""
        cost = 0
        while True:
            cost += 1
            yield cost
            yield from self._level(cost)
            self.completed_cost = cost

    def _level(self, cost: int) -> Iterator[int | None]:
        """Every program of this cost: argument by argument in discovery order (simplest first),
        each with every primitive that takes it, so a cut-off level has covered its best part; the
        steps that cannot give a grid of the outputs' shape (`_defers`) come last."""
        # best first: objects and parts, then grids closest to the train outputs
        args = sorted(
            (f for found in self.pool.values() for f in found if f.cost < cost),
            key=lambda f: (-f.score, f.order),
        )
        # what the steps have done so far, fixed for the level so its two passes split it exactly
        keeps, changes = (
            (self.habits.keeps(), self.habits.changes()) if self.shape_first else (frozenset(), frozenset())
        )
        for arg in args:
            for spec in self._specs(arg, cost):
                if not self._defers(arg, spec, keeps, changes):
                    yield from self._apply(spec, (arg,), cost)
        grids = [f for f in self.pool["grid"] if f.cost <= self.binary_max_arg_cost]
        n = self.ev.n_train
        for spec in BINARY_OPS:
            for a, b in itertools.permutations(grids, 2):
                if a.cost + b.cost + spec.cost != cost:
                    continue
                if any(a.values[i].shape != b.values[i].shape for i in range(n)):
                    continue
                yield from self._apply(spec, (a, b), cost)
        for arg in args:
            for spec in self._specs(arg, cost):
                if self._defers(arg, spec, keeps, changes):
                    self.deferred += 1
                    yield from self._apply(spec, (arg,), cost)

    def _specs(self, arg: Found, cost: int) -> Iterator[OpSpec]:
        """The one-argument primitives that take `arg` and make a program of this cost."""
        for spec in self.by_input.get(arg.kind, ()):
            if arg.cost + spec.cost == cost and arg.cost <= spec.max_arg_cost:
                yield spec

    @staticmethod
    def _defers(arg: Found, spec: OpSpec, keeps: frozenset[str], changes: frozenset[str]) -> bool:
        """A grid-to-grid step whose result cannot have the outputs' shape: one that has always kept
        the shape, on a grid of the wrong shape, or one that has always changed it, on a grid of the
        right shape. Its result still feeds the next level."""
        if arg.kind != "grid" or spec.output != "grid":
            return False
        return spec.name in (changes if arg.target_shaped else keeps)
