"""What the stand-in Kaggle answers to each API call, over the records in `model.py`.

`KaggleStandIn.handle_api(user, service, method, body)` is the one entry point: `http_surface.py` calls it
with the signed-in user and the decoded JSON body, and sends back the (status, JSON) it returns. Methods are
named `api_<Method>` after kagglesdk's RPC names (`POST /api/v1/<service>/<Method>`).
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import threading
from dataclasses import replace
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
    ModelInstance,
    Runner,
    Submission,
    Upload,
    score_submission,
)
from tests.support.kaggle.notebook_runner import identity_runner

Reply = tuple[int, dict[str, Any]]

# Kaggle's licence names for datasets (Kaggle/kaggle-api docs/datasets_metadata.md); the Models list
# (docs/models_metadata.md: "Apache 2.0", ...) is a different one.
DATASET_LICENSES = frozenset(
    {
        "CC0-1.0", "CC-BY-SA-3.0", "CC-BY-SA-4.0", "CC-BY-NC-SA-4.0", "GPL-2.0", "ODbL-1.0", "DbCL-1.0",
        "copyright-authors", "other", "unknown", "CC-BY-4.0", "CC-BY-NC-4.0", "PDDL", "CC-BY-3.0",
        "CC-BY-3.0-IGO", "US-Government-Works", "CC-BY-NC-SA-3.0-IGO", "CDLA-Permissive-1.0",
        "CDLA-Sharing-1.0", "CC-BY-ND-4.0", "CC-BY-NC-ND-4.0", "ODC-BY-1.0", "LGPL-3.0", "AGPL-3.0",
        "FDL-1.3", "EU-ODP-Legal-Notice", "apache-2.0", "GPL-3.0",
    }
)  # fmt: skip
# What Kaggle answers for a dataset the caller cannot see, a missing one included (real-world.md; the kaggle
# CLI's `dataset_create_new` treats any error on this check as "free").
DATASET_DENIED = {"code": 403, "message": "Permission 'datasets.get' was denied"}


class KaggleStandIn:
    """The server's state and the handlers of each call. Thread-safe behind one lock."""

    def __init__(
        self,
        users: dict[str, str],
        competitions: list[Competition] | None = None,
        runner: Runner | None = None,
        *,
        processing_polls: int = 1,
        running_polls: int = 1,
        tokens: dict[str, str] | None = None,
        new_dataset_unseen_polls: int = 2,
    ) -> None:
        self.users = dict(users)  # username -> legacy API key (kaggle.json)
        self.tokens = dict(tokens or {})  # KGAT_ API token -> username
        self.new_dataset_unseen_polls = new_dataset_unseen_polls
        self.models: dict[str, ModelInstance] = {}
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
        self.answers: list[tuple[str, int]] = []  # (method, HTTP status) of each answered call
        self.auth_headers: list[str] = []
        self.upload_stalled = threading.Event()
        self._release = threading.Event()
        self._ids = itertools.count(1000)

    # ---- helpers for tests ----------------------------------------------------------------------

    def env(self, username: str | None = None, *, auth: str = "token") -> dict[str, str]:
        """Environment for a client of this stand-in, signed in as `username` (default: the first user).

        `auth="token"`: KAGGLE_API_TOKEN, the way Kaggle's settings page signs users in today;
        `auth="legacy"`: KAGGLE_USERNAME + KAGGLE_KEY.
        """
        user = username or next(iter(self.users))
        if auth == "token":
            return {"ARCFORGE_KAGGLE_ENDPOINT": self.url, "KAGGLE_API_TOKEN": self.token_for(user)}
        return {"ARCFORGE_KAGGLE_ENDPOINT": self.url, "KAGGLE_USERNAME": user, "KAGGLE_KEY": self.users[user]}

    def token_for(self, username: str) -> str:
        """The user's API token (made on first use), shaped like Kaggle's: KGAT_ and 32 hex digits."""
        with self.lock:
            for token, user in self.tokens.items():
                if user == username:
                    return token
            token = "KGAT_" + f"{abs(hash(('stand-in', username))):032x}"[:32]
            self.tokens[token] = username
            return token

    def revoke_token(self, token: str) -> None:
        with self.lock:
            self.tokens.pop(token, None)

    def user_for(self, authorization: str) -> str | None:
        """The signed-in user for an Authorization header: Bearer <token> or Basic user:key."""
        scheme, _, value = authorization.partition(" ")
        with self.lock:
            if scheme == "Bearer":  # kagglesdk kaggle_http_client.py BearerAuth
                return self.tokens.get(value)
            if scheme == "Basic":
                try:
                    user, _, key = base64.b64decode(value).decode().partition(":")
                except ValueError:
                    return None
                return user if self.users.get(user) == key else None
        return None

    def add_model(
        self, handle: str, versions: list[int] | None = None, files: dict[str, bytes] | None = None
    ) -> ModelInstance:
        """Host a Kaggle Models instance OWNER/MODEL/FRAMEWORK/VARIATION (e.g. google/codegemma/transformers/7b-it)."""
        owner, model, framework, variation = handle.split("/")
        instance = ModelInstance(owner, model, framework, variation, versions or [1], dict(files or {}))
        with self.lock:
            self.models[handle.lower()] = instance
        return instance

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

    def statuses_of(self, method: str) -> list[int]:
        with self.lock:
            return [code for name, code in self.answers if name == method]

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
            self.answers.append((method, result[0]))
            return result

    # ---- datasets -------------------------------------------------------------------------------

    def _find_dataset(self, user: str, owner: str, slug: str) -> tuple[int, Dataset | None, dict[str, Any]]:
        found = self.datasets.get((owner.lower(), slug.lower()))
        if found is None or (found.is_private and found.owner.lower() != user.lower()):
            return 403, None, dict(DATASET_DENIED)
        latest = found.versions[-1] if found.versions else None
        if latest is not None and latest.unseen_polls > 0:
            # Just created: the read side has not caught up. 403 first, then 404 (real-world.md).
            latest.unseen_polls -= 1
            if latest.unseen_polls % 2:
                return 403, None, dict(DATASET_DENIED)
            return 404, None, {"code": 404, "message": f"Dataset {owner}/{slug} not found"}
        return 200, found, {}

    def _dataset_status(self, version: DatasetVersion) -> str:
        if version.status_polls >= self.processing_polls:
            return "FAILED" if self.faults.dataset_failed else "READY"
        return "BLOBS_RECEIVED"

    def api_IntrospectToken(self, user: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        # kagglesdk security.OAuthService/IntrospectToken: the kaggle client learns the username from it.
        username = self.tokens.get(body.get("token", ""))
        if username is None:
            return 200, {"active": False}
        return 200, {
            "active": True,
            "username": username,
            "clientId": "kaggle-cli",
            "scope": "resources.admin:*",
        }

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
        if (owner.lower(), slug.lower()) in self.datasets:
            # The wording of the kaggle CLI's own refusal (`dataset_create_new`); kagglehub's
            # `create_dataset_or_version` reads a refused create as "exists: make a version".
            return 200, {
                "status": "error",
                "error": f'The requested slug "{slug}" is already in use by a dataset.',
            }
        title = body.get("title", "")
        if not 6 <= len(title) <= 50:
            return 200, {"status": "error", "error": "Title must be between 6 and 50 characters"}
        if body.get("licenseName", "") not in DATASET_LICENSES:
            return 200, {"status": "error", "error": f"Invalid license name: {body.get('licenseName', '')!r}"}
        try:
            files = self._collect_files(body.get("files", []), body.get("directories", []))
        except ValueError as exc:
            return 200, {"status": "error", "error": str(exc)}
        dataset = Dataset(owner, slug, title, body.get("licenseName", ""), body.get("isPrivate", False))
        dataset.versions.append(DatasetVersion(1, files, unseen_polls=self.new_dataset_unseen_polls))
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
        if self.faults.list_files == "top_level":
            names = [n for n in names if "/" not in n]
        listed = {n: n.rpartition("/")[2] if self.faults.list_files == "basename" else n for n in names}
        # Paged like kagglesdk's ApiListDatasetFilesRequest: page_size / page_token / next_page_token.
        start = int(body.get("pageToken") or 0)
        size = int(body.get("pageSize") or 20)
        page = names[start : start + size]
        ref = f"{found.owner}/{found.slug}"
        files = [
            {
                "ref": f"{ref}/{listed[name]}",
                "datasetRef": ref,
                "ownerRef": found.owner,
                "name": listed[name],
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
            return 200, {"ref": "", "url": "", "versionNumber": None, "error": self.faults.save_kernel_error}
        owner, _, slug = body.get("slug", "").partition("/")
        if owner.lower() != user.lower():
            return 403, {"code": 403, "message": f"You cannot save kernels for {owner}"}
        bad_datasets = [
            ref
            for ref in body.get("datasetDataSources", [])
            if self._find_dataset(user, *[*ref.split("/"), "", ""][:2])[1] is None
        ]
        bad_competitions = [c for c in body.get("competitionDataSources", []) if c not in self.competitions]
        bad_models = [m for m in body.get("modelDataSources", []) if self.model_version(m) is None]
        if bad_datasets or bad_competitions or bad_models:
            return 200, {
                "ref": "",
                "versionNumber": None,
                "error": "Notebook not saved: invalid data sources",
                "invalidDatasetSources": bad_datasets,
                "invalidCompetitionSources": bad_competitions,
                "invalidModelSources": bad_models,
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
            # The API wants `v<N>` and answers 404 for a bare number (kaggle_api_extended.py `_kernel_version_label`).
            matched = re.fullmatch(r"v(\d+)", label)
            number = int(matched.group(1)) if matched else 0
            if not 1 <= number <= len(kernel.versions):
                return kernel, None
            return kernel, kernel.versions[number - 1]
        return kernel, kernel.versions[-1]

    def _advance(self, kernel: Kernel, version: KernelVersion) -> None:
        # QUEUED → RUNNING → COMPLETE | ERROR, as kagglesdk's KernelWorkerStatus names the states; a
        # QUICK_SAVE version never runs (kaggle CLI `kernels_push --no-run`, docs/kernels.md).
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
        # A code competition scores a notebook version's output file (kaggle CLI `competition_submit_code`).
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
        # A code submission is not scored on the commit run's output: Kaggle reruns the submitted version
        # on the hidden test set with KAGGLE_IS_COMPETITION_RERUN set (/work/shared/notes/real-world.md:
        # "The hidden rerun sets KAGGLE_IS_COMPETITION_RERUN"; ARC Prize 2026 docs) and scores that run's
        # file. A rerun that fails or writes no such file scores nothing.
        committed = self.kernels[submission.kernel].versions[submission.version - 1]
        rerun = replace(committed, rerun=True, outputs={}, log="", status="RUNNING", failure="")
        submission.rerun = rerun
        try:
            rerun.outputs, rerun.log = self.runner(self, self.kernels[submission.kernel], rerun)
        except KernelFailedError as exc:
            rerun.status, rerun.failure = "ERROR", str(exc)
            # A rerun that fails scores nothing (/work/shared/notes/real-world.md: only the rerun scores). The
            # wording of Kaggle's error text here is from memory, not from a source.
            submission.status, submission.error = "ERROR", f"Notebook Threw Exception: {exc}"
            return
        rerun.status = "COMPLETE"
        content = rerun.outputs.get(submission.file_name)
        if content is None:
            submission.status = "ERROR"
            submission.error = f"the rerun's output has no {submission.file_name}"
            return
        competition = self.competitions[submission.competition]
        try:
            score = score_submission(json.loads(content), competition.scoring_solutions())
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
                if submission.unseen_polls > 0:  # not readable yet right after CreateCodeSubmission
                    submission.unseen_polls -= 1
                    return 404, {"code": 404, "message": "Submission not found"}
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

    # ---- models ---------------------------------------------------------------------------------

    def model_version(self, source: str) -> ModelInstance | None:
        """The hosted instance for OWNER/MODEL/FRAMEWORK/VARIATION/VERSION when that version exists."""
        handle, _, number = source.rpartition("/")
        found = self.models.get(handle.lower())
        return found if found is not None and number.isdigit() and int(number) in found.versions else None

    def api_GetModelInstance(self, user: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        def plain(framework: str) -> str:  # MODEL_FRAMEWORK_PY_TORCH and pyTorch name the same framework
            return framework.upper().removeprefix("MODEL_FRAMEWORK_").replace("_", "")

        for instance in self.models.values():
            if (
                instance.owner.lower() == body.get("ownerSlug", "").lower()
                and instance.model.lower() == body.get("modelSlug", "").lower()
                and plain(instance.framework) == plain(body.get("framework", ""))
                and instance.variation.lower() == body.get("instanceSlug", "").lower()
            ):
                return 200, {
                    "id": 7000 + len(instance.handle),
                    "slug": instance.variation,
                    "framework": "MODEL_FRAMEWORK_" + plain(instance.framework),
                    "versionNumber": max(instance.versions),
                    "url": f"{self.url}/models/{instance.owner}/{instance.model}/{instance.framework}/"
                    f"{instance.variation}/{max(instance.versions)}",
                }
        return 404, {"code": 404, "message": "Model instance not found"}
