"""Fetching Xet-backed files through huggingface_hub's own Xet path (hf_xet), when it is installed.

`hf download` uses hf_xet for Xet-backed files; on a good link it is much faster than the HTTP bridge.
This module hands one file to `hf_hub_download` (which calls hf_xet's `xet_get`) and returns where the
bytes landed; the caller verifies the sha256 and places the file exactly as on the HTTP path. hf_xet
keeps its own chunk cache under HF_HOME but no journal of ours: a file it fails on (or a run
interrupted inside it) goes to the resumable journal engine next time.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from huggingface_hub import constants, hf_hub_download
from huggingface_hub.utils.tqdm import disable_progress_bars

from arcforge_downloader.hub import Snapshot

# hf_xet retries an unreachable CAS for minutes before it raises (measured here: ~80 s a file with its
# defaults; a firewall that lets huggingface.co through but not the CAS looks like this, xet-core
# #399, #407). The journal engine is the fallback, so a shorter retry budget costs little; a value the
# user set wins.
XET_RETRY_BUDGET_ENV = "HF_XET_CLIENT_RETRY_MAX_DURATION"
XET_RETRY_BUDGET = "30s"


def xet_unusable_reason() -> str | None:
    """Why the Xet path is off (None when huggingface_hub would use hf_xet), as `is_xet_available` decides."""
    if constants.HF_HUB_DISABLE_XET:
        return "HF_HUB_DISABLE_XET is set"
    if importlib.util.find_spec("hf_xet") is None:
        return "hf_xet is not installed"
    return None


def fetch_with_xet(snapshot: Snapshot, repo_path: str, into: Path, token: str | None) -> Path:
    """Download `repo_path` of the snapshot's commit into the folder `into` through huggingface_hub's
    Xet path; returns the file. Raises whatever huggingface_hub or hf_xet raise."""
    disable_progress_bars()  # tqdm bars would tear our progress line; we report the file instead
    os.environ.setdefault(XET_RETRY_BUDGET_ENV, XET_RETRY_BUDGET)  # read when hf_xet's session starts
    into.mkdir(parents=True, exist_ok=True)
    path = hf_hub_download(
        snapshot.repo_id,
        repo_path,
        revision=snapshot.commit,
        local_dir=into,
        endpoint=snapshot.endpoint,
        token=token or False,
        library_name="arcforge-downloader",
    )
    return Path(os.fspath(path))
