"""Bad input and faults met by `arcforge-solve` (issue 19's hostile pass): each case is one clear
message, nothing lost, nothing leaked, no traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from arcforge_solver.cli import main
from tests.solver.conftest import DOUBLE
from tests.solver.test_runtime_run import run_cli as run_with_double

SECRET = "hf_" + "q" * 12 + "SeCrEt"


def run_cli(tmp_path: Path, tasks: Path, *args: str, engine: str = "FixedProgramEngine") -> int:
    return run_with_double(tmp_path, *args, engine=engine, tasks=tasks)


def journal_file(tmp_path: Path) -> Path:
    return tmp_path / "out" / "submission.journal.jsonl"


def journal_lines(tmp_path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in journal_file(tmp_path).read_text().splitlines() if line.strip()]


def last_run_items(tmp_path: Path) -> list[dict[str, Any]]:
    events = [json.loads(line) for line in (tmp_path / "state" / "test-run.jsonl").read_text().splitlines()]
    start = max(i for i, e in enumerate(events) if e["kind"] == "start")
    return [e["data"] for e in events[start:] if e["kind"] == "item"]


def submission(tmp_path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((tmp_path / "out" / "submission.json").read_text())
    return data


# -- resume trusts nothing in the journal ------------------------------------------------------------
@pytest.mark.parametrize(
    "bad_entries",
    [
        [{"attempt_1": [[10]], "attempt_2": [[1]]}],  # colour out of range
        [{"attempt_1": [[1, 2], [3]], "attempt_2": [[1]]}],  # ragged
        [{"attempt_1": [[1]]}],  # attempt_2 missing
        "not a list",
    ],
)
def test_an_invalid_journal_entry_is_solved_again(
    tmp_path: Path, small_tasks: Path, bad_entries: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(tmp_path, small_tasks) == 0
    lines = journal_lines(tmp_path)
    target = next(line for line in lines if line["task_id"] == "flip0")
    target["entries"] = bad_entries
    journal_file(tmp_path).write_text("".join(json.dumps(line) + "\n" for line in lines))
    capsys.readouterr()
    assert run_cli(tmp_path, small_tasks) == 0
    err = capsys.readouterr().err
    assert "flip0" in err and "journal" in err  # the bad line is named
    entries = submission(tmp_path)["flip0"]
    assert entries[0]["attempt_1"] == [[9, 1], [7, 8]]  # solved again, not the junk
    resolved = [item for item in last_run_items(tmp_path) if item["task_id"] == "flip0"]
    assert any(item["state"] == "done" and not item.get("resumed") for item in resolved)


def test_journal_lines_of_the_wrong_types_are_named_and_skipped(
    tmp_path: Path, small_tasks: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(tmp_path, small_tasks) == 0
    with journal_file(tmp_path).open("a") as handle:
        handle.write(json.dumps({"task_id": 5, "fingerprint": "x", "engine": "e", "state": "done"}) + "\n")
        handle.write(json.dumps(["a", "list"]) + "\n")
        handle.write(json.dumps({"task_id": "flip1", "fingerprint": 3, "seconds": "slow"}) + "\n")
    capsys.readouterr()
    assert run_cli(tmp_path, small_tasks) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "line 6" in err  # the first bad line (five good ones before it) is named
    assert "resuming: 5 of 5" in err


def test_a_journal_path_that_is_a_folder_is_one_clear_error(
    tmp_path: Path, small_tasks: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "journal-folder"
    folder.mkdir()
    assert run_cli(tmp_path, small_tasks, "--journal", str(folder)) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and str(folder) in err and "folder" in err


def test_after_a_torn_last_line_the_next_record_starts_on_a_fresh_line(
    tmp_path: Path, small_tasks: Path
) -> None:
    assert run_cli(tmp_path, small_tasks, "--limit", "2") == 0
    with journal_file(tmp_path).open("a") as handle:
        handle.write('{"task_id": "flip7", "fingerp')  # a kill mid-write
    assert run_cli(tmp_path, small_tasks) == 0
    ids = [line["task_id"] for line in journal_lines_tolerant(journal_file(tmp_path))]
    assert sorted(ids) == ["flip0", "flip1", "flip7", "hard5", "hard8"]


def journal_lines_tolerant(path: Path) -> list[dict[str, Any]]:
    good = []
    for line in path.read_text().splitlines():
        try:
            good.append(json.loads(line))
        except ValueError:
            continue
    return good


# -- output paths checked before any solving --------------------------------------------------------
def test_an_unwritable_out_path_fails_before_solving_and_claims_no_file(
    tmp_path: Path, small_tasks: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    code = main(
        [
            "run",
            str(small_tasks),
            "--out",
            str(blocker / "submission.json"),
            "--state-dir",
            str(tmp_path / "state"),
            "--engine",
            f"{DOUBLE}:FixedProgramEngine",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err and str(blocker / "submission.json") in err
    assert "is valid" not in err


def test_an_unwritable_journal_path_fails_before_solving(
    tmp_path: Path, small_tasks: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    assert run_cli(tmp_path, small_tasks, "--journal", str(blocker / "j.jsonl")) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "j.jsonl" in err
    assert not (tmp_path / "out" / "submission.json").exists() or "is valid" not in err


# -- deep JSON, bad-only input ----------------------------------------------------------------------
def deep(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_a_deeply_nested_task_file_is_named_and_the_folder_still_runs(
    tmp_path: Path, small_tasks: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (small_tasks / "deep.json").write_text(deep(100_000))
    assert run_cli(tmp_path, small_tasks) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and "deep.json" in err and "nest" in err
    assert {"flip0", "flip1", "flip7", "hard5", "hard8"} <= set(submission(tmp_path))


def test_validate_and_score_name_a_deeply_nested_file(
    tmp_path: Path, small_tasks: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "deep.json"
    bad.write_text(deep(100_000))
    assert main(["validate", str(bad), "--tasks", str(small_tasks)]) == 2
    assert main(["score", str(bad), str(small_tasks)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("deep.json") >= 2


def test_an_input_whose_only_task_is_bad_exits_2_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "tasks"
    folder.mkdir()
    (folder / "broken.json").write_text(json.dumps({"train": [], "test": [{"input": [[1]]}]}))
    assert run_cli(tmp_path, folder) == 2
    err = capsys.readouterr().err
    assert "broken" in err and "no valid task" in err


# -- secrets never reach events or the journal ------------------------------------------------------
def test_an_engine_error_holding_a_secret_is_redacted(
    tmp_path: Path, small_tasks: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", SECRET)
    monkeypatch.setenv("ARCFORGE_DOUBLE_ERROR", f"token was {SECRET}")
    run_cli(tmp_path, small_tasks, "--limit", "1", engine="ErrorMessageEngine")
    events_text = (tmp_path / "state" / "test-run.jsonl").read_text()
    journal_text = journal_file(tmp_path).read_text()
    assert "token was" in events_text and "token was" in journal_text  # the error itself is kept
    assert SECRET not in events_text and SECRET not in journal_text


# -- solutions are told apart by content, not by file name -----------------------------------------
def test_a_renamed_solutions_file_is_still_read(
    tmp_path: Path, small_tasks: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(tmp_path, small_tasks) == 0
    sols = {}
    for file in sorted(small_tasks.glob("*.json")):
        body = json.loads(file.read_text())
        sols[file.stem] = [pair["output"] for pair in body["test"]]
    renamed = tmp_path / "answers.json"
    renamed.write_text(json.dumps(sols))
    capsys.readouterr()
    assert main(["score", str(tmp_path / "out" / "submission.json"), str(renamed)]) == 0
    out = capsys.readouterr().out
    assert "no solutions" not in out and "kaggle" in out


# -- a changed setting is part of the resume key -----------------------------------------------------
def test_a_changed_engine_setting_solves_again_and_says_so(
    tmp_path: Path, small_tasks: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(tmp_path, small_tasks) == 0
    capsys.readouterr()
    assert run_cli(tmp_path, small_tasks) == 0
    assert "resuming: 5 of 5 tasks already done" in capsys.readouterr().err
    assert run_cli(tmp_path, small_tasks, "--seed", "7") == 0
    err = capsys.readouterr().err
    assert "resuming" not in err and "5 tasks were solved before with another engine or other settings" in err
    items = last_run_items(tmp_path)
    assert sum(1 for item in items if item["state"] == "done" and not item.get("resumed")) == 5
