"""The writer of status events: one JSON line per event, appended with one write, secrets masked.

Every stage writes through `EventWriter`. A writer never raises into its stage for a file problem: an
unwritable state dir is said once on stderr and the stage goes on without events. An unknown kind
is a programming error and raises. With `ARCFORGE_EVENTS_STRICT=1` (the test sessions set it), a
`data` key that docs/events.md does not document raises too, so the stages' own tests keep the
writers inside the contract.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from arcforge_events.contract import CONTRACT_VERSION, EVENT_KINDS, event_path, resolve_state_dir
from arcforge_events.payloads import documented_keys, payload_type

STRICT_ENV = "ARCFORGE_EVENTS_STRICT"
# Secrets whose values never reach an events file, whichever stage writes it and whether or not the
# stage passes a redaction of its own.
SECRET_ENVS = ("HF_TOKEN", "KAGGLE_KEY", "KAGGLE_API_TOKEN")
MIN_SECRET_LENGTH = 8  # shorter values would mask ordinary words
MASK = "***"


class UndocumentedPayloadError(ValueError):
    """Strict mode: an event carries a key (or a stage) that docs/events.md does not document."""


def new_run_id() -> str:
    """`YYYYmmddTHHMMSS-<4 hex>`, in UTC: sorts by start time, and two runs in one second differ."""
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + secrets.token_hex(2)


def environment_secrets() -> list[str]:
    """The values of the secret variables set in this process, longest first."""
    found = {os.environ.get(name, "").strip() for name in SECRET_ENVS}
    return sorted((s for s in found if len(s) >= MIN_SECRET_LENGTH), key=len, reverse=True)


def mask_secrets(text: str, secrets: list[str] | None = None) -> str:
    """`text` with each secret (default: the environment's, see `environment_secrets`) masked."""
    for secret in environment_secrets() if secrets is None else secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def at_line_start(fd: int) -> bool:
    """Whether the open file is empty or ends with a newline: an append that starts elsewhere would be
    glued to a torn fragment (a writer killed mid-line) and lost with it."""
    size = os.fstat(fd).st_size
    return size == 0 or os.pread(fd, 1, size - 1) == b"\n"


def strict_mode() -> bool:
    return os.environ.get(STRICT_ENV, "") not in ("", "0")


class EventWriter:
    """Appends one JSON line per event to <state dir>/<stage>.jsonl, each in a single write.

    `redact` is the stage's own masking (tokens it knows of, auth headers); the values of
    $HF_TOKEN, $KAGGLE_KEY and $KAGGLE_API_TOKEN are masked in every string as well.
    """

    def __init__(
        self,
        stage: str,
        state_dir: str | os.PathLike[str] | None = None,
        run_id: str | None = None,
        redact: Callable[[str], str] | None = None,
    ) -> None:
        self.stage = stage
        self.run_id = run_id or new_run_id()
        self.path = event_path(resolve_state_dir(state_dir), stage)
        self._redact = redact
        self._secrets = environment_secrets()
        self._strict = strict_mode()
        self._seq = 0
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._broken = False

    def emit(self, kind: str, **data: Any) -> None:
        """Write one event of `kind` with `data` as its payload."""
        if kind not in EVENT_KINDS:
            raise ValueError(f"unknown event kind {kind!r}; expected one of {sorted(EVENT_KINDS)}")
        if self._strict:
            self._check_documented(kind, data)
        with self._lock:
            event = {
                "v": CONTRACT_VERSION,
                "ts": round(time.time(), 3),
                "stage": self.stage,
                "run_id": self.run_id,
                "seq": self._seq,
                "kind": kind,
                "data": self._clean(data),
            }
            self._seq += 1
            line = (
                json.dumps(event, separators=(",", ":"), ensure_ascii=False, allow_nan=False) + "\n"
            ).encode()
            self._append(line)

    def _check_documented(self, kind: str, data: Mapping[str, Any]) -> None:
        if payload_type(self.stage, kind) is None:
            raise UndocumentedPayloadError(
                f"docs/events.md documents no {kind!r} event for stage {self.stage!r}"
            )
        extra = sorted(set(data) - documented_keys(self.stage, kind))
        if extra:
            raise UndocumentedPayloadError(
                f"{self.stage} {kind} event carries keys that docs/events.md does not document: {', '.join(extra)}"
            )

    def _mask(self, text: str) -> str:
        if self._redact is not None:
            text = self._redact(text)
        return mask_secrets(text, self._secrets)

    def _clean(self, value: Any) -> Any:
        """The value as plain JSON: strings masked, paths as text, non-finite floats as null."""
        if isinstance(value, str):
            return self._mask(value)
        if isinstance(value, Mapping):
            return {self._mask(str(k)): self._clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._clean(v) for v in value]
        if isinstance(value, Path):
            return self._mask(str(value))
        if isinstance(value, float):
            return value if math.isfinite(value) else None  # JSON has no Infinity or NaN
        if value is None or isinstance(value, (bool, int)):
            return value
        if hasattr(value, "tolist"):  # numpy arrays and scalars
            return self._clean(value.tolist())
        return self._mask(str(value))

    def _append(self, line: bytes) -> None:
        if self._broken:
            return
        try:
            if self._fd is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                # Read access too: each append first looks at the file's last byte.
                self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            if not at_line_start(self._fd):
                # A writer died mid-line: end its fragment, or our line would be glued to it and lost.
                line = b"\n" + line
            os.write(self._fd, line)  # one write per line: appenders never interleave inside it
        except OSError as exc:
            self._broken = True
            print(
                f"arcforge: cannot write events to {self.path}: {exc}; going on without them", file=sys.stderr
            )

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> EventWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
