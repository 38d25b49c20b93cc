"""Stages never import each other; every stage may import the contract, and it is their one arcforge
dependency. No stage keeps a copy of the writer."""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Any

import pytest

import arcforge_events

ROOT = Path(__file__).resolve().parents[2]
STAGE_PACKAGES = {
    "downloader": "arcforge_downloader",
    "kaggle_publish": "arcforge_kaggle_publish",
    "solver": "arcforge_solver",
    "tui": "arcforge_tui",
}


def project_table(folder: str) -> dict[str, Any]:
    """[project] of packages/<folder>/pyproject.toml (tomllib is 3.11+; the compat session runs 3.10)."""
    toml = pytest.importorskip("tomllib" if sys.version_info >= (3, 11) else "tomli")
    project: dict[str, Any] = toml.loads((ROOT / "packages" / folder / "pyproject.toml").read_text())[
        "project"
    ]
    return project


def imported_modules(source: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


@pytest.mark.parametrize("folder", sorted(STAGE_PACKAGES))
def test_a_stage_imports_no_other_stage(folder: str) -> None:
    own = STAGE_PACKAGES[folder]
    others = {name for name in STAGE_PACKAGES.values() if name != own}
    offenders = []
    for source in sorted((ROOT / "packages" / folder / "src").rglob("*.py")):
        for module in imported_modules(source):
            if module.split(".")[0] in others:
                offenders.append(f"{source.relative_to(ROOT)}: {module}")
    assert offenders == []


@pytest.mark.parametrize("folder", sorted(STAGE_PACKAGES))
def test_the_contract_is_a_stages_one_arcforge_dependency(folder: str) -> None:
    project = project_table(folder)
    arcforge = [d for d in project["dependencies"] if d.startswith("arcforge")]
    major = arcforge_events.CONTRACT_VERSION
    assert arcforge == [f"arcforge-events>={major},<{major + 1}"]


def test_the_contract_package_depends_on_nothing() -> None:
    project = project_table("events")
    assert project["dependencies"] == []
    imports = set()
    for source in (ROOT / "packages/events/src").rglob("*.py"):
        imports |= {m.split(".")[0] for m in imported_modules(source)}
    assert imports - {"arcforge_events", "__future__"} <= set(sys.stdlib_module_names)


def test_the_contract_version_is_the_packages_major_version() -> None:
    project = project_table("events")
    assert arcforge_events.__version__ == project["version"]
    assert int(project["version"].split(".")[0]) == arcforge_events.CONTRACT_VERSION
    assert (
        f"(version {arcforge_events.CONTRACT_VERSION})"
        in (ROOT / "docs/events.md").read_text().splitlines()[0]
    )


@pytest.mark.parametrize("module", ["arcforge_downloader", "arcforge_kaggle_publish", "arcforge_solver"])
def test_each_stage_writes_through_the_shared_writer(module: str) -> None:
    stage_events = pytest.importorskip(f"{module}.events")  # kaggle_publish needs Python 3.11+
    assert stage_events.EventWriter is arcforge_events.EventWriter
    assert stage_events.resolve_state_dir is arcforge_events.resolve_state_dir
    source = Path(stage_events.__file__).read_text(encoding="utf-8")
    assert "os.write" not in source and "json.dumps" not in source, "a copy of the writer"
