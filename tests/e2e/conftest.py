"""Shared helpers for the end-to-end suite: run invoke in a subprocess with a config of our own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def write_config(path: Path, *, repo_id: str, output_dir: Path, owner: str = "arcforge-e2e") -> Path:
    path.write_text(
        f"""[model]
repo_id = "{repo_id}"
revision = "main"
output_dir = "{output_dir}"

[kaggle]
owner = "{owner}"
dataset_slug = "tiny-model-arcforge"
wheelhouse_slug = "arcforge-wheelhouse"
kernel_slug = "arcforge-arc-prize"
competition = "arc-prize-2026-arc-agi-2"
accelerator = "NvidiaL4"

[solver]
time_per_task = 3
engine = "search"
workers = 2

[competition]
time_budget = "1h"
test_mode_budget = "20s"

[paths]
state_dir = ".arcforge"
"""
    )
    return path


def run_module(
    module: str, *args: str, env: dict[str, str], timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """`python -m MODULE ARGS` from the repository root, with `env` over this environment."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_invoke(*args: str, env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return run_module("invoke", *args, env=env, timeout=timeout)
