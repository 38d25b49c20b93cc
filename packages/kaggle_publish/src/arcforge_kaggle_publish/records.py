"""What arcforge published, kept in <state dir>/published.json for provenance.

Kaggle does not link a submission back to the weights and code that made it; this file does: the
datasets (with the model's repo and commit from the downloader's manifest.json and the dataset
version), the wheelhouse version, and each kernel version with the dataset versions it was pushed with.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

RECORDS_FILE = "published.json"


class Records:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / RECORDS_FILE

    def load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {"datasets": {}, "kernels": {}}
        if not isinstance(data, dict):
            return {"datasets": {}, "kernels": {}}
        data.setdefault("datasets", {})
        data.setdefault("kernels", {})
        return data

    def _save(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)  # whole or not at all

    def record_dataset(self, ref: str, **fields: Any) -> None:
        data = self.load()
        data["datasets"][ref.lower()] = {"ref": ref, "published_at": time.time(), **fields}
        self._save(data)

    def dataset(self, ref: str) -> dict[str, Any] | None:
        found = self.load()["datasets"].get(ref.lower())
        return found if isinstance(found, dict) else None

    def record_kernel(self, ref: str, version: int | None, **fields: Any) -> None:
        data = self.load()
        versions = data["kernels"].setdefault(ref.lower(), {})
        versions[str(version)] = {"ref": ref, "version": version, "pushed_at": time.time(), **fields}
        self._save(data)

    def kernel(self, ref: str, version: int | None) -> dict[str, Any] | None:
        versions = self.load()["kernels"].get(ref.lower(), {})
        if version is None and versions:
            version = (
                max(int(v) for v in versions if v.isdigit()) if any(v.isdigit() for v in versions) else None
            )
        found = versions.get(str(version))
        return found if isinstance(found, dict) else None

    def update_kernel(self, ref: str, version: int, **fields: Any) -> dict[str, Any]:
        """Add fields to a kernel version's record (made if missing); return the record."""
        data = self.load()
        versions = data["kernels"].setdefault(ref.lower(), {})
        record = versions.setdefault(str(version), {"ref": ref, "version": version})
        record.update(fields)
        self._save(data)
        return dict(record)

    def record_submission(self, ref: str, version: int, submission: dict[str, Any]) -> dict[str, Any]:
        """Keep (or refresh) one Kaggle submission of a kernel version; return the version's record."""
        record = self.kernel(ref, version) or {}
        kept = [s for s in record.get("submissions", []) if s.get("ref") != submission.get("ref")]
        return self.update_kernel(ref, version, submissions=[*kept, submission])
