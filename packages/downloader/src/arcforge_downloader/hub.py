"""Repo metadata and access checks, through huggingface_hub (its HTTP client, auth and error classes)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from huggingface_hub import HfApi, get_hf_file_metadata
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    OfflineModeIsEnabled,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.hf_api import RepoFile

from arcforge_downloader.auth import Token


@dataclass(frozen=True)
class RemoteFile:
    path: str
    size: int
    blob_id: str  # git blob sha1 (of the LFS pointer for LFS files)
    sha256: str | None  # LFS files only
    xet_hash: str | None = None  # Xet-backed files (the tree's `xetHash`)


@dataclass(frozen=True)
class Snapshot:
    repo_id: str
    revision: str
    commit: str
    endpoint: str
    files: dict[str, RemoteFile]
    gated: bool

    def resolve_url(self, path: str) -> str:
        return f"{self.endpoint}/{self.repo_id}/resolve/{self.commit}/{quote(path)}"


class RefusedError(Exception):
    """A refusal the user has to act on (gated, missing, busy); carries an event code and advice."""

    def __init__(
        self, code: str, message: str, advice: str, status: int | None = None, gated: bool = False
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.advice = advice
        self.status = status
        self.gated = gated


def make_api(endpoint: str, token: Token) -> HfApi:
    # token=False: never let huggingface_hub pick up a token we did not choose and report.
    return HfApi(endpoint=endpoint, token=token.value or False, library_name="arcforge-downloader")


def access_advice(repo_id: str, endpoint: str, status: int | None, token: Token) -> tuple[str, str, str]:
    """(code, message, advice) for a gated or refused repo, by HTTP status."""
    page = f"{endpoint}/{repo_id}"
    steps = (
        f"1. Open {page}, log in and request access (accept the licence).\n"
        f"2. Create a Read token at {endpoint}/settings/tokens.\n"
        "3. export HF_TOKEN=<the token> (or pass --token-file FILE, or run `hf auth login`) and rerun."
    )
    if status == 403:
        message = f"{repo_id} is gated and the token {token.masked} (from {token.source}) has no access to it (HTTP 403)."
        advice = (
            f"Request access at {page} and wait for the approval e-mail. If access was granted, the token may "
            "lack read rights: fine-grained tokens need 'Read access to contents of all public gated repos'.\n"
            + steps
        )
        return "forbidden", message, advice
    if token.value:
        message = f"{repo_id} refused the token {token.masked} (from {token.source}) (HTTP {status or 401}): it is invalid or expired."
    else:
        message = f"{repo_id} is gated and no token was sent (HTTP {status or 401})."
    return "unauthorized", message, steps


def _problem_from(
    error: Exception, repo_id: str, revision: str, endpoint: str, token: Token
) -> RefusedError | None:
    status = getattr(getattr(error, "response", None), "status_code", None)
    if isinstance(error, OfflineModeIsEnabled):
        # huggingface_hub refuses every request while HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is set
        # (constants.HF_HUB_OFFLINE); it is a ConnectionError, so it must be told apart from a dead network.
        variable = "HF_HUB_OFFLINE" if os.environ.get("HF_HUB_OFFLINE") else "TRANSFORMERS_OFFLINE"
        return RefusedError(
            "offline",
            f"offline mode is on ({variable}=1): huggingface_hub makes no request to {endpoint}, "
            f"so {repo_id} cannot be listed or fetched.",
            f"Unset {variable} (or set it to 0) to download; a folder this tool completed earlier is "
            "usable as it is (see its manifest.json).",
            status,
        )
    if isinstance(error, GatedRepoError):
        code, message, advice = access_advice(repo_id, endpoint, status, token)
        return RefusedError(code, message, advice, status, gated=True)
    if isinstance(error, RevisionNotFoundError):
        return RefusedError(
            "not_found",
            f"revision {revision!r} does not exist in {repo_id}.",
            f"Check the branch, tag or commit at {endpoint}/{repo_id}/tree/main (or omit --revision for main).",
            status,
        )
    if isinstance(error, RepositoryNotFoundError):
        hint = (
            "If it is private or gated, the token may lack access."
            if token.value
            else "If it is private or gated, set HF_TOKEN (a Read token from "
            f"{endpoint}/settings/tokens) and rerun."
        )
        return RefusedError(
            "not_found",
            f"repository {repo_id} was not found at {endpoint} (HTTP {status}).",
            f"Check the id (ORG/NAME, as in the model page's URL). {hint}",
            status,
        )
    if isinstance(error, RemoteEntryNotFoundError):
        return RefusedError(
            "not_found", f"a file of {repo_id} is missing on the Hub: {error}", "Rerun later.", status
        )
    if isinstance(error, HfHubHTTPError) and status in (401, 403):
        code, message, advice = access_advice(repo_id, endpoint, status, token)
        return RefusedError(code, message, advice, status)
    if _is_network_error(error):
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        advice = "Check the network connection and the endpoint (--endpoint / HF_ENDPOINT), then rerun."
        if "CERTIFICATE_VERIFY_FAILED" in str(error):
            # huggingface_hub's client and the byte stream trust the same CAs (network.tls_context).
            advice = (
                f"The certificate of {endpoint} (or of a proxy that inspects TLS) is signed by a CA this "
                "Python does not trust. Point SSL_CERT_FILE at a bundle that holds it (a corporate CA, "
                "or certifi's: export SSL_CERT_FILE=$(python -m certifi)) and rerun."
            )
        elif "407" in first_line or "Proxy" in type(error).__name__:
            advice = "The proxy in HTTPS_PROXY / HTTP_PROXY refused: put its credentials in the URL (http://user:password@proxy:port) or set NO_PROXY for the Hub, then rerun."
        return RefusedError(
            "network", f"cannot talk to {endpoint}: {type(error).__name__}: {first_line}", advice, status
        )
    return None


def _is_network_error(error: Exception) -> bool:
    """Transport failures and server errors: OSError, huggingface_hub's HTTP error, and the HTTP client's
    own errors (httpx in huggingface_hub 1.x, httpx2 in 2.x: matched by module, not imported)."""
    if isinstance(error, (OSError, HfHubHTTPError)):
        return True
    return type(error).__module__.split(".")[0] in ("httpx", "httpx2", "httpcore", "httpcore2")


def fetch_snapshot(api: HfApi, repo_id: str, revision: str, token: Token) -> Snapshot:
    """Resolve `revision` to a commit once, then list that commit's files with sizes and checksums."""
    try:
        info: Any = api.model_info(repo_id, revision=revision)
        commit = info.sha
        if not commit:
            raise RefusedError(
                "network", f"the Hub returned no commit for {repo_id}@{revision}", "Rerun later."
            )
        files: dict[str, RemoteFile] = {}
        for entry in api.list_repo_tree(repo_id, revision=commit, recursive=True):
            if isinstance(entry, RepoFile):
                sha256 = entry.lfs.sha256 if entry.lfs is not None else None
                xet_hash = getattr(entry, "xet_hash", None)  # huggingface_hub >= 1.x names it in the tree
                files[entry.path] = RemoteFile(entry.path, int(entry.size), entry.blob_id, sha256, xet_hash)
    except RefusedError:
        raise
    except Exception as error:
        problem = _problem_from(error, repo_id, revision, api.endpoint, token)
        if problem is None:
            raise
        raise problem from None
    return Snapshot(repo_id, revision, commit, api.endpoint, files, bool(getattr(info, "gated", False)))


def probe_access(snapshot: Snapshot, path: str, token: Token) -> None:
    """HEAD one file before any byte moves: gated repos list their files to anyone but refuse downloads."""
    try:
        get_hf_file_metadata(
            snapshot.resolve_url(path), token=token.value or False, endpoint=snapshot.endpoint
        )
    except Exception as error:
        problem = _problem_from(error, snapshot.repo_id, snapshot.revision, snapshot.endpoint, token)
        if problem is None:
            raise
        raise problem from None
