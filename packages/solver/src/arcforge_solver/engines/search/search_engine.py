"""The model-free search engine: epochs of typed DSL enumeration, breadth first, then evolution.

`SearchEngine(**options).solve(task, deadline, context)` returns trusted candidates ranked best
first, each a standalone `def solve(grid)` over `arcforge_solver.dsl`. Options (others ignored):
- `max_cost` (4): the enumeration levels always run (time allowing);
- `deepest` (6): levels past `max_cost` the enumeration goes on to while the task is unsolved, so
  a longer deadline buys deeper compositions (the first levels, and so the first second, are
  unchanged); at most `MAX_FOUND` programs are held;
- `population` (48), `generations` (None: until the deadline, over all epochs): the evolution's shape;
- `max_evaluations` (None): a cap on evaluations, which makes a run independent of machine speed;
- `enumerate_share` (0.7): the part of each epoch (`epochs`) the enumeration takes before the evolution;
- `candidates` (16): how many ranked candidates to hand back (agreeing programs come on top);
- `vote` (True): order train-exact programs by vote (`engines.ranking.vote`), not simplicity alone;
- `checks` (all of `properties.CHECKS`): the property checks that demote a train-exact program
  whose test output breaks a rule every train output obeys (a list or a comma-separated string);
- `shape_first` (True): within each enumeration level, put off the steps that cannot give a grid of
  the train outputs' shape (`enumerate.Enumerator._defers`) to the level's end;
- `augment` (0): also solve this many views of the task (`augment.VIEWS`: colour normalisation, then
  the dihedral transforms), each with an equal share of the time, and let their programs, carried
  back to the original grids, vote with the untransformed run's.
"""

from __future__ import annotations

import random
import sys
import time
import zlib
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from arcforge_solver.dsl.core import colour_counts
from arcforge_solver.engines.protocol import Candidate, Deadline, EngineContext, EngineResult
from arcforge_solver.engines.ranking import predictions_key, vote
from arcforge_solver.engines.search.augment import View, views
from arcforge_solver.engines.search.enumerate import Budget, Enumerator
from arcforge_solver.engines.search.evaluator import Evaluator, Values
from arcforge_solver.engines.search.evolve import Evolution
from arcforge_solver.engines.search.learn import (
    FITTED_RULES,
    UNCOVERED_PENALTY,
    finishers,
    memorised,
    table_size,
)
from arcforge_solver.engines.search.library import BY_NAME
from arcforge_solver.engines.search.program import Node, render
from arcforge_solver.engines.search.properties import CHECKS, PropertyChecks
from arcforge_solver.engines.search.scoreboard import Entry, Scoreboard
from arcforge_solver.tasks.model import Task

DEEP_FIT_COST = 1
"""Cell rules and object recolouring are fitted on values up to this cost."""
DEEP_FIT_LIMIT = 80
GRACE_EVALUATIONS = 3000
"""After the first confident train-exact program, search this many more evaluations for a second one."""
LEARNED_GRACE_EVALUATIONS = 40000
"""After a train-exact program that leans on a learned table, search this much more for a plainer one."""
MEMORISED_DEMERITS = 100
"""A program that leans on a memorised table (`learn.memorised`) counts as breaking more properties
than there are checks: any train-exact program without one goes first, whatever it breaks or however
many tables agree. Such tables are right on test about one time in five (the README's figures), so
they stay only as a last resort, most often the second attempt."""
CONFIDENT_TABLE = 4
"""A train-exact program with at most this many learned table entries, and no fitted cell or object
rule, is trusted to stop the search."""


def _reserve(seconds: float) -> float:
    """The time kept back from a deadline of `seconds` to build the candidates and return."""
    return min(0.2, 0.05 * max(seconds, 0.0))


def task_background(task: Task) -> int:
    """The colour most common in every train input, else 0."""
    tops = {int(np.argmax(colour_counts(p.input))) for p in task.train}
    return tops.pop() if len(tops) == 1 else 0


def kind_of_op(op: str) -> str:
    spec = BY_NAME.get(op)
    return spec.output if spec is not None else "grid"


