"""A loopback Kaggle that the real `kaggle` client (kagglesdk underneath) talks to over HTTP.

Every API call is `POST /api/v1/<service>/<Method>` with camelCase JSON, the shapes kagglesdk's generated
types use. Uploads follow Google Cloud Storage's resumable semantics on the `createUrl` that
StartBlobUpload hands out: `PUT` with `Content-Range: bytes S-E/N` appends, `PUT` with
`Content-Range: bytes */N` answers 308 and `Range: bytes=0-K` (what was persisted), 200 when complete.

Start it with `start_kaggle_server(...)` (a context manager, served from a thread) and point arcforge
at it with `server.env(...)`: `ARCFORGE_KAGGLE_ENDPOINT`, `KAGGLE_USERNAME`, `KAGGLE_KEY`.
`server.faults` switches on the failures the tests need (see `Faults`).

Kernels do not run Jupyter here: a *runner* makes a version's output. `identity_runner` (the default)
writes a well-formed submission that predicts each test input unchanged; `notebook_runner(...)`
really executes the pushed notebook's code cells in a subprocess against a fake `/kaggle/input`
tree built from the attached datasets and the competition's files.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

COMPETITION = "arc-prize-2025"


class KernelFailedError(Exception):
    """Raised by a runner: the kernel version ends in ERROR with this message."""


@dataclass
class Faults:
    """Failure switches. Counters count down as they fire; None/0 means off."""

    drop_upload_at: int | None = (
        None  # close the connection once an upload has persisted N bytes (fires once)
    )
    stall_upload_at: int | None = None  # stop reading at N bytes until `release_stall()` (a killed client)
    upload_503: int = 0  # the next N upload PUTs persist half their body, then answer 503
    rate_limit: int = 0  # the next N API calls answer 429 with Retry-After: 0
    slug_taken: bool = False  # CreateDataset answers "slug already in use" (someone took it since the check)
    dataset_failed: str | None = None  # dataset versions end FAILED with this message
    save_kernel_error: str | None = None  # SaveKernel answers HTTP 200 with this `error`
    kernel_error: str | None = None  # kernel runs end ERROR with this failure message


@dataclass
class Upload:
    token: str
    name: str
    length: int
    data: bytearray = field(default_factory=bytearray)
    wire_bytes: int = 0  # every body byte read for this upload, resent ones included
    puts: int = 0

    @property
    def complete(self) -> bool:
        return len(self.data) == self.length


@dataclass
class DatasetVersion:
    number: int
    files: dict[str, bytes]  # path inside the dataset -> content
    notes: str = ""
    status_polls: int = 0


@dataclass
class Dataset:
    owner: str
    slug: str
    title: str
    license_name: str
    is_private: bool
    versions: list[DatasetVersion] = field(default_factory=list)


@dataclass
class KernelVersion:
    number: int
    request: dict[str, Any]
    run: bool
    status_polls: int = 0
    status: str = "QUEUED"
    failure: str = ""
    outputs: dict[str, bytes] = field(default_factory=dict)
    log: str = ""


@dataclass
class Kernel:
    owner: str
    slug: str
    kernel_id: int
    versions: list[KernelVersion] = field(default_factory=list)


@dataclass
class Submission:
    ref: int
    competition: str
    kernel: str
    version: int
    file_name: str
    description: str
    submitted_by: str
    polls: int = 0
    status: str = "PENDING"
    public_score: str = ""
    error: str = ""


@dataclass
class Competition:
    name: str
    files: dict[str, bytes]  # e.g. arc-agi_test_challenges.json
    solutions: dict[str, list[list[list[int]]]] | None = None  # task id -> expected test outputs


Runner = Callable[["KaggleStandIn", Kernel, KernelVersion], tuple[dict[str, bytes], str]]


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
            f"{kernel.owner}/{kernel.slug}",
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
        kernel = self.kernels[tuple(s.lower() for s in submission.kernel.split("/"))]  # type: ignore[index]
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


# ---- kernel runners -------------------------------------------------------------------------------


def score_submission(submission: dict[str, Any], solutions: dict[str, list[Any]]) -> float:
    """Kaggle's ARC measure: mean over test outputs, an output counts if either attempt matches."""
    hits, total = 0, 0
    for task_id, expected in solutions.items():
        attempts = submission[task_id]
        for index, grid in enumerate(expected):
            total += 1
            pair = attempts[index]
            hits += int(grid in (pair.get("attempt_1"), pair.get("attempt_2")))
    return hits / total if total else 0.0


def identity_runner(
    server: KaggleStandIn, kernel: Kernel, version: KernelVersion
) -> tuple[dict[str, bytes], str]:
    """A well-formed submission that predicts each test input unchanged (a stand-in, not a solver)."""
    competitions = version.request.get("competitionDataSources", [])
    if not competitions:
        raise KernelFailedError("FileNotFoundError: /kaggle/input has no competition data")
    challenges_bytes = server.competitions[competitions[0]].files["arc-agi_test_challenges.json"]
    challenges = json.loads(challenges_bytes)
    submission = {
        task_id: [{"attempt_1": t["input"], "attempt_2": t["input"]} for t in task["test"]]
        for task_id, task in challenges.items()
    }
    log = f"[stdout] solved {len(challenges)} tasks\n"
    # arcforge's notebook keeps a copy of the challenges it answered, for `arcforge-publish output` to check against.
    return {
        "submission.json": json.dumps(submission).encode(),
        "arcforge-challenges.json": challenges_bytes,
    }, log


