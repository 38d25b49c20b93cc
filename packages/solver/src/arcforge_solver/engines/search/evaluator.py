"""Runs program trees on a task's inputs in-process, caching every sub-expression's values.

A node's values are one entry per input: the train inputs first, then the test inputs. A node that
fails on any train input has no values (None); one that fails on a test input has None in that slot,
so it can still be judged on train but cannot predict that test output.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np

from arcforge_solver import dsl
from arcforge_solver.engines.fitness import train_fitness
from arcforge_solver.engines.search.program import INPUT, Node
from arcforge_solver.tasks.model import Grid, Task

Values = tuple[Any, ...]

CACHE_LIMIT = 50_000


def valid_grid(value: Any) -> Grid | None:
    """The value as an int8 ARC grid, or None when it is not one."""
    if not isinstance(value, np.ndarray) or value.ndim != 2:
        return None
    h, w = value.shape
    if not (1 <= h <= 30 and 1 <= w <= 30):
        return None
    if value.dtype != np.int8:
        if not np.issubdtype(value.dtype, np.integer) or value.min() < 0 or value.max() > 9:
            return None
        value = value.astype(np.int8)
    # int8 results of DSL primitives hold colours of their inputs or parameters: 0-9 by construction
    return cast("Grid | None", value)


def same_shapes(values: Sequence[Any], targets: Sequence[Any]) -> bool:
    """Each value is a grid of its target's shape (pairwise; extra values are not looked at)."""
    return all(
        isinstance(v, np.ndarray) and v.shape == t.shape for v, t in zip(values, targets, strict=False)
    )


def _valid_for(kind: str, value: Any) -> Any:
    if kind == "grid":
        return valid_grid(value)
    if kind in ("objs", "parts"):
        return value if isinstance(value, tuple) and value else None
    return value


def fingerprint(values: Sequence[Any]) -> bytes:
    """A digest of values, equal exactly when the values are equal (grids, objects, parts, ints)."""
    h = hashlib.blake2b(digest_size=16)
    for v in values:
        _feed(h, v)
        h.update(b"|")
    return h.digest()


def _feed(h: Any, v: Any) -> None:
    if isinstance(v, np.ndarray):
        h.update(bytes(str(v.shape), "ascii"))
        h.update(np.ascontiguousarray(v).tobytes())
    elif isinstance(v, tuple):
        h.update(b"(")
        for item in v:
            _feed(h, item)
            h.update(b",")
        h.update(b")")
    elif isinstance(v, dsl.Obj):
        h.update(bytes(f"o{v.top},{v.left},{v.patch.shape}", "ascii"))
        h.update(v.patch.tobytes())
    else:
        h.update(repr(v).encode())


class Evaluator:
    """Evaluates nodes on one task; counts evaluations (one per node computed, all inputs at once)."""

    def __init__(self, task: Task, kinds: Callable[[str], str]) -> None:
        self.task = task
        self.inputs: list[Grid] = [p.input for p in task.train] + [p.input for p in task.test]
        self.n_train = len(task.train)
        self.targets: list[Grid] = [p.output for p in task.train if p.output is not None]
        if len(self.targets) != self.n_train:
            raise ValueError(f"task {task.task_id}: a train pair has no output")
        self.kind_of = kinds
        self.cache: dict[str, Values | None] = {INPUT: tuple(self.inputs)}
        self.evaluations = 0

    def apply(self, node: Node, arg_values: Sequence[Values], kind: str | None = None) -> Values | None:
        """Compute `node` from its arguments' values; None when it fails on a train input."""
        self.evaluations += 1
        fn = getattr(dsl, node.op)
        kind = kind or self.kind_of(node.op)
        params = node.params
        kwargs = dict(node.kwargs)
        out: list[Any] = []
        for i in range(len(self.inputs)):
            args = [values[i] for values in arg_values]
            result: Any = None
            if all(a is not None for a in args):
                try:
                    result = _valid_for(kind, fn(*args, *params, **kwargs))
                except Exception:
                    result = None
            if result is None and i < self.n_train:
                return None
            out.append(result)
        return tuple(out)

    def value(self, node: Node) -> Values | None:
        """The node's values, from the cache where any sub-expression was seen before."""
        if node.key in self.cache:
            return self.cache[node.key]
        arg_values = []
        for arg in node.args:
            v = self.value(arg)
            if v is None:
                self.remember(node, None)
                return None
            arg_values.append(v)
        values = self.apply(node, arg_values)
        self.remember(node, values)
        return values

    def remember(self, node: Node, values: Values | None) -> None:
        if len(self.cache) >= CACHE_LIMIT:
            self.cache = {INPUT: tuple(self.inputs)}
        self.cache[node.key] = values

    def fitness(self, values: Values) -> tuple[float, int]:
        return train_fitness(list(values[: self.n_train]), self.targets)

    def test_values(self, values: Values) -> tuple[Grid | None, ...]:
        return tuple(values[self.n_train :])
