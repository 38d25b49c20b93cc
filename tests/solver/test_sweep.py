"""`arcforge-solve sweep CONFIG.toml`: a grid of settings over a task set, one table, per-setting
submissions, and a rerun that resumes each setting from its own journal."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from arcforge_solver.runtime.run import bundled_sample
from arcforge_solver.runtime.scoring import score_submission
from arcforge_solver.runtime.sweep import SweepConfigError, load_sweep
from arcforge_solver.tasks.io import load_tasks
from tests.solver.conftest import DOUBLE, PYTHON

SWEEP_TIMEOUT_S = 600
COLUMNS = [
    "setting",
    "engine",
    "time_per_task_s",
    "seed",
    "kaggle",
    "task_fraction",
    "tasks_fully_solved",
    "seconds_per_task",
    "status",
    "submission",
]


def sweep(config: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "arcforge_solver", "sweep", str(config)],
        env=env,
        capture_output=True,
        check=False,
        text=True,
        timeout=SWEEP_TIMEOUT_S,
    )


def test_two_settings_by_two_seeds_on_the_bundled_sample_write_one_table(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    config = tmp_path / "grid.toml"
    config.write_text(
        f"""
limit = 2
workers = 2
out = "results"

[grid]
engine = ["search", "{DOUBLE}:FixedProgramEngine"]
time_per_task = ["1s"]
seed = [0, 1]
"""
    )
    result = sweep(config, cli_env)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "results"
    rows = json.loads((out / "sweep.json").read_text())
    assert [list(row) for row in rows] == [COLUMNS] * 4
    assert [(row["engine"], row["seed"]) for row in rows] == [
        ("search", 0),
        ("search", 1),
        (f"{DOUBLE}:FixedProgramEngine", 0),
        (f"{DOUBLE}:FixedProgramEngine", 1),
    ]
    with (out / "sweep.csv").open() as handle:
        assert [row["setting"] for row in csv.DictReader(handle)] == [row["setting"] for row in rows]
    markdown = (out / "sweep.md").read_text().splitlines()
    assert markdown[0] == "| " + " | ".join(COLUMNS[:-1]) + " |"
    assert len(markdown) == 2 + 4
    assert markdown[2:] == result.stdout.splitlines()[2:6]  # the table is printed too

    with bundled_sample() as sample:
        loaded = load_tasks(sample)
        first_two = [task.task_id for task in loaded.tasks[:2]]
        for row in rows:
            submission = Path(row["submission"])
            assert submission.parent.parent == out and submission.parent.name == row["setting"]
            entries = json.loads(submission.read_text())
            assert set(entries) == {task.task_id for task in loaded.tasks}  # complete: fallbacks too
            scores = score_submission(entries, loaded.solutions, first_two)
            assert row["kaggle"] == round(scores.kaggle, 4)
            assert row["tasks_fully_solved"] == round(scores.tasks_fully_solved, 4)
            assert row["status"] == "ok"
            assert row["seconds_per_task"] is not None and row["seconds_per_task"] >= 0
            check = subprocess.run(
                [PYTHON, "-m", "arcforge_solver", "validate", str(submission), "--tasks", str(sample)],
                env=cli_env,
                capture_output=True,
                check=False,
                text=True,
                timeout=SWEEP_TIMEOUT_S,
            )
            assert check.returncode == 0, check.stderr

    # A rerun solves nothing again: each setting resumes from its journal, and the table is the same.
    again = sweep(config, cli_env)
    assert again.returncode == 0, again.stderr
    assert again.stderr.count("resuming: 2 of 2 tasks already done") == 4
    assert json.loads((out / "sweep.json").read_text()) == rows


def test_an_interrupted_sweep_resumes_where_it_stopped(
    small_tasks: Path, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    config = tmp_path / "slow.toml"
    config.write_text(
        f"""
tasks = "tasks"
workers = 1

