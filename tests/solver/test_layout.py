"""The solver's folders by job, and which way imports point: nothing imports back up.

tasks/ and dsl/ are the bottom; runtime.timing, runtime.workers and runtime.defaults are leaves every
layer may use; the sandbox sits on those; engines sit on the sandbox; the rest of the runtime reaches
the engines only through their protocol and registry.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import arcforge_solver

PACKAGE = Path(arcforge_solver.__file__).parent
LEAVES = {
    "arcforge_solver.runtime.timing",
    "arcforge_solver.runtime.workers",
    "arcforge_solver.runtime.defaults",
}
ENGINE_SEAM = {"arcforge_solver.engines.protocol", "arcforge_solver.engines.registry"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def solver_imports(path: Path) -> set[str]:
    """Every arcforge_solver module a file imports (lazy imports inside functions included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name.startswith("arcforge_solver.")}


def modules_under(folder: str) -> dict[str, set[str]]:
    return {
        module_name(path): solver_imports(path)
        for path in sorted((PACKAGE / folder).rglob("*.py"))
        if "__pycache__" not in path.parts
    }


def inside(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def is_leaf(name: str) -> bool:
    return name == "arcforge_solver.runtime" or any(inside(name, leaf) for leaf in LEAVES)


def test_the_folders_match_the_jobs() -> None:
    for folder in ("runtime", "engines", "engines/search", "engines/llm", "sandbox", "tasks", "dsl"):
        assert (PACKAGE / folder / "__init__.py").is_file(), folder
    for module in (
        "runtime/run.py",
        "runtime/executors.py",
        "runtime/scheduler.py",
        "runtime/journal.py",
        "runtime/progress.py",
        "runtime/submission.py",
        "runtime/scoring.py",
        "runtime/workers.py",
        "runtime/timing.py",
        "runtime/defaults.py",
        "engines/protocol.py",
        "engines/registry.py",
        "engines/fitness.py",
        "engines/ranking.py",
        "sandbox/pool.py",
        "sandbox/worker.py",
        "tasks/model.py",
        "tasks/io.py",
    ):
        assert (PACKAGE / module).is_file(), module
    for gone in (
        "engine.py",
        "engines.py",
        "runner.py",
        "task.py",
        "task_io.py",
        "sandbox.py",
        "search",
        "llm",
    ):
        assert not (PACKAGE / gone).exists(), f"{gone} should live in its folder now"


@pytest.mark.parametrize("leaf", sorted(LEAVES))
def test_the_leaves_import_nothing_of_the_solver(leaf: str) -> None:
    path = PACKAGE.parent / (leaf.replace(".", "/") + ".py")
    assert solver_imports(path) == set()


def test_engines_never_import_the_runtime_beyond_its_leaves() -> None:
    for module, imports in modules_under("engines").items():
        upward = {name for name in imports if inside(name, "arcforge_solver.runtime") and not is_leaf(name)}
        assert not upward, f"{module} imports {sorted(upward)}"


def test_the_runtime_reaches_engines_only_through_protocol_and_registry() -> None:
    for module, imports in modules_under("runtime").items():
        engines = {
            name
            for name in imports
            if inside(name, "arcforge_solver.engines") and not any(inside(name, seam) for seam in ENGINE_SEAM)
        }
        engines -= {"arcforge_solver.engines"}
        assert not engines, f"{module} imports {sorted(engines)}"


@pytest.mark.parametrize("folder", ["tasks", "dsl", "sandbox"])
def test_lower_layers_never_import_engines_or_the_runtime_run(folder: str) -> None:
    for module, imports in modules_under(folder).items():
        upward = {
            name
            for name in imports
            if inside(name, "arcforge_solver.engines")
            or (inside(name, "arcforge_solver.runtime") and not is_leaf(name))
            or inside(name, "arcforge_solver.cli")
        }
        assert not upward, f"{module} imports {sorted(upward)}"
