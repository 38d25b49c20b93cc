"""Augmentation views: exact round trips for every dihedral transform and the colour normalisation,
wrapped programs that read the original grids, and views voting with the untransformed run."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from arcforge_solver import dsl
from arcforge_solver.engines.protocol import Deadline, EngineContext
from arcforge_solver.engines.search.augment import DIHEDRAL, VIEWS, colour_view, dihedral_view, views
from arcforge_solver.engines.search.program import Node, render
from arcforge_solver.engines.search.search_engine import SearchEngine
from arcforge_solver.tasks.model import Grid, Pair, Task

grids = st.tuples(st.integers(1, 7), st.integers(1, 7)).flatmap(
    lambda shape: arrays(np.int8, shape, elements=st.integers(0, 9))
)


def task_of(grid: Grid) -> Task:
    return Task("t", (Pair(grid, dsl.flip_lr(grid)), Pair(grid[:1], grid[:1])), (Pair(grid.T.copy()),))


@settings(max_examples=80, deadline=None)
@given(grids, st.sampled_from(sorted(DIHEDRAL)))
def test_dihedral_round_trip(grid: Grid, name: str) -> None:
    view = dihedral_view(name)
    turned = view.grid(grid)
    assert sorted(turned.shape) == sorted(grid.shape)
    back = view.unmap(turned)
    assert back is not None and back.dtype == grid.dtype and np.array_equal(back, grid)


@settings(max_examples=80, deadline=None)
@given(grids)
def test_colour_normalisation_is_a_bijection_with_an_exact_inverse(grid: Grid) -> None:
    view = colour_view(task_of(grid))
    if view is None:  # already in frequency order
        return
    recoloured = view.grid(grid)
    assert recoloured.shape == grid.shape
    # a bijection: cells of equal colour stay equal, of different colours stay different
    flat, new = grid.ravel(), recoloured.ravel()
    assert len(set(zip(flat.tolist(), new.tolist(), strict=True))) == len(set(flat.tolist()))
    assert len(set(new.tolist())) == len(set(flat.tolist()))
    back = view.unmap(recoloured)
    assert back is not None and np.array_equal(back, grid)


def test_most_common_colour_becomes_zero() -> None:
    grid = np.array([[5, 5, 5], [5, 2, 0]], dtype=np.int8)
    view = colour_view(Task("t", (Pair(grid, grid),), (Pair(grid),)))
    assert view is not None
    assert view.grid(grid).tolist() == [[0, 0, 0], [0, 2, 1]]


def run_source(source: str, grid: Grid) -> Any:
    namespace: dict[str, Any] = {}
    exec(compile(source, "<program>", "exec"), namespace)
    return namespace["solve"](grid)


@settings(max_examples=40, deadline=None)
@given(grids, st.sampled_from(VIEWS))
def test_wrapped_program_reads_the_original_grid(grid: Grid, name: str) -> None:
    view = colour_view(task_of(grid)) if name == "colours" else dihedral_view(name)
    if view is None:
        return
    inner = Node("gravity", (Node("grid"),), ("down",))
    expected = view.unmap(dsl.gravity(view.grid(grid), "down"))
    out = run_source(render(view.wrap(inner)), grid)
    assert np.array_equal(out, expected)


def test_views_skips_a_colour_view_that_changes_nothing() -> None:
    grid = np.array([[0, 0], [0, 1]], dtype=np.int8)  # 0 most common, then 1: already normalised
    task = Task("t", (Pair(grid, grid),), (Pair(grid),))
    assert [v.name for v in views(task, 2)] == ["transpose", "rot90"]
    assert len(views(task, 20)) == len(DIHEDRAL)


def test_views_vote_with_the_untransformed_run() -> None:
    rng = np.random.default_rng(2)
    inputs = [rng.integers(0, 4, (4, 5)).astype(np.int8) for _ in range(4)]
    task = Task("flip", tuple(Pair(i, dsl.flip_ud(i)) for i in inputs[:3]), (Pair(inputs[3]),))
    plain = SearchEngine(max_cost=2, max_evaluations=6000).solve(task, Deadline(120), EngineContext(seed=3))
    voted = SearchEngine(max_cost=2, max_evaluations=6000, augment=3).solve(
        task, Deadline(120), EngineContext(seed=3)
    )
    assert voted.stats["views"] == 3
    expected = dsl.flip_ud(inputs[3])
    best = voted.candidates[0]
    assert best.train_fitness == 1.0 and np.array_equal(best.predictions[0], expected)
    origins = {c.origin for c in voted.candidates if c.train_fitness == 1.0}
    assert any("/" in o for o in origins)  # programs from views, carried back
    assert voted.stats["train_exact_programs"] > plain.stats["train_exact_programs"]
    for candidate in voted.candidates:
        if candidate.predictions[0] is not None:
            assert np.array_equal(run_source(candidate.source, inputs[3]), candidate.predictions[0])
        for pair in task.train:
            out = run_source(candidate.source, pair.input)
            if candidate.train_fitness == 1.0:
                assert np.array_equal(out, pair.output)
