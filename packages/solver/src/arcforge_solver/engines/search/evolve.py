"""Evolution of program trees: tournament selection with elitism, typed mutation and crossover.

The population starts from the enumeration's best partial programs. Children come from:
- mutation: change a parameter, replace a subtree with another of its type, insert a grid step,
  or drop a step;
- crossover: a grid subtree of one parent put in place of a grid subtree of the other.
Every child is a well-typed tree, evaluated through the shared cache.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from arcforge_solver.engines.search.enumerate import Budget, Found
from arcforge_solver.engines.search.evaluator import Evaluator, Values
from arcforge_solver.engines.search.library import BY_NAME, GRID_OPS, UNARY_OPS, OpSpec
from arcforge_solver.engines.search.program import INPUT, Node

MAX_SIZE = 8


def kind_of(node: Node) -> str:
    return "grid" if node.op == INPUT else BY_NAME[node.op].output


def replace(root: Node, target: str, new: Node) -> Node:
    """`root` with every subtree whose key is `target` replaced by `new`."""
    if root.key == target:
        return new
    if not root.args:
        return root
    args = tuple(replace(a, target, new) for a in root.args)
    if all(a is b for a, b in zip(args, root.args, strict=False)):
        return root
    return root.replace_args(args)


@dataclass
class Individual:
    node: Node
    fitness: float
    exact: int


class Evolution:
    def __init__(
        self,
        evaluator: Evaluator,
        pool: dict[str, list[Found]],
        *,
        domains: Callable[[Any], tuple[Any, ...]],
        bg: int,
        rng: random.Random,
        on_grid: Callable[[Node, Values, str], None],
        population: int = 48,
        elite: int = 6,
        tournament: int = 3,
        crossover_rate: float = 0.3,
    ) -> None:
        self.ev = evaluator
        self.domains = domains
        self.bg = bg
        self.rng = rng
        self.on_grid = on_grid
        self.size = population
        self.elite = elite
        self.tournament = tournament
        self.crossover_rate = crossover_rate
        # building blocks: cheap values of each type the enumeration found
        self.blocks: dict[str, list[Node]] = {
            k: [f.node for f in v if f.cost <= 2][:400] for k, v in pool.items()
        }
        self.producers: dict[str, list[OpSpec]] = {}
        for spec in UNARY_OPS:
            self.producers.setdefault(spec.output, []).append(spec)
        self.generations = 0
        self.children = 0

    # -- building --------------------------------------------------------------------------

    def kwargs(self, spec: OpSpec) -> tuple[tuple[str, Any], ...]:
        return (("bg", self.bg),) if spec.bg and self.bg else ()

    def random_params(self, spec: OpSpec) -> tuple[Any, ...] | None:
        params = []
        for domain in spec.params:
            choices = self.domains(domain)
            if not choices:
                return None
            params.append(self.rng.choice(choices))
        return tuple(params)

    def random_node(self, kind: str, over: Node | None = None) -> Node | None:
        """A random value of `kind`: a building block, or one primitive applied to one."""
        if over is None and self.blocks.get(kind) and self.rng.random() < 0.5:
            return self.rng.choice(self.blocks[kind])
        specs = [s for s in self.producers.get(kind, []) if len(s.inputs) == 1]
        if over is not None:
            specs = [s for s in specs if s.inputs[0] == kind_of(over)]
        if not specs:
            return None
        spec = self.rng.choice(specs)
        arg = over
        if arg is None:
            options = self.blocks.get(spec.inputs[0])
            if not options:
                return None
            arg = self.rng.choice(options)
        params = self.random_params(spec)
        if params is None:
            return None
        return Node(spec.name, (arg,), params, self.kwargs(spec))

    # -- operators -------------------------------------------------------------------------

    def mutate(self, node: Node) -> Node | None:
        nodes = node.walk()
        choice = self.rng.random()
        if choice < 0.3:  # change a parameter
            with_params = [n for n in nodes if n.op != INPUT and BY_NAME[n.op].params]
            if with_params:
                target = self.rng.choice(with_params)
                spec = BY_NAME[target.op]
                i = self.rng.randrange(len(spec.params))
                options = self.domains(spec.params[i])
                if options:
                    params = list(target.params)
                    params[i] = self.rng.choice(options)
                    return replace(node, target.key, target.replace_params(tuple(params)))
            return None
        if choice < 0.55:  # replace a subtree with another of its type
            target = self.rng.choice(nodes)
            new = self.random_node(kind_of(target))
            return replace(node, target.key, new) if new is not None else None
        if choice < 0.85:  # insert a grid step
            grids = [n for n in nodes if kind_of(n) == "grid"]
            target = self.rng.choice(grids)
            spec = self.rng.choice(GRID_OPS)
            step_params = self.random_params(spec)
            if step_params is None:
                return None
            return replace(node, target.key, Node(spec.name, (target,), step_params, self.kwargs(spec)))
        # drop a step: a node gives way to an argument of its own type
        droppable = [n for n in nodes if n.args and any(kind_of(a) == kind_of(n) for a in n.args)]
        if not droppable:
            return None
        target = self.rng.choice(droppable)
        same = [a for a in target.args if kind_of(a) == kind_of(target)]
        return replace(node, target.key, self.rng.choice(same))

    def crossover(self, a: Node, b: Node) -> Node | None:
        a_grids = [n for n in a.walk() if kind_of(n) == "grid"]
        b_grids = [n for n in b.walk() if kind_of(n) == "grid" and n.op != INPUT]
        if not b_grids:
            return None
        return replace(a, self.rng.choice(a_grids).key, self.rng.choice(b_grids))

    # -- the loop --------------------------------------------------------------------------

    def judge(self, node: Node, origin: str) -> Individual | None:
        if node.size > MAX_SIZE or node.op == INPUT:
            return None
        values = self.ev.value(node)
        if values is None:
            return None
        fitness, exact = self.ev.fitness(values)
        self.on_grid(node, values, origin)
        return Individual(node, fitness, exact)

    def select(self, population: Sequence[Individual]) -> Individual:
        contenders = [self.rng.choice(population) for _ in range(self.tournament)]
        return max(contenders, key=lambda ind: (ind.fitness, -ind.node.size))

    def run(
        self, seeds: Sequence[Node], budget: Budget, generations: int | None, solved: Callable[[], bool]
    ) -> None:
        population: list[Individual] = []
        keys: set[str] = set()
        for node in seeds:
            if node.key in keys:
                continue
            ind = self.judge(node, "search")
            if ind is not None:
                population.append(ind)
                keys.add(node.key)
        while len(population) < self.size and not budget.spent():
            fresh = self.random_node("grid")
            if fresh is None:
                break
            if fresh.key not in keys and (ind := self.judge(fresh, "mutation")) is not None:
                population.append(ind)
                keys.add(fresh.key)
            self.children += 1
            if self.children > 20 * self.size:
                break
        if not population:
            return
        while not budget.spent() and not solved() and (generations is None or self.generations < generations):
            population.sort(key=lambda ind: (-ind.fitness, ind.node.size))
            next_gen = population[: self.elite]
            keys = {ind.node.key for ind in next_gen}
            attempts = 0
            while len(next_gen) < self.size and attempts < 6 * self.size:
                attempts += 1
                if budget.spent():
                    return
                if self.rng.random() < self.crossover_rate:
                    child, origin = (
                        self.crossover(self.select(population).node, self.select(population).node),
                        "crossover",
                    )
                else:
                    child, origin = self.mutate(self.select(population).node), "mutation"
                self.children += 1
                if child is None or child.key in keys:
                    continue
                ind = self.judge(child, origin)
                if ind is not None:
                    next_gen.append(ind)
                    keys.add(child.key)
            population = next_gen
            self.generations += 1
