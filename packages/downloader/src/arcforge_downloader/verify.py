"""Checksums the Hub publishes: sha256 for LFS files, the git blob sha1 for the rest."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

_BLOCK = 8 << 20


def file_digests(path: Path, stop: threading.Event | None = None) -> tuple[str, str]:
    """(sha256, git blob sha1) of the file, in one read. Raises InterruptedError when `stop` is set."""
    size = path.stat().st_size
    sha256 = hashlib.sha256()
    blob = hashlib.sha1(b"blob %d\0" % size, usedforsecurity=False)
    with path.open("rb", buffering=0) as handle:
        buffer = bytearray(_BLOCK)
        view = memoryview(buffer)
        while n := handle.readinto(buffer):
            if stop is not None and stop.is_set():
                raise InterruptedError(f"stopped while hashing {path}")
            sha256.update(view[:n])
            blob.update(view[:n])
    return sha256.hexdigest(), blob.hexdigest()
