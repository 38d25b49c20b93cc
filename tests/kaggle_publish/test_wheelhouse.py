"""What goes into the wheelhouse, checked without building (the notebook test builds it for real)."""

from __future__ import annotations

from pathlib import Path

import pytest

from arcforge_kaggle_publish.errors import PublishError
from arcforge_kaggle_publish.wheelhouse import build_wheelhouse, default_third_party, requirement_name
from tests.kaggle_publish.conftest import ROOT


def test_default_third_party_is_the_solver_deps_without_torch() -> None:
    names = [requirement_name(r).lower() for r in default_third_party(ROOT / "packages")]
    assert "numpy" in names and "transformers" in names
    assert not [n for n in names if n in ("torch", "triton") or n.startswith("nvidia")]


@pytest.mark.parametrize("requirement", ["torch>=2", "triton", "nvidia-cublas-cu12==12.1"])
def test_torch_cuda_and_triton_are_refused(tmp_path: Path, requirement: str) -> None:
    with pytest.raises(PublishError, match="never put"):
        build_wheelhouse(ROOT / "packages", tmp_path / "out", [requirement])
    assert not (tmp_path / "out").exists()


def test_a_wrong_packages_dir_is_named(tmp_path: Path) -> None:
    with pytest.raises(PublishError, match="lacks the arcforge package"):
        build_wheelhouse(tmp_path, tmp_path / "out", [])
