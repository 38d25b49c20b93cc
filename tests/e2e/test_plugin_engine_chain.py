"""A plug-in engine from the user's own package reaches Kaggle: `arcforge-publish wheelhouse --include
examples/arcforge-engine-example` ships it, `arcforge-publish kernel --engine example` runs it, and the
loopback Kaggle executes the pushed notebook for real: an offline install of the whole wheelhouse into a
fresh virtualenv (Kaggle's image: pip and numpy, no arcforge), the solver finding the engine through its
`arcforge.engines` entry point (no PYTHONPATH), and the output fetched and checked. Also the same package
installed from the wheelhouse locally, run with `arcforge-solve run --engine example`."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import ROOT, run_module
from tests.support.kaggle import default_competition, notebook_runner, start_kaggle_server
from tests.support.kaggle.image import kaggle_image_python

EXAMPLE = ROOT / "examples" / "arcforge-engine-example"
SAMPLES = ROOT / "packages" / "solver" / "src" / "arcforge_solver" / "samples"
# Three tasks a rotation or reflection solves, and one it does not (a colour mapping the search would solve).
DIHEDRAL = {"3c9b0459": "rot180", "68b16354": "flip_rows", "74dd1130": "transpose"}
NOT_DIHEDRAL = "0d3d703e"
OWNER = "alice"

pytestmark = pytest.mark.slow


def sample_tasks() -> tuple[dict[str, Any], dict[str, Any]]:
    challenges = json.loads((SAMPLES / "arc-agi_sample_challenges.json").read_text())
    solutions = json.loads((SAMPLES / "arc-agi_sample_solutions.json").read_text())
    chosen = [*DIHEDRAL, NOT_DIHEDRAL]
    return {k: challenges[k] for k in chosen}, {k: solutions[k] for k in chosen}


def publish(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_module("arcforge_kaggle_publish", *args, env=env, timeout=600)


@pytest.fixture(scope="module")
def image_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    return kaggle_image_python(tmp_path_factory.mktemp("kaggle-image"))


def assert_the_example_answered(submission: dict[str, Any], solutions: dict[str, Any]) -> None:
    for task_id in DIHEDRAL:
        assert [e["attempt_1"] for e in submission[task_id]] == solutions[task_id], task_id
    # Nothing dihedral fits a colour mapping: the example answers with some transform of the input, wrong.
    assert all(
        e["attempt_1"] != s for e, s in zip(submission[NOT_DIHEDRAL], solutions[NOT_DIHEDRAL], strict=True)
    )


def test_a_plugin_engine_shipped_with_include_runs_in_the_kaggle_notebook(
    tmp_path: Path, image_python: str
) -> None:
    tasks, solutions = sample_tasks()
    state = tmp_path / "state"
    runner = notebook_runner(python=image_python, timeout=500)
    with start_kaggle_server(
        users={OWNER: "alice-secret-key-0123456789"},
        competitions=[default_competition(tasks, solutions)],
        runner=runner,
    ) as kaggle:
        env = {
            **kaggle.env(OWNER),
            "ARCFORGE_STATE_DIR": str(state),
            "ARCFORGE_WHEELHOUSE_SKIP_THIRD_PARTY": "1",  # the image venv has numpy; no download here
            "KAGGLE_CONFIG_DIR": tempfile.mkdtemp(prefix="kaggle-config-", dir=tmp_path),
        }
        built = publish(
            "wheelhouse", "--id", "arcforge-wheelhouse", "--include", str(EXAMPLE), "--poll-seconds", "0.01",
            env=env,
        )  # fmt: skip
        assert built.returncode == 0, built.stdout + built.stderr
        assert f"building the wheel of {EXAMPLE}" in built.stdout
        wheels = kaggle.dataset(f"{OWNER}/arcforge-wheelhouse").versions[-1].files
        assert any(name.startswith("arcforge_engine_example-0.1.0-") for name in wheels), sorted(wheels)

        pushed = publish(
            "kernel", "--id", "arcforge-plugin", "--dataset", "arcforge-wheelhouse", "--engine", "example",
            "--solve-arg=--time-budget", "--solve-arg=60s", "--solve-arg=--workers", "--solve-arg=1",
            "--run", "--poll-seconds", "0.01",
            env=env,
        )  # fmt: skip
        assert pushed.returncode == 0, pushed.stdout + pushed.stderr
        text = kaggle.calls_to("SaveKernel")[0]["text"]
        # Only appended, after the --solve-arg ones; the publisher reads no solver flag.
        assert "SOLVE_ARGS = ['--time-budget', '60s', '--workers', '1', '--engine', 'example']" in text

        waited = publish("status", f"{OWNER}/arcforge-plugin", "--wait", "--poll-seconds", "0.01", env=env)
        log = kaggle.kernels[(OWNER, "arcforge-plugin")].versions[-1].log
        assert waited.returncode == 0, waited.stdout + waited.stderr + log[-4000:]
        assert "installing from the wheelhouse: " in log and "arcforge_engine_example" in log
        fetched = publish("output", f"{OWNER}/arcforge-plugin", "--to", str(tmp_path / "out"), env=env)
        assert fetched.returncode == 0, fetched.stdout + fetched.stderr

    out = tmp_path / "out"
    assert_the_example_answered(json.loads((out / "submission.json").read_text()), solutions)
    events = [json.loads(line) for line in (out / "test-run.jsonl").read_text().splitlines()]
    start = next(e for e in events if e["kind"] == "start")
    assert start["data"]["engine"] == "example"
    items = {
        e["data"]["task_id"]: e["data"] for e in events if e["kind"] == "item" and "program" in e["data"]
    }
    assert set(items) == set(tasks)
    for task_id, transform in DIHEDRAL.items():
        assert items[task_id]["program"].startswith(f"# arcforge-engine-example: {transform}\n")
        assert items[task_id]["train_solved"] is True
    provenance = json.loads((out / "arcforge-provenance.json").read_text())
    assert provenance["engine"] == "example" and provenance["submission_source"] == "solver"
    assert provenance["command"][-2:] == ["--engine", "example"]


def test_arcforge_solve_runs_the_example_installed_from_the_wheelhouse(tmp_path: Path) -> None:
    state = tmp_path / "state"
    built = publish(
        "wheelhouse", "--id", "alice/arcforge-wheelhouse", "--include", str(EXAMPLE), "--skip-third-party",
        "--dry-run", "--state-dir", str(state),
        env={},
    )  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    python = kaggle_image_python(tmp_path / "image")
    wheels = state / "wheelhouse" / "arcforge-wheelhouse"
    installed = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--no-index", "--find-links", str(wheels),
         "arcforge-engine-example"],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stdout + installed.stderr
    tasks, solutions = sample_tasks()
    challenges = tmp_path / "challenges.json"
    challenges.write_text(json.dumps(tasks))
    out = tmp_path / "run" / "submission.json"
    solve = Path(python).parent / "arcforge-solve"
    done = subprocess.run(
        [str(solve), "run", str(challenges), "--engine", "example", "--out", str(out),
         "--state-dir", str(tmp_path / "solver-state"), "--time-per-task", "5", "--workers", "1"],
        capture_output=True, text=True, check=False, timeout=300,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},  # no PYTHONPATH: the entry point finds it
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert_the_example_answered(json.loads(out.read_text()), solutions)
