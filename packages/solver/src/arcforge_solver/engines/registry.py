"""The registry of engines, by the name `--engine` takes. Imports are lazy so that the model-free
search never pulls in transformers.

Besides the built-in names, `--engine` accepts a plug-in engine as `package.module:ClassName`: any
importable class that follows the `Engine` protocol (see `protocol`).
"""

from __future__ import annotations

import importlib
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


class UnknownEngineError(ValueError):
    pass


class EngineUnavailableError(ImportError):
    """The engine's module or class cannot be imported (not installed, or not built yet)."""


def engine_path(name: str) -> str:
    """The `module:Class` path of a built-in engine name or of a plug-in path."""
    if name in ENGINE_PATHS:
        return ENGINE_PATHS[name]
    module_name, sep, class_name = name.partition(":")
    if sep and module_name and class_name:
        return name
    raise UnknownEngineError(
        f"unknown engine {name!r}; choose one of {', '.join(ENGINE_PATHS)} or give a plug-in as module:Class"
    )


def resolve_engine_class(name: str) -> type[Any]:
    """The engine class, imported; EngineUnavailableError with one clear message when it cannot be."""
    path = engine_path(name)
    module_name, _, class_name = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        extra = (
            " (the llm and hybrid engines need `pip install arcforge-solver[llm]`)"
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
