"""The kaggle client's resumable uploads, with their state under our state dir and events per file.

The client keeps one JSON file per file being uploaded (the signed upload URL, the blob token and
whether it finished) in a folder it names `ResumableUploadContext._temp_dir`, by default in the
system temp dir. arcforge moves that folder to `<state dir>/kaggle-uploads/` so that an interrupted
upload resumes on the next run from the same state dir, and so that it sits with arcforge's other
state. The client itself still does every request, resume and retry.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from arcforge_kaggle_publish.kaggle_adapter import kaggle_api_module

FileEvent = Callable[[str, str], None]  # (absolute path, state: uploading | resumed | done)


def upload_state_dir(state_dir: Path) -> Path:
    return state_dir / "kaggle-uploads"


def make_upload_context(state_dir: Path, on_file: FileEvent) -> Any:
    """A kaggle `ResumableUploadContext` that keeps its state under `state_dir` and reports each file."""
    extended = kaggle_api_module()
    file_upload_class: Any = extended.ResumableFileUpload
    context_class: Any = extended.ResumableUploadContext

    folder = upload_state_dir(state_dir)

    class ReportingFileUpload(file_upload_class):  # type: ignore[misc]
        def upload_completed(self) -> None:
            super().upload_completed()
            on_file(self.path, "done")

    class StateDirUploadContext(context_class):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(no_resume=False)
            self._temp_dir = str(folder)

        def _create_temp_dir(self) -> None:
            folder.mkdir(parents=True, exist_ok=True)
            os.chmod(folder, self.UPLOAD_STATE_DIR_MODE)  # it holds signed URLs: owner only
            self._verify_temp_dir_is_private()

        def new_resumable_file_upload(self, path: str, start_blob_upload_request: Any) -> Any:
            file_upload = ReportingFileUpload(path, start_blob_upload_request, self)
            self._file_uploads.append(file_upload)
            file_upload.load()
            if file_upload.upload_complete:
                on_file(path, "done")
            else:
                on_file(path, "resumed" if file_upload.can_resume else "uploading")
            return file_upload

    return StateDirUploadContext()


def read_offset(path: str) -> int | None:
    """How far this process has read into `path`: the offset of its open descriptor (Linux /proc).

    The kaggle client streams each file from an open descriptor and offers no progress hook, so this
    is how arcforge reports bytes within a file. None where /proc is missing or the file is not open.
    """
    fd_dir = Path("/proc/self/fd")
    if not fd_dir.is_dir():
        return None
    target = os.path.realpath(path)
    with contextlib.suppress(OSError):
        for entry in fd_dir.iterdir():
            with contextlib.suppress(OSError):
                if os.readlink(entry) != target:
                    continue
                for line in Path(f"/proc/self/fdinfo/{entry.name}").read_text().splitlines():
                    if line.startswith("pos:"):
                        return int(line.split()[1])
    return None


class ByteProgress:
    """Samples the offset of the file being uploaded, every `interval` seconds, on a daemon thread."""

    def __init__(self, report: Callable[[str, int], None], interval: float = 1.0) -> None:
        self._report = report
        self._interval = interval
        self._current: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="upload-progress", daemon=True)

    def watch(self, path: str | None) -> None:
        with self._lock:
            self._current = path

    def _run(self) -> None:
        last: tuple[str, int] | None = None
        while not self._stop.wait(self._interval):
            with self._lock:
                path = self._current
            if path is None:
                continue
            offset = read_offset(path)
            if offset is not None and (path, offset) != last:
                last = (path, offset)
                self._report(path, offset)

    def __enter__(self) -> ByteProgress:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
