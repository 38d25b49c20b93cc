"""Breadth-first enumeration of typed compositions by cost, with behavioural deduplication.

Values are built bottom-up: every program of cost c applies one primitive to programs already
found, whose costs add up to c minus the primitive's cost, so nothing is computed twice. Two
programs whose values on the train inputs are equal count once (the cheaper, found first, stays).
Each new grid is scored against the train outputs, and learned final steps are fitted on it.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from arcforge_solver.search.evaluator import Evaluator, Values, fingerprint
from arcforge_solver.search.library import BINARY_OPS, UNARY_OPS, OpSpec
from arcforge_solver.search.program import INPUT, Node


@dataclass
class Found:
    node: Node
    values: Values
    cost: int


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


class Enumerator:
    def __init__(
        self,
        evaluator: Evaluator,
        domains: Callable[[Any], tuple[Any, ...]],
        bg: int,
        on_grid: Callable[[Node, Values, int], None],
        binary_max_arg_cost: int = 1,
    ) -> None:
        self.ev = evaluator
        self.domains = domains
        self.bg = bg
        self.on_grid = on_grid
        self.pool: dict[str, list[Found]] = {"grid": [], "objs": [], "obj": [], "parts": []}
        self.seen: set[tuple[str, bytes]] = set()
        self.binary_max_arg_cost = binary_max_arg_cost
        self.duplicates = 0
        self.completed_cost = 0
        self.stop = False
        start = Node(INPUT)
        values = evaluator.cache[INPUT]
        assert values is not None
        self._add("grid", start, values, 0)

    def _add(self, kind: str, node: Node, values: Values, cost: int) -> None:
        key = (kind, fingerprint(values[: self.ev.n_train]))
        if key in self.seen:
            self.duplicates += 1
            return
        self.seen.add(key)
        self.pool[kind].append(Found(node, values, cost))
        self.ev.remember(node, values)
        if kind == "grid":
            self.on_grid(node, values, cost)

    def param_choices(self, spec: OpSpec) -> list[tuple[Any, ...]]:
        lists = [self.domains(d) for d in spec.params]
        return list(itertools.product(*lists))

    def kwargs(self, spec: OpSpec) -> tuple[tuple[str, Any], ...]:
        return (("bg", self.bg),) if spec.bg and self.bg else ()

    def _apply(self, spec: OpSpec, args: Sequence[Found], cost: int, budget: Budget) -> bool:
        kw = self.kwargs(spec)
        for params in self.param_choices(spec):
            if self.stop or budget.spent():
                return False
            node = Node(spec.name, tuple(a.node for a in args), params, kw)
            values = self.ev.apply(node, [a.values for a in args], spec.output)
            if values is not None:
                self._add(spec.output, node, values, cost)
        return True

    def run(self, max_cost: int, budget: Budget) -> None:
        """Enumerate cost levels 1..max_cost until done, stopped or out of budget."""
        for cost in range(1, max_cost + 1):
            if not self._level(cost, budget):
                return
            self.completed_cost = cost

    def _level(self, cost: int, budget: Budget) -> bool:
        for spec in UNARY_OPS:
            want = cost - spec.cost
            if want < 0:
                continue
            # a snapshot: values added during this level by this same primitive are not re-fed
            args = [f for f in self.pool[spec.inputs[0]] if f.cost == want]
            for arg in args:
                if not self._apply(spec, (arg,), cost, budget):
                    return False
        for spec in BINARY_OPS:
            grids = [f for f in self.pool["grid"] if f.cost <= self.binary_max_arg_cost]
            for a, b in itertools.permutations(grids, 2):
                if a.cost + b.cost + spec.cost != cost:
                    continue
                n = self.ev.n_train
                if any(a.values[i].shape != b.values[i].shape for i in range(n)):
                    continue
                if not self._apply(spec, (a, b), cost, budget):
                    return False
        return True
