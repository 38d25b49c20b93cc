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


@pytest.mark.parametrize("shape", ["missing", "no-pyproject"])
def test_an_include_that_is_no_package_is_named_before_anything_is_built(tmp_path: Path, shape: str) -> None:
    folder = tmp_path / "my-engine"
    if shape == "no-pyproject":
        folder.mkdir()
        (folder / "setup.cfg").write_text("[metadata]\n")
    with pytest.raises(PublishError, match=f"--include {folder} (is not a folder|has no pyproject.toml)"):
        build_wheelhouse(ROOT / "packages", tmp_path / "out", [], include=[folder])
    assert not (tmp_path / "out").exists()


def test_an_include_that_fails_to_build_names_its_folder(tmp_path: Path) -> None:
    folder = tmp_path / "broken-engine"
    folder.mkdir()
    (folder / "pyproject.toml").write_text("[project\nname = 'broken'\n")  # not TOML
    with pytest.raises(PublishError, match=f"pip could not build the wheel of {folder}"):
        build_wheelhouse(ROOT / "packages", tmp_path / "out", [], include=[folder])


def test_the_cli_says_a_wrong_include_in_one_line(publish, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = publish("wheelhouse", "--id", "alice/wheels", "--include", str(tmp_path / "nope"), "--dry-run")
    assert result.code == 1
    assert result.err.startswith(f"arcforge-publish: error: --include {tmp_path / 'nope'} is not a folder")
    assert "Traceback" not in result.err


def fake_wheel(folder: Path, name: str, requires: list[str]) -> Path:
    wheel = folder / f"{name}-1.0-py3-none-any.whl"
    lines = [
        "Metadata-Version: 2.3",
        f"Name: {name}",
        "Version: 1.0",
        *(f"Requires-Dist: {r}" for r in requires),
    ]
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(f"{name}-1.0.dist-info/METADATA", "\n".join(lines) + "\n")
    return wheel


def test_an_included_package_gets_only_the_requirements_the_wheelhouse_lacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from arcforge_kaggle_publish import wheelhouse

    out = tmp_path / "out"
    out.mkdir()
    fake_wheel(out, "numpy", [])
    engine = fake_wheel(
        out,
        "my_engine",
        ["arcforge-solver>=0.1", "NumPy>=1.26", "torch>=2", "scipy>=1.11", "rich; extra == 'dev'"],
    )
    fetched: list[list[str]] = []
    monkeypatch.setattr(wheelhouse, "_pip_wheel", lambda args, _out, _what: fetched.append(args))
    wheelhouse._fetch_missing([engine], out, lambda _line: None)
    # arcforge-* is built from source, numpy is there already (names compared normalised), torch is the image's.
    assert fetched == [["--only-binary=:all:", "scipy>=1.11"]]
