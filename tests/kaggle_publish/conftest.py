"""Fixtures: a loopback Kaggle, a signed-in environment, and a way to run `arcforge-publish`."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.kaggle import KaggleStandIn, start_kaggle_server

# `import kaggle` reads (and creates) its config folder at import time: keep it out of the real home.
if "KAGGLE_CONFIG_DIR" not in os.environ:
    _IMPORT_CONFIG_DIR = tempfile.mkdtemp(prefix="arcforge-kaggle-config-")
    os.environ["KAGGLE_CONFIG_DIR"] = _IMPORT_CONFIG_DIR
    # One per test session, removed at its end rather than left in /tmp.
    atexit.register(shutil.rmtree, _IMPORT_CONFIG_DIR, ignore_errors=True)

KEY = "alice-secret-key-0123456789"
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture(autouse=True)
def no_credentials_of_this_machine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty home and kaggle config folder: only what a test puts there signs anyone in."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(home / ".kaggle"))
    for name in ("KAGGLE_API_TOKEN", "KAGGLE_USERNAME", "KAGGLE_KEY", "ARCFORGE_KAGGLE_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def kaggle(monkeypatch: pytest.MonkeyPatch) -> Iterator[KaggleStandIn]:
    """The loopback Kaggle, alice signed in with an API token (KAGGLE_API_TOKEN), as Kaggle hands them out today."""
    with start_kaggle_server(users={"alice": KEY, "bob": "bob-secret-key-9876543210"}) as server:
        for name, value in server.env("alice").items():
            monkeypatch.setenv(name, value)
        yield server


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def publish(capsys: pytest.CaptureFixture[str], state_dir: Path):  # type: ignore[no-untyped-def]
    """Run `arcforge-publish ARGS --state-dir <tmp> --poll-seconds 0.01` in this process."""
    from arcforge_kaggle_publish.cli import main

    def run(*args: str) -> Result:
        code = main([*args, "--state-dir", str(state_dir), "--poll-seconds", "0.01"])
        captured = capsys.readouterr()
        sys.stdout.write(captured.out)  # keep it visible in pytest's report on failure
        return Result(code, captured.out, captured.err)

    return run


def make_model_folder(root: Path, weights: int = 300_000) -> Path:
    """A folder shaped like the downloader's output: model/, tokenizer/ and manifest.json."""
    (root / "model").mkdir(parents=True)
    (root / "tokenizer").mkdir()
    (root / "model" / "config.json").write_text('{"model_type": "llama"}')
    (root / "model" / "model.safetensors").write_bytes(os.urandom(weights))
    (root / "tokenizer" / "tokenizer.json").write_text('{"version": "1.0"}')
    manifest = {
        "tool": "arcforge-downloader",
        "repo_id": "google/codegemma-7b-it",
        "commit": "c0ffee" * 6 + "beef",
    }
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def read_events(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]
