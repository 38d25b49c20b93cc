"""Publish a folder as a Kaggle dataset: plan, slug check, resumable upload, create or version, poll, verify.

Layout: sub-folders are kept. Each folder's files are uploaded with the kaggle client's `upload_files`
and sent as Kaggle `directories` entries, so `DIR/model/config.json` is `model/config.json` in the
dataset and `/kaggle/input/<slug>/model/config.json` in a notebook. Nothing is zipped.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arcforge_kaggle_publish.calls import kaggle_call
from arcforge_kaggle_publish.errors import PublishError
from arcforge_kaggle_publish.kaggle_adapter import kaggle_api_module, kaggle_host, sdk_call
from arcforge_kaggle_publish.limits import MAX_FILES, check_title, normalize_license, split_id
from arcforge_kaggle_publish.polling import poll_until
from arcforge_kaggle_publish.records import Records
from arcforge_kaggle_publish.reporter import Reporter
from arcforge_kaggle_publish.uploads import ByteProgress, make_upload_context

METADATA_FILE = "dataset-metadata.json"
UNSEEN = "UNSEEN"  # our name for Kaggle's 403/404 on a dataset it has not caught up with
# Names the kaggle client never uploads from a folder (see KaggleApi.upload_files).
CLIENT_SKIPPED_NAMES = frozenset(
    {
        "dataset-metadata.json",
        "datapackage.json",
        "kernel-metadata.json",
        "model-metadata.json",
        "model-instance-metadata.json",
        "dataset-cover-image.png",
        "dataset-cover-image.jpg",
        "dataset-cover-image.jpeg",
        "dataset-cover-image.webp",
    }
)


@dataclass
class PlannedFile:
    rel: str  # posix path inside the dataset
    path: Path
    size: int


@dataclass
class DatasetPlan:
    folder: Path
    owner: str
    slug: str
    title: str
    license_name: str
    files: list[PlannedFile] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    held_back: list[str] = field(default_factory=list)  # dotfiles and secrets, unless --include names them

    @property
    def ref(self) -> str:
        return f"{self.owner}/{self.slug}"

    @property
    def bytes_total(self) -> int:
        return sum(f.size for f in self.files)

    def folders(self) -> list[str]:
        """Every folder (posix, '' for the root) that holds planned files, parents first."""
        found = {""}
        for f in self.files:
            parts = f.rel.split("/")[:-1]
            for depth in range(1, len(parts) + 1):
                found.add("/".join(parts[:depth]))
        return sorted(found, key=lambda p: (p.count("/") if p else -1, p))


# The downloader's in-progress files (partials and their journals): never part of a dataset.
DOWNLOADER_PARTIALS = ".partial"
# Files that hold credentials: never uploaded unless --include names them.
SECRET_NAMES = frozenset(
    {
        "kaggle.json",
        "access_token",
        "access_token.txt",
        "credentials.json",
        "id_rsa",
        "id_ed25519",
        "token",
    }
)
SECRET_SUFFIXES = (".pem", ".key", ".p12", ".pfx")


def holds_secrets_or_hidden(name: str) -> bool:
    """A dotfile or dot-folder (.env, .kaggle/, .netrc, ...) or a file named like a credential."""
    return name.startswith(".") or name in SECRET_NAMES or name.endswith(SECRET_SUFFIXES)


def _included(rel: str, name: str, include: tuple[str, ...]) -> bool:
    return any(
        fnmatch.fnmatchcase(rel, p) or fnmatch.fnmatchcase(name, p) or rel == p.rstrip("/") for p in include
    )


def _ignored(name: str, is_dir: bool) -> bool:
    """The kaggle client's default ignore rules (.git, .cache, .huggingface), applied to one entry."""
    extended = kaggle_api_module()
    return bool(extended.should_ignore(name, is_dir, extended.DEFAULT_IGNORE_PATTERNS))


