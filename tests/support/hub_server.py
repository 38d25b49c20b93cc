"""A loopback stand-in for the Hugging Face Hub, run in its own process.

It speaks the part of the Hub protocol that `huggingface_hub` and arcforge-download use:

- `GET /api/models/{org}/{name}[/revision/{rev}]` (`?blobs=true` adds sizes and LFS data to `siblings`)
- `GET /api/models/{org}/{name}/tree/{rev}[/{path}]?recursive=true`
- `HEAD`/`GET /{org}/{name}/resolve/{rev}/{path}` with `X-Repo-Commit`, `ETag`, `Content-Length`,
  `Accept-Ranges`, `Range` → 206; or, with `redirect_to_cdn`, LFS files answer a 302 to a second
  listener (the "CDN") carrying `X-Linked-Etag` and `X-Linked-Size`
- errors carry `X-Error-Code` and `X-Error-Message` like the Hub's

Fault switches (see `Faults`) model a flaky network and a real CDN: cut connections, stalls, 429/503,
the Hub's `RateLimit` 429s, ignored ranges, corrupt bytes, gating, a per-connection bandwidth cap and
latency, a slow CDN edge that caps single connections, Xet-backed files (with a CAS that cannot be
reached, as from here, or with `xet_cas` a stand-in CAS that the real hf_xet downloads from, see
tests/support/xet_cas.py) and the bridge's refusal of very large files. Tests and benchmarks
change them at run time through `POST /_control/faults` and read byte counters from `GET /_control/stats`.

Use it from Python::

    repo = generate_repo(root, "acme/tiny-model", shard_bytes=[4 << 20])
    # or: publish_folder(root, "acme/real-tiny", folder_saved_with_save_pretrained)
    with running_hub_server(root, bandwidth_bps=8 << 20) as hub:
        ...  # hub.url is the endpoint; hub.stats(), hub.set_faults(...), hub.reset_stats()

or from a shell: `python -m tests.support.hub_server --root DIR [--generate acme/tiny-model] [--port N]`.
It runs in a separate process on purpose: clients that spawn native threads (hf_transfer) deadlock with
an in-process server, and a separate process is what a real network peer looks like.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fnmatch
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from tests.support.xet_cas import HEADER_BYTES, XorbLayout, reconstruction, xet_file_hash, xorb_range

REPO_ROOT = Path(__file__).resolve().parents[2]
REPO_META = "repo.json"
LFS_SUFFIXES = (".safetensors", ".bin", ".gguf", ".model", ".pt", ".pth")
CHUNK = 64 * 1024


# --------------------------------------------------------------------------------------------------
# Generated repos
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RepoFileInfo:
    path: str
    size: int
    sha256: str
    blob_id: str  # git blob sha1 of the file (non-LFS) or of its LFS pointer (LFS)
    lfs: bool


@dataclasses.dataclass(frozen=True)
class GeneratedRepo:
    repo_id: str
    commit: str
    folder: Path
    files: dict[str, RepoFileInfo]

    @property
    def bytes_total(self) -> int:
        return sum(f.size for f in self.files.values())


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def _file_digests(path: Path) -> tuple[str, str]:
    """(sha256, git blob sha1) of a file, read in chunks."""
    sha256 = hashlib.sha256()
    sha1 = hashlib.sha1(b"blob %d\0" % path.stat().st_size)
    with path.open("rb") as handle:
        while block := handle.read(8 << 20):
            sha256.update(block)
            sha1.update(block)
    return sha256.hexdigest(), sha1.hexdigest()


def _write_safetensors_shard(path: Path, tensor_bytes: int, seed: int) -> list[str]:
    """A real safetensors file holding random float16 tensors of about `tensor_bytes` bytes."""
    import numpy as np
    from safetensors.numpy import save_file

    rng = np.random.default_rng(seed)
    tensors: dict[str, Any] = {}
    remaining = max(tensor_bytes, 2)
    index = 0
    while remaining >= 2:
        part = min(remaining, 256 << 20) // 2 * 2
        # Random bytes, not random floats: incompressible and ten times cheaper to make.
        tensors[f"layers.{seed}.{index}.weight"] = np.frombuffer(rng.bytes(part), dtype=np.float16)
        remaining -= part
        index += 1
    save_file(tensors, str(path), metadata={"format": "pt"})
    return list(tensors)


def _write_tokenizer_files(folder: Path) -> None:
    try:
        from tokenizers import Tokenizer, models, pre_tokenizers, trainers

        tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
        tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
        trainer = trainers.BpeTrainer(
            vocab_size=120, special_tokens=["<unk>", "<bos>", "<eos>", "<pad>"], show_progress=False
        )
        corpus = ["def solve(grid): return grid", "rotate the grid and flip colours", "arc prize task"] * 20
        tokenizer.train_from_iterator(corpus, trainer=trainer)
        tokenizer.save(str(folder / "tokenizer.json"))
    except ImportError:  # a plain-JSON tokenizer is still a tokenizer file for transfer tests
        vocab = {"<unk>": 0, "<bos>": 1, "<eos>": 2, "<pad>": 3, "grid": 4}
        spec = {"version": "1.0", "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "<unk>"}}
        (folder / "tokenizer.json").write_text(json.dumps(spec))
    chat_template = "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}<eos>{% endfor %}"
    (folder / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "bos_token": "<bos>",
                "eos_token": "<eos>",
                "pad_token": "<pad>",
                "unk_token": "<unk>",
                "model_max_length": 8192,
                "tokenizer_class": "PreTrainedTokenizerFast",
                "chat_template": chat_template,
            },
            indent=2,
        )
    )
    (folder / "special_tokens_map.json").write_text(
        json.dumps({"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>"})
    )


def generate_repo(
    root: str | os.PathLike[str],
    repo_id: str = "arcforge-test/tiny-model",
    *,
    shard_bytes: list[int] | None = None,
    seed: int = 0,
    gated: bool = False,
    virtual_files: dict[str, int] | None = None,
    extra_files: dict[str, bytes] | None = None,
) -> GeneratedRepo:
    """Write a model repo under `root` that the server serves.

    `shard_bytes` gives the tensor bytes of each safetensors shard (one 1 MiB shard by default); more
    than one shard adds `model.safetensors.index.json`. `virtual_files` are listed in the metadata with
    the given size but have no content (for a disk-space refusal without filling a disk). `gated`
    marks the repo as gated in its metadata (access itself is a fault switch: `gated_tokens`).
    """
    shard_bytes = shard_bytes or [1 << 20]
    folder = Path(root) / repo_id / "files"
    folder.mkdir(parents=True, exist_ok=True)
    count = len(shard_bytes)
    weight_map: dict[str, str] = {}
    for index, size in enumerate(shard_bytes, start=1):
        name = "model.safetensors" if count == 1 else f"model-{index:05d}-of-{count:05d}.safetensors"
        for tensor in _write_safetensors_shard(folder / name, size, seed * 1000 + index):
            weight_map[tensor] = name
    if count > 1:
        index_doc = {"metadata": {"total_size": sum(shard_bytes)}, "weight_map": weight_map}
        (folder / "model.safetensors.index.json").write_text(json.dumps(index_doc, indent=2))
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "vocab_size": 120,
        "torch_dtype": "float16",
    }
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    (folder / "generation_config.json").write_text(json.dumps({"bos_token_id": 1, "eos_token_id": 2}))
    _write_tokenizer_files(folder)
    (folder / "README.md").write_text(f"# {repo_id}\n\nA generated test repo.\n")
    for name, data in (extra_files or {}).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return publish_folder(root, repo_id, gated=gated, virtual_files=virtual_files)


def publish_folder(
    root: str | os.PathLike[str],
    repo_id: str,
    source: str | os.PathLike[str] | None = None,
    *,
    gated: bool = False,
    virtual_files: dict[str, int] | None = None,
) -> GeneratedRepo:
    """Serve a folder as repo `repo_id`: e.g. a tiny model saved with `save_pretrained`.

    `source` is copied to `root/repo_id/files` (omit it when the files are already there); the repo's
    metadata (sizes, sha256, git blob ids, a commit id derived from the content) is written next to it.
    """
    folder = Path(root) / repo_id / "files"
    if source is not None:
        if folder.exists():
            shutil.rmtree(folder)
        shutil.copytree(source, folder)
    files: dict[str, RepoFileInfo] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        sha256, blob = _file_digests(path)
        size = path.stat().st_size
        lfs = rel.endswith(LFS_SUFFIXES)
        if lfs:
            blob = git_blob_sha1(lfs_pointer(sha256, size))
        files[rel] = RepoFileInfo(rel, size, sha256, blob, lfs)
    virtual: dict[str, dict[str, Any]] = {}
    for name, size in (virtual_files or {}).items():
        sha256 = hashlib.sha256(f"virtual:{name}:{size}".encode()).hexdigest()
        files[name] = RepoFileInfo(name, size, sha256, git_blob_sha1(lfs_pointer(sha256, size)), True)
        virtual[name] = {"size": size}
    commit = hashlib.sha1(
        json.dumps([dataclasses.asdict(f) for f in files.values()], sort_keys=True).encode()
    ).hexdigest()
    meta = {
        "id": repo_id,
        "commit": commit,
        "gated": "manual" if gated else False,
        "files": [dataclasses.asdict(f) for f in files.values()],
        "virtual": virtual,
    }
    (folder.parent / REPO_META).write_text(json.dumps(meta, indent=2))
    return GeneratedRepo(repo_id, commit, folder, files)


# --------------------------------------------------------------------------------------------------
# Faults and counters
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Faults:
    """Fault switches. `*_times` count down per matching response; -1 means every time."""

    fault_paths: str = "*"  # glob on the repo path of the file that body faults apply to
    cut_after_bytes: int | None = None  # close the connection after this many body bytes
    cut_times: int = 0
    stall_after_bytes: int | None = None  # stop sending (keep the socket open) after this many bytes
    stall_seconds: float = 3600.0
    stall_times: int = 0
    status_429_times: int = 0  # answer file GETs with 429 + Retry-After
    retry_after: float = 1.0
    status_503_times: int = 0
    ignore_range: bool = False  # answer ranged GETs with 200 and the whole body
    corrupt_times: int = 0  # flip a byte in the body
    gated_tokens: list[str] | None = None  # gated: only these tokens may fetch files (None: open)
    known_tokens: list[str] = dataclasses.field(default_factory=list)  # valid tokens without access
    bandwidth_bps: float | None = None  # per-connection cap on body bytes
    latency_s: float = 0.0  # added before every response
    redirect_to_cdn: bool = False  # resolve of an LFS file → 302 to the CDN listener
    # 429 on /resolve with `RateLimit: "resolvers";r=0;t=N` and `RateLimit-Policy`, no Retry-After: the
    # Hub's resolver limit (Hub docs, rate limits; parsed by huggingface_hub utils/_http.py).
    rate_limit_times: int = 0
    rate_limit_reset_s: int = 1
    # The first N connections that carry file bytes are capped at `slow_connection_bps` for as long as
    # they live: a slow CDN edge (some cas-bridge edges cap one connection at ~8.7 MB/s, xet-core #821).
    slow_connections: int = 0
    slow_connection_bps: float = 50_000.0
    # Xet-backed LFS files: `xetHash` in the tree, `X-Xet-Hash` and a `Link: <…/xet-read-token/…>;
    # rel="xet-auth"` on resolve, which redirects to the CDN listener standing in for the cas-bridge
    # (huggingface_hub utils/_xet.py, file_download.py; Hub docs on Xet and legacy clients). The read
    # token names a CAS URL (`xet_cas_url`) that nothing answers by default: no Xet CAS is reachable here.
    xet_backed: bool = False
    xet_cas_url: str = "http://127.0.0.1:9"
    # With xet_cas, the read token names the CDN listener's stand-in CAS instead (tests/support/xet_cas.py).
    xet_cas: bool = False
    # The bridge answers 400 for files larger than this (files of ~50 GB and more, xet-core #592;
    # huggingface_hub refuses HTTP above MAX_HTTP_DOWNLOAD_SIZE = 50 GB, issue #3868).
    bridge_max_bytes: int | None = None


class HubState:
    """What both listeners share: repos on disk, the faults and the counters."""

    def __init__(self, root: Path, faults: Faults) -> None:
        self.root = root
        self.faults = faults
        self.lock = threading.Lock()
        self.cdn_url = ""
        self.hub_url = ""
        self.reset_stats()

    def reset_stats(self) -> None:
        with self.lock:
            self.body_bytes: dict[str, int] = {}
            self.requests: list[str] = []
            self.cdn_requests = 0
            self.cdn_auth_headers = 0
            self.auth_headers = 0
            self.connections: list[dict[str, Any]] = []  # per TCP connection that carried file bytes

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "body_bytes": dict(self.body_bytes),
                "body_bytes_total": sum(self.body_bytes.values()),
                "requests": list(self.requests),
                "cdn_requests": self.cdn_requests,
                "cdn_auth_headers": self.cdn_auth_headers,
                "auth_headers": self.auth_headers,
                "connections": [dict(c) for c in self.connections],
            }

    def open_connection(self) -> dict[str, Any]:
        """A record for a connection's first file body; it is slow while slow_connections lasts."""
        with self.lock:
            slow = self.faults.slow_connections > 0
            if slow:
                self.faults.slow_connections -= 1
            record: dict[str, Any] = {"slow": slow, "bytes": 0, "requests": 0}
            self.connections.append(record)
            return record

    def take(self, name: str, path: str) -> bool:
        """Consume one use of a counted fault for `path`; True when it fires."""
        with self.lock:
            if not fnmatch.fnmatch(path, self.faults.fault_paths):
                return False
            left = getattr(self.faults, name)
            if left == 0:
                return False
            if left > 0:
                setattr(self.faults, name, left - 1)
            return True

    def count_bytes(self, path: str, n: int) -> None:
        with self.lock:
            self.body_bytes[path] = self.body_bytes.get(path, 0) + n

    def load_repo(self, repo_id: str) -> dict[str, Any] | None:
        meta = self.root / repo_id / REPO_META
        if ".." in repo_id or not meta.is_file():
            return None
        data: dict[str, Any] = json.loads(meta.read_text())
        return data


