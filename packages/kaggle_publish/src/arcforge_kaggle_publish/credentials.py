"""Where Kaggle credentials come from, in the order the kaggle client itself looks, and redaction.

The order is kaggle 2.2.5's `KaggleApi.authenticate` (`kaggle_api_extended.py`):
1. an API token (`KGAT_…`, from kaggle.com → Settings → API): `$KAGGLE_API_TOKEN` (the token, or the path of
   a file holding it), else `~/.kaggle/access_token`, else `~/.kaggle/access_token.txt`
   (kagglesdk `kaggle_env.get_access_token_from_env`); the username comes from Kaggle (`signin.py`);
2. the legacy API key: `kaggle.json` in the kaggle config folder, with `$KAGGLE_USERNAME` / `$KAGGLE_KEY`
   overriding it (`read_config_file`, then `read_config_environment`).

Secrets are read, handed to the kaggle client and otherwise never printed, logged or written: every
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
TOKEN_ENV = "KAGGLE_API_TOKEN"
TOKEN = "access_token"
LEGACY = "legacy_api_key"


@dataclass(frozen=True)
class Credentials:
    """A signed-in identity: the method, where it came from, and the secret (never shown)."""

    username: str
    secret: str = field(repr=False)
    method: str  # TOKEN or LEGACY
    source: str  # for messages: "KAGGLE_API_TOKEN", "~/.kaggle/access_token", "KAGGLE_USERNAME/KAGGLE_KEY", a path

    def describe(self) -> str:
        kind = "API token" if self.method == TOKEN else "legacy API key"
        return f"signed in as {self.username} with the {kind} from {self.source}"


@dataclass(frozen=True)
class FoundToken:
    token: str = field(repr=False)
    source: str


def config_dir() -> Path:
    """The folder the kaggle client reads kaggle.json from (`KaggleApi.config_dir`)."""
    from_env = os.environ.get("KAGGLE_CONFIG_DIR")
    if from_env:
        return Path(from_env)
    home = Path(os.path.expanduser("~"))
    legacy = home / ".kaggle"
    if sys.platform.startswith("linux") and not legacy.exists():  # XDG, unless ~/.kaggle already exists
        return Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config") / "kaggle"
    return legacy


def warn_if_readable_by_others(path: Path) -> str | None:
    """A warning when a secret file can be read by group or others, as the kaggle client's own advice says."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if os.name != "nt" and mode & (stat.S_IRGRP | stat.S_IROTH):
        return f"{path} is readable by other users; run: chmod 600 {path}"
    return None


def _read_token_file(path: Path) -> str | None:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    warning = warn_if_readable_by_others(path)
    if token and warning:
        print(f"arcforge-publish: warning: {warning}", file=sys.stderr)
    return token or None


def find_token() -> FoundToken | None:
    """The API token the kaggle client would use, and where it was found; None when there is none."""
    value = os.environ.get(TOKEN_ENV, "").strip()
    if value:
        if Path(value).is_file():  # the variable may name a file holding the token
            from_file = _read_token_file(Path(value))
            return FoundToken(from_file, f"the file named by {TOKEN_ENV}") if from_file else None
        return FoundToken(value, TOKEN_ENV)
    home = Path(os.path.expanduser("~")) / ".kaggle"  # not KAGGLE_CONFIG_DIR: kagglesdk reads ~ here
    for name in ("access_token", "access_token.txt"):
        found = _read_token_file(home / name)
        if found:
            return FoundToken(found, f"~/.kaggle/{name}")
    return None


def find_legacy_key() -> Credentials | None:
    """kaggle.json and $KAGGLE_USERNAME/$KAGGLE_KEY (the environment wins, as in the kaggle client)."""
    username, key, source = "", "", ""
    path = config_dir() / "kaggle.json"
    if path.is_file():
        warning = warn_if_readable_by_others(path)
        if warning:
            print(f"arcforge-publish: warning: {warning}", file=sys.stderr)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            username, key = str(data.get("username", "")).strip(), str(data.get("key", "")).strip()
        except (OSError, ValueError, AttributeError):
            raise PublishError(
                f"{path} is not a kaggle.json with 'username' and 'key'",
                code="unauthorized",
                advice="use an API token instead: kaggle.com → Settings → API → Generate New Token, saved as "
                "~/.kaggle/access_token",
            ) from None
        source = str(path)
    env_user = os.environ.get("KAGGLE_USERNAME", "").strip()
    env_key = os.environ.get("KAGGLE_KEY", "").strip()
    if env_user or env_key:
        username, key = env_user or username, env_key or key
        source = "KAGGLE_USERNAME/KAGGLE_KEY" if env_user and env_key else f"{source} and the environment"
    if username and key:
        return Credentials(username, key, LEGACY, source)
    return None


def no_credentials_error() -> PublishError:
    return PublishError(
        "no Kaggle credentials: no API token in KAGGLE_API_TOKEN or ~/.kaggle/access_token, and no legacy "
        f"kaggle.json in {config_dir()} or KAGGLE_USERNAME/KAGGLE_KEY",
        code="unauthorized",
        advice="kaggle.com → Settings → API → Generate New Token; then export KAGGLE_API_TOKEN=<token> or save it "
        "as ~/.kaggle/access_token (chmod 600)",
    )


_TOKENISH = re.compile(
    r"(?i)(authorization:\s*(basic|bearer)\s+)\S+|((?:key|token)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+"
    r"|\bKGAT_[A-Za-z0-9]+"
)


class Redactor:
    """Replaces every known secret, and anything that looks like an auth header, key=value or KGAT_ token, with ***."""

    def __init__(self, *secrets: str) -> None:
        env_secrets = [os.environ.get(name, "") for name in ("KAGGLE_KEY", TOKEN_ENV)]
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
