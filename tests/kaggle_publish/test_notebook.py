"""The generated notebook's cells, executed for real against a fake /kaggle tree.

The tree is a temp folder: the tiny test model as a model dataset (with a downloader-style
manifest.json), wheels built from this repository as the wheelhouse dataset, and a few of the solver's
bundled sample tasks as the competition's arc-agi_test_challenges.json. The cells run in a throwaway
virtualenv that sees this environment's packages (numpy, torch, transformers stand in for the Kaggle
image) and into which the install cell really installs the arcforge wheels from the wheelhouse.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from tests.kaggle_publish.conftest import ROOT
from tests.support.kaggle_server import run_notebook_cells

SAMPLES = ROOT / "packages" / "solver" / "src" / "arcforge_solver" / "samples"
TASKS = 3

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The four arcforge wheels, built once by `arcforge-publish wheelhouse --dry-run --skip-third-party`."""
    state = tmp_path_factory.mktemp("wheel-state")
    done = subprocess.run(
        [sys.executable, "-m", "arcforge_kaggle_publish", "wheelhouse", "--id", "alice/arcforge-wheelhouse",
         "--skip-third-party", "--dry-run", "--packages-dir", str(ROOT / "packages"), "--state-dir", str(state)],
        capture_output=True, text=True, check=False, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "would publish alice/arcforge-wheelhouse" in done.stdout and "nothing was uploaded" in done.stdout
    folder = state / "wheelhouse" / "arcforge-wheelhouse"
    names = sorted(w.name.split("-")[0] for w in folder.glob("*.whl"))
    assert names == ["arcforge_downloader", "arcforge_kaggle_publish", "arcforge_solver", "arcforge_tui"]
    return folder


@pytest.fixture(scope="module")
def kaggle_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A throwaway venv over this one: the notebook's pip install lands there, not in the test env."""
    target = tmp_path_factory.mktemp("notebook-venv")
    venv.EnvBuilder(with_pip=False).create(target)
    python = target / "bin" / "python"
    own_site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    # This environment plays the Kaggle image: its packages come after the venv's own, so what the
    # notebook installs from the wheelhouse wins over the editable installs here.
    image_site = sysconfig.get_paths()["purelib"]
    (Path(own_site) / "kaggle_image.pth").write_text(f"import site; site.addsitedir({image_site!r})\n")
    return str(python)


def _fake_kaggle(root: Path, wheelhouse: Path, with_model: bool) -> tuple[Path, Path]:
    input_dir, working = root / "input", root / "working"
    working.mkdir(parents=True)
    if with_model:
        from tests.support.tiny_model import build_tiny_model

        model_root = build_tiny_model(input_dir / "codegemma-arcforge")
        manifest = {"tool": "arcforge-downloader", "repo_id": "tiny/random-llama", "commit": "1234abcd" * 5}
        (model_root / "manifest.json").write_text(json.dumps(manifest))
    wheels = input_dir / "arcforge-wheelhouse"
    wheels.mkdir(parents=True)
    for wheel in wheelhouse.glob("*.whl"):
        (wheels / wheel.name).write_bytes(wheel.read_bytes())
    challenges = json.loads((SAMPLES / "arc-agi_sample_challenges.json").read_text())
    chosen = dict(list(challenges.items())[:TASKS])
    competition = input_dir / "arc-prize-2025"
    competition.mkdir()
    (competition / "arc-agi_test_challenges.json").write_text(json.dumps(chosen))
    sample = {
        tid: [{"attempt_1": [[0]], "attempt_2": [[0]]} for _ in task["test"]] for tid, task in chosen.items()
    }
    (competition / "sample_submission.json").write_text(json.dumps(sample))
    return input_dir, working


def _notebook(publish, state_dir: Path, datasets: list[str]) -> dict[str, object]:  # type: ignore[no-untyped-def]
    args = ["kernel", "--id", "alice/arcforge-arc-prize", "--test-mode", "--time-per-task", "2", "--dry-run"]
    for ref in datasets:
        args += ["--dataset", ref]
    assert publish(*args).code == 0
    return json.loads((state_dir / "kernels" / "arcforge-arc-prize" / "arcforge-notebook.ipynb").read_text())


def _env(input_dir: Path, working: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAGGLE_", "ARCFORGE_"))}
    env.update(ARCFORGE_KAGGLE_INPUT=str(input_dir), ARCFORGE_KAGGLE_WORKING=str(working), **extra)
    return env


def _validate(working: Path) -> None:
    checked = subprocess.run(
        [sys.executable, "-m", "arcforge_solver", "validate", str(working / "submission.json"),
         "--tasks", str(working / "arcforge-challenges.json")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert len(json.loads((working / "submission.json").read_text())) == TASKS


def test_notebook_with_model_installs_wheels_and_submits(
    publish, wheelhouse: Path, kaggle_python: str, tmp_path: Path, state_dir: Path
) -> None:
    notebook = _notebook(publish, state_dir, ["alice/codegemma-arcforge", "alice/arcforge-wheelhouse"])
    input_dir, working = _fake_kaggle(tmp_path / "kaggle", wheelhouse, with_model=True)
    done = run_notebook_cells(notebook, _env(input_dir, working), tmp_path, python=kaggle_python, timeout=500)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"model: {input_dir}/codegemma-arcforge/model" in done.stdout
    assert "--engine hybrid" in done.stdout and "--test-mode" in done.stdout
    _validate(working)
    provenance = json.loads((working / "arcforge-provenance.json").read_text())
    assert provenance["engine"] == "hybrid" and provenance["model_manifest"]["commit"] == "1234abcd" * 5
    assert provenance["pushed_with"]["alice/arcforge-wheelhouse"]["role"] == "wheelhouse"
    site = Path(kaggle_python).parent.parent / "lib"
    assert list(site.glob("python3*/site-packages/arcforge_solver/__init__.py")), (
        "the wheel was not installed"
    )
    assert (working / "test-run.jsonl").is_file()


def test_notebook_without_model_uses_the_search_engine(
    publish, wheelhouse: Path, kaggle_python: str, tmp_path: Path, state_dir: Path
) -> None:
    notebook = _notebook(publish, state_dir, ["alice/arcforge-wheelhouse"])
    input_dir, working = _fake_kaggle(tmp_path / "kaggle", wheelhouse, with_model=False)
    env = _env(input_dir, working, ARCFORGE_NOTEBOOK_SKIP_INSTALL="1")
    done = run_notebook_cells(notebook, env, tmp_path, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "--engine search" in done.stdout and "--model-dir" not in done.stdout
    _validate(working)


def test_missing_model_fails_with_a_listing(
    publish, wheelhouse: Path, tmp_path: Path, state_dir: Path
) -> None:
    notebook = _notebook(publish, state_dir, ["alice/codegemma-arcforge", "alice/arcforge-wheelhouse"])
    input_dir, working = _fake_kaggle(tmp_path / "kaggle", wheelhouse, with_model=False)
    env = _env(input_dir, working, ARCFORGE_NOTEBOOK_SKIP_INSTALL="1")
    done = run_notebook_cells(notebook, env, tmp_path, timeout=120)
    assert done.returncode != 0
    assert "no model/ + tokenizer/ folders under" in done.stderr
    assert "arcforge-wheelhouse/" in done.stderr and "arc-agi_test_challenges.json" in done.stderr
    assert not (working / "submission.json").exists()
