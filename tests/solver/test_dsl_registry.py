"""One registration per DSL primitive: every declared primitive is exported and, when it says how the
search uses it, in the search's library; declared kinds match the function's own signature."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import typing
from collections.abc import Sequence

import pytest

from arcforge_solver import dsl
from arcforge_solver.dsl.primitive import PRIMITIVES, Search, grid_op, primitive
from arcforge_solver.engines.search.library import ALL_OPS, BY_NAME

KIND_OF_TYPE: dict[object, str] = {dsl.Grid: "grid", dsl.Objects: "objs", dsl.Obj: "obj", dsl.Grids: "parts"}
KIND_OF_ARGUMENT: dict[object, str] = {  # an argument may accept more than the kind: any sequence
    **KIND_OF_TYPE,
    Sequence[dsl.Grid]: "parts",
    Sequence[dsl.Obj]: "objs",
}
DSL_MODULES = [
    importlib.import_module(f"arcforge_solver.dsl.{info.name}")
    for info in pkgutil.iter_modules(dsl.__path__)
    if info.name != "primitive"
]
SEARCHED = sorted(name for name, declared in PRIMITIVES.items() if declared.search is not None)


def test_every_public_function_of_the_dsl_is_registered_once() -> None:
    defined = {
        name: module.__name__
        for module in DSL_MODULES
        for name, value in vars(module).items()
        if inspect.isfunction(value) and value.__module__ == module.__name__ and not name.startswith("_")
    }
    assert defined == {name: declared.module for name, declared in PRIMITIVES.items()}


def test_every_registered_primitive_is_exported() -> None:
    for name, declared in PRIMITIVES.items():
        assert name in dsl.__all__
        assert getattr(dsl, name) is declared.function
    assert len(dsl.__all__) == len(set(dsl.__all__))
    assert not set(dsl.__all__) - set(PRIMITIVES) - set(dsl.TYPES_AND_CONSTANTS)


def test_star_import_gives_the_primitives_and_numpy() -> None:
    namespace: dict[str, object] = {}
    exec("from arcforge_solver.dsl import *", namespace)
    assert namespace["flip_lr"] is PRIMITIVES["flip_lr"].function
    assert namespace["objects"] is PRIMITIVES["objects"].function  # the function, not the module
    assert namespace["np"] is dsl.np


def test_the_library_is_exactly_the_search_declarations() -> None:
    assert sorted(BY_NAME) == SEARCHED
    assert len(ALL_OPS) == len(BY_NAME)
    for spec in ALL_OPS:
        search = PRIMITIVES[spec.name].search
        assert search is not None
        assert (spec.inputs, spec.output, spec.params, spec.cost, spec.bg, spec.max_arg_cost) == (
            search.takes,
            search.gives,
            search.params,
            search.cost,
            search.bg,
            search.max_arg_cost,
        )
        assert spec.fn is PRIMITIVES[spec.name].function


@pytest.mark.parametrize("name", SEARCHED)
def test_declared_kinds_match_the_signature(name: str) -> None:
    declared = PRIMITIVES[name]
    search = declared.search
    assert search is not None
    hints = typing.get_type_hints(declared.function)
    parameters = list(inspect.signature(declared.function).parameters.values())
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    leading = positional[: len(search.takes)]
    assert [KIND_OF_ARGUMENT.get(hints.get(p.name)) for p in leading] == list(search.takes)
    assert KIND_OF_TYPE.get(hints["return"]) == search.gives
    rest = [p.name for p in positional[len(search.takes) :] if p.name != "bg"]
    assert len(rest) >= len(search.params), f"{name} declares {len(search.params)} parameters, has {rest}"
    if search.bg:
        assert "bg" in {p.name for p in parameters}


def test_a_declaration_names_known_kinds_and_a_name_is_declared_in_one_module() -> None:
    with pytest.raises(ValueError, match="kinds"):
        Search(("grid",), "picture")
    with pytest.raises(ValueError, match="kinds"):
        Search((), "grid")

    def flip_lr(grid: dsl.Grid) -> dsl.Grid:  # same name as the DSL's, from another module
        return grid

    flip_lr.__module__ = "elsewhere"
    with pytest.raises(ValueError, match=r"declared in arcforge_solver\.dsl\.geometry and elsewhere"):
        primitive(grid_op(order=1))(flip_lr)
    assert PRIMITIVES["flip_lr"].module == "arcforge_solver.dsl.geometry"
