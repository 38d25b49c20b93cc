"""Choosing among train-exact programs: voting by test prediction, agreeing programs kept on the
scoreboard, and the property checks that demote a program whose test output breaks a train rule."""

from __future__ import annotations

import numpy as np

from arcforge_solver import dsl
from arcforge_solver.engines.protocol import Candidate, Deadline, EngineContext
from arcforge_solver.engines.ranking import first_two_distinct, pick_attempts, vote
from arcforge_solver.engines.search.program import Node
from arcforge_solver.engines.search.properties import PropertyChecks, learn_rules
from arcforge_solver.engines.search.scoreboard import SUPPORTERS, Scoreboard
from arcforge_solver.engines.search.search_engine import SearchEngine, order_by_vote
from arcforge_solver.tasks.model import Grid, Pair, Task


def g(rows: list[list[int]]) -> Grid:
    return np.array(rows, dtype=np.int8)


def cand(name: str, complexity: int, prediction: Grid | None, fitness: float = 1.0) -> Candidate:
    return Candidate(f"# {name}", True, fitness, 3 if fitness == 1.0 else 0, (prediction,), complexity)


X, Y, Z = g([[1]]), g([[2]]), g([[3]])


def test_two_programs_that_agree_beat_one_simpler_outlier() -> None:
    outlier, a, b = cand("outlier", 3, Y), cand("a", 4, X), cand("b", 4, X)
    ordered = vote([outlier, a, b])
    assert ordered[0].predictions[0] is X
    attempts = pick_attempts([outlier, a, b])
    # the two attempts come from the two best groups: the agreeing pair, then the outlier
    assert [c.source for c in attempts] == ["# a", "# outlier"]


def test_a_much_simpler_program_still_wins_alone() -> None:
    simple, a, b = cand("simple", 1, Y), cand("a", 6, X), cand("b", 6, X)
    assert vote([a, b, simple])[0] is simple


def test_only_train_exact_programs_vote() -> None:
    # three near misses agreeing do not outvote one train-exact program
    near = [cand(f"near{i}", 1, X, fitness=0.9) for i in range(3)]
    exact = cand("exact", 5, Y)
    ordered = vote([*near, exact])
    assert ordered[0] is exact
    assert first_two_distinct(ordered)[1].predictions[0] is X


def test_demerits_come_before_votes() -> None:
    a, b, lone = cand("a", 2, X), cand("b", 2, X), cand("lone", 3, Y)
    ordered = vote([a, b, lone], demerits=lambda c: 1 if c.predictions[0] is X else 0)
    assert ordered[0] is lone


def test_a_group_counts_its_least_demerited_member_which_leads_it() -> None:
    flawed, sound, rival = cand("flawed", 1, X), cand("sound", 4, X), cand("rival", 2, Y)
    ordered = vote([flawed, sound, rival], demerits=lambda c: 1 if c.source != "# sound" else 0)
    # "sound" clears its group, so the group goes first, headed by it, not by the simpler "flawed"
    assert [c.source for c in ordered] == ["# sound", "# rival", "# flawed"]


def test_memorised_tables_rank_after_any_other_train_exact_program() -> None:
    task = Task("t", pairs(dsl.flip_lr, INPUTS), (Pair(g([[1, 2, 0], [0, 0, 3]])),))
    tables = [cand(f"table{i}", 1, X) for i in range(3)]  # three memorised tables that agree
    lone = cand("lone", 6, Y)
    ordered = order_by_vote(task, 0, [*tables, lone], ["size"], {c.source for c in tables})
    assert ordered[0] is lone
    assert first_two_distinct(ordered)[1].predictions[0] is X  # still the second attempt
    # without the sources marked, the three agreeing tables outvote it
    assert order_by_vote(task, 0, [*tables, lone], ["size"])[0] is tables[0]
    # with no property checks the tables are still demoted
    assert order_by_vote(task, 0, [*tables, lone], [], {c.source for c in tables})[0] is lone


def node(op: str, *params: int) -> Node:
    return Node(op, (Node("grid"),), params)


def test_scoreboard_keeps_distinct_agreeing_programs_as_supporters() -> None:
    board = Scoreboard()
    prediction = (X,)
    board.offer(node("rot90"), 1.0, 3, prediction, "search")
    board.offer(node("rot90"), 1.0, 3, prediction, "search")  # the same program twice is one vote
    board.offer(Node("flip_lr", (node("rot90"),)), 1.0, 3, prediction, "search")
    board.offer(node("transpose"), 1.0, 3, (Y,), "search")
    entries = {e.predictions[0].tobytes(): e for e in board.ranked()}
    agreed = entries[X.tobytes()]
    assert agreed.node.key == "rot90(grid)"
    assert [n.key for _, n, _ in agreed.supporters] == ["flip_lr(rot90(grid))"]
    assert entries[Y.tobytes()].supporters == []
    # a simpler program taking the head's place keeps the old head as a supporter
    board.offer(Node("grid"), 1.0, 3, prediction, "search")
    agreed = next(e for e in board.ranked() if e.predictions[0] is X)
    assert agreed.node.key == "grid"
    assert {n.key for _, n, _ in agreed.supporters} == {"rot90(grid)", "flip_lr(rot90(grid))"}
    for i in range(2 * SUPPORTERS):
        board.offer(node("scale_up", i + 2), 1.0, 3, prediction, "search")
    assert len(agreed.supporters) == SUPPORTERS


