"""The manifest.json reader: a good manifest is read whole; a bad one is one clear error naming the
file and the field; a folder without one is None (docs/manifest.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from arcforge_events.manifest import Manifest, ManifestEntry, ManifestError, find_manifest, load_manifest

ENTRY = {
    "path": "model/model.safetensors",
    "repo_path": "model.safetensors",
    "size": 123,
    "sha256": "a" * 64,
    "git_blob_id": "b" * 40,
    "lfs": True,
}


def document(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "tool": "arcforge-downloader",
        "tool_version": "0.1.0",
        "repo_id": "org/model",
        "revision": "main",
        "commit": "c" * 40,
        "endpoint": "https://huggingface.co",
        "complete": True,
        "written_at": "2026-12-01T10:00:00Z",
        "bytes_total": 123,
        "files": [ENTRY],
    }
    doc.update(changes)
    return doc


def write(folder: Path, doc: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "manifest.json"
    path.write_text(json.dumps(doc))
    return path


def test_a_good_manifest_is_read_whole(tmp_path: Path) -> None:
    path = write(tmp_path / "m", document())
    manifest = load_manifest(tmp_path / "m")
    assert manifest == load_manifest(path)  # the folder or the file itself
    assert isinstance(manifest, Manifest)
    assert (manifest.repo_id, manifest.revision, manifest.commit, manifest.complete) == (
        "org/model",
        "main",
        "c" * 40,
        True,
    )
    assert manifest.files == {"model/model.safetensors": ManifestEntry(**ENTRY)}
    assert manifest.bytes_total == 123 and manifest.tool_version == "0.1.0"


def test_optional_fields_may_be_missing_and_unknown_ones_are_ignored(tmp_path: Path) -> None:
    doc = document(newer_field={"x": 1})
    for optional in ("tool", "tool_version", "endpoint", "written_at", "bytes_total"):
        del doc[optional]
    manifest = load_manifest(write(tmp_path, doc))
    assert manifest.endpoint is None and manifest.files


def test_a_folder_without_a_manifest(tmp_path: Path) -> None:
    assert find_manifest(tmp_path) is None
    with pytest.raises(FileNotFoundError):
        load_manifest(tmp_path)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("not json {", "not valid JSON"),
        ([1, 2], "not a JSON object"),
        (document(complete="yes"), "complete is missing or not a boolean"),
        (document(files={"a": 1}), "files is missing or not a list"),
        (document(commit=None), "commit is missing or not a string"),
        (document(files=[{**ENTRY, "size": "123"}]), "files[0].size is missing or not an integer"),
        (document(files=[{**ENTRY, "size": True}]), "files[0].size is missing or not an integer"),
        (document(files=[ENTRY, {**ENTRY, "lfs": "no"}]), "files[1].lfs is missing or not a boolean"),
        (document(files=[{**ENTRY, "size": -1}]), "files[0].size is negative"),
        (document(files=["model/x"]), "files[0] is not an object"),
    ],
)
def test_a_bad_manifest_is_one_clear_error(tmp_path: Path, doc: object, message: str) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    with pytest.raises(ManifestError) as caught:
        find_manifest(tmp_path)
    assert str(caught.value).startswith(f"{path}: {message}")  # JSON errors add the decoder's words


def test_a_deep_manifest_is_an_error_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ManifestError, match="not valid JSON"):
        load_manifest(tmp_path)
