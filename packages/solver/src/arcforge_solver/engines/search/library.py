"""The search's typed view of the DSL, built from the primitives' own declarations.

Each primitive says in its module how the search may use it (`@primitive(grid_op(...))`, see
`dsl.primitive`): the kinds it takes and gives (`grid`, `objs` a tuple of objects, `obj`, `parts` a
tuple of grids), a domain per parameter, its cost, whether it takes `bg=`. Here they become `OpSpec`s,
grouped by what they work on and ordered within a group by their declared `order`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from arcforge_solver import dsl  # importing the DSL registers every primitive
from arcforge_solver.dsl.primitive import PRIMITIVES, Domain, Search


@dataclass(frozen=True)
class OpSpec:
    name: str
    inputs: tuple[str, ...]
    output: str
    params: tuple[Domain, ...] = ()
    cost: int = 1
    bg: bool = False
    max_arg_cost: int = 99
    """Applied only to arguments this cheap (whole-picture repairs belong near the input)."""

    @property
    def fn(self) -> Callable[..., Any]:
        function: Callable[..., Any] = getattr(dsl, self.name)
        return function


def _spec(name: str, search: Search) -> OpSpec:
    return OpSpec(
        name, search.takes, search.gives, search.params, search.cost, search.bg, search.max_arg_cost
    )


def group(search: Search) -> str:
    """What a primitive works on: two grids (binary), objects, parts, or one grid."""
    kinds = (*search.takes, search.gives)
    if len(search.takes) == 2:
        return "binary"
    if "objs" in kinds or "obj" in kinds:
        return "objects"
    if "parts" in kinds:
        return "parts"
    return "grid"


def _ops(kind: str) -> tuple[OpSpec, ...]:
    declared = [
        (p.search.order, p.name, p.search)
        for p in PRIMITIVES.values()
        if p.search and group(p.search) == kind
    ]
    return tuple(_spec(name, search) for _, name, search in sorted(declared, key=lambda entry: entry[0]))


GRID_OPS: tuple[OpSpec, ...] = _ops("grid")
OBJECT_OPS: tuple[OpSpec, ...] = _ops("objects")
PART_OPS: tuple[OpSpec, ...] = _ops("parts")
BINARY_OPS: tuple[OpSpec, ...] = _ops("binary")

LEARNED_OPS = ("map_colours", "apply_cell_rule", "stamp_cells", "stamp_objects", "recolour_objects")
"""Final steps whose parameters are fitted to the train outputs (see `learn`)."""

# structure first: the few objects and parts found early are expanded first at the next level
UNARY_OPS: tuple[OpSpec, ...] = PART_OPS + OBJECT_OPS + GRID_OPS
ALL_OPS: tuple[OpSpec, ...] = UNARY_OPS + BINARY_OPS
BY_NAME: dict[str, OpSpec] = {spec.name: spec for spec in ALL_OPS}
TYPE_ORDER = ("grid", "objs", "obj", "parts")


def ops_producing(kind: str, ops: Sequence[OpSpec] = ALL_OPS) -> list[OpSpec]:
    return [spec for spec in ops if spec.output == kind]