def pairs(fn: object, inputs: list[Grid]) -> tuple[Pair, ...]:
    return tuple(Pair(i, fn(i)) for i in inputs)  # type: ignore[operator]


INPUTS = [
    g([[1, 0, 0], [0, 2, 0], [0, 0, 0]]),
    g([[0, 3, 0, 0], [0, 0, 0, 1]]),
    g([[2, 0], [0, 0], [0, 1]]),
]


def test_a_program_whose_test_output_breaks_the_size_rule_is_demoted() -> None:
    task = Task("flip", pairs(dsl.flip_lr, INPUTS), (Pair(g([[1, 2, 0], [0, 0, 3]])),))
    checks = PropertyChecks(task, 0, ["size"])
    assert checks.broken((g([[0, 2, 1], [3, 0, 0]]),)) == []
    wrong_size = g([[0, 2, 1]])
    assert checks.broken((wrong_size,)) == ["size"]
    simpler = cand("crop", 2, wrong_size)
    right = cand("flip", 3, g([[0, 2, 1], [3, 0, 0]]))
    assert vote([simpler, right])[0] is simpler  # without checks the simpler program leads
    ordered = order_by_vote(task, 0, [simpler, right], ["size"])
    assert ordered[0] is right and ordered[1] is simpler  # demoted, not dropped


def test_size_rules_constant_and_ratio() -> None:
    constant = Task("c", tuple(Pair(i, g([[5, 5]])) for i in INPUTS), (Pair(INPUTS[0]),))
    rules = PropertyChecks(constant, 0, ["size"])
    assert rules.broken((g([[5, 5, 5]]),)) == ["size"] and rules.broken((g([[1, 2]]),)) == []
    doubled = Task("d", pairs(lambda i: dsl.scale_up(i, 2), INPUTS), (Pair(g([[1, 2, 3]])),))
    rules = PropertyChecks(doubled, 0, ["size"])
    assert rules.broken((np.zeros((2, 6), np.int8),)) == []
    assert rules.broken((np.zeros((1, 3), np.int8),)) == ["size"]


def test_palette_symmetry_and_object_rules() -> None:
    task = Task("flip", pairs(dsl.flip_lr, INPUTS), (Pair(g([[1, 2, 0], [0, 0, 3]])),))
    checks = PropertyChecks(task, 0)
    # outputs use only their input's colours; 4 is not in the test input
    assert "palette" in checks.broken((g([[0, 2, 1], [4, 0, 0]]),))
    # as many objects as the input: merging two objects breaks it
    assert "objects" in checks.broken((g([[0, 2, 1], [0, 0, 0]]),))
    mirrored = Task(
        "mirror", pairs(lambda i: np.hstack([i, i[:, ::-1]]), INPUTS), (Pair(g([[1, 2], [0, 3]])),)
    )
    rules = learn_rules(mirrored, 0, ["symmetry"])
    assert len(rules["symmetry"]) == 1  # left-right only
    checks = PropertyChecks(mirrored, 0, ["symmetry"])
    assert checks.broken((g([[1, 2, 2, 1], [0, 3, 3, 0]]),)) == []
    assert checks.broken((g([[1, 2, 2, 1], [0, 3, 0, 3]]),)) == ["symmetry"]


def test_one_train_pair_proves_no_rule() -> None:
    task = Task("one", pairs(dsl.flip_lr, INPUTS[:1]), (Pair(INPUTS[1]),))
    assert PropertyChecks(task, 0).broken((g([[9]]),)) == []


def test_engine_orders_its_candidates_by_vote_and_checks() -> None:
    task = Task("flip", pairs(dsl.flip_lr, INPUTS), (Pair(g([[1, 2, 0], [0, 0, 3]])),))
    result = SearchEngine(max_cost=2, max_evaluations=4000).solve(task, Deadline(60), EngineContext())
    assert result.candidates[0].train_fitness == 1.0
    assert np.array_equal(result.candidates[0].predictions[0], g([[0, 2, 1], [3, 0, 0]]))
    assert result.stats["train_exact_programs"] >= 1
    unchecked = SearchEngine(max_cost=2, max_evaluations=4000, vote=False, checks="").solve(
        task, Deadline(60), EngineContext()
    )
    sources = [c.source for c in unchecked.candidates]
    assert len(sources) == len(set(sources))
    assert len(unchecked.candidates) <= len(result.candidates)
