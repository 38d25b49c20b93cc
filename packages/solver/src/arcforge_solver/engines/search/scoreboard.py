"""Keeps the best programs seen while searching a task, and every distinct train-exact one.

Programs with the same behaviour (fitness and test predictions) share one entry, headed by the
simplest; a train-exact entry also keeps up to `SUPPORTERS` other distinct programs that agree with
it, which vote for its prediction (`engines.ranking.vote`)."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any

from arcforge_solver.engines.search.evaluator import fingerprint
from arcforge_solver.engines.search.learn import table_size
from arcforge_solver.engines.search.program import Node
from arcforge_solver.tasks.model import Grid

SUPPORTERS = 6
"""Agreeing programs kept per train-exact behaviour, besides its head."""


def complexity(node: Node) -> int:
    """Steps plus a charge for learned table entries: simpler programs rank first on ties."""
    return node.size + sum(table_size(n) for n in node.walk()) // 2


@dataclass(order=True)
class Entry:
    sort_key: tuple[float, int, int]
    node: Node = field(compare=False)
    fitness: float = field(compare=False)
    exact: int = field(compare=False)
    predictions: tuple[Grid | None, ...] = field(compare=False)
    origin: str = field(compare=False)
    supporters: list[tuple[int, Node, str]] = field(compare=False, default_factory=list)
    """Other train-exact programs with these predictions: (complexity, node, origin), simplest first."""

    def support(self, node: Node, cost: int, origin: str) -> None:
        """Count one more agreeing program (once per distinct program, at most `SUPPORTERS`)."""
        if node.key == self.node.key or any(n.key == node.key for _, n, _ in self.supporters):
            return
        self.supporters.append((cost, node, origin))
        self.supporters.sort(key=lambda s: s[0])
        del self.supporters[SUPPORTERS:]


class Scoreboard:
    """The `capacity` best entries by (fitness desc, complexity asc), one per test behaviour."""

    def __init__(self, capacity: int = 32) -> None:
        self.capacity = capacity
        self.entries: dict[bytes, Entry] = {}
        self.order = 0
        self.solutions = 0
        self.floor = 0.0
        """The lowest fitness on a full board."""

    def offer(
        self,
        node: Node,
        fitness: float,
        exact: int,
        predictions: tuple[Any, ...],
        origin: str,
        *,
        penalty: int = 0,
    ) -> None:
        """Keep the program if it is among the best; `penalty` adds to its complexity."""
        self.order += 1
        if len(self.entries) >= self.capacity and fitness < self.floor:
            return  # cheaper than working out its complexity: it cannot get in
        key = (-fitness, complexity(node) + penalty, self.order)
        behaviour = fingerprint((round(fitness, 9), *[p if p is not None else "none" for p in predictions]))
        old = self.entries.get(behaviour)
        if old is not None and old.sort_key <= key:
            if fitness >= 1.0:
                old.support(node, key[1], origin)
            return
        if old is None and len(self.entries) >= self.capacity:
            worst = max(self.entries.items(), key=lambda kv: kv[1].sort_key)
            if worst[1].sort_key <= key:
                return
            del self.entries[worst[0]]
        if old is None and fitness >= 1.0:
            self.solutions += 1
        entry = Entry(key, node, fitness, exact, predictions, origin)
        if old is not None and fitness >= 1.0:
            entry.supporters = old.supporters
            entry.support(old.node, old.sort_key[1], old.origin)
        self.entries[behaviour] = entry
        if len(self.entries) >= self.capacity:
            self.floor = min(e.fitness for e in self.entries.values())

    @property
    def best_fitness(self) -> float:
        return max((e.fitness for e in self.entries.values()), default=0.0)

    def ranked(self) -> list[Entry]:
        return sorted(self.entries.values())

    def top(self, n: int) -> list[Entry]:
        return heapq.nsmallest(n, self.entries.values())
