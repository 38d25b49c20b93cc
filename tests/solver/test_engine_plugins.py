"""Plug-in engines found through the `arcforge.engines` entry points of an installed distribution."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from arcforge_solver.engines.registry import UnknownEngineError, engine_path, plugin_engines

PLUGIN_MODULE = '''
from arcforge_solver.engines.protocol import Candidate, EngineResult

class FlipEngine:
    """Answers every test input upside down."""
    name = "flip-plugin"
    parallel = True

    def __init__(self, **options):
        self.options = options

    def solve(self, task, deadline, context):
        predictions = tuple(grid[::-1] for grid in task.test_inputs)
        return EngineResult(task.task_id, [Candidate("flip", True, 1.0, len(task.train), predictions, 1, "flip-plugin")])
'''


def install_plugin(site: Path, name: str = "flip") -> None:
    """A real installed distribution (module + dist-info with entry_points.txt), as pip would leave it."""
    (site / "arc_flip_plugin.py").write_text(PLUGIN_MODULE)
    info = site / "arc_flip_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: arc-flip-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        f"[arcforge.engines]\n{name} = arc_flip_plugin:FlipEngine\nsearch = arc_flip_plugin:FlipEngine\n"
    )


def test_an_installed_plugin_engine_is_found_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_plugin(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert plugin_engines() == {"flip": "arc_flip_plugin:FlipEngine"}  # a built-in name is not taken over
    assert engine_path("flip") == "arc_flip_plugin:FlipEngine"
    assert engine_path("search").startswith("arcforge_solver.")
    with pytest.raises(UnknownEngineError, match="flip"):
        engine_path("nope")


def test_arcforge_solve_runs_an_installed_plugin_engine(tmp_path: Path, small_tasks: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    install_plugin(site)
    # A fresh venv that sees this one's packages (arcforge among them) and the plug-in through site
    # folders, as `pip install` leaves them: no PYTHONPATH.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    here = sysconfig.get_paths()["purelib"]
    (Path(purelib) / "arcforge_test_sites.pth").write_text(
        f"import site; site.addsitedir({here!r}); site.addsitedir({str(site)!r})\n"
    )
    out = tmp_path / "out" / "submission.json"
    result = subprocess.run(
        [
            str(python),
            "-m",
            "arcforge_solver",
            "run",
            str(small_tasks),
            "--engine",
            "flip",
            "--out",
            str(out),
            "--state-dir",
            str(tmp_path / "state"),
            "--time-per-task",
            "5",
            "--workers",
            "1",
        ],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "tasks fully solved  0.6000  (3/5 tasks)" in result.stderr
