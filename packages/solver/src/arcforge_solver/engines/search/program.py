"""Programs as typed expression trees, and their rendering to `def solve(grid)` source.

A `Node` calls one DSL function on the values of its argument nodes plus literal parameters. The
leaf `grid` is the task input. Each node's `key` is its expression text, which identifies its
behaviour: the evaluator caches values by it, so sub-expressions shared by many candidates run once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

INPUT = "grid"


def literal(value: Any) -> str:
    """Python source for a parameter value (ints, bools, strings, bytes, tuples, dicts)."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):
        return repr(int(value))
    if isinstance(value, (str, bytes, float)):
        return repr(value)
    if isinstance(value, tuple):
        inner = ", ".join(literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, Mapping):
        items = sorted(value.items(), key=lambda kv: repr(kv[0]))
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in items) + "}"
    raise TypeError(f"no literal for {type(value).__name__}")


class Node:
    """One call: `op(*args, *params, **kwargs)`; the input leaf has op `grid` and nothing else."""

    __slots__ = ("args", "depth", "key", "kwargs", "op", "params", "size")

    def __init__(
        self,
        op: str,
        args: tuple[Node, ...] = (),
        params: tuple[Any, ...] = (),
        kwargs: tuple[tuple[str, Any], ...] = (),
    ) -> None:
        self.op = op
        self.args = args
        self.params = params
        self.kwargs = kwargs
        if op == INPUT:
            self.key = INPUT
            self.size = 0
            self.depth = 0
        else:
            parts = (
                [a.key for a in args]
                + [literal(p) for p in params]
                + [f"{k}={literal(v)}" for k, v in kwargs]
            )
            self.key = f"{op}({', '.join(parts)})"
            self.size = 1 + sum(a.size for a in args)
            self.depth = 1 + max((a.depth for a in args), default=0)

    def __repr__(self) -> str:
        return self.key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Node) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)

    def replace_args(self, args: tuple[Node, ...]) -> Node:
        return Node(self.op, args, self.params, self.kwargs)

    def replace_params(self, params: tuple[Any, ...]) -> Node:
        return Node(self.op, self.args, params, self.kwargs)

    def walk(self) -> list[Node]:
        """Every node, children before parents (post-order), each once."""
        out: list[Node] = []
        seen: set[str] = set()

        def visit(node: Node) -> None:
            if node.key in seen:
                return
            for arg in node.args:
                visit(arg)
            seen.add(node.key)
            out.append(node)

        visit(self)
        return out


def render(node: Node) -> str:
    """Standalone source: imports the DSL and defines `solve(grid)`, one step per line."""
    names: dict[str, str] = {INPUT: "grid"}
    lines = [
        "from arcforge_solver.dsl import *",
        "",
        "",
        "def solve(grid):",
        "    grid = np.asarray(grid, dtype=np.int8)",
    ]
    steps = [n for n in node.walk() if n.op != INPUT]
    for i, step in enumerate(steps, 1):
        parts = [names[a.key] for a in step.args]
        parts += [literal(p) for p in step.params]
        parts += [f"{k}={literal(v)}" for k, v in step.kwargs]
        call = f"{step.op}({', '.join(parts)})"
        if i == len(steps):
            lines.append(f"    return {call}")
        else:
            name = f"x{i}"
            names[step.key] = name
            lines.append(f"    {name} = {call}")
    if not steps:
        lines.append("    return grid")
    return "\n".join(lines) + "\n"
