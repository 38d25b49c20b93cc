"""The invoke tasks: listed with help, configured by arcforge.toml, and honest when a package is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from invoke import Context
from invoke.exceptions import Exit

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
import tasks  # noqa: E402


def run_invoke(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def test_list_shows_every_task_with_help() -> None:
    result = run_invoke("--list")
    assert result.returncode == 0, result.stderr
    for name in ("download", "upload", "test-run", "submit", "tui", "bench"):
        assert name in result.stdout
    assert "Solve ARC tasks" in result.stdout and "Submit the checked notebook version" in result.stdout


def test_task_help_lists_flags() -> None:
    result = run_invoke("--help", "test-run")
    assert result.returncode == 0, result.stderr
    assert "--on" in result.stdout and "--time-per-task" in result.stdout


def test_missing_package_fails_with_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(tasks.CLIS, "solve", ("arcforge_not_built_yet", "arcforge-not-built-yet"))
    with pytest.raises(Exit) as caught:
        tasks.run_cli(Context(), "solve", "run")
    assert "arcforge-not-built-yet is not installed" in str(caught.value.message)


def test_bad_config_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "arcforge.toml"
    bad.write_text("[model\nrepo_id = 1\n")
    result = run_invoke("download", "--dry-run", env={"ARCFORGE_CONFIG": str(bad)})
    assert result.returncode != 0
    assert str(bad) in result.stderr and "not valid TOML" in result.stderr


def test_missing_setting_names_section_and_key(tmp_path: Path) -> None:
    partial = tmp_path / "arcforge.toml"
    partial.write_text("[model]\nrevision = 'main'\n")
    result = run_invoke("download", "--dry-run", env={"ARCFORGE_CONFIG": str(partial)})
    assert result.returncode != 0
    assert "[model] repo_id" in result.stderr


def test_unknown_benchmark_lists_the_real_ones() -> None:
    result = run_invoke("bench", "--name", "no-such-bench")
    assert result.returncode != 0
    assert "no benchmark 'no-such-bench'" in result.stderr


def test_solver_arguments_are_built_once_local_runs_capped_kaggle_runs_by_the_budget() -> None:
    config = {
        "solver": {"engine": "search", "workers": 2, "time_per_task": 10},
        "competition": {"time_budget": "11h", "test_mode_budget": "10m"},
    }
    assert tasks.solve_args(config, "local") == [
        "--engine",
        "search",
        "--time-per-task",
        "10",
        "--workers",
        "2",
    ]
    # On Kaggle the local per-task default never applies: the whole budget is the only cap.
    assert tasks.solve_args(config, "kaggle") == ["--time-budget", "11h"]
    assert tasks.solve_args(config, "kaggle", time_per_task=30, engine="llm") == [
        "--time-budget", "11h", "--time-per-task", "30", "--engine", "llm",
    ]  # fmt: skip
    with pytest.raises(Exit, match=r"\[competition\] time_budget"):
        tasks.solve_args({"solver": {}}, "kaggle")


def test_the_repository_config_names_the_current_competition() -> None:
    config = tasks.load_config()
    assert config["kaggle"]["competition"] == "arc-prize-2026-arc-agi-2"
    assert config["competition"]["time_budget"] == "11h" and "time_budget" not in config["solver"]
