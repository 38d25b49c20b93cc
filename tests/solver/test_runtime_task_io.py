"""Task IO: the three input shapes, grid validation, and one clear error per bad task."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from arcforge_solver.tasks.io import (
    TaskFormatError,
    TaskSourceError,
    check_grid,
    load_solutions,
    load_tasks,
    task_fingerprint,
    without_test_outputs,
)

GOOD = {"train": [{"input": [[1, 2]], "output": [[2, 1]]}], "test": [{"input": [[3, 4]], "output": [[4, 3]]}]}


def write(path: Path, value: object) -> Path:
    path.write_text(json.dumps(value))
    return path


def test_folder_of_task_files_loads_in_name_order_with_solutions(small_tasks: Path) -> None:
    loaded = load_tasks(small_tasks)
    assert [t.task_id for t in loaded.tasks] == ["flip0", "flip1", "flip7", "hard5", "hard8"]
    assert loaded.problems == []
    flip1 = loaded.tasks[1]
    assert len(flip1.train) == 2 and len(flip1.test) == 2
    assert flip1.train[0].input.dtype == np.int8
    assert np.array_equal(loaded.solutions["flip1"][0], [[2, 3, 4]])


def test_single_task_file_takes_its_id_from_the_name(tmp_path: Path) -> None:
    loaded = load_tasks(write(tmp_path / "abc123.json", GOOD))
    assert [t.task_id for t in loaded.tasks] == ["abc123"]
    assert np.array_equal(loaded.solutions["abc123"][0], [[4, 3]])


def test_kaggle_challenges_pick_up_solutions_beside_them(tmp_path: Path) -> None:
    challenges = {"t1": {"train": GOOD["train"], "test": [{"input": [[3, 4]]}, {"input": [[5]]}]}, "t2": GOOD}
    write(tmp_path / "arc-agi_x_challenges.json", challenges)
    write(tmp_path / "arc-agi_x_solutions.json", {"t1": [[[4, 3]], [[5]]], "t2": [[[4, 3]]]})
    loaded = load_tasks(tmp_path / "arc-agi_x_challenges.json")
    assert [t.task_id for t in loaded.tasks] == ["t1", "t2"]
    assert all(pair.output is None for pair in loaded.tasks[0].test)
    assert [s.tolist() for s in loaded.solutions["t1"]] == [[[4, 3]], [[5]]]
    assert loaded.solutions_source.endswith("arc-agi_x_solutions.json")


def test_challenges_without_solutions_have_none(tmp_path: Path) -> None:
    write(
        tmp_path / "arc-agi_y_challenges.json", {"t1": {"train": GOOD["train"], "test": [{"input": [[1]]}]}}
    )
    loaded = load_tasks(tmp_path / "arc-agi_y_challenges.json")
    assert len(loaded.tasks) == 1 and not loaded.has_solutions


@pytest.mark.parametrize(
    ("grid", "problem"),
    [
        ([[1, 2], [3]], "not rectangular: row 1 has 1 cells"),
        ([[1, 10]], "cell [0][1] is 10"),
        ([[1, -1]], "cell [0][1] is -1"),
        ([[1, 1.5]], "cell [0][1] is 1.5"),
        ([[True]], "cell [0][0] is True"),
        ([], "non-empty list of rows"),
        ([[]], "row 0 must be a non-empty list"),
        ([[0] * 31], "31 columns"),
        ([[0]] * 31, "31 rows"),
        ("[[1]]", "non-empty list of rows"),
    ],
)
def test_bad_grids_are_named_precisely(grid: object, problem: str) -> None:
    with pytest.raises(TaskFormatError) as caught:
        check_grid(grid, "f.json", "t9", "train pair 2 input")
    message = str(caught.value)
    assert message.startswith("f.json: task t9: train pair 2 input: ")
    assert problem in message


def test_one_bad_task_does_not_stop_the_others(tmp_path: Path) -> None:
    bad = {"train": [{"input": [[1, 2], [3]], "output": [[1]]}], "test": [{"input": [[7, 7]]}]}
    challenges = {"good1": GOOD, "bad2": bad, "good3": GOOD, "worse4": {"train": []}}
    write(tmp_path / "arc-agi_z_challenges.json", challenges)
    loaded = load_tasks(tmp_path / "arc-agi_z_challenges.json")
    assert [t.task_id for t in loaded.tasks] == ["good1", "good3"]
    errors = {p.error.task_id: p for p in loaded.problems}
    assert set(errors) == {"bad2", "worse4"}
    assert str(errors["bad2"].error) == (
        f"{tmp_path / 'arc-agi_z_challenges.json'}: task bad2: train pair 0 input: "
        "grid is not rectangular: row 1 has 1 cells, row 0 has 2"
    )
    assert errors["bad2"].fallback_inputs == ([[7, 7]],)  # its test inputs still give fallback entries
    assert errors["worse4"].fallback_inputs is None
    assert "missing 'test'" in str(errors["worse4"].error) or "train" in str(errors["worse4"].error)


def test_missing_train_output_and_bad_json_file_in_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "tasks"
    folder.mkdir()
    write(folder / "ok.json", GOOD)
    write(folder / "noout.json", {"train": [{"input": [[1]]}], "test": [{"input": [[1]]}]})
    (folder / "broken.json").write_text('{"train": [')
    loaded = load_tasks(folder)
    assert [t.task_id for t in loaded.tasks] == ["ok"]
    messages = sorted(str(p.error) for p in loaded.problems)
    assert any("broken.json: task broken: not valid JSON" in m for m in messages)
    assert any("noout.json: task noout: train pair 0: missing 'output'" in m for m in messages)


def test_unusable_inputs_raise_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TaskSourceError, match="no such file or folder"):
        load_tasks(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(TaskSourceError, match=r"no \.json task files"):
        load_tasks(tmp_path / "empty")
    (tmp_path / "junk.json").write_text("not json")
    with pytest.raises(TaskSourceError, match=r"junk.json: not valid JSON"):
        load_tasks(tmp_path / "junk.json")


def test_solutions_must_match_the_test_count(tmp_path: Path) -> None:
    loaded = load_tasks(write(tmp_path / "t.json", GOOD))
    sols = write(tmp_path / "s_solutions.json", {"t": [[[1]], [[2]]]})
    with pytest.raises(TaskFormatError, match="task t: 2 solution grids for 1 test inputs"):
        load_solutions(sols, loaded.tasks)


def test_engines_never_see_test_outputs_and_fingerprints_ignore_them(small_tasks: Path) -> None:
    task = load_tasks(small_tasks).tasks[0]
    hidden = without_test_outputs(task)
    assert all(pair.output is None for pair in hidden.test)
    assert all(pair.output is not None for pair in hidden.train)
    assert task_fingerprint(hidden) == task_fingerprint(task)
    other = load_tasks(small_tasks).tasks[1]
    assert task_fingerprint(other) != task_fingerprint(task)
