"""Program trees: keys, rendering, and standalone source that behaves like the in-process evaluation."""

from __future__ import annotations

from typing import Any

import numpy as np

from arcforge_solver import dsl
from arcforge_solver.engines.search.library import ALL_OPS, BY_NAME
from arcforge_solver.engines.search.program import Node, literal, render


def run_source(source: str, grid: np.ndarray) -> Any:
    namespace: dict[str, Any] = {}
    exec(compile(source, "<program>", "exec"), namespace)
    return namespace["solve"](grid.tolist())


def test_literals_round_trip() -> None:
    for value in (3, True, "lr+ud", b"\x01\x02", (1,), (1, 2), {2: 3, 1: 4}, {b"a": 1}, {True: 2}):
        assert eval(literal(value)) == value


def test_shared_subexpressions_render_once() -> None:
    g = Node("grid")
    flipped = Node("flip_lr", (g,))
    node = Node("overlay", (flipped, Node("rot180", (flipped,))), (), (("bg", 0),))
    assert node.key == "overlay(flip_lr(grid), rot180(flip_lr(grid)), bg=0)"
    assert node.size == 4  # tree size: the shared step counts where it is used
    source = render(node)
    assert source.count("flip_lr(") == 1
    grid = np.array([[1, 0, 2], [0, 3, 0]], dtype=np.int8)
    expected = dsl.overlay(dsl.flip_lr(grid), dsl.rot180(dsl.flip_lr(grid)), bg=0)
    assert np.array_equal(run_source(source, grid), expected)


def test_input_only_program() -> None:
    grid = np.array([[4]], dtype=np.int8)
    assert np.array_equal(run_source(render(Node("grid")), grid), grid)


def test_learned_tables_render_as_literals() -> None:
    node = Node("apply_cell_rule", (Node("grid"),), ("n4count", {1: 2}))
    grid = np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]], dtype=np.int8)
    assert np.array_equal(run_source(render(node), grid), dsl.apply_cell_rule(grid, "n4count", {1: 2}))


def test_every_library_op_is_a_dsl_function_with_matching_domains() -> None:
    assert "np" in dsl.__all__
    for spec in ALL_OPS:
        assert spec.name in dsl.__all__, spec.name
        assert callable(spec.fn)
        for domain in spec.params:
            assert isinstance(domain, (tuple, str))
    assert BY_NAME["objects"].output == "objs"
