"""What goes into the wheelhouse, checked without building (the notebook test builds it for real)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from arcforge_kaggle_publish.errors import PublishError
from arcforge_kaggle_publish.wheelhouse import build_wheelhouse, package_folders, solver_requirements
from tests.kaggle_publish.conftest import ROOT


def test_third_party_is_the_solver_wheels_own_requirements_without_torch(tmp_path: Path) -> None:
    wheel = tmp_path / "arcforge_solver-0.1.0-py3-none-any.whl"
    metadata = "\n".join(
        [
            "Metadata-Version: 2.3",
            "Name: arcforge-solver",
            "Version: 0.1.0",
            "Requires-Dist: numpy>=1.26",
            "Requires-Dist: arcforge-events<2,>=1",
            "Requires-Dist: accelerate>=0.34; extra == 'llm'",
            'Requires-Dist: torch>=2.2; extra == "llm"',
            "Requires-Dist: hypothesis; extra == 'dev'",
        ]
    )
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("arcforge_solver-0.1.0.dist-info/METADATA", metadata + "\n")
    assert solver_requirements(wheel) == ["numpy>=1.26", "accelerate>=0.34"]


@pytest.mark.parametrize("requirement", ["torch>=2", "triton", "nvidia-cublas-cu12==12.1"])
def test_torch_cuda_and_triton_are_refused(tmp_path: Path, requirement: str) -> None:
    with pytest.raises(PublishError, match="never put"):
        build_wheelhouse(ROOT / "packages", tmp_path / "out", [requirement])
    assert not (tmp_path / "out").exists()


def test_a_wrong_packages_dir_is_named(tmp_path: Path) -> None:
    with pytest.raises(PublishError, match="lacks the arcforge package"):
        build_wheelhouse(tmp_path, tmp_path / "out", [])


def test_every_package_folder_is_built_the_four_stages_first(tmp_path: Path) -> None:
    for name in ("tui", "events", "solver", "downloader", "kaggle_publish", "zeta_contract"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "pyproject.toml").write_text("[project]\n")
    (tmp_path / "notes").mkdir()  # no pyproject.toml: not a package
    names = [p.name for p in package_folders(tmp_path)]
    assert names == ["solver", "downloader", "kaggle_publish", "tui", "events", "zeta_contract"]