def plan_dataset(
    folder: Path, dataset_id: str, title: str | None, license_name: str, include: tuple[str, ...] = ()
) -> DatasetPlan:
    """List what would be uploaded, enforcing Kaggle's limits before anything leaves the machine.

    Dotfiles, dot-folders and credential files are held back unless a pattern in `include` (matched against
    the path inside the folder or the name) asks for them.
    """
    owner, slug = split_id(dataset_id)
    if not folder.is_dir():
        raise PublishError(f"{folder} is not a folder", code="usage")
    manifest = read_manifest(folder)
    if manifest is not None and manifest.get("complete") is False:
        # The downloader rewrites its manifest after every verified file; false means it was interrupted.
        raise PublishError(
            f"{folder / 'manifest.json'} says the download is incomplete",
            code="usage",
            advice="rerun the same arcforge-download command to finish it, then publish",
        )
    plan = DatasetPlan(
        folder, owner, slug, check_title(title or slug.replace("-", " ")), normalize_license(license_name)
    )

    def walk(current: Path, prefix: str) -> None:
        for entry in sorted(os.scandir(current), key=lambda e: e.name):
            rel = prefix + entry.name
            hidden = holds_secrets_or_hidden(entry.name) and not _included(rel, entry.name, include)
            if entry.is_dir():
                if _ignored(entry.name, True) or (not prefix and entry.name == DOWNLOADER_PARTIALS):
                    plan.skipped.append(rel + "/")
                elif hidden:
                    plan.held_back.append(rel + "/")
                else:
                    walk(Path(entry.path), rel + "/")
            elif entry.is_file():
                if entry.name in CLIENT_SKIPPED_NAMES or _ignored(entry.name, False):
                    if entry.name != METADATA_FILE or prefix:
                        plan.skipped.append(rel)
                elif hidden:
                    plan.held_back.append(rel)
                else:
                    plan.files.append(PlannedFile(rel, Path(entry.path), entry.stat().st_size))
            else:
                plan.skipped.append(rel)

    walk(folder, "")
    if not plan.files:
        raise PublishError(f"{folder} has no files to upload", code="usage")
    if len(plan.files) > MAX_FILES:
        raise PublishError(
            f"{folder} has {len(plan.files)} files; a Kaggle dataset takes at most {MAX_FILES}",
            code="usage",
            advice="zip small files together or split the dataset",
        )
    return plan


def dataset_metadata(plan: DatasetPlan) -> dict[str, Any]:
    return {"title": plan.title, "id": plan.ref, "licenses": [{"name": plan.license_name}], "isPrivate": True}


def describe_plan(plan: DatasetPlan, action: str) -> list[str]:
    lines = [f"{action} {plan.ref} ({plan.title!r}, licence {plan.license_name}) from {plan.folder}:"]
    lines += [f"  {f.rel}  {f.size} bytes" for f in plan.files]
    lines.append(f"  {len(plan.files)} files, {plan.bytes_total} bytes")
    lines += [f"  skipped: {s}" for s in plan.skipped]
    lines += [
        f"  held back (a dotfile or secret; --include '{s.rstrip('/')}' uploads it): {s}"
        for s in plan.held_back
    ]
    return lines


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The downloader's manifest.json (repo, commit, file hashes), when the folder carries one."""
    path = folder / "manifest.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _unplanned_names(plan: DatasetPlan, rel_folder: str) -> list[str]:
    """The files of one folder that the plan leaves out, as fnmatch patterns for the client's `upload_files`."""
    planned = {f.rel for f in plan.files}
    prefix = f"{rel_folder}/" if rel_folder else ""
    names = [
        e.name for e in os.scandir(plan.folder / rel_folder) if e.is_file() and prefix + e.name not in planned
    ]
    return [re.sub(r"([\[\]*?])", r"[\1]", name) for name in sorted(names)]


