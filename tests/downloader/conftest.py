"""Fixtures: one generated repo and one loopback hub process for the session, faults reset per test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# huggingface_hub 2.4 fetches an agent registry from `constants.ENDPOINT` (HF_ENDPOINT, read at import) the
# first time it builds request headers (utils/_detect_agent.py), whatever endpoint the call names. Point
# that at a loopback port nothing listens on, before the test modules import huggingface_hub: the fetch
# fails at once and the library goes on with an empty registry, as it does offline.
if "huggingface_hub" not in sys.modules:
    os.environ.setdefault("HF_ENDPOINT", "http://127.0.0.1:9")

from tests.support.hub_server import GeneratedRepo, HubServer, generate_repo, running_hub_server

REPO_ID = "arcforge-test/tiny-model"
HUGE_REPO_ID = "arcforge-test/huge-model"
# Token-shaped secrets; the tests assert they never show up in output or events.
GOOD_TOKEN = "hf_GoodSecretToken1234567890abc"
NO_ACCESS_TOKEN = "hf_NoAccessSecretToken98765xyz"
RANGE = 1 << 20


@pytest.fixture(scope="session")
def repo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hub-repos")


@pytest.fixture(scope="session")
def repo(repo_root: Path) -> GeneratedRepo:
    # Two shards of several ranges each (RANGE is 1 MiB in these tests), plus small files.
    return generate_repo(repo_root, REPO_ID, shard_bytes=[3 << 20, (2 << 20) + 12345], seed=1)


@pytest.fixture(scope="session")
def huge_repo(repo_root: Path) -> GeneratedRepo:
    # Metadata claims a shard of 1 PB: the disk check must refuse before any byte moves.
    return generate_repo(
        repo_root, HUGE_REPO_ID, shard_bytes=[1 << 16], virtual_files={"big.safetensors": 10**15}
    )


@pytest.fixture(scope="session")
def hub_process(repo_root: Path, repo: GeneratedRepo, huge_repo: GeneratedRepo) -> Iterator[HubServer]:
    with running_hub_server(repo_root) as hub:
        yield hub


@pytest.fixture
def hub(hub_process: HubServer) -> HubServer:
    """The session's server with every fault switch off and its counters at zero."""
    hub_process.set_faults()
    hub_process.reset_stats()
    return hub_process


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    events: list[dict[str, Any]]

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def kinds(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["kind"] == kind]


def cli_command(
    hub: HubServer, out: Path, *extra: str, repo_id: str = REPO_ID, range_size: int = RANGE
) -> list[str]:
    return [
        sys.executable,
        "-m",
        "arcforge_downloader",
        repo_id,
        "--output-dir",
        str(out),
        "--endpoint",
        hub.url,
        "--range-size",
        str(range_size),
        "--workers",
        "3",
        *extra,
    ]


def cli_env(state: Path, token: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HF_ENDPOINT")}
    env["ARCFORGE_STATE_DIR"] = str(state)
    env["HF_HOME"] = str(state / "hf-home")  # no stored login from the machine running the tests
    env["HF_HUB_DISABLE_TELEMETRY"] = "1"
    if token:
        env["HF_TOKEN"] = token
    return env


def read_events(state: Path) -> list[dict[str, Any]]:
    path = state / "download.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def last_run(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    starts = [i for i, e in enumerate(events) if e["kind"] == "start"]
    return events[starts[-1] :] if starts else events


@pytest.fixture
def download(hub: HubServer, tmp_path: Path) -> Any:
    """Run arcforge-download as a real process against the hub; returns a Run."""

    def run(*extra: str, token: str | None = None, out: Path | None = None, repo_id: str = REPO_ID) -> Run:
        state = tmp_path / "state"
        proc = subprocess.run(  # noqa: PLW1510 - the exit status is what the tests check
            cli_command(hub, out or tmp_path / "out", *extra, repo_id=repo_id),
            capture_output=True,
            text=True,
            env=cli_env(state, token),
            timeout=120,
        )
        return Run(proc.returncode, proc.stdout, proc.stderr, last_run(read_events(state)))

    return run
