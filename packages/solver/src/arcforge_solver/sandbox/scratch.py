"""Scratch folders for sandbox workers that go away even when their owner is SIGKILLed.

Each pool owns one root folder, `<tmp>/arcforge-scratch-XXXX/`, holding one folder per worker. The
pool holds an exclusive `flock` on the root's `.owner` file for as long as it lives; the kernel drops
that lock when the process dies, however it dies. Every new pool first reaps the roots whose lock it
can take (their owner is gone), and roots without an owner file that are older than a minute (an
owner killed between making the folder and locking it). A live pool's lock keeps its root safe from
every other process, so pools of different users of the machine never touch each other's folders.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import shutil
import tempfile
import time

PREFIX = "arcforge-scratch-"
OWNER_FILE = ".owner"
UNOWNED_GRACE_S = 60.0


def reap_stale(parent: str | None = None) -> list[str]:
    """Remove scratch roots under `parent` (default: the temp folder) whose owner has gone; returns them."""
    parent = parent or tempfile.gettempdir()
    reaped: list[str] = []
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return reaped
    for entry in entries:
        if not entry.name.startswith(PREFIX) or not entry.is_dir(follow_symlinks=False):
            continue
        if _owner_gone(entry.path):
            shutil.rmtree(entry.path, ignore_errors=True)
            if not os.path.exists(entry.path):
                reaped.append(entry.path)
    return reaped


def _owner_gone(root: str) -> bool:
    try:
        fd = os.open(os.path.join(root, OWNER_FILE), os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
    except FileNotFoundError:
        with contextlib.suppress(OSError):
            return time.time() - os.stat(root).st_mtime > UNOWNED_GRACE_S
        return False
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # held: its owner lives
    finally:
        os.close(fd)  # (drops the lock we may have taken; the folder is removed right after)
    return True


class ScratchRoot:
    """This pool's root folder and its owner lock; `folder()` makes one per worker."""

    def __init__(self, parent: str | None = None) -> None:
        reap_stale(parent)
        self.path = os.path.realpath(tempfile.mkdtemp(prefix=PREFIX, dir=parent))
        self._lock_fd: int | None = os.open(
            os.path.join(self.path, OWNER_FILE), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600
        )
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        self._ids = itertools.count(1)  # next() is atomic: workers start from several threads

    def folder(self) -> str:
        path = os.path.join(self.path, f"w{next(self._ids)}")
        os.mkdir(path, 0o700)
        return path

    def close(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)
            self._lock_fd = None
