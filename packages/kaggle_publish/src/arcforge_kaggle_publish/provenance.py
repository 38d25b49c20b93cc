"""provenance.json beside a fetched output: model commit → datasets → kernel version → submission.

Kaggle does not link a submission back to the weights and code that made it; this file does, from what the
notebook recorded (arcforge-provenance.json in its output) and what arcforge published (published.json).
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from arcforge_kaggle_publish.errors import PublishError
from arcforge_kaggle_publish.records import Records

PROVENANCE_FILE = "provenance.json"
KERNEL_PROVENANCE_FILE = "arcforge-provenance.json"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _task_count(submission: Path) -> int | None:
    try:
        return len(json.loads(submission.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def build_provenance(
    records: Records,
    *,
    kernel_id: str,
    version: int | None,
    to: Path,
    submission: Path,
    scores: dict[str, Any] | None,
) -> dict[str, Any]:
    """model commit → dataset version → wheelhouse version → kernel version → submission sha256 and scores."""
    try:
        from_kernel = json.loads((to / KERNEL_PROVENANCE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        from_kernel = {}
    if not isinstance(from_kernel, dict):
        from_kernel = {}
    record = records.kernel(kernel_id, version) or {}
    pushed_with = from_kernel.get("pushed_with") or record.get("datasets") or {}
    model = dict(from_kernel.get("model_manifest") or {})
    datasets = [{"ref": ref, **info} for ref, info in pushed_with.items()]
    model_dataset = next((d for d in datasets if d.get("role") == "dataset"), None)
    wheelhouse = next((d for d in datasets if d.get("role") == "wheelhouse"), None)
    if not model and model_dataset and model_dataset.get("model_commit"):
        model = {"repo_id": model_dataset.get("model_repo"), "commit": model_dataset["model_commit"]}
    digest = sha256_file(submission)
    if from_kernel.get("submission_sha256") not in (None, digest):
        raise PublishError(
            f"{submission} does not match the sha256 the notebook recorded; the download is damaged",
            code="checksum",
        )
    return {
        "model": model or None,
        "model_dataset": model_dataset,
        "wheelhouse": wheelhouse,
        "model_sources": record.get("model_sources") or [],
        "kernel": {
            "ref": kernel_id,
            "version": version or record.get("version"),
            "test_mode": from_kernel.get("test_mode"),
        },
        "engine": from_kernel.get("engine"),
        "submission": {"file": submission.name, "sha256": digest, "tasks": _task_count(submission)},
        "scores": scores,
        "kaggle_submissions": record.get("submissions", []),
        "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def write_provenance(to: Path, provenance: dict[str, Any]) -> Path:
    path = to / PROVENANCE_FILE
    path.write_text(json.dumps(provenance, indent=2) + "\n", encoding="utf-8")
    return path


def link_submissions(record: dict[str, Any]) -> Path | None:
    """Copy a kernel version's Kaggle submissions into the provenance.json of its fetched output, if any."""
    path = Path(record["output_dir"]) / PROVENANCE_FILE if record.get("output_dir") else None
    if path is None or not path.is_file():
        return None
    try:
        provenance = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return None
    if not isinstance(provenance, dict):
        return None
    provenance["kaggle_submissions"] = record.get("submissions", [])
    path.write_text(json.dumps(provenance, indent=2) + "\n", encoding="utf-8")
    return path