class HubError(Exception):
    def __init__(self, status: int, code: str | None, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)$")
API_INFO = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)(?:/revision/(?P<rev>[^/]+))?$")
API_TREE = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?$")
CDN_BLOB = re.compile(r"^/blobs/(?P<repo>[^/]+/[^/]+)/(?P<commit>[0-9a-f]{40})/(?P<path>.+)$")
XET_TOKEN = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)/xet-read-token/(?P<rev>[^/]+)$")
XET_RECONSTRUCTION = re.compile(
    r"^/xet-cas/(?P<repo>[^/]+/[^/]+)/(?P<commit>[0-9a-f]{40})/v(?P<version>\d)/reconstructions/(?P<hash>[0-9a-f]{64})$"
)
XET_XORB = re.compile(r"^/xet-xorbs/(?P<repo>[^/]+/[^/]+)/(?P<commit>[0-9a-f]{40})/(?P<path>.+)$")


def xet_hash(entry: dict[str, Any]) -> str:
    return xet_file_hash(entry["sha256"])


class HubHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "arcforge-test-hub/1"
    state: HubState  # set on the subclass per listener
    is_cdn = False
    link_record: dict[str, Any] | None = None  # this connection's byte counter (see open_connection)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests read counters, not logs

    # ---- plumbing ------------------------------------------------------------------------------

    def _send_json(self, payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_error(self, error: HubError) -> None:
        body = json.dumps({"error": error.message}).encode()
        self.send_response(error.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "0" if self.command == "HEAD" else str(len(body)))
        if error.code:
            # huggingface_hub maps X-Error-Code (RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo)
            # to its error classes and shows X-Error-Message (utils/_http.py, hf_raise_for_status).
            self.send_header("X-Error-Code", error.code)
        self.send_header("X-Error-Message", error.message)
        for key, value in error.headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _dispatch(self) -> None:
        state = self.state
        with state.lock:
            ranged = f" [{self.headers['Range']}]" if self.headers.get("Range") else ""
            state.requests.append(f"{'cdn ' if self.is_cdn else ''}{self.command} {self.path}{ranged}")
            if self.headers.get("Authorization"):
                state.auth_headers += 1
                if self.is_cdn:
                    state.cdn_auth_headers += 1
            if self.is_cdn:
                state.cdn_requests += 1
        if state.faults.latency_s:
            time.sleep(state.faults.latency_s)
        url = urlsplit(self.path)
        path = unquote(url.path)
        query = parse_qs(url.query)
        try:
            if path.startswith("/_control/"):
                self._control(path)
            elif self.is_cdn:
                self._cdn(path)
            elif match := XET_TOKEN.match(path):
                self._xet_token(match["repo"], match["rev"])
            elif match := API_TREE.match(path):
                self._tree(match["repo"], match["rev"], match["path"] or "", query)
            elif match := API_INFO.match(path):
                self._info(match["repo"], match["rev"] or "main", query)
            elif match := RESOLVE.match(path):
                self._resolve(match["repo"], match["rev"], match["path"])
            else:
                raise HubError(404, None, f"no route for {path}")
        except HubError as error:
            self._send_error(error)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = _dispatch  # noqa: N815 - the names http.server looks up
    do_HEAD = _dispatch  # noqa: N815
    do_POST = _dispatch  # noqa: N815

    # ---- control ------------------------------------------------------------------------------

    def _control(self, path: str) -> None:
        state = self.state
        if path == "/_control/stats":
            self._send_json(state.stats())
        elif path == "/_control/reset" and self.command == "POST":
            state.reset_stats()
            self._send_json({"ok": True})
        elif path == "/_control/faults" and self.command == "POST":
            length = int(self.headers.get("Content-Length") or 0)
            changes = json.loads(self.rfile.read(length) or b"{}")
            with state.lock:
                state.faults = dataclasses.replace(Faults(), **changes)
            self._send_json(dataclasses.asdict(state.faults))
        else:
            raise HubError(404, None, f"no control route {path}")

    # ---- API ------------------------------------------------------------------------------------

    def _repo(self, repo_id: str, rev: str) -> dict[str, Any]:
        repo = self.state.load_repo(repo_id)
        if repo is None:
            raise HubError(
                404, "RepoNotFound", "Repository not found"
            )  # the Hub's text for missing and private
        if rev not in ("main", repo["commit"]):
            raise HubError(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        return repo

    def _info(self, repo_id: str, rev: str, query: dict[str, list[str]]) -> None:
        repo = self._repo(repo_id, rev)
        # files_metadata=True asks ?blobs=true: siblings then carry size, blobId and lfs (hf_api.model_info).
        blobs = query.get("blobs", ["false"])[0].lower() == "true"
        siblings = []
        for entry in repo["files"]:
            sibling: dict[str, Any] = {"rfilename": entry["path"]}
            if blobs:
                sibling["size"] = entry["size"]
                sibling["blobId"] = entry["blob_id"]
                if entry["lfs"]:
                    sibling["lfs"] = {"sha256": entry["sha256"], "size": entry["size"], "pointerSize": 134}
            siblings.append(sibling)
        self._send_json(
            {
                "_id": hashlib.md5(repo_id.encode()).hexdigest()[:24],
                "id": repo_id,
                "modelId": repo_id,
                "author": repo_id.split("/", maxsplit=1)[0],
                "sha": repo["commit"],
                "private": False,
                "disabled": False,
                "gated": repo["gated"],
                "downloads": 0,
                "likes": 0,
                "tags": [],
                "siblings": siblings,
                "lastModified": "2026-11-01T00:00:00.000Z",
            }
        )

    def _tree(self, repo_id: str, rev: str, prefix: str, query: dict[str, list[str]]) -> None:
        repo = self._repo(repo_id, rev)
        # list_repo_tree pages through /tree/{rev}: files with oid, size, lfs{oid,size,pointerSize} and
        # folders as "directory" entries (hf_api.list_repo_tree, RepoFile / RepoFolder).
        recursive = query.get("recursive", ["false"])[0].lower() == "true"
        prefix = prefix.strip("/")
        entries: list[dict[str, Any]] = []
        folders: set[str] = set()
        for entry in repo["files"]:
            path = entry["path"]
            if prefix and not path.startswith(prefix + "/"):
                continue
            rest = path[len(prefix) + 1 :] if prefix else path
            parts = rest.split("/")
            for depth in range(1, len(parts)):
                folder = "/".join(([prefix] if prefix else []) + parts[:depth])
                if (recursive or depth == 1) and folder not in folders:
                    folders.add(folder)
                    oid = hashlib.sha1(folder.encode()).hexdigest()
                    entries.append({"type": "directory", "oid": oid, "size": 0, "path": folder})
            if not recursive and len(parts) > 1:
                continue
            item: dict[str, Any] = {
                "type": "file",
                "oid": entry["blob_id"],
                "size": entry["size"],
                "path": path,
            }
            if entry["lfs"]:
                item["lfs"] = {"oid": entry["sha256"], "size": entry["size"], "pointerSize": 134}
                if self.state.faults.xet_backed:
                    item["xetHash"] = xet_hash(entry)  # the tree names Xet files (hf_api.RepoFile.xet_hash)
            entries.append(item)
        self._send_json(entries)

    # ---- files ----------------------------------------------------------------------------------

    def _check_access(self, repo: dict[str, Any]) -> None:
        # Gated repos list their files to anyone and refuse the bytes: 401 without a (valid) token,
        # 403 for a token without access, both with X-Error-Code GatedRepo and these messages
        # (huggingface_hub utils/_http.py turns them into GatedRepoError; Hub docs, gated models).
        allowed = self.state.faults.gated_tokens
        if allowed is None:
            return
        auth = self.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        repo_id = repo["id"]
        if token in allowed:
            return
        if token and token in self.state.faults.known_tokens:
            raise HubError(
                403,
                "GatedRepo",
                f"Access to model {repo_id} is restricted and you are not in the authorized list. "
                f"Visit https://huggingface.co/{repo_id} to ask for access.",
            )
        raise HubError(
            401,
            "GatedRepo",
            f"Access to model {repo_id} is restricted. You must have access to it and be authenticated to access it. Please log in.",
        )

    def _file_entry(self, repo: dict[str, Any], path: str) -> dict[str, Any]:
        for entry in repo["files"]:
            if entry["path"] == path:
                found: dict[str, Any] = entry
                return found
        raise HubError(404, "EntryNotFound", f'{path} does not exist on "{repo["commit"]}"')

    def _xet_token(self, repo_id: str, rev: str) -> None:
        """The read token for Xet downloads: where the CAS is, a token and its expiry, all in headers
        (huggingface_hub utils/_xet.py parse_xet_connection_info_from_headers; issue #4475)."""
        repo = self._repo(repo_id, rev)
        self._check_access(repo)
        cas_url = self.state.faults.xet_cas_url
        if self.state.faults.xet_cas:
            cas_url = f"{self.state.cdn_url}/xet-cas/{repo_id}/{repo['commit']}"
        headers = {
            "X-Xet-Cas-Url": cas_url,
            "X-Xet-Access-Token": "xet-stand-in-read-token",
            "X-Xet-Token-Expiration": str(int(time.time()) + 3600),
        }
        self._send_json({"casUrl": cas_url}, headers=headers)

    def _resolve(self, repo_id: str, rev: str, path: str) -> None:
        repo = self._repo(repo_id, rev)
        self._check_access(repo)
        entry = self._file_entry(repo, path)
        faults = self.state.faults
        if self.command == "GET" and self.state.take("rate_limit_times", path):
            policy = '"fixed window";"resolvers";q=3000;w=300'
            raise HubError(
                429,
                None,
                "You have exceeded our hourly quotas for action: resolvers.",
                {"RateLimit": f'"resolvers";r=0;t={faults.rate_limit_reset_s}', "RateLimit-Policy": policy},
            )
        etag = entry["sha256"] if entry["lfs"] else entry["blob_id"]
        # X-Repo-Commit and the ETag (sha256 for LFS, git blob id otherwise) are what get_hf_file_metadata
        # reads (file_download.py; constants HUGGINGFACE_HEADER_X_REPO_COMMIT).
        common = {"X-Repo-Commit": repo["commit"], "ETag": f'"{etag}"'}
        if faults.xet_backed and entry["lfs"]:
            common["X-Xet-Hash"] = xet_hash(entry)
            token_url = f"{self.state.hub_url}/api/models/{repo_id}/xet-read-token/{repo['commit']}"
            common["Link"] = f'<{token_url}>; rel="xet-auth"'
        # Like the Hub: LFS (and Xet) files redirect, small files come directly.
        if (faults.redirect_to_cdn or faults.xet_backed) and entry["lfs"]:
            # The real Location is a signed cas-bridge / CDN URL that expires after about an hour, then
            # answers 403 (Hub docs; datasets #7685, #7931); X-Linked-Etag / X-Linked-Size describe the
            # target (file_download.py, HUGGINGFACE_HEADER_X_LINKED_ETAG / _SIZE).
            location = f"{self.state.cdn_url}/blobs/{repo_id}/{repo['commit']}/{quote(path)}?expires=3600"
            self.send_response(302)
            for key, value in common.items():
                self.send_header(key, value)
            self.send_header("X-Linked-Etag", f'"{etag}"')
            self.send_header("X-Linked-Size", str(entry["size"]))
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self._serve_body(repo, entry, common)

    def _cdn(self, path: str) -> None:
        if path.startswith(("/xet-cas/", "/xet-xorbs/")):
            self._xet(path)
            return
        match = CDN_BLOB.match(path)
        if not match:
            raise HubError(404, None, "NoSuchKey")
        repo = self._repo(match["repo"], match["commit"])
        entry = self._file_entry(repo, match["path"])
        limit = self.state.faults.bridge_max_bytes
        if limit is not None and entry["size"] > limit:
            raise HubError(400, None, "Bad Request")  # the bridge's whole answer (xet-core #592)
        self._serve_body(repo, entry, {"ETag": f'"{entry["sha256"]}"'})

    def _xet(self, path: str) -> None:
        """The stand-in CAS: V2 reconstructions are 404 (the client falls back to V1), V1 reconstructions
        and xorb ranges as tests/support/xet_cas.py describes."""
        if match := XET_RECONSTRUCTION.match(path):
            if match["version"] != "1":
                raise HubError(404, None, "V2 reconstruction endpoint disabled")  # as xet-core's local CAS
            repo = self._repo(match["repo"], match["commit"])
            for entry in repo["files"]:
                if entry["lfs"] and xet_hash(entry) == match["hash"]:
                    url = (
                        f"{self.state.cdn_url}/xet-xorbs/{repo['id']}/{repo['commit']}/{quote(entry['path'])}"
                    )
                    wanted = re.fullmatch(r"bytes=(\d+)-(\d+)", (self.headers.get("Range") or "").strip())
                    first, last = (int(wanted[1]), int(wanted[2])) if wanted else (0, None)
                    self._send_json(reconstruction(entry["sha256"], entry["size"], url, first, last))
                    return
            raise HubError(404, None, f"file {match['hash']} not found")
        match = XET_XORB.match(path)
        if not match:
            raise HubError(404, None, "NoSuchKey")
        repo = self._repo(match["repo"], match["commit"])
        entry = self._file_entry(repo, match["path"])
        total = XorbLayout(entry["size"]).xorb_bytes
        first, last = 0, total - 1
        if range_match := re.fullmatch(r"bytes=(\d+)-(\d+)", (self.headers.get("Range") or "").strip()):
            first, last = int(range_match[1]), min(int(range_match[2]), total - 1)
        state, rel = self.state, entry["path"]
        corrupt = state.take("corrupt_times", rel)
        self.send_response(206 if self.headers.get("Range") else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(last - first + 1))
        self.send_header("Content-Range", f"bytes {first}-{last}/{total}")
        self.end_headers()
        with (state.root / repo["id"] / "files" / rel).open("rb") as source:
            for piece in xorb_range(source, entry["size"], first, last):
                block = piece
                if corrupt and len(piece) > HEADER_BYTES:  # a data byte: the chunk headers stay parseable
                    block = piece[:-1] + bytes([piece[-1] ^ 0xFF])
                    corrupt = False
                self.wfile.write(block)
                state.count_bytes(rel, len(block))

    def _serve_body(self, repo: dict[str, Any], entry: dict[str, Any], headers: dict[str, str]) -> None:
        state, faults, rel = self.state, self.state.faults, entry["path"]
        size = entry["size"]
        if self.command == "GET":
            # Generic 429 / 503 with Retry-After, which huggingface_hub's backoff honours (utils/_http.py).
            if state.take("status_429_times", rel):
                raise HubError(429, None, "Too Many Requests", {"Retry-After": f"{faults.retry_after:g}"})
            if state.take("status_503_times", rel):
                raise HubError(503, None, "Service Unavailable", {"Retry-After": "0"})
        start, end, status = 0, size - 1, 200
        range_header = self.headers.get("Range")
        if range_header and not faults.ignore_range:
            match = re.fullmatch(r"bytes=(\d*)-(\d*)", range_header.strip())
            if match is None:
                raise HubError(416, None, f"bad range {range_header}")
            if match[1]:
                start = int(match[1])
                end = min(int(match[2]), size - 1) if match[2] else size - 1
            else:  # suffix range: the last N bytes
                start = max(size - int(match[2]), 0)
            if start >= size or start > end:  # RFC 9110 §15.5.17: 416 with Content-Range bytes */size
                raise HubError(416, None, "Range Not Satisfiable", {"Content-Range": f"bytes */{size}"})
            status = 206
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(end - start + 1))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if self.command == "HEAD":
            return
        self._stream(repo, entry, start, end + 1)

    def _stream(self, repo: dict[str, Any], entry: dict[str, Any], start: int, stop: int) -> None:
        state, faults, rel = self.state, self.state.faults, entry["path"]
        cut_at = faults.cut_after_bytes if state.take("cut_times", rel) else None
        stall_at = faults.stall_after_bytes if state.take("stall_times", rel) else None
        corrupt = state.take("corrupt_times", rel)
        if self.link_record is None:
            self.link_record = state.open_connection()
        record = self.link_record
        with state.lock:
            record["requests"] += 1
        bandwidth = faults.slow_connection_bps if record["slow"] else faults.bandwidth_bps
        virtual = rel in repo.get("virtual", {})
        source = None if virtual else (self.state.root / repo["id"] / "files" / rel).open("rb")
        began = time.monotonic()
        sent = 0
        try:
            position = start
            while position < stop:
                n = min(CHUNK, stop - position)
                if cut_at is not None:
                    n = min(n, cut_at - sent)
                if stall_at is not None:
                    n = min(n, stall_at - sent)
                if n <= 0:
                    if stall_at is not None and sent >= stall_at:
                        time.sleep(faults.stall_seconds)
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if source is None:
                    block = b"\0" * n
                else:
                    source.seek(position)
                    block = source.read(n)
                if corrupt and block:
                    block = bytes([block[0] ^ 0xFF]) + block[1:]
                    corrupt = False
                self.wfile.write(block)
                sent += len(block)
                position += len(block)
                state.count_bytes(rel, len(block))
                with state.lock:
                    record["bytes"] += len(block)
                if bandwidth:
                    ahead = sent / bandwidth - (time.monotonic() - began)
                    if ahead > 0:
                        time.sleep(ahead)
        finally:
            if source is not None:
                source.close()


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up (killed, cut, stalled) are part of the tests, not errors.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


def serve(
    root: Path,
    port: int = 0,
    cdn_port: int = 0,
    faults: Faults | None = None,
    tls: tuple[Path, Path] | None = None,
) -> tuple[str, str]:
    """Start both listeners in this process (threads) and return (hub url, cdn url). With `tls`
    (certificate, key), both speak HTTPS, as the Hub and its CDN do."""
    state = HubState(root, faults or Faults())
    servers = []
    context = None
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(tls[0]), str(tls[1]))
    for is_cdn, wanted in ((False, port), (True, cdn_port)):
        handler = type("Handler", (HubHandler,), {"state": state, "is_cdn": is_cdn})
        server = _QuietServer(("127.0.0.1", wanted), handler)
        if context is not None:
            server.socket = context.wrap_socket(server.socket, server_side=True)
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
    scheme = "https" if tls is not None else "http"
    hub_url = f"{scheme}://127.0.0.1:{servers[0].server_address[1]}"
    state.hub_url = hub_url
    state.cdn_url = f"{scheme}://127.0.0.1:{servers[1].server_address[1]}"
    return hub_url, state.cdn_url


