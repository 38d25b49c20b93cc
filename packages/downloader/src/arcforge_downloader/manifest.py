"""DIR/manifest.json: what was downloaded, from which commit, with which checksums."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from arcforge_downloader import __version__
from arcforge_downloader.progress import human_size
from arcforge_events.manifest import MANIFEST_NAME, ManifestEntry, ManifestError, load_manifest

# The format is the contract's (docs/manifest.md): its entry type and reader live in arcforge-events.
__all__ = ["MANIFEST_NAME", "ManifestEntry", "read_manifest", "size_report", "write_manifest"]


def read_manifest(output_dir: Path) -> dict[str, ManifestEntry]:
    """The entries of an earlier run's manifest, by path; empty when absent or unusable (the files are
    then verified afresh, never trusted)."""
    try:
        return load_manifest(output_dir).files
    except (OSError, ManifestError):
        return {}


def write_manifest(
    output_dir: Path,
    *,
    repo_id: str,
    revision: str,
    commit: str,
    endpoint: str,
    entries: list[ManifestEntry],
    complete: bool,
) -> Path:
    """Write the manifest atomically (temp file + rename), so a reader never sees half of one."""
    document: dict[str, Any] = {
        "tool": "arcforge-downloader",
        "tool_version": __version__,
        "repo_id": repo_id,
        "revision": revision,
        "commit": commit,
        "endpoint": endpoint,
        "complete": complete,
        "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "bytes_total": sum(e.size for e in entries),
        "files": [asdict(e) for e in sorted(entries, key=lambda e: e.path)],
    }
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / MANIFEST_NAME
    temporary = path.with_name(f".{MANIFEST_NAME}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)
    return path


def size_report(entries: list[tuple[str, int]]) -> str:
    """One line per file with its size, then the total."""
    width = max([len(name) for name, _ in entries] + [5])
    lines = [f"{name:<{width}}  {human_size(size):>10}" for name, size in sorted(entries)]
    total = sum(size for _, size in entries)
    lines.append(f"{'total':<{width}}  {human_size(total):>10}  ({len(entries)} files, {total:,} bytes)")
    return "\n".join(lines)
