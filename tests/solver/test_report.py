"""`arcforge-solve report` and `show`: the HTML run report (checked in headless Chromium where one is
installed) and the terminal view of one task."""

from __future__ import annotations

import html.parser
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from arcforge_solver.cli import main
from tests.solver.conftest import DOUBLE

TASK_IDS = ["flip0", "flip1", "flip7", "hard5", "hard8"]


def solve(tmp_path: Path, tasks: Path) -> Path:
    out = tmp_path / "out" / "submission.json"
    code = main(
        [
            "run",
            str(tasks),
            "--out",
            str(out),
            "--state-dir",
            str(tmp_path / "state"),
            "--engine",
            f"{DOUBLE}:FixedProgramEngine",
            "--time-per-task",
            "5",
        ]
    )
    assert code == 0
    return out


class Page(html.parser.HTMLParser):
    """The parts of the report a reader sees: table rows (and whether hidden), sections, grids."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, dict[str, str | None]] = {}
        self.sections: dict[str, bool] = {}
        self.current_section: str | None = None
        self.rects_in: dict[str, int] = {}
        self.wrong_in: dict[str, int] = {}
        self.scores: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "tr" and a.get("data-task"):
            self.rows[str(a["data-task"])] = a
        if tag == "section" and a.get("data-task"):
            self.current_section = str(a["data-task"])
            self.sections[self.current_section] = "hidden" in a
        if tag == "rect" and self.current_section:
            self.rects_in[self.current_section] = self.rects_in.get(self.current_section, 0) + 1
            if "wrong" in (a.get("class") or ""):
                self.wrong_in[self.current_section] = self.wrong_in.get(self.current_section, 0) + 1
        if tag == "div" and a.get("data-score"):
            self.scores.append(str(a["data-score"]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "section":
            self.current_section = None


def parse(text: str) -> Page:
    page = Page()
    page.feed(text)
    return page


def test_report_is_one_file_beside_the_submission_with_every_task(
    tmp_path: Path, small_tasks: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = solve(tmp_path, small_tasks)
    capsys.readouterr()
    assert (
        main(
            [
                "report",
                str(out),
                "--tasks",
                str(small_tasks),
                "--events",
                str(tmp_path / "state" / "test-run.jsonl"),
            ]
        )
        == 0
    )
    report = out.with_name("submission.report.html")
    assert str(report) in capsys.readouterr().out
    text = report.read_text()
    assert "http://" not in text.replace("http://www.w3.org/2000/svg", "")  # no network needed
    page = parse(text)
    assert sorted(page.rows) == TASK_IDS
    assert page.scores == ["Kaggle score", "per-task fraction", "tasks fully solved"]
    outcomes = {task: row["data-outcome"] for task, row in page.rows.items()}
    assert outcomes["flip0"] == "solved" and outcomes["hard5"] == "failed"
    grids = json.loads(text.split("id='grids'>", 1)[1].split("</script>", 1)[0])
    hard5 = grids["hard5"]["tests"][0]
    assert hard5["expected"] == [[7]] and hard5["input"] == [[2, 5]]
    assert hard5["wrong"][0]  # its attempts are wrong, and the wrong cells are listed
    assert grids["flip0"]["tests"][0]["wrong"][0] == []
    assert "<span class='keyword'>def</span>" in text  # the program is highlighted


def test_report_of_a_kaggle_output_folder_needs_no_flags(tmp_path: Path, small_tasks: Path) -> None:
    out = solve(tmp_path, small_tasks)
    fetched = tmp_path / "kaggle-output"
    fetched.mkdir()
    challenges = {}
    for task_id in TASK_IDS:
        body = json.loads((small_tasks / f"{task_id}.json").read_text())
        challenges[task_id] = {"train": body["train"], "test": [{"input": p["input"]} for p in body["test"]]}
    (fetched / "arcforge-challenges.json").write_text(json.dumps(challenges))
    shutil.copy(out, fetched / "submission.json")
    shutil.copy(out.with_name("submission.journal.jsonl"), fetched / "submission.journal.jsonl")
    shutil.copy(tmp_path / "state" / "test-run.jsonl", fetched / "test-run.jsonl")
    assert main(["report", str(fetched / "submission.json")]) == 0
    page = parse((fetched / "submission.report.html").read_text())
    assert sorted(page.rows) == TASK_IDS
    assert page.scores == []  # no solutions in a Kaggle output: no scores claimed


def test_report_without_its_tasks_says_how_to_name_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sub = tmp_path / "submission.json"
    sub.write_text(json.dumps({"zzz": [{"attempt_1": [[1]], "attempt_2": [[1]]}]}))
    assert main(["report", str(sub)]) == 2
    err = capsys.readouterr().err
    assert "--tasks" in err and str(sub) in err and "Traceback" not in err


def test_show_draws_the_task_and_names_the_failing_train_pair(
    tmp_path: Path, small_tasks: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = solve(tmp_path, small_tasks)
    capsys.readouterr()
    args = ["--submission", str(out), "--tasks", str(small_tasks), "--no-color"]
    assert main(["show", "hard5", *args]) == 0
    text = capsys.readouterr().out
    assert "task hard5: done (failed)" in text
    assert "train 1 input" in text and "expected" in text and "def solve" in text
    assert "check: the program fails 2 of 2 train pairs" in text
    assert "train 1: wrong size: 1x2, want 1x1" in text
    assert main(["show", "flip0", *args]) == 0
    assert "reproduces all 2 train pairs" in capsys.readouterr().out
    assert main(["show", "nope", *args]) == 2
    assert "no task 'nope'" in capsys.readouterr().err


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (apt-get install chromium)")
def test_report_in_headless_chromium_filters_and_draws_the_grids(tmp_path: Path, small_tasks: Path) -> None:
    out = solve(tmp_path, small_tasks)
    assert main(["report", str(out), "--tasks", str(small_tasks)]) == 0
    report = out.with_name("submission.report.html")
    assert CHROMIUM is not None
    dom = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'chromium-profile'}",
            "--virtual-time-budget=3000",
            "--dump-dom",
            f"{report.as_uri()}#filter=failed&task=hard5",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    page = parse(dom)
    shown = sorted(task for task, row in page.rows.items() if "hidden" not in row)
    assert shown == ["hard5", "hard8"]  # the failed filter, applied by the page's own script
    assert page.sections["hard5"] is False and page.sections["flip0"] is True
    # hard5: two 1x2 train inputs, 1x1 outputs, a 1x2 test input, two attempts, the 1x1 expected.
    assert page.rects_in["hard5"] == 2 * (2 + 1) + 2 + 2 * 2 + 1
    assert page.wrong_in["hard5"] == 4  # every cell of both wrong-size attempts is marked
