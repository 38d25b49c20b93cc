"""The registry of engines, by the name `--engine` takes. Imports are lazy so that the model-free
search never pulls in transformers."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from arcforge_solver.engine import Engine

ENGINE_PATHS: dict[str, str] = {
    "search": "arcforge_solver.search.engine:SearchEngine",
    "llm": "arcforge_solver.llm.engine:LlmEngine",
    "hybrid": "arcforge_solver.llm.engine:HybridEngine",
}
DEFAULT_ENGINE = "search"


class UnknownEngineError(ValueError):
    pass


def load_engine(name: str, options: Mapping[str, Any] | None = None) -> Engine:
    try:
        path = ENGINE_PATHS[name]
    except KeyError:
        raise UnknownEngineError(f"unknown engine {name!r}; choose one of {', '.join(ENGINE_PATHS)}") from None
    module_name, _, class_name = path.partition(":")
    module = importlib.import_module(module_name)
    engine_class = getattr(module, class_name)
    engine: Engine = engine_class(**dict(options or {}))  # each engine ignores options it does not know
    return engine
