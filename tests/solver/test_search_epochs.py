"""The search's schedule is counted in evaluations, not seconds: a longer budget first does all that
a shorter one did, in the same order, so more time can only add programs (`search_engine.epochs`)."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest

from arcforge_solver.engines.protocol import Deadline, EngineContext, EngineResult
from arcforge_solver.engines.search.enumerate import Budget, Enumerator
from arcforge_solver.engines.search.search_engine import FIRST_EPOCH, SearchEngine, TaskSearch, epochs
from arcforge_solver.tasks.model import Pair, Task
from tests.solver.test_search_engine import unsolvable


def evaluated(engine: SearchEngine, cap: int) -> tuple[list[str], dict[str, object]]:
    """The programs a capped search computed, in the order it first computed them, and its stats."""
    task = unsolvable(side=5, n_pairs=2)
    state, enumerator, totals = engine._search(task, time.monotonic() + 300, cap, seed=7)
    return list(state.ev.cache), {"generations": totals.generations, "completed": enumerator.completed_cost}


def test_epochs_double_and_give_the_enumeration_its_share() -> None:
    first = list(itertools.islice(epochs(0.75), 4))
    assert first == [
        (FIRST_EPOCH, int(0.75 * FIRST_EPOCH)),
        (3 * FIRST_EPOCH, FIRST_EPOCH + int(0.75 * 2 * FIRST_EPOCH)),
        (7 * FIRST_EPOCH, 3 * FIRST_EPOCH + int(0.75 * 4 * FIRST_EPOCH)),
        (15 * FIRST_EPOCH, 7 * FIRST_EPOCH + int(0.75 * 8 * FIRST_EPOCH)),
    ]


def test_a_longer_budget_repeats_the_shorter_ones_work_first() -> None:
    engine = SearchEngine(max_cost=2, deepest=3, population=16)
    short, short_stats = evaluated(engine, 3 * FIRST_EPOCH + 500)
    long, long_stats = evaluated(engine, 7 * FIRST_EPOCH + 500)
    assert len(long) > len(short)
    assert long[: len(short)] == short
    # both cut an epoch's enumeration, so each evolved between enumeration shares
    assert 0 < short_stats["generations"] < long_stats["generations"]  # type: ignore[operator]


def test_the_evolution_runs_before_the_enumeration_is_done() -> None:
    engine = SearchEngine(max_cost=4, deepest=4, population=16)
    _, stats = evaluated(engine, 3 * FIRST_EPOCH)
    assert stats["generations"] > 0 and stats["completed"] < 4  # type: ignore[operator]


def test_enumerating_in_several_calls_does_the_work_of_one() -> None:
    task = unsolvable(side=5, n_pairs=2)
    orders = []
    for caps in ([2500], [700, 1500, 2500]):
        state = TaskSearch(task, seed=1)
        enumerator = Enumerator(state.ev, state.domain, state.bg, state.on_enumerated)
        for cap in caps:
            enumerator.run(3, Budget(time.monotonic() + 300, state.ev, cap))
        orders.append(list(state.ev.cache))
    assert orders[0] == orders[1]


def test_a_search_with_nothing_left_to_do_stops_early() -> None:
    # level 1 only and two generations: once both are spent the search ends, long before its cap
    result = SearchEngine(max_cost=1, deepest=1, generations=2, population=8).solve(
        unsolvable(side=3, n_pairs=2), Deadline(300), EngineContext(seed=2)
    )
    assert result.stats["generations"] == 2
    assert result.stats["evaluations"] < FIRST_EPOCH * 4


def flip_task() -> Task:
    rng = np.random.default_rng(5)
    inputs = [rng.integers(0, 4, (3, 4)).astype(np.int8) for _ in range(3)]
    return Task("flip", tuple(Pair(i, i[:, ::-1].copy()) for i in inputs[:2]), (Pair(inputs[2]),))


def sources(result: EngineResult) -> list[str]:
    return [c.source for c in result.candidates]


def test_solve_at_zero_seconds_is_a_run_given_no_time() -> None:
    engine = SearchEngine(max_cost=2, population=8)
    task = unsolvable(side=4, n_pairs=2)
    alone = engine.solve(task, Deadline(0), EngineContext(seed=3))
    (at_zero, seen), (_, final) = engine.solve_at(task, Deadline(5), EngineContext(seed=3), [0])
    assert at_zero == 0
    assert sources(seen) == sources(alone)
    assert seen.stats["evaluations"] == alone.stats["evaluations"] < final.stats["evaluations"]


def test_solve_at_gives_a_search_that_ended_early_its_final_answer() -> None:
    engine = SearchEngine(max_cost=2)
    curve = engine.solve_at(flip_task(), Deadline(120), EngineContext(seed=3), [60, 90])
    assert [s for s, _ in curve] == [60, 90, 120]
    assert all(r.stats["train_solved"] for _, r in curve)
    assert sources(curve[0][1]) == sources(curve[2][1])
    assert curve[0][1].stats["evaluations"] == curve[2][1].stats["evaluations"]
    # and that answer is a plain run's
    assert sources(engine.solve(flip_task(), Deadline(120), EngineContext(seed=3))) == sources(curve[2][1])


def test_solve_at_refuses_augmented_views() -> None:
    with pytest.raises(ValueError, match="views split the time"):
        SearchEngine(augment=1).solve_at(flip_task(), Deadline(1), EngineContext(), [0.5])
