"""docs/events.md and arcforge_events.payloads say the same: every documented key is typed (with the
documented type), every typed key is documented, and a writer in strict mode refuses anything else."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import types
import typing
from pathlib import Path

import pytest

from arcforge_events import STAGES, EventWriter, UndocumentedPayloadError
from arcforge_events.payloads import PAYLOADS, documented_keys

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "events.md"
HEADING = re.compile(r"^#### `([a-z-]+)`(?: `([a-z]+)`)?\s*$")
ROW = re.compile(r"^\| `([a-z_0-9]+)` \| ([^|]+) \|")
SHARED_KINDS = ("log", "error")  # documented once, for every stage


def documented_tables() -> dict[tuple[str, str], dict[str, str]]:
    """(stage, kind) -> {key: documented type}, from the `#### ` tables of docs/events.md."""
    tables: dict[tuple[str, str], dict[str, str]] = {}
    current: list[tuple[str, str]] = []
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        heading = HEADING.match(line)
        if heading:
            first, kind = heading.groups()
            current = [(stage, first) for stage in STAGES] if kind is None else [(first, kind)]
            for where in current:
                tables[where] = {}
            continue
        if line.startswith("#"):
            current = []
            continue
        row = ROW.match(line)
        if row and current:
            for where in current:
                tables[where][row.group(1)] = row.group(2).strip()
    return tables


def doc_type(annotation: object) -> str:
    """How docs/events.md writes a payload annotation's type."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return " or ".join(doc_type(arg) for arg in typing.get_args(annotation))
    if annotation is type(None):
        return "null"
    if typing.get_origin(annotation) is list:
        return "list"
    if typing.is_typeddict(annotation):
        return "object"
    return {str: "string", int: "int", float: "number", bool: "bool"}[annotation]  # type: ignore[index]


def test_every_stage_and_kind_has_a_documented_table() -> None:
    tables = documented_tables()
    assert set(tables) == set(PAYLOADS), "docs/events.md and PAYLOADS name different (stage, kind) pairs"


@pytest.mark.parametrize(("stage", "kind"), sorted(PAYLOADS))
def test_documented_keys_are_typed_with_their_documented_type(stage: str, kind: str) -> None:
    documented = documented_tables()[(stage, kind)]
    hints = typing.get_type_hints(PAYLOADS[(stage, kind)])
    assert set(documented) == set(hints), f"{stage} {kind}: docs and types differ"
    typed = {key: doc_type(annotation) for key, annotation in hints.items()}
    assert typed == documented


def test_the_summary_tables_name_only_typed_kinds() -> None:
    text = DOCS.read_text(encoding="utf-8")
    kinds = set(re.findall(r"^\| `([a-z]+)`\s+\| (?:once|often|one unit|a human|something)", text, re.M))
    assert kinds == {kind for _, kind in PAYLOADS}


def test_strict_writer_refuses_an_undocumented_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARCFORGE_EVENTS_STRICT", "1")
    writer = EventWriter("download", tmp_path)
    writer.emit("start", repo_id="a/b", files=1)  # documented: fine
    with pytest.raises(UndocumentedPayloadError, match="speed_limit"):
        writer.emit("start", repo_id="a/b", speed_limit=3)
    with pytest.raises(UndocumentedPayloadError, match="stage 'deploy'"):
        EventWriter("deploy", tmp_path).emit("log", message="x")
    writer.close()
    monkeypatch.setenv("ARCFORGE_EVENTS_STRICT", "0")
    relaxed = EventWriter("download", tmp_path)
    relaxed.emit("start", speed_limit=3)  # readers ignore unknown keys; only tests are strict
    relaxed.close()
    lines = (tmp_path / "download.jsonl").read_text().splitlines()
    assert [json.loads(line)["data"] for line in lines] == [
        {"repo_id": "a/b", "files": 1},
        {"speed_limit": 3},
    ]


def test_the_solver_writer_emits_only_documented_keys(tmp_path: Path) -> None:
    """A real `arcforge-solve run` in strict mode: any undocumented key would fail the run."""
    tasks = {
        "copy0001": {
            "train": [{"input": [[1, 2], [3, 4]], "output": [[1, 2], [3, 4]]}],
            "test": [{"input": [[5, 6], [7, 8]]}],
        },
        "flip0002": {
            "train": [{"input": [[1, 2], [3, 4]], "output": [[2, 1], [4, 3]]}],
            "test": [{"input": [[5, 6], [7, 8]]}],
        },
    }
    solutions = {"copy0001": [[[5, 6], [7, 8]]], "flip0002": [[[6, 5], [8, 7]]]}
    challenges = tmp_path / "challenges.json"
    challenges.write_text(json.dumps(tasks))
    (tmp_path / "solutions.json").write_text(json.dumps(solutions))
    state = tmp_path / "state"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "arcforge_solver",
            "run",
            str(challenges),
            "--solutions",
            str(tmp_path / "solutions.json"),
            "--out",
            str(tmp_path / "submission.json"),
            "--state-dir",
            str(state),
            "--time-per-task",
            "2",
            "--workers",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={"PATH": "/usr/bin:/bin", "ARCFORGE_EVENTS_STRICT": "1", "HOME": str(tmp_path)},
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    events = [json.loads(line) for line in (state / "test-run.jsonl").read_text().splitlines()]
    assert {e["kind"] for e in events} >= {"start", "item", "progress", "end"}
    for event in events:
        undocumented = set(event["data"]) - documented_keys("test-run", event["kind"])
        assert not undocumented, (event["kind"], undocumented)


def test_the_downloader_writer_emits_only_documented_keys(tmp_path: Path) -> None:
    """Real `arcforge-download` runs against the loopback hub in strict mode: a download, and a
    refusal of a gated repo (whose error carries `gated` and `http_status`)."""
    pytest.importorskip("safetensors")  # the stand-in hub's shards; the compat session lacks it
    from tests.support.hub_server import generate_repo, running_hub_server

    repos = tmp_path / "repos"
    generate_repo(repos, "contract/tiny", shard_bytes=[1 << 16], seed=3)
    state = tmp_path / "state"
    env = {
        "PATH": "/usr/bin:/bin",
        "ARCFORGE_EVENTS_STRICT": "1",
        "ARCFORGE_STATE_DIR": str(state),
        "HF_HOME": str(tmp_path / "hf-home"),
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }
    with running_hub_server(repos) as hub:
        for repo_id, expected in (("contract/tiny", 0), ("contract/tiny", 3)):
            if expected:
                hub.set_faults(gated_tokens=["hf_ContractGatedToken123"])  # now only this token may fetch
            out = str(tmp_path / f"out-{expected}")
            result = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "arcforge_downloader",
                    repo_id,
                    "--endpoint",
                    hub.url,
                    "--output-dir",
                    out,
                ],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
                env=env,
            )
            assert result.returncode == expected, result.stdout + result.stderr
    events = [json.loads(line) for line in (state / "download.jsonl").read_text().splitlines()]
    assert {e["kind"] for e in events} >= {"start", "item", "progress", "error", "end"}
    for event in events:
        undocumented = set(event["data"]) - documented_keys("download", event["kind"])
        assert not undocumented, (event["kind"], undocumented)
