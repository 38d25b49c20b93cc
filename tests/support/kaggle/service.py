"""What the stand-in Kaggle answers to each API call, over the records in `model.py`.

`KaggleStandIn.handle_api(user, service, method, body)` is the one entry point: `http_surface.py` calls it
with the signed-in user and the decoded JSON body, and sends back the (status, JSON) it returns. Methods are
named `api_<Method>` after kagglesdk's RPC names (`POST /api/v1/<service>/<Method>`).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from pathlib import Path
from typing import Any

from tests.support.kaggle.model import (
    Competition,
    Dataset,
    DatasetVersion,
    Faults,
    Kernel,
    KernelFailedError,
    KernelVersion,
    Runner,
    Submission,
    Upload,
    score_submission,
)
from tests.support.kaggle.notebook_runner import identity_runner

Reply = tuple[int, dict[str, Any]]


class KaggleStandIn:
    """The server's state and the handlers of each call. Thread-safe behind one lock."""

    def __init__(
        self,
        users: dict[str, str],
        competitions: list[Competition] | None = None,
        runner: Runner | None = None,
        processing_polls: int = 1,
        running_polls: int = 1,
    ) -> None:
        self.users = dict(users)
        self.competitions = {c.name: c for c in competitions or []}
        self.runner = runner or identity_runner
        self.processing_polls = processing_polls
        self.running_polls = running_polls
        self.faults = Faults()
        self.url = ""
        self.lock = threading.RLock()
        self.datasets: dict[tuple[str, str], Dataset] = {}
        self.uploads: dict[str, Upload] = {}
        self.kernels: dict[tuple[str, str], Kernel] = {}
        self.submissions: list[Submission] = []
        self.calls: list[tuple[str, str, dict[str, Any]]] = []  # (service, method, request body)
        self.auth_headers: list[str] = []
        self.upload_stalled = threading.Event()
        self._release = threading.Event()
        self._ids = itertools.count(1000)

    # ---- helpers for tests ----------------------------------------------------------------------

    def env(self, username: str | None = None) -> dict[str, str]:
        """Environment for a client of this stand-in, signed in as `username` (default: the first user)."""
        user = username or next(iter(self.users))
        return {"ARCFORGE_KAGGLE_ENDPOINT": self.url, "KAGGLE_USERNAME": user, "KAGGLE_KEY": self.users[user]}

    def take_dataset(self, owner: str, slug: str, *, private: bool = True) -> None:
        """Register a dataset that belongs to `owner`: a slug taken by someone other than the test's user."""
        with self.lock:
            self.datasets[(owner.lower(), slug.lower())] = Dataset(
                owner,
                slug,
                "Someone else's dataset",
                "CC0-1.0",
                private,
                [DatasetVersion(1, {"a.txt": b"x"})],
            )
            self.datasets[(owner.lower(), slug.lower())].versions[0].status_polls = 99

    def release_stall(self) -> None:
        self._release.set()

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        with self.lock:
            return [body for _service, name, body in self.calls if name == method]

    def dataset(self, ref: str) -> Dataset:
        owner, slug = ref.split("/")
        return self.datasets[(owner.lower(), slug.lower())]

    # ---- dispatch -------------------------------------------------------------------------------

    def handle_api(
        self, user: str, service: str, method: str, body: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.calls.append((service, method, body))
        handler = getattr(self, f"api_{method}", None)
        if handler is None:
            return 404, {"code": 404, "message": f"{service}/{method} is not implemented by the stand-in"}
        with self.lock:
            result: tuple[int, dict[str, Any]] = handler(user, body)
            return result

    # ---- datasets -------------------------------------------------------------------------------

    def _find_dataset(self, user: str, owner: str, slug: str) -> tuple[int, Dataset | None, dict[str, Any]]:
        found = self.datasets.get((owner.lower(), slug.lower()))
        if found is None:
            return 404, None, {"code": 404, "message": f"Dataset {owner}/{slug} not found"}
        if found.is_private and found.owner.lower() != user.lower():
            return 403, None, {"code": 403, "message": "Permission 'datasets.get' was denied"}
        return 200, found, {}

    def _dataset_status(self, version: DatasetVersion) -> str:
        if version.status_polls >= self.processing_polls:
            return "FAILED" if self.faults.dataset_failed else "READY"
        return "BLOBS_RECEIVED"

    def api_GetDatasetStatus(self, user: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        code, found, error = self._find_dataset(user, body.get("ownerSlug", ""), body.get("datasetSlug", ""))
        if found is None:
            return code, error
        latest = found.versions[-1]
        status = self._dataset_status(latest)
        latest.status_polls += 1
        return 200, {"status": status}

    def api_GetDataset(self, user: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        code, found, error = self._find_dataset(user, body.get("ownerSlug", ""), body.get("datasetSlug", ""))
        if found is None:
            return code, error
        ref = f"{found.owner}/{found.slug}"
        return 200, {
            "ref": ref,
            "title": found.title,
            "ownerRef": found.owner,
            "isPrivate": found.is_private,
            "licenseName": found.license_name,
            "currentVersionNumber": found.versions[-1].number,
            "url": f"{self.url}/datasets/{ref}",
            "totalBytes": sum(len(b) for b in found.versions[-1].files.values()),
        }

    def _collect_files(
        self, files: list[dict[str, Any]], dirs: list[dict[str, Any]], prefix: str = ""
    ) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        for new_file in files:
            upload = self.uploads.get(new_file.get("token", ""))
            if upload is None or not upload.complete:
                raise ValueError(f"upload token {new_file.get('token')!r} is unknown or incomplete")
            out[prefix + upload.name] = bytes(upload.data)
        for folder in dirs:
            name = folder.get("name", "")
            out.update(
                self._collect_files(
                    folder.get("files", []), folder.get("directories", []), f"{prefix}{name}/"
                )
            )
        return out

    def api_CreateDataset(self, user: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        owner, slug = body.get("ownerSlug", ""), body.get("slug", "")
        if owner.lower() != user.lower():
            return 403, {"code": 403, "message": f"You cannot create datasets for {owner}"}
        if (owner.lower(), slug.lower()) in self.datasets or self.faults.slug_taken:
            return 200, {
                "status": "error",
                "error": f'The requested slug "{slug}" is already in use by a dataset.',
            }
        title = body.get("title", "")
        if not 6 <= len(title) <= 50:
            return 200, {"status": "error", "error": "Title must be between 6 and 50 characters"}
        try:
            files = self._collect_files(body.get("files", []), body.get("directories", []))
        except ValueError as exc:
            return 200, {"status": "error", "error": str(exc)}
        dataset = Dataset(owner, slug, title, body.get("licenseName", ""), body.get("isPrivate", False))
        dataset.versions.append(DatasetVersion(1, files))
        self.datasets[(owner.lower(), slug.lower())] = dataset
        return 200, {"ref": f"{owner}/{slug}", "url": f"{self.url}/datasets/{owner}/{slug}", "status": "ok"}

    def api_CreateDatasetVersion(self, user: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        owner, slug = body.get("ownerSlug", ""), body.get("datasetSlug", "")
        code, found, error = self._find_dataset(user, owner, slug)
        if found is None:
            return code, error
        if found.owner.lower() != user.lower():
            return 403, {"code": 403, "message": "Permission 'datasets.update' was denied"}
        version_body = body.get("body", {})
        try:
            files = self._collect_files(version_body.get("files", []), version_body.get("directories", []))
        except ValueError as exc:
            return 200, {"status": "error", "error": str(exc)}
        found.versions.append(
            DatasetVersion(len(found.versions) + 1, files, version_body.get("versionNotes", ""))
        )
        return 200, {
            "ref": f"{found.owner}/{found.slug}",
            "url": f"{self.url}/datasets/{owner}/{slug}",
            "status": "ok",
        }

    def api_ListDatasetFiles(self, user: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        code, found, error = self._find_dataset(user, body.get("ownerSlug", ""), body.get("datasetSlug", ""))
        if found is None:
            return code, error
        number = body.get("datasetVersionNumber") or found.versions[-1].number
        version = found.versions[number - 1]
        names = sorted(version.files)
        start = int(body.get("pageToken") or 0)
        size = int(body.get("pageSize") or 20)
        page = names[start : start + size]
        ref = f"{found.owner}/{found.slug}"
        files = [
            {
                "ref": f"{ref}/{name}",
                "datasetRef": ref,
                "ownerRef": found.owner,
                "name": name,
                "totalBytes": len(version.files[name]),
                "creationDate": "2026-11-25T18:00:00.000Z",
                "fileType": Path(name).suffix,
            }
            for name in page
        ]
        next_token = str(start + size) if start + size < len(names) else ""
        return 200, {"datasetFiles": files, "nextPageToken": next_token}

    # ---- blobs ----------------------------------------------------------------------------------

    def api_StartBlobUpload(self, user: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        token = f"blob-{next(self._ids)}"
        self.uploads[token] = Upload(token, body.get("name", ""), int(body.get("contentLength", 0)))
        return 200, {"token": token, "createUrl": f"{self.url}/upload/{token}"}

    # ---- kernels --------------------------------------------------------------------------------

    def api_SaveKernel(self, user: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if self.faults.save_kernel_error:
            return 200, {"error": self.faults.save_kernel_error}
        owner, _, slug = body.get("slug", "").partition("/")
        if owner.lower() != user.lower():
            return 403, {"code": 403, "message": f"You cannot save kernels for {owner}"}
        bad_datasets = [
            ref
            for ref in body.get("datasetDataSources", [])
            if self._find_dataset(user, *[*ref.split("/"), "", ""][:2])[1] is None
        ]
        bad_competitions = [c for c in body.get("competitionDataSources", []) if c not in self.competitions]
        if bad_datasets or bad_competitions:
            return 200, {
                "error": "Notebook not saved: invalid data sources",
                "invalidDatasetSources": bad_datasets,
                "invalidCompetitionSources": bad_competitions,
            }
        kernel = self.kernels.setdefault((owner.lower(), slug.lower()), Kernel(owner, slug, next(self._ids)))
        run = body.get("kernelExecutionType", "") != "QUICK_SAVE"
        version = KernelVersion(len(kernel.versions) + 1, body, run, status="QUEUED" if run else "COMPLETE")
        kernel.versions.append(version)
        return 200, {
            "ref": f"/code/{owner}/{slug}",
            "url": f"{self.url}/code/{owner}/{slug}",
            "versionNumber": version.number,
            "kernelId": kernel.kernel_id,
        }

    def _find_kernel(self, user: str, body: dict[str, Any]) -> tuple[Kernel | None, KernelVersion | None]:
        kernel = self.kernels.get((body.get("userName", "").lower(), body.get("kernelSlug", "").lower()))
        if kernel is None or not kernel.versions:
            return None, None
        label = body.get("versionLabel") or ""
        if label:
            number = int(re.sub(r"\D", "", label) or 0)
            if not 1 <= number <= len(kernel.versions):
                return kernel, None
            return kernel, kernel.versions[number - 1]
        return kernel, kernel.versions[-1]

    def _advance(self, kernel: Kernel, version: KernelVersion) -> None:
        if version.status in ("COMPLETE", "ERROR") or not version.run:
            return
        version.status_polls += 1
        if version.status == "QUEUED":
            version.status = "RUNNING"
            return
        if version.status_polls <= self.running_polls:
            return
        if self.faults.kernel_error:
            version.status, version.failure = "ERROR", self.faults.kernel_error
            version.log = f"[stderr] {self.faults.kernel_error}\n"
            return
        try:
            version.outputs, version.log = self.runner(self, kernel, version)
            version.status = "COMPLETE"
        except KernelFailedError as exc:
            version.status, version.failure, version.log = "ERROR", str(exc), f"[stderr] {exc}\n"

    def api_GetKernelSessionStatus(self, user: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        kernel, version = self._find_kernel(user, body)
        if kernel is None or version is None:
            return 404, {"code": 404, "message": "Notebook not found"}
        self._advance(kernel, version)
        reply: dict[str, Any] = {"status": version.status}
        if version.failure:
            reply["failureMessage"] = version.failure
        return 200, reply

    def api_ListKernelSessionOutput(self, user: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        kernel, version = self._find_kernel(user, body)
        if kernel is None or version is None:
            return 404, {"code": 404, "message": "Notebook not found"}
        files = [
            {
                "url": f"{self.url}/output/{kernel.owner}/{kernel.slug}/{version.number}/{name}",
                "fileName": name,
            }
            for name in sorted(version.outputs)
        ]
        return 200, {"files": files, "log": version.log}

    def api_GetKernel(self, user: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        kernel, version = self._find_kernel(user, body)
        if kernel is None or version is None:
            return 404, {"code": 404, "message": "Notebook not found"}
        request = version.request
        return 200, {
            "metadata": {
                "id": kernel.kernel_id,
                "ref": f"{kernel.owner}/{kernel.slug}",
                "title": request.get("newTitle", kernel.slug),
                "author": kernel.owner,
                "slug": kernel.slug,
                "language": request.get("language", "python"),
                "kernelType": request.get("kernelType", "notebook"),
                "isPrivate": request.get("isPrivate", False),
                "enableGpu": request.get("enableGpu", False),
                "enableInternet": request.get("enableInternet", False),
                "datasetDataSources": request.get("datasetDataSources", []),
                "competitionDataSources": request.get("competitionDataSources", []),
                "currentVersionNumber": len(kernel.versions),
                "machineShape": request.get("machineShape", ""),
            },
            "blob": {
                "source": request.get("text", ""),
                "language": "python",
                "kernelType": "notebook",
                "slug": kernel.slug,
            },
        }

    def output_file(self, owner: str, slug: str, number: int, name: str) -> bytes | None:
        with self.lock:
            kernel = self.kernels.get((owner.lower(), slug.lower()))
            if kernel is None or not 1 <= number <= len(kernel.versions):
                return None
            return kernel.versions[number - 1].outputs.get(name)

    # ---- competitions ---------------------------------------------------------------------------

    def api_CreateCodeSubmission(self, user: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        name = body.get("competitionName", "")
        if name not in self.competitions:
            return 404, {"code": 404, "message": f"Competition {name} not found"}
        kernel = self.kernels.get((body.get("kernelOwner", "").lower(), body.get("kernelSlug", "").lower()))
        number = int(body.get("kernelVersion") or 0)
        if kernel is None or not 1 <= number <= len(kernel.versions):
            return 400, {"code": 400, "message": "Notebook version not found"}
        file_name = body.get("fileName", "")
        if file_name not in kernel.versions[number - 1].outputs:
            return 400, {"code": 400, "message": f"Notebook version {number} has no output file {file_name}"}
        submission = Submission(
            next(self._ids),
            name,
            (kernel.owner.lower(), kernel.slug.lower()),
            number,
            file_name,
            body.get("submissionDescription", ""),
            user,
        )
        self.submissions.append(submission)
        return 200, {"message": "Your submission was successfully saved", "ref": submission.ref}

    def _advance_submission(self, submission: Submission) -> None:
        submission.polls += 1
        if submission.status != "PENDING" or submission.polls < 2:
            return
        kernel = self.kernels[submission.kernel]
        content = kernel.versions[submission.version - 1].outputs[submission.file_name]
        competition = self.competitions[submission.competition]
        try:
            score = score_submission(json.loads(content), competition.solutions or {})
        except (ValueError, KeyError, TypeError) as exc:
            submission.status, submission.error = "ERROR", f"Submission scoring error: {exc}"
            return
        submission.status, submission.public_score = "COMPLETE", f"{score:.4f}"

    def _submission_json(self, s: Submission) -> dict[str, Any]:
        reply: dict[str, Any] = {
            "ref": s.ref,
            "date": "2026-11-25T19:00:00.000Z",
            "description": s.description,
            "fileName": s.file_name,
            "status": s.status,
            "submittedBy": s.submitted_by,
            "url": f"{self.url}/competitions/{s.competition}/submissions/{s.ref}",
        }
        if s.public_score:
            reply["publicScore"] = s.public_score
        if s.error:
            reply["errorDescription"] = s.error
        return reply

    def api_GetSubmission(self, user: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        for submission in self.submissions:
            if submission.ref == int(body.get("ref", 0)):
                self._advance_submission(submission)
                return 200, self._submission_json(submission)
        return 404, {"code": 404, "message": "Submission not found"}

    def api_ListSubmissions(self, user: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        mine = [
            s
            for s in self.submissions
            if s.competition == body.get("competitionName") and s.submitted_by == user
        ]
        for submission in mine:
            self._advance_submission(submission)
        return 200, {"submissions": [self._submission_json(s) for s in reversed(mine)]}
