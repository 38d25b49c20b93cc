"""Checking a fetched submission.json with the solver's own validator."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

from arcforge_kaggle_publish.errors import PublishError


def solver_command() -> list[str]:
    """How to run the solver's CLI: arcforge-solve beside this interpreter, on PATH, or `python -m`."""
    beside = Path(sys.executable).parent / ("arcforge-solve.exe" if os.name == "nt" else "arcforge-solve")
    if beside.is_file():
        return [str(beside)]
    on_path = shutil.which("arcforge-solve")
    if on_path:
        return [on_path]
    if importlib.util.find_spec("arcforge_solver") is not None:  # finds it without importing it
        return [sys.executable, "-m", "arcforge_solver"]
    raise PublishError(
        "arcforge-solve is not installed, so the submission cannot be validated",
        code="config",
        advice="pip install arcforge-solver (or the workspace: pip install -r requirements.txt)",
    )


def validate_submission(submission: Path, tasks: Path) -> str:
    """Run `arcforge-solve validate`; its output on success, a PublishError with its words on failure."""
    done = subprocess.run(
        [*solver_command(), "validate", str(submission), "--tasks", str(tasks)],
        capture_output=True,
        text=True,
        check=False,
    )
    words = (done.stdout + done.stderr).strip()
    if done.returncode != 0:
        raise PublishError(f"{submission} is not a valid submission: {words}", code="invalid_submission")
    return words
