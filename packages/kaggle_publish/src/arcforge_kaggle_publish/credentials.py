"""Kaggle credentials: where they come from, the permission warning, and redaction.

The key is read, handed to the kaggle client and otherwise never printed, logged or written: every
message and event passes through `Redactor`.
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path

from arcforge_kaggle_publish.errors import PublishError

REDACTED = "***"


@dataclass(frozen=True)
class Credentials:
    username: str
    key: str = field(repr=False)
    source: str  # where they came from, for messages ("KAGGLE_USERNAME/KAGGLE_KEY" or a file path)


def config_dirs() -> list[Path]:
    """The folders the kaggle client reads kaggle.json from, first match wins."""
    from_env = os.environ.get("KAGGLE_CONFIG_DIR")
    if from_env:
        return [Path(from_env)]
    home = Path.home()
    xdg = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
    return [home / ".kaggle", xdg / "kaggle"]


def warn_if_readable_by_others(path: Path) -> str | None:
    """A warning when kaggle.json can be read by group or others, as the kaggle client's own advice says."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if os.name != "nt" and mode & (stat.S_IRGRP | stat.S_IROTH):
        return f"{path} is readable by other users; run: chmod 600 {path}"
    return None


def load_credentials() -> Credentials:
    """KAGGLE_USERNAME + KAGGLE_KEY from the environment, else kaggle.json in the kaggle config folder."""
    username = os.environ.get("KAGGLE_USERNAME", "").strip()
    key = os.environ.get("KAGGLE_KEY", "").strip()
    if username and key:
        return Credentials(username, key, "KAGGLE_USERNAME/KAGGLE_KEY")
    for folder in config_dirs():
        path = folder / "kaggle.json"
        if not path.is_file():
            continue
        warning = warn_if_readable_by_others(path)
        if warning:
            print(f"arcforge-publish: warning: {warning}", file=sys.stderr)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            file_user, file_key = str(data["username"]).strip(), str(data["key"]).strip()
        except (OSError, ValueError, KeyError, TypeError):
            raise PublishError(
                f"{path} is not a kaggle.json with 'username' and 'key'",
                code="unauthorized",
                advice="download a fresh API token from kaggle.com → Settings → API",
            ) from None
        if not file_user or not file_key:
            break
        return Credentials(file_user, file_key, str(path))
    raise PublishError(
        "no Kaggle credentials: set KAGGLE_USERNAME and KAGGLE_KEY, or put kaggle.json in "
        + " or ".join(str(d) for d in config_dirs()),
        code="unauthorized",
        advice="create an API token at kaggle.com → Settings → API, then chmod 600 kaggle.json",
    )


_TOKENISH = re.compile(
    r"(?i)(authorization:\s*(basic|bearer)\s+)\S+|((?:key|token)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+"
)


class Redactor:
    """Replaces every known secret, and anything that looks like an auth header or key=value, with ***."""

    def __init__(self, *secrets: str) -> None:
        env_secrets = [os.environ.get(name, "") for name in ("KAGGLE_KEY", "KAGGLE_API_TOKEN")]
        self._secrets = sorted(
            {s for s in (*secrets, *env_secrets) if s and len(s) >= 4}, key=len, reverse=True
        )

    def add(self, secret: str) -> None:
        if secret and len(secret) >= 4 and secret not in self._secrets:
            self._secrets = sorted([*self._secrets, secret], key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return _TOKENISH.sub(lambda m: (m.group(1) or m.group(3) or "") + REDACTED, text)
