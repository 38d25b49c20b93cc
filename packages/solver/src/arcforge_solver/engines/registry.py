"""The registry of engines, by the name `--engine` takes. Imports are lazy so that the model-free
search never pulls in transformers.

Besides the built-in names, `--engine` takes the name of a plug-in engine that an installed package
registers under the `arcforge.engines` entry-point group (`myengine = "my_pkg.engine:MyEngine"` in its
pyproject's `[project.entry-points."arcforge.engines"]`), or a plug-in path `package.module:ClassName`:
any importable class that follows the `Engine` protocol (see `protocol`).
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Mapping
from typing import Any

from arcforge_solver.engines.protocol import Engine

ENGINE_PATHS: dict[str, str] = {
    "search": "arcforge_solver.engines.search.search_engine:SearchEngine",
    "llm": "arcforge_solver.engines.llm.llm_engine:LlmEngine",
    "hybrid": "arcforge_solver.engines.llm.llm_engine:HybridEngine",
    "ttt": "arcforge_solver.engines.ttt.engine:TttEngine",
    "ttt+search": "arcforge_solver.engines.ttt.engine:TttSearchEngine",
}
ENTRY_POINT_GROUP = "arcforge.engines"


class UnknownEngineError(ValueError):
    pass


class EngineUnavailableError(ImportError):
    """The engine's module or class cannot be imported (not installed, or not built yet)."""


def engine_path(name: str) -> str:
    """The `module:Class` path of a built-in engine name or of a plug-in path."""
    if name in ENGINE_PATHS:
        return ENGINE_PATHS[name]
    plugins = plugin_engines()
    if name in plugins:
        return plugins[name]
    module_name, sep, class_name = name.partition(":")
    if sep and module_name and class_name:
        return name
    known = ", ".join([*ENGINE_PATHS, *sorted(plugins)])
    raise UnknownEngineError(
        f"unknown engine {name!r}; choose one of {known}, install a package that registers it under the "
        f"{ENTRY_POINT_GROUP!r} entry points, or give a plug-in as module:Class"
    )


def plugin_engines() -> dict[str, str]:
    """Engines that installed packages register under the `arcforge.engines` entry points, by name.
    A built-in name cannot be taken over by a plug-in."""
    found = {}
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry.name not in ENGINE_PATHS and ":" in entry.value:
            found[entry.name] = entry.value.replace(" ", "")
    return found


def resolve_engine_class(name: str) -> type[Any]:
    """The engine class, imported; EngineUnavailableError with one clear message when it cannot be."""
    path = engine_path(name)
    module_name, _, class_name = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        extra = (
            " (the llm and hybrid engines need the llm extra: `pip install -r requirements-llm.txt` in a clone, else `pip install 'arcforge-solver[llm]'` with a CPU or CUDA torch)"
            if name in ("llm", "hybrid")
            else " (the ttt engines need `pip install arcforge-solver[ttt]`)"
            if name in ("ttt", "ttt+search")
            else ""
        )
        raise EngineUnavailableError(
            f"engine {name!r} is not available: cannot import {module_name}: {exc}{extra}"
        ) from exc
    try:
        engine_class: type[Any] = getattr(module, class_name)
    except AttributeError:
        raise EngineUnavailableError(
            f"engine {name!r} is not available: {module_name} has no {class_name}"
        ) from None
    return engine_class


def engine_is_parallel(name: str) -> bool:
    """Whether the runtime may fan tasks out over processes (the class's `parallel`, default True)."""
    return bool(getattr(resolve_engine_class(name), "parallel", True))


def load_engine(name: str, options: Mapping[str, Any] | None = None) -> Engine:
    engine_class = resolve_engine_class(name)
    engine: Engine = engine_class(**dict(options or {}))  # each engine ignores options it does not know
    return engine
