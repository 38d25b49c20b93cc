"""One registration per DSL primitive: the `@primitive` decorator and the table it fills.

Every public function of the DSL is declared once, where it is defined:

    @primitive
    def count_colour(grid: Grid, colour: int) -> int: ...

    @primitive(grid_op("out_colour", bg=True, order=40))
    def paint_background(grid: Grid, colour: int, bg: int = 0) -> Grid: ...

    @primitive(Search(("objs",), "obj", ("in_colour",), order=50))
    def by_colour(objs: Objects, colour: int) -> Obj: ...

`arcforge_solver.dsl` exports every registered primitive, and the search's library
(`engines.search.library`) is built from the declarations that say how the search may use them.
Adding a primitive is editing one file: its module.

A search declaration names the kinds of value the primitive takes and gives (`grid`, `objs` a tuple
of objects, `obj`, `parts` a tuple of grids), one domain per parameter after those, its cost, whether
it takes the task's background as `bg=`, and its `order` among the primitives the search tries in
the same group (see the library). This module imports nothing of the DSL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, overload

KINDS = ("grid", "objs", "obj", "parts")
"""The kinds of value the search composes."""

Domain = tuple[Any, ...] | str
"""A parameter's values: a fixed tuple of literals, or the name of one the search fills in:
`in_colour` (colours the argument has on some train input), `hole` (colours it has on every train
input), `out_colour` (colours of the train outputs), `colour` (both)."""

DIRECTIONS = ("down", "up", "left", "right")
SYMMETRIES = ("lr", "ud", "lr+ud", "rot180", "transpose", "lr+ud+transpose", "rot90")


@dataclass(frozen=True)
class Search:
    """How the search may apply a primitive."""

    takes: tuple[str, ...]
    """The kinds of its leading arguments, e.g. ("grid",) or ("grid", "grid")."""
    gives: str
    """The kind it returns."""
    params: tuple[Domain, ...] = ()
    """One domain per parameter after the leading arguments."""
    cost: int = 1
    bg: bool = False
    """It takes the task's background colour as `bg=` (rendered only when it is not 0)."""
    max_arg_cost: int = 99
    """Applied only to arguments this cheap (whole-picture repairs belong near the input)."""
    order: int = 0
    """Where the search tries it among the primitives of its group: lower first."""

    def __post_init__(self) -> None:
        unknown = [kind for kind in (*self.takes, self.gives) if kind not in KINDS]
        if unknown or not self.takes:
            raise ValueError(f"a search declaration takes and gives kinds of {KINDS}, not {unknown or '()'}")


def grid_op(
    *params: Domain, cost: int = 1, bg: bool = False, max_arg_cost: int = 99, order: int = 0
) -> Search:
    """The common declaration: a grid in, a grid out."""
    return Search(("grid",), "grid", params, cost, bg, max_arg_cost, order)


@dataclass(frozen=True)
class Primitive:
    name: str
    function: Callable[..., Any]
    module: str
    search: Search | None
    """None: programs may call it, the search does not compose it."""


PRIMITIVES: dict[str, Primitive] = {}
"""Every registered primitive by name, in registration order."""

F = TypeVar("F", bound=Callable[..., Any])


@overload
def primitive(declaration: F) -> F: ...


@overload
def primitive(declaration: Search) -> Callable[[F], F]: ...


def primitive(declaration: F | Search) -> F | Callable[[F], F]:
    """Register a DSL function: bare (`@primitive`) or with how the search uses it
    (`@primitive(grid_op(...))`). The function itself is returned unchanged."""

    def register(function: F) -> F:
        name = function.__name__
        known = PRIMITIVES.get(name)
        if known is not None and known.module != function.__module__:
            raise ValueError(
                f"DSL primitive {name!r} is declared in {known.module} and {function.__module__}"
            )
        search = declaration if isinstance(declaration, Search) else None
        PRIMITIVES[name] = Primitive(name, function, function.__module__, search)
        return function

    if isinstance(declaration, Search):
        return register
    return register(declaration)