def materialize_inputs(server: KaggleStandIn, version: KernelVersion, root: Path) -> Path:
    """Build <root>/input the way Kaggle mounts a notebook's sources: one folder per dataset and competition."""
    input_dir = root / "input"
    for ref in version.request.get("datasetDataSources", []):
        dataset = server.dataset(ref)
        for path, content in dataset.versions[-1].files.items():
            target = input_dir / dataset.slug / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
    for name in version.request.get("competitionDataSources", []):
        for file_name, content in server.competitions[name].files.items():
            target = input_dir / name / file_name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
    return input_dir


def notebook_code_cells(notebook: dict[str, Any]) -> list[str]:
    cells = notebook.get("cells", [])
    return [
        "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        for c in cells
        if c.get("cell_type") == "code"
    ]


def run_notebook_cells(
    notebook: dict[str, Any],
    env: dict[str, str],
    cwd: Path,
    python: str = sys.executable,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """Execute a notebook's code cells in order, in one fresh Python process (as one Jupyter kernel would).

    `!cmd` shell lines are not used by arcforge's notebook; cells are plain Python.
    """
    script = cwd / "notebook_cells.py"
    parts = [f"# --- cell {i + 1} ---\n{source}\n" for i, source in enumerate(notebook_code_cells(notebook))]
    script.write_text("\n".join(parts), encoding="utf-8")
    return subprocess.run(
        [python, str(script)], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


def notebook_runner(
    extra_env: dict[str, str] | None = None, python: str = sys.executable, timeout: float = 600
) -> Runner:
    """A runner that executes the pushed notebook for real, against a fake /kaggle tree under a temp folder.

    The notebook reads its roots from ARCFORGE_KAGGLE_INPUT / ARCFORGE_KAGGLE_WORKING; `extra_env` can
    set ARCFORGE_NOTEBOOK_SKIP_INSTALL=1 when the test's interpreter already has the wheels installed.
    """

    def run(server: KaggleStandIn, kernel: Kernel, version: KernelVersion) -> tuple[dict[str, bytes], str]:
        with tempfile.TemporaryDirectory(prefix="kaggle-kernel-") as tmp:
            root = Path(tmp)
            input_dir = materialize_inputs(server, version, root)
            working = root / "working"
            working.mkdir()
            env = {
                **os.environ,
                "ARCFORGE_KAGGLE_INPUT": str(input_dir),
                "ARCFORGE_KAGGLE_WORKING": str(working),
            }
            for name in ("ARCFORGE_KAGGLE_ENDPOINT", "KAGGLE_USERNAME", "KAGGLE_KEY"):
                env.pop(name, None)  # a Kaggle kernel has no API credentials
            env.update(extra_env or {})
            notebook = json.loads(version.request.get("text", "{}"))
            done = run_notebook_cells(notebook, env, root, python=python, timeout=timeout)
            log = f"[stdout] {done.stdout}\n[stderr] {done.stderr}\n"
            if done.returncode != 0:
                last = (done.stderr.strip().splitlines() or ["notebook failed"])[-1]
                raise KernelFailedError(last)
            outputs = {
                p.relative_to(working).as_posix(): p.read_bytes() for p in working.rglob("*") if p.is_file()
            }
            return outputs, log

    return run


# ---- HTTP ------------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read state, not logs
        return

    def _reply(
        self, code: int, payload: dict[str, Any] | bytes, headers: dict[str, str] | None = None
    ) -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(code)
        self.send_header(
            "Content-Type", "application/octet-stream" if isinstance(payload, bytes) else "application/json"
        )
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _user(self) -> str | None:
        header = self.headers.get("Authorization", "")
        with self.server.state.lock:
            self.server.state.auth_headers.append(header)
        if not header.startswith("Basic "):
            return None
        try:
            user, _, key = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return None
        return user if self.server.state.users.get(user) == key else None

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_POST(self) -> None:
        state = self.server.state
        body = self._read_body()
        match = re.fullmatch(r"/api/v1/([\w.]+)/(\w+)", self.path)
        if match is None:
            self._reply(404, {"code": 404, "message": f"no route {self.path}"})
            return
        with state.lock:
            if state.faults.rate_limit > 0:
                state.faults.rate_limit -= 1
                self._reply(429, {"code": 429, "message": "Too many requests"}, {"Retry-After": "0"})
                return
        user = self._user()
        if user is None:
            self._reply(401, {"code": 401, "message": "Unauthenticated"})
            return
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            self._reply(400, {"code": 400, "message": "request body is not JSON"})
            return
        code, reply = state.handle_api(user, match.group(1), match.group(2), request)
        self._reply(code, reply)

    def do_GET(self) -> None:
        match = re.fullmatch(r"/output/([^/]+)/([^/]+)/(\d+)/(.+)", self.path)
        content = (
            self.server.state.output_file(*match.groups()[:2], int(match.group(3)), match.group(4))
            if match
            else None
        )
        if content is None:
            self._reply(404, {"code": 404, "message": "not found"})
            return
        self._reply(200, content)

    def do_PUT(self) -> None:
        state = self.server.state
        match = re.fullmatch(r"/upload/([\w-]+)", self.path)
        upload = state.uploads.get(match.group(1)) if match else None
        if upload is None:
            self._read_body()
            self._reply(404, {"code": 404, "message": "upload session not found"})
            return
        upload.puts += 1
        content_range = self.headers.get("Content-Range", "")
        if content_range.startswith("bytes */"):
            self._read_body()
            if upload.complete:
                self._reply(200, {"name": upload.name, "size": str(upload.length)})
            else:
                headers = {"Range": f"bytes=0-{len(upload.data) - 1}"} if upload.data else {}
                self._reply(308, b"", headers)
            return
        start = 0
        ranged = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", content_range)
        if ranged:
            start = int(ranged.group(1))
        if start > len(upload.data):
            self._read_body()
            self._reply(400, {"code": 400, "message": f"range starts at {start}, have {len(upload.data)}"})
            return
        del upload.data[start:]  # a PUT from `start` replaces whatever came after it
        length = int(self.headers.get("Content-Length") or 0)
        with state.lock:
            fail_503 = state.faults.upload_503 > 0
            if fail_503:
                state.faults.upload_503 -= 1
        keep_until = start + length // 2 if fail_503 else None
        remaining = length
        while remaining > 0:
            limit = 64 * 1024
            faults = state.faults
            for cut in (faults.drop_upload_at, faults.stall_upload_at, keep_until):
                if cut is not None and cut > len(upload.data):
                    limit = min(limit, cut - len(upload.data))
            chunk = self.rfile.read(min(limit, remaining))
            if not chunk:
                return  # the client went away; what arrived stays persisted
            upload.data.extend(chunk)
            upload.wire_bytes += len(chunk)
            remaining -= len(chunk)
            if faults.drop_upload_at is not None and len(upload.data) >= faults.drop_upload_at:
                faults.drop_upload_at = None
                self._drop_connection()
                return
            if faults.stall_upload_at is not None and len(upload.data) >= faults.stall_upload_at:
                faults.stall_upload_at = None
                state.upload_stalled.set()
                state._release.wait(timeout=60)
                self._drop_connection()
                return
            if keep_until is not None and len(upload.data) >= keep_until:
                while remaining > 0:  # drain the rest; GCS persisted only part of it
                    got = self.rfile.read(min(65536, remaining))
                    if not got:
                        return
                    upload.wire_bytes += len(got)
                    remaining -= len(got)
                self._reply(503, {"code": 503, "message": "Service Unavailable"})
                return
        if upload.complete:
            self._reply(200, {"name": upload.name, "size": str(upload.length)})
        else:
            headers = {"Range": f"bytes=0-{len(upload.data) - 1}"} if upload.data else {}
            self._reply(308, b"", headers)

    def _drop_connection(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(2)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, state: KaggleStandIn) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state


@contextlib.contextmanager
def start_kaggle_server(
    users: dict[str, str] | None = None,
    competitions: list[Competition] | None = None,
    runner: Runner | None = None,
    processing_polls: int = 1,
    running_polls: int = 1,
) -> Iterator[KaggleStandIn]:
    """Serve a stand-in Kaggle on 127.0.0.1 from a background thread for the duration of the block.

    `users` maps usernames to API keys (default: alice → a fixed test key). `competitions` defaults to an
    arc-prize-2025 with one small task. `processing_polls` / `running_polls` say how many status calls a
    dataset stays processing and a kernel stays RUNNING.
    """
    state = KaggleStandIn(
        users or {"alice": "alice-secret-key-0123456789"},
        competitions if competitions is not None else [default_competition()],
        runner,
        processing_polls,
        running_polls,
    )
    server = _Server(state)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="kaggle-stand-in", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release_stall()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def default_competition(
    tasks: dict[str, Any] | None = None, solutions: dict[str, Any] | None = None
) -> Competition:
    """arc-prize-2025 with the given challenges (default: one 2x2 flip task) in Kaggle's file layout."""
    if tasks is None:
        tasks = {
            "00000001": {
                "train": [{"input": [[1, 0], [0, 0]], "output": [[0, 1], [0, 0]]}],
                "test": [{"input": [[0, 0], [2, 0]]}],
            }
        }
        solutions = {"00000001": [[[0, 0], [0, 2]]]}
    files = {"arc-agi_test_challenges.json": json.dumps(tasks).encode()}
    sample = {
        tid: [{"attempt_1": [[0]], "attempt_2": [[0]]} for _ in task["test"]] for tid, task in tasks.items()
    }
    files["sample_submission.json"] = json.dumps(sample).encode()
    return Competition(COMPETITION, files, solutions)
