"""The reader of `<model folder>/manifest.json`, the downloader's record of what it placed (docs/manifest.md).

arcforge-download writes it; arcforge-publish reads it for a dataset's provenance and to refuse an
interrupted download; the Kaggle notebook reads it for the model's commit. `ManifestEntry` is shared
with the writer, so both sides name the same fields.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class ManifestEntry:
    """One placed file."""

    path: str  # under the model folder: model/... or tokenizer/...
    repo_path: str  # its path in the Hub repo
    size: int
    sha256: str
    git_blob_id: str
    lfs: bool


class ManifestDocument(TypedDict, total=False):
    """manifest.json as JSON (every key the downloader writes)."""

    tool: str
    tool_version: str
    repo_id: str
    revision: str
    commit: str
    endpoint: str
    complete: bool
    written_at: str
    bytes_total: int
    files: list[dict[str, Any]]


@dataclass(frozen=True)
class Manifest:
    """A checked manifest.json."""

    path: Path
    repo_id: str
    revision: str
    commit: str
    complete: bool
    files: dict[str, ManifestEntry]  # by `path`
    endpoint: str | None = None
    tool: str | None = None
    tool_version: str | None = None
    written_at: str | None = None

    @property
    def bytes_total(self) -> int:
        return sum(entry.size for entry in self.files.values())


class ManifestError(ValueError):
    """manifest.json exists but cannot be used; the message names the file and the field."""


_ENTRY_FIELDS: dict[str, type] = {
    "path": str,
    "repo_path": str,
    "size": int,
    "sha256": str,
    "git_blob_id": str,
    "lfs": bool,
}


def _entry(path: Path, index: int, raw: Any) -> ManifestEntry:
    if not isinstance(raw, dict):
        raise ManifestError(f"{path}: files[{index}] is not an object")
    values: dict[str, Any] = {}
    for name, kind in _ENTRY_FIELDS.items():
        value = raw.get(name)
        wrong_int = kind is int and isinstance(value, bool)
        if not isinstance(value, kind) or wrong_int:
            raise ManifestError(f"{path}: files[{index}].{name} is missing or not {_type_name(kind)}")
        values[name] = value
    if values["size"] < 0:
        raise ManifestError(f"{path}: files[{index}].size is negative")
    return ManifestEntry(**values)


def _type_name(kind: type) -> str:
    return {str: "a string", int: "an integer", bool: "a boolean"}.get(kind, kind.__name__)


def _text(path: Path, document: dict[str, Any], name: str, required: bool) -> str | None:
    value = document.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        raise ManifestError(f"{path}: {name} is missing or not a string")
    return value


def load_manifest(folder_or_file: Path) -> Manifest:
    """The manifest in a model folder (or at a path to manifest.json). Raises FileNotFoundError when
    there is none, and ManifestError, naming the file and field, when it cannot be used."""
    path = folder_or_file if folder_or_file.name == MANIFEST_NAME else folder_or_file / MANIFEST_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: cannot read it: {exc}") from None
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ManifestError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ManifestError(f"{path}: not a JSON object")
    complete = document.get("complete")
    if not isinstance(complete, bool):
        raise ManifestError(f"{path}: complete is missing or not a boolean")
    raw_files = document.get("files")
    if not isinstance(raw_files, list):
        raise ManifestError(f"{path}: files is missing or not a list")
    files: dict[str, ManifestEntry] = {}
    for index, raw in enumerate(raw_files):
        entry = _entry(path, index, raw)
        files[entry.path] = entry
    return Manifest(
        path=path,
        repo_id=_text(path, document, "repo_id", True) or "",
        revision=_text(path, document, "revision", True) or "",
        commit=_text(path, document, "commit", True) or "",
        complete=complete,
        files=files,
        endpoint=_text(path, document, "endpoint", False),
        tool=_text(path, document, "tool", False),
        tool_version=_text(path, document, "tool_version", False),
        written_at=_text(path, document, "written_at", False),
    )


def find_manifest(folder: Path) -> Manifest | None:
    """The folder's manifest, or None when it has none; raises ManifestError when it is unusable."""
    try:
        return load_manifest(folder)
    except FileNotFoundError:
        return None