FIRST_EPOCH = 2000
"""Evaluations in the search's first epoch; each next one is twice as long."""


def epochs(enumerate_share: float) -> Iterator[tuple[int, int]]:
    """(end, the enumeration's end) of each epoch, in evaluations from the start. In each the
    enumeration goes on for its share, then the evolution takes the rest, seeded with the best
    programs so far. Nothing but evaluation counts decides the schedule, so a search with more time
    first does everything a shorter one did, in the same order."""
    start, size = 0, FIRST_EPOCH
    while True:
        end = start + size
        yield end, start + int(enumerate_share * size)
        start, size = end, 2 * size


@dataclass
class EvolutionTotals:
    """The evolution's generations and children over all epochs."""

    generations: int = 0
    children: int = 0

    def add(self, evolution: Evolution) -> None:
        self.generations += evolution.generations
        self.children += evolution.children


MAX_FOUND = 150_000
"""No deeper enumeration level starts once this many programs are held (memory)."""


class _SearchBudget(Budget):
    """Spent at the time limit, at the evaluation cap, or a grace period after a solution."""

    def __init__(
        self, until: float, evaluator: Evaluator, max_evaluations: int | None, state: TaskSearch
    ) -> None:
        super().__init__(until, evaluator, max_evaluations)
        self.state = state

    def spent(self) -> bool:
        state = self.state
        if state.moments and time.monotonic() >= state.moments[0]:
            state.checkpoint()
        evaluations = self.evaluator.evaluations
        if state.solved_at is not None and evaluations >= state.solved_at + GRACE_EVALUATIONS:
            return True
        if state.learned_at is not None and evaluations >= state.learned_at + LEARNED_GRACE_EVALUATIONS:
            return True
        return super().spent()


class TaskSearch:
    """The search state for one task."""

    def __init__(self, task: Task, seed: int) -> None:
        self.task = task
        self.bg = task_background(task)
        self.ev = Evaluator(task, kind_of_op)
        ins = set().union(*(np.unique(p.input).tolist() for p in task.train))
        outs = set().union(*(np.unique(p.output).tolist() for p in task.train if p.output is not None))
        self.colours = {
            "in_colour": tuple(sorted(int(c) for c in ins)),
            "out_colour": tuple(sorted(int(c) for c in outs)),
            "colour": tuple(sorted(int(c) for c in ins | outs)),
        }
        self.colours["hole"] = self.colours["in_colour"]  # task-wide, for the evolution's mutations
        self.board = Scoreboard()
        self.solved_at: int | None = None
        """Evaluations when the first confident train-exact program was found."""
        self.learned_at: int | None = None
        """Evaluations when the first train-exact program leaning on a learned table was found."""
        self.deep_fits = 0
        self.rng = random.Random(seed ^ zlib.crc32(task.task_id.encode()))
        self.moments: list[float] = []
        """Monotonic times, ascending, at which `on_moment` sees the search (`SearchEngine.solve_at`)."""
        self.on_moment: Callable[[], None] | None = None

    def watch(self, moments: list[float], on_moment: Callable[[], None]) -> None:
        self.moments, self.on_moment = moments, on_moment

    def checkpoint(self) -> None:
        """Every moment now past, seen once each."""
        while self.moments and time.monotonic() >= self.moments[0]:
            self.moments.pop(0)
            if self.on_moment is not None:
                self.on_moment()

    def domain(self, domain: Any) -> tuple[Any, ...]:
        if isinstance(domain, str):
            return self.colours[domain]
        result: tuple[Any, ...] = domain
        return result

    def consider(self, node: Node, values: Values, origin: str, deep: bool) -> float:
        """Score a grid program and the learned final steps fitted on it; its fitness."""
        fitness, exact = self.ev.fitness(values)
        self._offer(node, values, fitness, exact, origin)
        if fitness >= 1.0:
            return fitness
        if deep:
            self.deep_fits += 1
        uncovered: set[str] = set()
        for finished in finishers(
            node, values, self.ev.targets, self.ev.n_train, self.bg, deep=deep, uncovered=uncovered
        ):
            penalty = UNCOVERED_PENALTY if finished.key in uncovered else 0
            fvalues = self.ev.apply(finished, [values], "grid")
            if fvalues is not None:
                f, e = self.ev.fitness(fvalues)
                self._offer(finished, fvalues, f, e, origin, penalty=penalty)
        return fitness

    def _offer(
        self, node: Node, values: Values, fitness: float, exact: int, origin: str, *, penalty: int = 0
    ) -> None:
        self.board.offer(node, fitness, exact, self.ev.test_values(values), origin, penalty=penalty)
        if fitness >= 1.0:
            if memorised(node):
                # It stays on the board as a last resort, but it is nearly always wrong on test, so
                # it marks nothing: the search goes on with all its time, deepening and evolving.
                return
            steps = node.walk()
            fitted_rule = any(n.op in FITTED_RULES for n in steps)
            if not fitted_rule and sum(table_size(n) for n in steps) <= CONFIDENT_TABLE:
                if self.solved_at is None:
                    self.solved_at = self.ev.evaluations
            elif self.learned_at is None:
                self.learned_at = self.ev.evaluations

    def on_enumerated(self, node: Node, values: Values, cost: int) -> float:
        deep = cost <= DEEP_FIT_COST and self.deep_fits < DEEP_FIT_LIMIT
        return self.consider(node, values, "search", deep)

    def on_evolved(self, node: Node, values: Values, origin: str) -> None:
        self.consider(node, values, origin, False)


