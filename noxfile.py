"""arcforge's test, lint, type-check, build and benchmark sessions.

`nox -s tests` runs every package's tests plus the end-to-end suite, each in its own virtualenv
with only what that suite needs. Arguments after `--` go to the tool a session runs.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import nox

nox.options.download_python = "never"
nox.options.default_venv_backend = "virtualenv"
nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True

ROOT = Path(__file__).parent
CONSTRAINTS = ("-c", str(ROOT / "constraints.txt"))

# Folder under packages/ -> (distribution, console script). `events` is the contract every stage
# depends on (its one arcforge dependency); it has no script, so its check is an import.
PACKAGES: dict[str, tuple[str, str | None]] = {
    "events": ("arcforge-events", None),
    "downloader": ("arcforge-downloader", "arcforge-download"),
    "kaggle_publish": ("arcforge-kaggle-publish", "arcforge-publish"),
    "solver": ("arcforge-solver", "arcforge-solve"),
    "tui": ("arcforge-tui", "arcforge-tui"),
}
TEST_TOOLS = ["pytest", "pytest-timeout"]


def editable(*specs: str) -> list[str]:
    """pip arguments installing packages/<spec> editable, e.g. editable("solver[llm]", "tui"), always
    with packages/events first: every stage depends on arcforge-events, which is not on PyPI."""
    specs = ("events", *(spec for spec in specs if spec != "events"))
    return [arg for spec in specs for arg in ("-e", f"packages/{spec}")]


# What each suite installs besides TEST_TOOLS. The TUI's tests write events with the contract's writer,
# the one every stage uses (tests/contract feeds each stage's real output to the reader); e2e crosses
# every package.
SUITE_NEEDS: dict[str, list[str]] = {
    "events": [*editable("events"), "hypothesis"],
    "downloader": [*editable("downloader"), "safetensors", "numpy", "tokenizers"],
    "kaggle_publish": [*editable("kaggle_publish", "solver[llm]"), "tokenizers"],
    "solver": [*editable("solver[ttt,ray]"), "hypothesis"],
    "tui": [
        *editable("tui"),
        "pytest-asyncio",
        "pytest-textual-snapshot",
    ],
    "e2e": [
        *editable("downloader", "kaggle_publish", "solver[llm]", "tui"),
        "numpy",
        "invoke",
        "safetensors",
        "tokenizers",
        "pytest-asyncio",
    ],
}
# The suite's test folders.
SUITE_PATHS: dict[str, list[str]] = {
    "events": ["tests/events"],
    "downloader": ["tests/downloader"],
    "kaggle_publish": ["tests/kaggle_publish"],
    "solver": ["tests/solver"],
    "tui": ["tests/tui"],
    "e2e": ["tests/contract", "tests/e2e"],
}


def _run_pytest(session: nox.Session, paths: list[str]) -> None:
    existing = [p for p in paths if (ROOT / p).is_dir()]
    if not existing:
        session.error(f"no test folder among {paths}")
    session.run("pytest", *existing, *session.posargs)


@nox.session
@nox.parametrize("suite", list(SUITE_PATHS))
def tests(session: nox.Session, suite: str) -> None:
    """Run one suite's tests (a package's, or e2e): `nox -s tests` runs them all."""
    session.install(*CONSTRAINTS, *TEST_TOOLS, *SUITE_NEEDS[suite])
    session.env.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    session.env["TOKENIZERS_PARALLELISM"] = "false"
    # Every writer refuses a data key that docs/events.md does not document: each suite checks its stage.
    session.env["ARCFORGE_EVENTS_STRICT"] = "1"
    _run_pytest(session, SUITE_PATHS[suite])


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check over the whole tree."""
    session.install("ruff")
    session.run("ruff", "check", ".", *session.posargs)
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on every package's source and on the test stand-ins (benchmarks import them)."""
    # numpy 2.5's stubs (served for Python 3.12 here) reject `ndarray.max()` without arguments and
    # `ufunc.reduce` over a list; the code is checked against 2.4's until they settle.
    session.install(*CONSTRAINTS, "mypy", "numpy<2.5", *editable(*PACKAGES))
    sources = [f"packages/{folder}/src" for folder in PACKAGES]
    # Named file by file: pyproject's mypy `exclude` skips tests/ when mypy walks a folder.
    stand_ins = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests" / "support").rglob("*.py"))
    session.run("mypy", *sources, *stand_ins, *session.posargs)


