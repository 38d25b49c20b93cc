"""The downloader's manifest.json writer and the contract's reader agree (docs/manifest.md)."""

from __future__ import annotations

import json
import re
from dataclasses import fields
from pathlib import Path

from arcforge_downloader.manifest import write_manifest
from arcforge_events.manifest import ManifestDocument, ManifestEntry, load_manifest

DOCS = Path(__file__).resolve().parents[2] / "docs" / "manifest.md"


def entries() -> list[ManifestEntry]:
    return [
        ManifestEntry("tokenizer/tokenizer.json", "tokenizer.json", 10, "1" * 64, "2" * 40, False),
        ManifestEntry("model/model.safetensors", "model.safetensors", 90, "3" * 64, "4" * 40, True),
    ]


def test_the_reader_reads_what_the_downloader_writes(tmp_path: Path) -> None:
    path = write_manifest(
        tmp_path,
        repo_id="org/model",
        revision="main",
        commit="f" * 40,
        endpoint="http://127.0.0.1:1",
        entries=entries(),
        complete=False,
    )
    manifest = load_manifest(tmp_path)
    assert manifest.path == path
    assert (manifest.repo_id, manifest.commit, manifest.complete, manifest.bytes_total) == (
        "org/model",
        "f" * 40,
        False,
        100,
    )
    assert set(manifest.files) == {"model/model.safetensors", "tokenizer/tokenizer.json"}
    assert manifest.files["model/model.safetensors"].lfs is True
    written = json.loads(path.read_text())
    assert set(written) == set(ManifestDocument.__annotations__)  # every key the downloader writes is typed


def test_docs_name_every_field() -> None:
    text = DOCS.read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([a-z_0-9]+)` \|", text, re.M))
    assert documented == set(ManifestDocument.__annotations__) | {f.name for f in fields(ManifestEntry)}
