"""Each package owns a copy of the event writer (packages never import each other). The copies must
stay the same code, or the contract test of one would not vouch for the others."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WRITER_FILES = {
    "arcforge_downloader": ROOT / "packages/downloader/src/arcforge_downloader/events.py",
    "arcforge_kaggle_publish": ROOT / "packages/kaggle_publish/src/arcforge_kaggle_publish/events.py",
    "arcforge_solver": ROOT / "packages/solver/src/arcforge_solver/events.py",
}


def _body_without_docstring_title(path: Path) -> str:
    lines = path.read_text().splitlines()
    # The first docstring line names the distribution; everything after it must match.
    return "\n".join(lines[1:])


def test_writer_copies_are_identical() -> None:
    bodies = {name: _body_without_docstring_title(path) for name, path in WRITER_FILES.items()}
    first = next(iter(bodies.values()))
    differing = [name for name, body in bodies.items() if body != first]
    assert differing == [], f"event writers drifted apart: {differing}"


@pytest.mark.parametrize("module_name", list(WRITER_FILES))
def test_writer_lines_follow_the_contract(module_name: str, tmp_path: Path) -> None:
    events = pytest.importorskip(f"{module_name}.events")
    writer = events.EventWriter(
        "test-run", state_dir=tmp_path, redact=lambda s: s.replace("hf_secret", "hf_…ret")
    )
    with writer:
        writer.emit("start", tasks=2)
        writer.emit("log", level="info", message="token hf_secret\nsecond line")
        writer.emit("end", status="ok")
    raw = (tmp_path / "test-run.jsonl").read_bytes()
    lines = raw.split(b"\n")
    assert lines[-1] == b"", "every line ends with a newline"
    parsed = [json.loads(line) for line in lines[:-1]]
    assert [e["kind"] for e in parsed] == ["start", "log", "end"]
    assert [e["seq"] for e in parsed] == [0, 1, 2]
    for event in parsed:
        assert set(event) == {"v", "ts", "stage", "run_id", "seq", "kind", "data"}
        assert event["v"] == 1 and event["stage"] == "test-run"
        assert event["run_id"] == writer.run_id
    assert "hf_secret" not in raw.decode()
    assert parsed[1]["data"]["message"] == "token hf_…ret\nsecond line"


@pytest.mark.parametrize("module_name", list(WRITER_FILES))
def test_writer_rejects_unknown_kind(module_name: str, tmp_path: Path) -> None:
    events = pytest.importorskip(f"{module_name}.events")
    with pytest.raises(ValueError, match="unknown event kind"):
        events.EventWriter("download", state_dir=tmp_path).emit("progresss")


@pytest.mark.parametrize("module_name", list(WRITER_FILES))
def test_state_dir_resolution(module_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events = pytest.importorskip(f"{module_name}.events")
    monkeypatch.delenv("ARCFORGE_STATE_DIR", raising=False)
    assert events.resolve_state_dir(None) == Path(".arcforge")
    monkeypatch.setenv("ARCFORGE_STATE_DIR", str(tmp_path / "env"))
    assert events.resolve_state_dir(None) == tmp_path / "env"
    assert events.resolve_state_dir(tmp_path / "flag") == tmp_path / "flag"
