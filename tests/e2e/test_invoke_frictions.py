"""The frictions a new user met in the invoke tasks (issue 15), each checked as the user meets it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_invoke(tmp_path: Path, *args: str, config: str = "") -> subprocess.CompletedProcess[str]:
    """invoke from the clone, with an arcforge.toml of the test's own (state and outputs under tmp_path)."""
    toml = tmp_path / "arcforge.toml"
    base = (ROOT / "arcforge.toml").read_text()
    base = base.replace('output_dir = "out/codegemma-7b-it"', f'output_dir = "{tmp_path / "model-out"}"')
    toml.write_text(base + config)
    env = {**os.environ, "ARCFORGE_CONFIG": str(toml), "ARCFORGE_STATE_DIR": str(tmp_path / "state")}
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def test_help_shows_a_value_placeholder_for_the_time_per_task(tmp_path: Path) -> None:
    result = run_invoke(tmp_path, "--help", "test-run")
    assert result.returncode == 0, result.stderr
    assert "--time-per-task=STRING" in result.stdout and "--fresh" in result.stdout


def test_report_task_is_listed(tmp_path: Path) -> None:
    result = run_invoke(tmp_path, "--list")
    assert "report" in result.stdout and "submit" in result.stdout


def test_model_engines_default_to_the_downloaded_model_folder(tmp_path: Path) -> None:
    result = run_invoke(tmp_path, "test-run", "--engine", "hybrid", "--limit", "1")
    assert result.returncode != 0
    assert str(tmp_path / "model-out") in result.stderr and "invoke download" in result.stderr


def test_upload_checks_the_model_folder_before_building_wheels(tmp_path: Path) -> None:
    result = run_invoke(tmp_path, "upload")
    assert result.returncode != 0
    assert "run `invoke download` first" in result.stderr
    assert "building the wheelhouse" not in result.stdout + result.stderr


def test_a_rerun_says_it_reuses_results_and_fresh_solves_again(tmp_path: Path) -> None:
    out = tmp_path / "out" / "submission.json"
    first = run_invoke(tmp_path, "test-run", "--limit", "2", "--time-per-task", "1", "--out", str(out))
    assert first.returncode == 0, first.stderr
    again = run_invoke(tmp_path, "test-run", "--limit", "2", "--time-per-task", "1", "--out", str(out))
    assert "resuming: 2 of 2 tasks already done" in again.stderr and "--fresh" in again.stderr
    fresh = run_invoke(
        tmp_path, "test-run", "--limit", "2", "--time-per-task", "1", "--out", str(out), "--fresh"
    )
    assert fresh.returncode == 0 and "resuming" not in fresh.stderr
    report = run_invoke(tmp_path, "report", "--submission", str(out))
    assert report.returncode == 0, report.stderr
    html = out.with_name("submission.report.html").read_text()
    grids = json.loads(html.split("id='grids'>", 1)[1].split("</script>", 1)[0])
    assert len(grids) == 40  # the bundled sample's tasks, found without --tasks
