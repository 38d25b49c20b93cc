"""The kaggle client's resumable uploads, with their state under our state dir and events per file.

The client keeps one JSON file per file being uploaded (the signed upload URL, the blob token and
whether it finished) in a folder it names `ResumableUploadContext._temp_dir`, by default in the
system temp dir. arcforge moves that folder to `<state dir>/kaggle-uploads/` so that an interrupted
upload resumes on the next run from the same state dir, and so that it sits with arcforge's other
state. The client itself still does every request, resume and retry.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

FileEvent = Callable[[str, str], None]  # (absolute path, state: uploading | resumed | done)


def upload_state_dir(state_dir: Path) -> Path:
    return state_dir / "kaggle-uploads"


def make_upload_context(state_dir: Path, on_file: FileEvent) -> Any:
    """A kaggle `ResumableUploadContext` that keeps its state under `state_dir` and reports each file."""
    from kaggle.api.kaggle_api_extended import ResumableFileUpload, ResumableUploadContext

    folder = upload_state_dir(state_dir)

    class ReportingFileUpload(ResumableFileUpload):  # type: ignore[misc]
        def upload_completed(self) -> None:
            super().upload_completed()
            on_file(self.path, "done")

    class StateDirUploadContext(ResumableUploadContext):  # type: ignore[misc]
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