[grid]
engine = ["{DOUBLE}:SlowEngine"]
time_per_task = [60]
seed = [0, 1]
"""
    )
    env = {**cli_env, "ARCFORGE_DOUBLE_SLEEP": "0.5"}
    process = subprocess.Popen(
        [PYTHON, "-m", "arcforge_solver", "sweep", str(config)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out = tmp_path / "slow-sweep"
    first = out / "tests.solver.doubles-SlowEngine-t60s-seed0" / "submission.journal.jsonl"
    deadline = time.monotonic() + SWEEP_TIMEOUT_S
    while not (first.exists() and first.read_text().strip()):
        assert process.poll() is None, process.communicate()
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("the sweep finished no task")
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=SWEEP_TIMEOUT_S)
    assert process.returncode == 130, stderr
    assert "sweep interrupted; rerun the same command to resume." in stderr
    (row,) = json.loads((out / "sweep.json").read_text())
    assert row["status"] == "interrupted" and row["seed"] == 0
    done_before = len(first.read_text().splitlines())
    assert 1 <= done_before < 5

    result = sweep(config, env)
    assert result.returncode == 0, result.stderr
    assert f"resuming: {done_before} of 5 tasks already done" in result.stderr
    rows = json.loads((out / "sweep.json").read_text())
    assert [(row["seed"], row["status"], row["tasks_fully_solved"]) for row in rows] == [
        (0, "ok", 0.6),
        (1, "ok", 0.6),
    ]
    # Each task of the interrupted setting was solved once: the rerun only did the rest.
    task_ids = [json.loads(line)["task_id"] for line in first.read_text().splitlines()]
    assert sorted(task_ids) == sorted(path.stem for path in small_tasks.iterdir())


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[grid]\nengine = ['nonesuch']\n", "grid.engine"),
        ("[grid]\nengine = ['search']\ntime_per_task = ['soon']\n", "grid.time_per_task"),
        ("[grid]\nengine = ['search']\nseed = [0, 'one']\n", "grid.seed"),
        ("[grid]\nengine = ['search']\nwhatever = [1]\n", "grid.whatever"),
        ("tasks_dir = 'x'\n[grid]\nengine = ['search']\n", "'tasks_dir'"),
        ("limit = 0\n[grid]\nengine = ['search']\n", "limit"),
        ("engine = 'search'\n", "[grid]"),
        ("[grid\n", "not valid TOML"),
        ("tasks = 'nowhere'\n[grid]\nengine = ['search']\n", "tasks: "),
        ("ray_address = '127.0.0.1:6379'\n[grid]\nengine = ['search']\n", "ray_address"),
    ],
)
def test_a_bad_sweep_file_names_the_file_and_the_field(tmp_path: Path, text: str, named: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(text)
    with pytest.raises(SweepConfigError) as caught:
        load_sweep(config)
    assert str(caught.value).startswith(f"{config}: ")
    assert named in str(caught.value)


def test_the_bad_sweep_file_is_one_clear_error_on_the_command_line(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[grid]\nengine = ['search']\nseed = ['x']\n")
    result = sweep(config, cli_env)
    assert result.returncode == 2
    assert f"arcforge-solve: {config}: grid.seed holds 'x'; expected a whole number" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "bad-sweep").exists()


def test_engine_options_expand_into_the_grid(tmp_path: Path) -> None:
    config = tmp_path / "opts.toml"
    config.write_text(
        "[grid]\nengine = ['search']\ntime_per_task = [2, '1m']\n[grid.options]\npopulation = [50, 100]\n"
    )
    sweep_config = load_sweep(config)
    assert [(s.time_per_task_s, s.options) for s in sweep_config.settings] == [
        (2.0, {"population": 50}),
        (2.0, {"population": 100}),
        (60.0, {"population": 50}),
        (60.0, {"population": 100}),
    ]
    assert sweep_config.settings[1].name == "search-t2s-seed0-population=100"
    assert sweep_config.out == tmp_path / "opts-sweep"


def test_a_sweep_on_ray_runs_every_setting_on_one_local_cluster(
    small_tasks: Path, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    pytest.importorskip("ray")
    config = tmp_path / "ray.toml"
    config.write_text(
        f"""
tasks = "tasks"
executor = "ray"
workers = 2

[grid]
engine = ["{DOUBLE}:FixedProgramEngine"]
time_per_task = [30]
seed = [0, 1]
"""
    )
    env = {name: value for name, value in cli_env.items() if name != "RAY_ADDRESS"}  # a local cluster
    result = sweep(config, env)
    assert result.returncode == 0, result.stderr
    rows = json.loads((tmp_path / "ray-sweep" / "sweep.json").read_text())
    assert [(row["seed"], row["status"], row["tasks_fully_solved"]) for row in rows] == [
        (0, "ok", 0.6),
        (1, "ok", 0.6),
    ]