# --------------------------------------------------------------------------------------------------
# Launching it in its own process
# --------------------------------------------------------------------------------------------------


def start_hub_server(
    repo_root: str | os.PathLike[str], *, port: int = 0, tls: tuple[Path, Path] | None = None, **faults: Any
) -> tuple[str, subprocess.Popen[str]]:
    """Start the server in a child process; returns (endpoint url, process). Stop it with `stop_hub_server`."""
    Faults(**faults)  # fail here, in the caller, on a misspelt switch
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]))
    command = [
        sys.executable,
        "-m",
        "tests.support.hub_server",
        "--root",
        str(repo_root),
        "--port",
        str(port),
    ]
    command += ["--faults", json.dumps(faults)]
    if tls is not None:
        command += ["--tls-cert", str(tls[0]), "--tls-key", str(tls[1])]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env, cwd=str(REPO_ROOT))
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("READY "):
        proc.kill()
        raise RuntimeError(f"hub server did not start (exit {proc.wait()}): {line!r}")
    return line.split()[1], proc


def stop_hub_server(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


class HubServer:
    """A handle on a running server process: its url and its control endpoints."""

    def __init__(self, url: str, proc: subprocess.Popen[str]) -> None:
        self.url = url
        self.proc = proc

    def _call(self, path: str, payload: dict[str, Any] | None = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(self.url + path, data=data, method="GET" if data is None else "POST")
        # The control routes are the test's own: no certificate check against the stand-in's TLS.
        context = ssl._create_unverified_context() if self.url.startswith("https:") else None
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return json.loads(response.read())

    def stats(self) -> dict[str, Any]:
        """Counters since the last reset: `body_bytes` per repo path, `body_bytes_total`, `requests`,
        `cdn_requests`, `cdn_auth_headers` (Authorization headers that reached the CDN), `auth_headers`."""
        result: dict[str, Any] = self._call("/_control/stats")
        return result

    def reset_stats(self) -> None:
        self._call("/_control/reset", {})

    def set_faults(self, **faults: Any) -> None:
        """Replace every fault switch: unnamed switches go back to their defaults."""
        Faults(**faults)
        self._call("/_control/faults", faults)

    def stop(self) -> None:
        stop_hub_server(self.proc)


@contextlib.contextmanager
def running_hub_server(
    repo_root: str | os.PathLike[str], *, tls: tuple[Path, Path] | None = None, **faults: Any
) -> Iterator[HubServer]:
    url, proc = start_hub_server(repo_root, tls=tls, **faults)
    try:
        yield HubServer(url, proc)
    finally:
        stop_hub_server(proc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Serve generated model repos over a loopback HF Hub protocol."
    )
    parser.add_argument(
        "--root", required=True, type=Path, help="folder holding the repos (ORG/NAME/repo.json)"
    )
    parser.add_argument("--port", type=int, default=0, help="hub port (0: any free port)")
    parser.add_argument("--cdn-port", type=int, default=0, help="CDN port (0: any free port)")
    parser.add_argument("--faults", default="{}", help="fault switches as a JSON object (see Faults)")
    parser.add_argument("--generate", metavar="REPO_ID", help="generate a small repo with this id first")
    parser.add_argument("--tls-cert", type=Path, help="serve HTTPS with this certificate (PEM) …")
    parser.add_argument("--tls-key", type=Path, help="… and this key (PEM)")
    args = parser.parse_args(argv)
    if args.generate:
        generate_repo(args.root, args.generate)
    tls = (args.tls_cert, args.tls_key) if args.tls_cert and args.tls_key else None
    hub_url, cdn_url = serve(args.root, args.port, args.cdn_port, Faults(**json.loads(args.faults)), tls)
    print(f"READY {hub_url} {cdn_url}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
