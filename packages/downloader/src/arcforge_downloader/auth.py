"""Where the Hugging Face token comes from, and how it is kept out of every output."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import get_token

TOKEN_ENV = "HF_TOKEN"
# Anything shaped like a Hub token, even one we were not given (a pasted one in an error message).
_TOKEN_SHAPE = re.compile(r"hf_[A-Za-z0-9]{6,}")
_BEARER = re.compile(r"(Bearer\s+)\S+", re.IGNORECASE)


class TokenFileError(Exception):
    """The --token-file cannot be read or is empty."""


@dataclass(frozen=True)
class Token:
    value: str | None
    source: str  # "--token-file PATH", "HF_TOKEN", "huggingface_hub login" or "none"

    @property
    def masked(self) -> str:
        return mask_token(self.value)


def mask_token(token: str | None) -> str:
    """At most the last three characters: `hf_…xyz`."""
    if not token:
        return "(none)"
    prefix = "hf_" if token.startswith("hf_") else ""
    return f"{prefix}…{token[-3:]}" if len(token) >= 8 else f"{prefix}…"


def resolve_token(token_file: str | os.PathLike[str] | None) -> Token:
    """--token-file, else $HF_TOKEN, else huggingface_hub's stored login, else no token."""
    if token_file:
        path = Path(token_file)
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise TokenFileError(f"cannot read token file {path}: {exc.strerror or exc}") from None
        if not value:
            raise TokenFileError(f"token file {path} is empty")
        return Token(value, f"--token-file {path}")
    from_env = os.environ.get(TOKEN_ENV, "").strip()
    if from_env:
        return Token(from_env, TOKEN_ENV)
    stored = get_token()
    if stored:
        return Token(stored, "huggingface_hub login")
    return Token(None, "none")


def make_redactor(*secrets: str | None) -> Callable[[str], str]:
    """A function that masks the given secrets, bearer headers and token-shaped strings in text."""
    known = sorted({s for s in secrets if s}, key=len, reverse=True)

    def redact(text: str) -> str:
        for secret in known:
            if secret in text:
                text = text.replace(secret, mask_token(secret))
        text = _BEARER.sub(r"\1***", text)
        return _TOKEN_SHAPE.sub(lambda m: mask_token(m.group(0)), text)

    return redact
