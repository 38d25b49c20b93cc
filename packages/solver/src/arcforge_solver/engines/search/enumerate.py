"""Breadth-first enumeration of typed compositions by cost, with behavioural deduplication.

Values are built bottom-up: every program of cost c applies one primitive to programs already
found, whose costs add up to c minus the primitive's cost, so nothing is computed twice. Two
programs whose values on the train inputs are equal count once (the cheaper, found first, stays).
Each new grid is scored against the train outputs, and learned final steps are fitted on it.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from arcforge_solver import dsl
from arcforge_solver.engines.search.evaluator import Evaluator, Values, fingerprint
from arcforge_solver.engines.search.library import BINARY_OPS, UNARY_OPS, OpSpec
from arcforge_solver.engines.search.program import INPUT, Node


class Found:
    """A program the enumeration kept, its values on every input, its cost and its discovery order."""

    __slots__ = ("_colours", "cost", "kind", "node", "order", "score", "values")

    def __init__(self, node: Node, values: Values, cost: int, order: int = 0, kind: str = "grid") -> None:
        self.kind = kind
        self.node = node
        self.values = values
        self.cost = cost
        self.order = order
        self.score = 1.0  # a grid's train fitness; other kinds are expanded first
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


class Enumerator:
    def __init__(
        self,
        evaluator: Evaluator,
        domains: Callable[[Any], tuple[Any, ...]],
        bg: int,
        on_grid: Callable[[Node, Values, int], float | None],
        binary_max_arg_cost: int = 1,
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
        each with every primitive that takes it, so a cut-off level has covered its best part."""
        # best first: objects and parts, then grids closest to the train outputs
        args = sorted(
            (f for found in self.pool.values() for f in found if f.cost < cost),
            key=lambda f: (-f.score, f.order),
        )
        for arg in args:
            for spec in self.by_input.get(arg.kind, ()):
                if arg.cost + spec.cost != cost or arg.cost > spec.max_arg_cost:
                    continue
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