class SearchEngine:
    name = "search"
    parallel = True

    def __init__(
        self,
        *,
        max_cost: int = 4,
        deepest: int = 6,
        population: int | None = None,
        generations: int | None = None,
        max_evaluations: int | None = None,
        enumerate_share: float = 0.7,
        candidates: int = 16,
        vote: bool = True,
        checks: Any = CHECKS,
        augment: int = 0,
        shape_first: bool = True,
        **_ignored: Any,
    ) -> None:
        self.max_cost = int(max_cost)
        self.deepest = max(self.max_cost, int(deepest))
        self.population = int(population) if population else 48
        self.generations = int(generations) if generations is not None else None
        self.max_evaluations = int(max_evaluations) if max_evaluations is not None else None
        self.enumerate_share = float(enumerate_share)
        self.candidates = int(candidates)
        self.vote = bool(vote)
        self.augment = max(0, int(augment))
        self.shape_first = bool(shape_first)
        names = checks.split(",") if isinstance(checks, str) else list(checks)
        self.checks = tuple(n.strip() for n in names if n.strip())
        unknown = sorted(set(self.checks) - set(CHECKS))
        if unknown:
            raise ValueError(f"unknown property check {', '.join(unknown)} (known: {', '.join(CHECKS)})")

    def solve(self, task: Task, deadline: Deadline, context: EngineContext) -> EngineResult:
        return self._solve(task, deadline, context, ())[-1][1]

    def solve_at(
        self, task: Task, deadline: Deadline, context: EngineContext, seconds: Sequence[float]
    ) -> list[tuple[float, EngineResult]]:
        """From one run to `deadline`, what it would have answered given each of `seconds` (each no
        longer than the deadline's) instead: the schedule counts evaluations, never seconds
        (`epochs`), so the run passes through every shorter run's state at that run's own end. The
        result for each of `seconds`, then the run's own. Not with `augment`, whose views split
        the time."""
        if self.augment:
            raise ValueError("solve_at: the augmented views split the time, so a shorter run is no prefix")
        return self._solve(task, deadline, context, sorted(seconds))

    def _solve(
        self, task: Task, deadline: Deadline, context: EngineContext, seconds: Sequence[float]
    ) -> list[tuple[float, EngineResult]]:
        started = time.monotonic()
        # keep a little time back to build the candidates and return
        until = deadline.at - _reserve(deadline.seconds)
        results: list[tuple[float, EngineResult]] = []

        def checkpoint(state: TaskSearch, enumerator: Enumerator, totals: EvolutionTotals) -> None:
            result = self._result(
                task, state, enumerator, totals, candidates=self._members(state), started=started
            )
            results.append((seconds[len(results)], result))

        moments = [deadline.started + s - _reserve(s) for s in seconds]
        extra = views(task, self.augment) if self.augment else []
        shares = 1 + len(extra)
        cap = None if self.max_evaluations is None else self.max_evaluations // shares
        # the untransformed run first, with its share; each view then shares what is left
        first_until = started + max(0.0, until - started) / shares
        state, enumerator, totals = self._search(
            task, first_until, cap, context.seed, moments=moments, checkpoint=checkpoint
        )
        candidates = self._members(state)
        evaluations = 0
        train_solved = False
        for k, view in enumerate(extra):
            now = time.monotonic()
            view_until = now + max(0.0, until - now) / (len(extra) - k)
            seen, _, _ = self._search(view.task(task), view_until, cap, context.seed)
            candidates += [_through(view, c, node) for c, node in self._members(seen)]
            evaluations += seen.ev.evaluations
            train_solved = train_solved or seen.board.best_fitness >= 1.0
        final = self._result(
            task,
            state,
            enumerator,
            totals,
            candidates=candidates,
            started=started,
            view_evaluations=evaluations,
            view_solved=train_solved,
            views=len(extra),
        )
        # deadlines the search did not live to see (it stopped early) have its final answer
        results += [(s, final) for s in seconds[len(results) :]]
        return [*results, (deadline.seconds, final)]

    def _result(
        self,
        task: Task,
        state: TaskSearch,
        enumerator: Enumerator,
        totals: EvolutionTotals,
        *,
        candidates: list[tuple[Candidate, Node]],
        started: float,
        view_evaluations: int = 0,
        view_solved: bool = False,
        views: int = 0,
    ) -> EngineResult:
        """The ranked candidates and the stats of the search as it stands."""
        tables = {c.source for c, node in candidates if memorised(node)}
        ordered = order_by_vote(task, state.bg, [c for c, _ in candidates], self.checks, tables)
        top = ordered[0] if ordered else None
        seconds = time.monotonic() - started
        evaluations = state.ev.evaluations + view_evaluations
        train_solved = state.board.best_fitness >= 1.0 or view_solved
        stats = {
            "evaluations": evaluations,
            "evals_per_s": evaluations / seconds if seconds > 0 else 0.0,
            "seconds": seconds,
            "enumerated": sum(len(v) for v in enumerator.pool.values()),
            "duplicates": enumerator.duplicates,
            "deferred": enumerator.deferred,
            "completed_cost": enumerator.completed_cost,
            "generations": totals.generations,
            "children": totals.children,
            "train_solved": train_solved,
            "best_fitness": max(state.board.best_fitness, 1.0 if train_solved else 0.0),
            "train_exact_programs": sum(1 for c in ordered if c.train_fitness >= 1.0),
            # the first choice fits the train pairs only through a memorised table (`learn.memorised`)
            "memorised": top is not None and top.train_fitness >= 1.0 and top.source in tables,
            "memorised_sources": sorted(tables),
            "views": views,
        }
        return EngineResult(task.task_id, ordered, stats)

    def _search(
        self,
        task: Task,
        until: float,
        max_evaluations: int | None,
        seed: int,
        *,
        moments: Sequence[float] = (),
        checkpoint: Callable[[TaskSearch, Enumerator, EvolutionTotals], None] | None = None,
    ) -> tuple[TaskSearch, Enumerator, EvolutionTotals]:
        """Epochs (`epochs`) of enumeration, then evolution, until `until` or the evaluation cap;
        `checkpoint` is called with the search as it stands at each of `moments` it lives to see."""
        state = TaskSearch(task, seed)
        cap = max_evaluations if max_evaluations is not None else sys.maxsize
        budget = _SearchBudget(until, state.ev, cap, state)
        enumerator = Enumerator(
            state.ev, state.domain, state.bg, state.on_enumerated, shape_first=self.shape_first
        )
        totals = EvolutionTotals()
        if checkpoint is not None and moments:
            state.watch(list(moments), lambda: checkpoint(state, enumerator, totals))
        enumerated_all = False
        for epoch_end, enumeration_end in epochs(self.enumerate_share):
            before = state.ev.evaluations
            if not enumerated_all:
                enumerated_all = self._enumerate(state, enumerator, until, min(enumeration_end, cap))
            if budget.spent():
                break
            out_of_generations = self.generations is not None and totals.generations >= self.generations
            if state.solved_at is None and not out_of_generations:
                evolution = Evolution(
                    state.ev,
                    enumerator.pool,
                    domains=state.domain,
                    bg=state.bg,
                    rng=state.rng,
                    on_grid=state.on_evolved,
                    population=self.population,
                )
                seeds = [e.node for e in state.board.top(self.population) if e.node.op in BY_NAME]
                left = None if self.generations is None else self.generations - totals.generations
                epoch_budget = _SearchBudget(until, state.ev, min(epoch_end, cap), state)
                evolution.run(seeds, epoch_budget, left, lambda: state.solved_at is not None)
                totals.add(evolution)
            if budget.spent() or state.ev.evaluations == before:
                break  # out of time, or nothing is left that the next epoch could do
        return state, enumerator, totals

    def _enumerate(self, state: TaskSearch, enumerator: Enumerator, until: float, cap: int) -> bool:
        """Resume the enumeration up to `cap` evaluations: the levels to `max_cost`, then deeper ones
        while the task has no train-exact program. True when it has done all it will ever do."""
        enum_budget = _SearchBudget(until, state.ev, cap, state)
        if not enumerator.run(self.max_cost, enum_budget):
            return False
        if state.solved_at is not None or state.learned_at is not None:
            return True  # solved ones do not deepen (a train-exact program never goes away)
        return enumerator.run(self.deepest, enum_budget, MAX_FOUND)

    def _members(self, state: TaskSearch) -> list[tuple[Candidate, Node]]:
        """The board's best entries, then (when voting) the train-exact ones' supporters, as candidates."""
        entries = state.board.ranked()[: self.candidates]
        out = [(_candidate(e, e.node, e.sort_key[1], e.origin), e.node) for e in entries]
        if self.vote:  # without supporters every group is one program: simplest first
            for e in entries:
                out += [(_candidate(e, node, cost, origin), node) for cost, node, origin in e.supporters]
        return out


