"""The generated notebook's cells, executed for real against a fake /kaggle tree.

The tree is a temp folder in one of Kaggle's mount layouts (tests/support/kaggle/notebook_runner.py): wheels
built from this repository as the wheelhouse dataset, a model where a test wants one, and a few of the
solver's bundled sample tasks plus two tasks nothing can solve as the competition's
arc-agi_test_challenges.json. The same TEST_MODE notebook runs as the commit run and as the competition
rerun (KAGGLE_IS_COMPETITION_RERUN=1). The commit run installs the wheelhouse offline into a fresh
virtualenv that holds what Kaggle's image would (numpy, no arcforge).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from tests.kaggle_publish.conftest import ROOT
from tests.support.kaggle.image import kaggle_image_python as image_python
from tests.support.kaggle.notebook_runner import (
    competition_mount,
    dataset_mount,
    gpu_path,
    model_mount,
    run_notebook_cells,
)

SAMPLES = ROOT / "packages" / "solver" / "src" / "arcforge_solver" / "samples"
SOLVABLE = 4
UNSOLVABLE = ("ffff0000", "ffff0001")
TASKS = SOLVABLE + len(UNSOLVABLE)
BUDGET_S = 30
KAGGLE_MODEL = "google/codegemma/transformers/7b-it/1"
# The competition run's solver arguments, as tasks.py passes them: the whole budget, the only cap.
# --workers 2: this machine's cores, so the test does not depend on how many the host reports.
SOLVE_ARGS = ["--time-budget", f"{BUDGET_S}s", "--workers", "2"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The arcforge wheels, built once by `arcforge-publish wheelhouse --dry-run --skip-third-party`."""
    state = tmp_path_factory.mktemp("wheel-state")
    done = subprocess.run(
        [sys.executable, "-m", "arcforge_kaggle_publish", "wheelhouse", "--id", "alice/arcforge-wheelhouse",
         "--skip-third-party", "--dry-run", "--packages-dir", str(ROOT / "packages"), "--state-dir", str(state)],
        capture_output=True, text=True, check=False, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "would publish alice/arcforge-wheelhouse" in done.stdout and "nothing was uploaded" in done.stdout
    folder = state / "wheelhouse" / "arcforge-wheelhouse"
    names = {w.name.split("-")[0] for w in folder.glob("*.whl")}
    assert {"arcforge_downloader", "arcforge_kaggle_publish", "arcforge_solver", "arcforge_tui"} <= names
    assert all(name.startswith("arcforge_") for name in names)
    return folder


@pytest.fixture(scope="module")
def kaggle_image_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fresh virtualenv that holds only what Kaggle's image would bring for the search: pip and numpy."""
    return image_python(tmp_path_factory.mktemp("kaggle-image"))


@pytest.fixture(scope="module")
def image_with_torch_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A throwaway venv over this one (torch and transformers stand in for Kaggle's): what the notebook
    installs lands there and wins over the editable installs here."""
    target = tmp_path_factory.mktemp("notebook-venv")
    venv.EnvBuilder(with_pip=False).create(target)
    python = target / "bin" / "python"
    own_site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    image_site = sysconfig.get_paths()["purelib"]
    (Path(own_site) / "kaggle_image.pth").write_text(f"import site; site.addsitedir({image_site!r})\n")
    return str(python)


def _challenges() -> tuple[dict[str, object], dict[str, object]]:
    """The first sample tasks, and two whose outputs are noise: nothing solves those, so they take their time."""
    challenges = json.loads((SAMPLES / "arc-agi_sample_challenges.json").read_text())
    chosen: dict[str, object] = dict(list(challenges.items())[:SOLVABLE])
    rng = random.Random(7)

    def noise(height: int, width: int) -> list[list[int]]:
        return [[rng.randint(0, 9) for _ in range(width)] for _ in range(height)]

    for task_id in UNSOLVABLE:
        pairs = [{"input": noise(4, 4), "output": noise(5, 3)} for _ in range(3)]
        chosen[task_id] = {"train": pairs, "test": [{"input": noise(4, 4)}]}
    sample = {
        tid: [{"attempt_1": [[0]], "attempt_2": [[0]]} for _ in task["test"]]  # type: ignore[index]
        for tid, task in chosen.items()
    }
    return chosen, sample


def fake_kaggle(
    root: Path, layout: str, wheelhouse: Path | None = None, model: str | None = None
) -> tuple[Path, Path]:
    """/kaggle/input and /kaggle/working under `root`. `model`: "dataset" (our model/ + tokenizer/ as the
    alice/codegemma-arcforge dataset) or "kaggle-models" (one plain Hugging Face folder where Kaggle
    Models mounts google/codegemma/transformers/7b-it/1)."""
    input_dir, working = root / "input", root / "working"
    working.mkdir(parents=True)
    if wheelhouse is not None:
        wheels = dataset_mount(input_dir, "alice", "arcforge-wheelhouse", layout)
        wheels.mkdir(parents=True)
        for wheel in wheelhouse.glob("*.whl"):
            shutil.copyfile(wheel, wheels / wheel.name)
    if model is not None:
        from tests.support.tiny_model import build_tiny_model

        built = build_tiny_model(root / "tiny")
        if model == "dataset":
            folder = dataset_mount(input_dir, "alice", "codegemma-arcforge", layout)
            shutil.copytree(built, folder, ignore=shutil.ignore_patterns(".*"))
            manifest = {
                "tool": "arcforge-downloader",
                "repo_id": "tiny/random-llama",
                "commit": "1234abcd" * 5,
            }
            (folder / "manifest.json").write_text(json.dumps(manifest))
        else:
            folder = model_mount(input_dir, KAGGLE_MODEL, layout)
            folder.mkdir(parents=True)
            for part in ("model", "tokenizer"):
                for path in (built / part).iterdir():
                    shutil.copyfile(path, folder / path.name)
    competition = competition_mount(input_dir, "arc-prize-2026-arc-agi-2", layout)
    competition.mkdir(parents=True)
    challenges, sample = _challenges()
    (competition / "arc-agi_test_challenges.json").write_text(json.dumps(challenges))
    (competition / "sample_submission.json").write_text(json.dumps(sample))
    return input_dir, working


def push_notebook(publish, state_dir: Path, *extra: str) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """`arcforge-publish kernel --test-mode --dry-run` with the competition run's solver arguments."""
    args = ["kernel", "--id", "alice/arcforge-arc-prize", "--test-mode", "--test-mode-budget", "12s", *extra]
    args += ["--dry-run", *(f"--solve-arg={arg}" for arg in SOLVE_ARGS)]
    result = publish(*args)
    assert result.code == 0, result.err
    return json.loads((state_dir / "kernels" / "arcforge-arc-prize" / "arcforge-notebook.ipynb").read_text())


def notebook_env(
    input_dir: Path, working: Path, gpus: list[str] | None = None, **extra: str
) -> dict[str, str]:
    """The notebook's environment: no Kaggle credentials, our fake roots, and `gpus` as a stand-in
    nvidia-smi would list them (None: no nvidia-smi at all, as on a CPU machine)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAGGLE_", "ARCFORGE_"))}
    env["PATH"] = gpu_path(working.parent / "bin", gpus)
    env.update(ARCFORGE_KAGGLE_INPUT=str(input_dir), ARCFORGE_KAGGLE_WORKING=str(working), **extra)
    return env


def finished_items(working: Path) -> list[dict[str, object]]:
    """The solver's finished-task events of its last run, from the copy the notebook keeps."""
    events = [json.loads(line) for line in (working / "test-run.jsonl").read_text().splitlines()]
    starts = [i for i, e in enumerate(events) if e["kind"] == "start"]
    last = events[starts[-1] :]
    return [e["data"] for e in last if e["kind"] == "item" and e["data"]["state"] not in ("running",)]


def assert_valid_submission(working: Path) -> dict[str, object]:
    checked = subprocess.run(
        [sys.executable, "-m", "arcforge_solver", "validate", str(working / "submission.json"),
         "--tasks", str(working / "arcforge-challenges.json")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    submission: dict[str, object] = json.loads((working / "submission.json").read_text())
    assert len(submission) == TASKS
    return submission


def run_as_rerun(
    publish, state_dir: Path, tmp_path: Path, layout: str, *push: str, **env: str
) -> tuple[Path, Path, str]:  # type: ignore[no-untyped-def]
    """Push the TEST_MODE notebook, then run it as Kaggle's competition rerun; it must exit cleanly."""
    notebook = push_notebook(publish, state_dir, *push)
    input_dir, working = fake_kaggle(tmp_path / "kaggle", layout)
    extra = {"KAGGLE_IS_COMPETITION_RERUN": "1", "ARCFORGE_NOTEBOOK_SKIP_INSTALL": "1", **env}
    done = run_notebook_cells(notebook, notebook_env(input_dir, working, **extra), tmp_path, timeout=300)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]  # Kaggle scores whatever submission.json it finds
    return input_dir, working, out


def test_commit_run_in_test_mode_installs_the_wheelhouse_offline_solves_five_and_forecasts(
    publish, wheelhouse: Path, kaggle_image_python: str, tmp_path: Path, state_dir: Path
) -> None:
    notebook = push_notebook(publish, state_dir, "--dataset", "alice/arcforge-wheelhouse")
    input_dir, working = fake_kaggle(tmp_path / "kaggle", "current", wheelhouse)
    env = notebook_env(input_dir, working)
    done = run_notebook_cells(notebook, env, tmp_path, python=kaggle_image_python, timeout=400)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    installed = list(
        Path(kaggle_image_python).parent.parent.glob("lib/python3*/site-packages/arcforge_solver")
    )
    assert installed, "the install cell did not install the solver wheel into the fresh virtualenv"
    assert "commit run in TEST_MODE: 5 tasks" in out
    assert f"challenges: {input_dir}/competitions/arc-prize-2026-arc-agi-2/" in out
    items = finished_items(working)
    assert len(items) == 5 and {i["state"] for i in items} <= {"done", "timeout", "failed"}
    assert_valid_submission(working)

    provenance = json.loads((working / "arcforge-provenance.json").read_text())
    assert provenance["rerun"] is False and provenance["test_mode"] is True
    assert provenance["rerun_support"] == 1 and provenance["solver_exit_code"] == 0
    assert provenance["solve_args"] == SOLVE_ARGS
    command = provenance["command"]
    # After SOLVE_ARGS, so the short budget wins; the solver forecasts the rerun: every task, the whole budget.
    assert command[-7:] == [
        "--test-mode", "--time-budget", "12s", "--forecast-tasks", str(TASKS), "--forecast-budget", str(BUDGET_S),
    ]  # fmt: skip
    forecast = provenance["forecast"]
    assert forecast["tasks"] == TASKS and forecast["budget_s"] == BUDGET_S and forecast["lanes"] == 2
    assert forecast["gpus"] == 0 and forecast["gpu_hours"] == 0 and forecast["machine"] == "4 x NVIDIA L4"
    # Every task's share of the whole budget (less 2 % kept back) over 6 tasks on 2 lanes; no per-task cap.
    assert forecast["time_per_task_s"] == pytest.approx(BUDGET_S * 0.98 * 2 / TASKS, abs=0.1)
    # Two tasks nothing solves search until their time runs out, so the rerun uses its whole budget.
    assert forecast["expected_hours"] * 3600 == pytest.approx(BUDGET_S * 0.98, abs=3.6)
    assert forecast["per_task"]["search_evaluations"] > 0
    assert f"full run: {TASKS} tasks, budget {BUDGET_S} s, on 2 CPU workers" in out and "GPU hours" in out
    assert f"the competition rerun on 4 x NVIDIA L4: {TASKS} tasks" in out


def test_the_rerun_solves_every_task_over_the_whole_budget(publish, tmp_path: Path, state_dir: Path) -> None:
    # Pushed in TEST_MODE: the rerun ignores that.
    input_dir, working, out = run_as_rerun(publish, state_dir, tmp_path, "legacy")
    assert "competition rerun: every task, the whole budget" in out
    assert f"challenges: {input_dir}/arc-prize-2026-arc-agi-2/" in out  # the older mount layout
    provenance = json.loads((working / "arcforge-provenance.json").read_text())
    assert provenance["rerun"] is True and provenance["forecast"] is None
    assert (
        "--test-mode" not in provenance["command"] and provenance["command"][-len(SOLVE_ARGS) :] == SOLVE_ARGS
    )
    items = {i["task_id"]: i for i in finished_items(working)}
    assert len(items) == TASKS and all(i["state"] != "skipped" for i in items.values())
    assert_valid_submission(working)
    # The tasks nothing solves run to their share of the whole budget, far past any local per-task default.
    unsolved = [float(items[t]["seconds"]) for t in UNSOLVABLE]  # type: ignore[arg-type]
    assert all(not items[t]["train_solved"] for t in UNSOLVABLE)
    assert sum(unsolved) >= 0.3 * BUDGET_S, unsolved


def test_a_solver_crash_in_the_rerun_still_leaves_a_valid_submission(
    publish, tmp_path: Path, state_dir: Path
) -> None:
    plugin = tmp_path / "plugins"
    plugin.mkdir()
    (plugin / "crashing_engine.py").write_text(
        '"""An engine that kills its process, as a segfault or the OOM killer would."""\n'
        "import os\n\n\nclass Crash:\n    parallel = False\n\n"
        "    def __init__(self, **options):\n        os._exit(70)\n"
    )
    _input, working, out = run_as_rerun(
        publish, state_dir, tmp_path, "mixed", "--solve-arg=--engine", "--solve-arg=crashing_engine:Crash",
        PYTHONPATH=str(plugin),
    )  # fmt: skip
    assert "arcforge-solve exited with 70; keeping the last valid submission it wrote" in out
    submission = assert_valid_submission(working)
    provenance = json.loads((working / "arcforge-provenance.json").read_text())
    assert provenance["solver_exit_code"] == 70 and provenance["submission_valid"] is True
    assert provenance["command"][-len(SOLVE_ARGS) - 2 : -len(SOLVE_ARGS)] == [
        "--engine",
        "crashing_engine:Crash",
    ]
    assert set(submission) == set(_challenges()[0])


def test_a_solver_that_never_starts_gets_the_fallback_submission(
    publish, tmp_path: Path, state_dir: Path
) -> None:
    _input, working, out = run_as_rerun(
        publish, state_dir, tmp_path, "current", "--solve-arg=--no-such-solver-flag"
    )
    assert "unrecognized arguments: --no-such-solver-flag" in out and "writing the fallback" in out
    assert_valid_submission(working)
    provenance = json.loads((working / "arcforge-provenance.json").read_text())
    assert provenance["submission_source"] == "fallback" and provenance["solver_exit_code"] == 2


@pytest.mark.usefixtures("kaggle")  # signed in: --model is checked against Kaggle Models
@pytest.mark.parametrize(
    ("gpus", "seen"), [(None, "no GPU"), (["Tesla T4", "Tesla T4"], "Tesla T4, Tesla T4")]
)
def test_a_notebook_pushed_for_l4x4_with_a_model_fails_fast_on_another_machine(
    publish, tmp_path: Path, state_dir: Path, gpus: list[str] | None, seen: str
) -> None:
    notebook = push_notebook(publish, state_dir, "--model", KAGGLE_MODEL)
    input_dir, working = fake_kaggle(tmp_path / "kaggle", "current")
    done = run_notebook_cells(notebook, notebook_env(input_dir, working, gpus), tmp_path, timeout=120)
    assert done.returncode != 0
    assert (
        f"this notebook was pushed for 4 x NVIDIA L4 (machine_shape NvidiaL4) with a model attached, "
        f"but this machine has {seen}"
    ) in done.stderr
    assert (
        "arcforge-solve" not in done.stdout and not (working / "submission.json").exists()
    )  # before anything else


@pytest.mark.usefixtures("kaggle")
def test_a_kaggle_models_plain_hugging_face_folder_is_found_and_used(
    publish, wheelhouse: Path, image_with_torch_python: str, tmp_path: Path, state_dir: Path
) -> None:
    notebook = push_notebook(
        publish, state_dir, "--model", KAGGLE_MODEL,
        "--dataset", "alice/arcforge-wheelhouse", "--test-mode-budget", "30s",  # torch and the model load first
    )  # fmt: skip
    metadata = json.loads((state_dir / "kernels" / "arcforge-arc-prize" / "kernel-metadata.json").read_text())
    assert metadata["model_sources"] == [KAGGLE_MODEL]
    input_dir, working = fake_kaggle(tmp_path / "kaggle", "current", wheelhouse, model="kaggle-models")
    env = notebook_env(input_dir, working, ["NVIDIA L4"] * 4)
    done = run_notebook_cells(notebook, env, tmp_path, python=image_with_torch_python, timeout=500)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    folder = model_mount(input_dir, KAGGLE_MODEL, "current")
    assert f"model: {folder}\n" in done.stdout
    provenance = json.loads((working / "arcforge-provenance.json").read_text())
    assert provenance["engine"] == "hybrid" and provenance["model_root"] == str(folder)
    assert provenance["gpus"] == ["NVIDIA L4"] * 4 and provenance["forecast"]["tasks"] == TASKS
    assert_valid_submission(working)


@pytest.mark.usefixtures("kaggle")
def test_a_missing_model_fails_with_a_listing(publish, tmp_path: Path, state_dir: Path) -> None:
    notebook = push_notebook(publish, state_dir, "--model", KAGGLE_MODEL)
    input_dir, working = fake_kaggle(tmp_path / "kaggle", "current")
    env = notebook_env(input_dir, working, ["NVIDIA L4"] * 4, ARCFORGE_NOTEBOOK_SKIP_INSTALL="1")
    done = run_notebook_cells(notebook, env, tmp_path, timeout=120)
    assert done.returncode != 0
    assert "no model under" in done.stderr and "config.json, the weights and the tokenizer" in done.stderr
    assert "arc-prize-2026-arc-agi-2/" in done.stderr and "arc-agi_test_challenges.json" in done.stderr
    assert not (working / "submission.json").exists()


@pytest.mark.usefixtures("kaggle")
def test_the_rerun_on_the_wrong_machine_goes_on_with_the_search(
    publish, tmp_path: Path, state_dir: Path
) -> None:
    """The commit run stops on the wrong machine (it is the check); the rerun still submits something."""
    _input, working, out = run_as_rerun(publish, state_dir, tmp_path, "current", "--model", KAGGLE_MODEL)
    assert (
        "but this machine has no GPU" in out
        and "The competition rerun goes on with the model-free search" in out
    )
    provenance = json.loads((working / "arcforge-provenance.json").read_text())
    assert provenance["engine"] == "search" and provenance["model_root"] is None
    assert_valid_submission(working)
