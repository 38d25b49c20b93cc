"""The contract's constants and the state-dir rule: where each stage's events file lives.

The state dir is, first match wins: a `--state-dir` flag, `$ARCFORGE_STATE_DIR`, a configured
default (arcforge.toml's `[paths] state_dir`, for the invoke tasks), `./.arcforge`.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_VERSION = "1.0.0"
# The `v` of every event line. It is the package's major version: an incompatible change to the
# contract is a new major version of arcforge-events, and readers skip lines of another version.
CONTRACT_VERSION = int(PACKAGE_VERSION.split(".", 1)[0])
STAGES = ("download", "upload", "test-run")
EVENT_KINDS = frozenset({"start", "progress", "item", "log", "error", "end"})
STATE_DIR_ENV = "ARCFORGE_STATE_DIR"
DEFAULT_STATE_DIR = ".arcforge"


def resolve_state_dir(
    flag: str | os.PathLike[str] | None = None, configured: str | os.PathLike[str] | None = None
) -> Path:
    """The state dir: the --state-dir flag, else $ARCFORGE_STATE_DIR, else `configured`, else ./.arcforge."""
    if flag:
        return Path(flag)
    from_env = os.environ.get(STATE_DIR_ENV)
    if from_env:
        return Path(from_env)
    return Path(configured) if configured else Path(DEFAULT_STATE_DIR)


def event_path(state_dir: str | os.PathLike[str], stage: str) -> Path:
    """`<state dir>/<stage>.jsonl`, the one file a stage appends its events to."""
    return Path(state_dir) / f"{stage}.jsonl"