def order_by_vote(
    task: Task,
    bg: int,
    candidates: list[Candidate],
    checks: Sequence[str],
    memorised_sources: Collection[str] = (),
) -> list[Candidate]:
    """`engines.ranking.vote` with demerits from the task's property checks (`properties`), and
    `MEMORISED_DEMERITS` for each program in `memorised_sources` (`learn.memorised`)."""
    rules = PropertyChecks(task, bg, checks) if checks else None
    broken: dict[tuple[object, ...], int] = {}
    tables = set(memorised_sources)

    def demerits(candidate: Candidate) -> int:
        key = predictions_key(candidate.predictions)
        if key not in broken:
            broken[key] = rules.demerits(candidate.predictions) if rules is not None else 0
        return broken[key] + (MEMORISED_DEMERITS if candidate.source in tables else 0)

    return vote(candidates, demerits)


def _through(view: View, candidate: Candidate, node: Node) -> tuple[Candidate, Node]:
    """A candidate found in a view, as a program over the original grids."""
    wrapped = view.wrap(node)
    predictions = tuple(view.unmap(p) for p in candidate.predictions)
    moved = replace(
        candidate, source=render(wrapped), predictions=predictions, origin=f"{candidate.origin}/{view.name}"
    )
    return moved, wrapped


def _candidate(entry: Entry, node: Node, complexity: int, origin: str) -> Candidate:
    """`node` as a candidate with the behaviour of the board entry it belongs to."""
    return Candidate(
        source=render(node),
        trusted=True,
        train_fitness=entry.fitness,
        train_exact=entry.exact,
        predictions=entry.predictions,
        complexity=complexity,
        origin=origin,
    )