class DatasetPublisher:
    """Runs one `dataset` publication against a signed-in KaggleApi."""

    def __init__(
        self, api: Any, username: str, reporter: Reporter, state_dir: Path, poll_seconds: float
    ) -> None:
        self.api = api
        self.username = username
        self.reporter = reporter
        self.state_dir = state_dir
        self.poll_seconds = poll_seconds

    # -- the slug check -----------------------------------------------------------------------------

    def slug_state(self, plan: DatasetPlan) -> str:
        """'ours' (Kaggle shows it: a new version) or 'unseen' (create it, and version it on a conflict).

        Kaggle answers 403 "Permission 'datasets.get' was denied" for a dataset the caller cannot see,
        a missing one included, and may answer 403 or 404 for one just created (real-world.md); so neither
        means "taken". The kaggle CLI's `dataset_create_new` reads any error here as "free"; kagglehub's
        `create_dataset_or_version` creates, then versions on a conflict. A slug lives under its owner, so
        under your own name nobody else can hold it.
        """
        ours = plan.owner.lower() == self.username.lower()
        try:
            self._get_status(plan)
        except PublishError as exc:
            if exc.status not in (403, 404):
                raise
            if not ours:
                raise PublishError(
                    f"cannot create {plan.ref}: you are signed in as {self.username}, and Kaggle creates "
                    f"datasets under your own account (Kaggle shows you no dataset {plan.ref})",
                    code="slug_taken",
                    advice=f"use --id {self.username}/{plan.slug}",
                ) from None
            return "unseen"
        if not ours:
            raise PublishError(
                f"{plan.ref} belongs to {plan.owner}, not to {self.username}; only its owner can version it",
                code="slug_taken",
                advice=f"publish under your own name: --id {self.username}/{plan.slug}",
            )
        return "ours"

    # -- upload ---------------------------------------------------------------------------------------

    def _upload(self, plan: DatasetPlan, context: Any) -> tuple[list[Any], list[Any]]:
        """Upload every planned file; return (root files, directory tree) as Kaggle request objects."""
        from kagglesdk.blobs.types.blob_api_service import ApiBlobType
        from kagglesdk.datasets.types.dataset_api_service import ApiUploadDirectoryInfo

        planned_per_folder: dict[str, int] = {}
        for f in plan.files:
            parent = f.rel.rpartition("/")[0]
            planned_per_folder[parent] = planned_per_folder.get(parent, 0) + 1
        nodes: dict[str, Any] = {}
        root_files: list[Any] = []
        root_dirs: list[Any] = []

        def upload_folder(rel_folder: str) -> Any:
            node = ApiUploadDirectoryInfo()  # fresh per attempt: a retry must not list files twice
            node.name = rel_folder.rpartition("/")[2]
            node.files = []
            node.directories = []
            self.api.upload_files(
                node,
                None,
                str(plan.folder / rel_folder),
                ApiBlobType.DATASET,
                context,
                quiet=True,
                dir_mode="skip",
                ignore_patterns=_unplanned_names(plan, rel_folder),
            )
            return node

        for rel_folder in plan.folders():
            # Resumable: the upload context remembers what Kaggle already holds, so a retry goes on.
            node = kaggle_call(
                f"the upload of {rel_folder or '.'}",
                upload_folder,
                rel_folder,
                idempotent=True,
                host=kaggle_host(),
            )
            expected = planned_per_folder.get(rel_folder, 0)
            if len(node.files) != expected:
                raise PublishError(
                    f"the kaggle client uploaded {len(node.files)} files from {rel_folder or '.'}, expected {expected}",
                    code="upload",
                )
            if rel_folder == "":
                root_files = node.files
                continue
            nodes[rel_folder] = node
            parent = rel_folder.rpartition("/")[0]
            (nodes[parent].directories if parent else root_dirs).append(node)
        return root_files, root_dirs

    def _on_bytes(self, plan: DatasetPlan, done: dict[str, int]) -> Any:
        sizes = {str(f.path): f for f in plan.files}
        printed = [0.0]

        def report(path: str, offset: int) -> None:
            planned = sizes.get(path)
            if planned is None or offset >= planned.size:
                return
            total_done = sum(done.values()) + offset
            self.reporter.emit(
                "progress",
                file=planned.rel,
                bytes_done=offset,
                bytes_total=planned.size,
                total_bytes_done=total_done,
                total_bytes=plan.bytes_total,
            )
            if time.monotonic() - printed[0] >= 10:
                printed[0] = time.monotonic()
                self.reporter.say(f"  uploading {planned.rel}: {offset}/{planned.size} bytes")

        return report

    def _on_file(self, plan: DatasetPlan, done: dict[str, int], progress: ByteProgress) -> Any:
        sizes = {str(f.path): f for f in plan.files}

        def report(path: str, state: str) -> None:
            planned = sizes.get(path)
            if planned is None:
                return
            progress.watch(None if state == "done" else path)
            self.reporter.emit("item", file=planned.rel, state=state, bytes_total=planned.size)
            if state == "done":
                done[planned.rel] = planned.size
                total_done = sum(done.values())
                self.reporter.emit(
                    "progress",
                    file=planned.rel,
                    bytes_done=planned.size,
                    bytes_total=planned.size,
                    total_bytes_done=total_done,
                    total_bytes=plan.bytes_total,
                )
                self.reporter.say(
                    f"  uploaded {planned.rel} ({len(done)}/{len(plan.files)} files, {total_done}/{plan.bytes_total} bytes)"
                )
            elif state == "resumed":
                self.reporter.say(f"  resuming {planned.rel}")

        return report

    # -- create / version ------------------------------------------------------------------------------

    def _create(self, plan: DatasetPlan, files: list[Any], dirs: list[Any]) -> Any:
        from kagglesdk.datasets.types.dataset_api_service import ApiCreateDatasetRequest

        request = ApiCreateDatasetRequest()
        request.owner_slug, request.slug, request.title = plan.owner, plan.slug, plan.title
        request.license_name = plan.license_name
        request.is_private = True
        request.files, request.directories = files, dirs
        return sdk_call(
            self.api,
            "CreateDataset",
            lambda k: k.datasets.dataset_api_client.create_dataset,
            request,
            idempotent=False,
            if_sent=f"run the same command again: it finds {plan.ref} and makes a new version if it was created",
        )

    def _version(self, plan: DatasetPlan, files: list[Any], dirs: list[Any], notes: str) -> Any:
        from kagglesdk.datasets.types.dataset_api_service import (
            ApiCreateDatasetVersionRequest,
            ApiCreateDatasetVersionRequestBody,
        )

        body = ApiCreateDatasetVersionRequestBody()
        body.version_notes = notes
        body.files, body.directories = files, dirs
        request = ApiCreateDatasetVersionRequest()
        request.owner_slug, request.dataset_slug, request.body = plan.owner, plan.slug, body
        return sdk_call(
            self.api,
            "CreateDatasetVersion",
            lambda k: k.datasets.dataset_api_client.create_dataset_version,
            request,
            idempotent=False,
            if_sent=f"look at the versions of {plan.ref} on kaggle.com before publishing again",
        )

    # -- after the upload ------------------------------------------------------------------------------

    def _get_status(self, plan: DatasetPlan) -> Any:
        from kagglesdk.datasets.types.dataset_api_service import ApiGetDatasetStatusRequest

        request = ApiGetDatasetStatusRequest()
        request.owner_slug, request.dataset_slug = plan.owner, plan.slug
        return sdk_call(
            self.api,
            "GetDatasetStatus",
            lambda k: k.datasets.dataset_api_client.get_dataset_status,
            request,
            idempotent=True,
        )

    def dataset_status(self, plan: DatasetPlan) -> str:
        """Kaggle's processing status; UNSEEN while Kaggle still answers 403/404 for a dataset just sent."""
        try:
            response = self._get_status(plan)
        except PublishError as exc:
            # Right after CreateDataset the read side may not know the dataset yet (real-world.md): pending.
            if exc.status in (403, 404):
                return UNSEEN
            raise
        return str(response.status.name)

    def wait_ready(self, plan: DatasetPlan, timeout_s: float) -> str:
        def show(status: str) -> None:
            shown = status if status in ("READY", "FAILED") else "processing"
            words = "not visible yet (Kaggle answers 403/404 at first)" if status == UNSEEN else status
            self.reporter.emit("item", dataset=plan.ref, status=shown, message=f"Kaggle status {words}")
            self.reporter.say(f"  {plan.ref}: {words}")

        status = poll_until(
            lambda: self.dataset_status(plan),
            label=str,
            final=lambda status: status in ("READY", "FAILED", "DELETED"),
            on_change=show,
            poll_seconds=self.poll_seconds,
            timeout_s=timeout_s,
            what=plan.ref,
            advice="run the same command again later; finished uploads are not repeated",
        )
        if status != "READY":
            raise PublishError(
                f"Kaggle could not process {plan.ref}: its new version ended {status}",
                code="dataset_failed",
                advice="open the dataset's page on kaggle.com for the processing error, then publish again",
            )
        return status

    def current_version(self, plan: DatasetPlan) -> int | None:
        from kagglesdk.datasets.types.dataset_api_service import ApiGetDatasetRequest

        request = ApiGetDatasetRequest()
        request.owner_slug, request.dataset_slug = plan.owner, plan.slug
        try:
            response = sdk_call(
                self.api,
                "GetDataset",
                lambda k: k.datasets.dataset_api_client.get_dataset,
                request,
                idempotent=True,
            )
        except PublishError:
            return None
        return int(response.current_version_number or 0) or None

    def remote_files(self, plan: DatasetPlan, version: int | None) -> dict[str, int]:
        from kagglesdk.datasets.types.dataset_api_service import ApiListDatasetFilesRequest

        found: dict[str, int] = {}
        token = ""
        while True:
            request = ApiListDatasetFilesRequest()
            request.owner_slug, request.dataset_slug = plan.owner, plan.slug
            if version:
                request.dataset_version_number = version
            request.page_size = 200
            request.page_token = token
            response = sdk_call(
                self.api,
                "ListDatasetFiles",
                lambda k: k.datasets.dataset_api_client.list_dataset_files,
                request,
                idempotent=True,
            )
            if response.error_message:
                raise PublishError(f"listing {plan.ref}: {response.error_message}", code="verify")
            for item in response.dataset_files or []:
                found[item.name] = int(item.total_bytes or 0)
            token = response.next_page_token or ""
            if not token:
                return found

    def verify(self, plan: DatasetPlan, version: int | None) -> dict[str, Any]:
        """Compare Kaggle's file listing with what was sent; warn where they differ, never fail.

        Kaggle accepted and processed the version by now. ListDatasetFiles may name files by their base name
        only and may leave out files in sub-folders (Kaggle/kaggle-api issues #370, #234), so a file it does
        not list is "not listed", not "missing". The result is recorded in published.json.
        """
        try:
            remote = self.remote_files(plan, version)
        except PublishError as exc:
            self.reporter.warn(f"could not list the files of {plan.ref} to check them: {exc}")
            return {"checked": False, "reason": str(exc)}
        local = {f.rel: f.size for f in plan.files}
        base_counts: dict[str, int] = {}
        for rel in local:
            base = rel.rpartition("/")[2]
            base_counts[base] = base_counts.get(base, 0) + 1
        matched: list[str] = []
        by_base_name: list[str] = []
        not_listed: list[str] = []
        size_differs: list[str] = []
        claimed: set[str] = set()
        for rel, size in local.items():
            base = rel.rpartition("/")[2]
            name = rel if rel in remote else base if base_counts[base] == 1 and base in remote else None
            if name is None:
                not_listed.append(rel)
                continue
            claimed.add(name)
            (matched if name == rel else by_base_name).append(rel)
            if remote[name] != size:
                size_differs.append(f"{rel} ({size} here, {remote[name]} on Kaggle)")
        extra = sorted(set(remote) - claimed)
        if by_base_name:
            self.reporter.warn(
                f"Kaggle lists {len(by_base_name)} files of {plan.ref} by base name only; matched them by name and "
                "size: " + ", ".join(by_base_name[:5])
            )
        if not_listed:
            self.reporter.warn(
                f"Kaggle's listing of {plan.ref} leaves out {len(not_listed)} of the files sent (its listing can omit "
                "files in sub-folders): "
                + ", ".join(not_listed[:5])
                + "; check the dataset page on kaggle.com"
            )
        if size_differs:
            self.reporter.warn(f"sizes differ on Kaggle for {plan.ref}: " + ", ".join(size_differs[:5]))
        if extra:
            self.reporter.warn(
                f"Kaggle lists files of {plan.ref} that were not sent: " + ", ".join(extra[:5])
            )
        if not (by_base_name or not_listed or size_differs or extra):
            self.reporter.say(f"  verified {len(local)} files and their sizes against {plan.folder}")
        return {
            "checked": True,
            "matched": len(matched),
            "by_base_name": by_base_name,
            "not_listed": not_listed,
            "size_differs": size_differs,
            "extra": extra,
        }

    # -- the whole run ---------------------------------------------------------------------------------

    def publish(self, plan: DatasetPlan, version_notes: str, target: str, timeout_s: float) -> int | None:
        """Slug check, upload, create or version, poll, verify, record. The caller emits `start`.

        Nothing is written into the folder being published: dataset-metadata.json goes to the state dir.
        """
        reporter = self.reporter
        state = self.slug_state(plan)
        reporter.say(f"{plan.ref}: {'new dataset' if state == 'unseen' else 'new version of your dataset'}")
        metadata_dir = self.state_dir / "datasets" / plan.slug
        metadata_dir.mkdir(parents=True, exist_ok=True)
        (metadata_dir / METADATA_FILE).write_text(
            json.dumps(dataset_metadata(plan), indent=2) + "\n", encoding="utf-8"
        )
        for f in plan.files:
            reporter.emit("item", file=f.rel, state="queued", bytes_total=f.size)
        done: dict[str, int] = {}
        progress = ByteProgress(self._on_bytes(plan, done))
        context = make_upload_context(self.state_dir, self._on_file(plan, done, progress))
        with progress, context:  # on an exception the client keeps its upload state for the next run
            files, dirs = self._upload(plan, context)
            if state == "unseen":
                try:
                    error = _refusal(self._create(plan, files, dirs))
                except PublishError as exc:
                    if exc.status != 409:  # kagglehub reads HTTP 409 on CreateDataset as "exists: version it"
                        raise
                    error = "already exists (HTTP 409)"
                if error and _is_conflict(error):
                    # Ours already (Kaggle had not shown it yet): a new version, as kagglehub does on a conflict.
                    reporter.say(f"  {plan.ref} exists already: making a new version of it")
                    error = _refusal(self._version(plan, files, dirs, version_notes))
            else:
                error = _refusal(self._version(plan, files, dirs, version_notes))
            if error:
                raise PublishError(f"Kaggle refused {plan.ref}: {error}", code="rejected")
        self.wait_ready(plan, timeout_s)
        version = self.current_version(plan)
        verification = self.verify(plan, version)
        reporter.emit("item", dataset=plan.ref, status="READY", version=version)
        Records(self.state_dir).record_dataset(
            plan.ref,
            target=target,
            version=version,
            files={f.rel: f.size for f in plan.files},
            manifest=read_manifest(plan.folder),
            verification=verification,
        )
        return version


def _refusal(response: Any) -> str:
    """Kaggle's refusal in a 200 answer to CreateDataset / CreateDatasetVersion ('' when it accepted)."""
    return str(
        response.error or ("" if (response.status or "ok").lower() == "ok" else f"status {response.status}")
    )


def _is_conflict(error: str) -> bool:
    return "already in use" in error.lower() or "already exists" in error.lower()