@nox.session
def build(session: nox.Session) -> None:
    """Build each package's sdist and wheel, install each wheel alone in a fresh venv, run its --help.

    arcforge-events is built first (PACKAGES lists it first): it is not on PyPI, so each stage's wheel
    is installed with --find-links on dist/events, where pip finds the stage's one arcforge dependency.
    """
    session.install("build")
    dist = ROOT / "dist"
    for folder, (_dist_name, script) in PACKAGES.items():
        shutil.rmtree(dist / folder, ignore_errors=True)
        session.run("python", "-m", "build", "--outdir", str(dist / folder), f"packages/{folder}")
        wheels = sorted((dist / folder).glob("*.whl"))
        if not wheels:
            session.error(f"no wheel built for packages/{folder}")
        with tempfile.TemporaryDirectory(prefix=f"arcforge-{folder}-") as venv:
            session.run("python", "-m", "venv", venv)
            bin_dir = Path(venv) / ("Scripts" if os.name == "nt" else "bin")
            session.run(
                str(bin_dir / "python"),
                "-m",
                "pip",
                "install",
                "-q",
                *CONSTRAINTS,
                "--find-links",
                str(dist / "events"),
                str(wheels[0]),
                external=True,
            )
            if script is None:  # the contract package: importing it is its check
                session.run(str(bin_dir / "python"), "-c", "import arcforge_events", external=True)
                session.log(f"{wheels[0].name}: installed alone, imports")
                continue
            session.run(str(bin_dir / script), "--help", external=True, silent=True)
            session.log(f"{wheels[0].name}: installed alone, `{script} --help` ran")


@nox.session
def bench(session: nox.Session) -> None:
    """Run a benchmark script: `nox -s bench -- benchmarks/NAME.py ARGS`, with everything any of them
    imports (the stand-ins under tests/support, the model engines, the publisher, invoke's tasks.py)."""
    session.install(
        *CONSTRAINTS,
        *editable("downloader", "kaggle_publish", "solver[ttt]"),
        "invoke",
        "safetensors",
        "tokenizers",
        "numpy",
        "hf_transfer",
    )
    if any("ray_overhead" in arg for arg in session.posargs):
        session.install(*CONSTRAINTS, *editable("solver[ray]"))
    if not session.posargs:
        scripts = sorted(p.name for p in (ROOT / "benchmarks").glob("*.py"))
        session.error(
            "name a benchmark: nox -s bench -- benchmarks/<script>.py [args]; have: " + ", ".join(scripts)
        )
    session.run("python", *session.posargs)


@nox.session(python=["3.10", "3.12", "3.13"])
def compat(session: nox.Session) -> None:
    """On the other supported Pythons: install the packages (no LLM extras), run each CLI's --help
    and the event-contract tests (the contract package's own, and the stages' writers against its
    reader). The full suites run on 3.11, the Python whose CPU torch wheel the test environments pin.
    arcforge-kaggle-publish needs 3.11+ (so does the kaggle client)."""
    folders = [f for f in PACKAGES if not (f == "kaggle_publish" and session.python == "3.10")]
    session.install(*CONSTRAINTS, *TEST_TOOLS, "hypothesis", *editable(*folders))
    for folder in folders:
        script = PACKAGES[folder][1]
        if script is not None:
            session.run(script, "--help", silent=True)
    session.env["ARCFORGE_EVENTS_STRICT"] = "1"
    _run_pytest(session, ["tests/events", "tests/contract"])
