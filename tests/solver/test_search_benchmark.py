"""benchmarks/solver_accuracy.py: the failure table, train-exact precision, the time curve and the
selection ablation, run end to end on two small task files."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_benchmark() -> ModuleType:
    # on sys.path, so that the benchmark's spawned workers (which inherit the path) import it too
    if str(ROOT / "benchmarks") not in sys.path:
        sys.path.insert(0, str(ROOT / "benchmarks"))
    return importlib.import_module("solver_accuracy")


bench = load_benchmark()


def row(
    task_id: str,
    status: str,
    correct: bool,
    train: bool,
    *,
    memorised: bool = False,
    right_among: bool = False,
) -> dict[str, object]:
    return {
        "task_id": task_id,
        "held_out": True,
        "correct": [correct],
        "seconds": 1.0,
        "evaluations": 100,
        "train_solved": train,
        "memorised": memorised,
        "status": status,
        "completed_cost": 1,
        "right_among_candidates": right_among,
        "variants": {"as run": [correct], "no vote": [False]},
    }


def test_report_failure_table_and_ablation() -> None:
    rows = [
        row("a", "solved", True, True),
        row("b", "wrong on test", False, True, memorised=True, right_among=True),
        row("c", "no fit", False, False),
        row("d", "timed out", False, False),
        row("e", "timed out", False, False),
    ]
    text = bench.report("holdout", rows)
    assert "tasks_fully_solved 0.200 (1)" in text and "train-exact 2" in text
    assert "right on test 1/2 (50%)" in text and "100 evals/s" in text
    assert "without memorised tables 1/1 (100%)" in text  # b's train fit was a memorised table
    table = bench.failure_table(rows).splitlines()
    assert table[0] == "failures: 4 unsolved of 5"
    assert table[1].split() == ["no", "fit", "1", "c"]
    assert table[2].split() == ["wrong", "on", "test", "1", "b"]
    assert table[3].split() == ["timed", "out", "2", "d", "e"]
    assert table[4].strip() == "wrong on test through a memorised table: 1"
    # b's search found a right train-exact program, but chose two others: a selection miss
    assert table[5].strip() == "wrong on test, but a lower train-exact candidate was right: 1  b"
    assert table[6].strip() == "timed out in enumeration level 2: 2"
    ablation = bench.ablation_table(rows)
    assert "as run             solved    1  right on test 1/2" in ablation
    assert "no vote            solved    0  right on test 0/2" in ablation


def test_variants_switch_off_each_check_once() -> None:
    variants = bench.variants(["size", "palette"])
    assert variants["as run"] == (True, ["size", "palette"], True)
    assert variants["no vote"] == (False, ["size", "palette"], True)
    assert variants["no size"] == (True, ["palette"], True)
    assert variants["neither"] == (False, [], True)
    assert variants["tables not demoted"] == (True, ["size", "palette"], False)


def write_task(
    folder: Path, name: str, train: list[tuple[list[list[int]], list[list[int]]]], test: tuple
) -> None:
    data = {
        "train": [{"input": i, "output": o} for i, o in train],
        "test": [{"input": test[0], "output": test[1]}],
    }
    (folder / f"{name}.json").write_text(json.dumps(data))


def test_curve_mode_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flip = [([[1, 0], [2, 3]], [[0, 1], [3, 2]]), ([[0, 4, 4]], [[4, 4, 0]]), ([[5], [6]], [[5], [6]])]
    write_task(tmp_path, "flip", flip, ([[7, 0, 1]], [[1, 0, 7]]))
    out = tmp_path / "rows.json"
    code = bench.main(
        [
            str(tmp_path),
            "--curve",
            "2,3",
            "--split",
            "all",
            "--ablate",
            "--out",
            str(out),
            "--no-check",
            "objects",
            "--max-evaluations",
            "3000",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert printed.count("settings: 1 tasks") == 2
    assert (
        "max evaluations 3000, split all, checks size,palette,symmetry, vote on, shape first on, "
        "enumerate share 0.7, augment 0"
    ) in printed
    assert "failures:" in printed and "selection on the same searches" in printed
    curve = printed[printed.index("curve:") :].splitlines()
    assert [line.split()[0] for line in curve[1:]] == ["2", "3"]
    rows = json.loads((tmp_path / "rows.2s.json").read_text())
    assert rows[0]["task_id"] == "flip" and rows[0]["status"] == "solved"
    assert rows[0]["variants"]["as run"] == [True]


def test_bad_curve_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        bench.main([str(tmp_path), "--curve", "1,fast"])
    assert "--curve takes comma-separated seconds" in capsys.readouterr().err


def test_only_runs_the_named_tasks_and_names_a_missing_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    same = [([[1, 2]], [[1, 2]]), ([[3]], [[3]])]
    for name in ("aa", "bb", "cc"):
        write_task(tmp_path, name, same, ([[4]], [[4]]))
    out = tmp_path.parent / f"{tmp_path.name}-rows.json"
    argv = [str(tmp_path), "--only", "cc, aa", "--max-evaluations", "500", "--out", str(out)]
    assert bench.main(argv) == 0
    assert sorted(r["task_id"] for r in json.loads(out.read_text())) == ["aa", "cc"]
    assert "settings: 2 tasks" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        bench.main([str(tmp_path), "--only", "aa,zz"])
    err = capsys.readouterr().err
    assert "--only: not in" in err and err.rstrip().endswith(": zz")


def test_a_file_that_is_not_a_task_is_named(tmp_path: Path) -> None:
    write_task(tmp_path, "aa", [([[1]], [[1]])], ([[2]], [[2]]))
    (tmp_path / "rows.json").write_text("[]")  # e.g. an earlier --out written into the folder
    with pytest.raises(SystemExit) as stopped:
        bench.main([str(tmp_path)])
    assert str(stopped.value).startswith(f"{tmp_path / 'rows.json'}: not an ARC task")


def test_search_speed_runs_both_checkouts_and_compares_their_answers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    speed = importlib.import_module("search_speed")
    flip = [([[1, 0], [2, 3]], [[0, 1], [3, 2]]), ([[0, 4, 4]], [[4, 4, 0]])]
    for name in ("aa", "bb"):
        write_task(tmp_path, name, flip, ([[7, 0, 1]], [[1, 0, 7]]))
    argv = [str(tmp_path), "--split", "all", "--count", "2", "--max-evaluations", "200"]
    assert speed.main([*argv, "--baseline", str(ROOT)]) == 0
    printed = capsys.readouterr().out
    assert "2 all tasks" in printed
    sides = {line.split()[0] for line in printed.splitlines() if line.endswith(tuple("0123456789"))}
    assert {"this", "baseline"} <= sides
    assert "ratio this checkout / baseline:" in printed
    assert "same answers on every task" in printed  # the same code gives the same answers
    with pytest.raises(SystemExit, match="not an arcforge checkout"):
        speed.main([*argv, "--baseline", str(tmp_path)])
