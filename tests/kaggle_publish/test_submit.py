"""`arcforge-publish submit`: only a version whose commit run ran to COMPLETE with a validated submission, from a
notebook that knows how to rerun; and `kernel` passes the solver's arguments through untouched."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from arcforge_kaggle_publish.errors import PublishError
from arcforge_kaggle_publish.notebook import RERUN_SUPPORT
from arcforge_kaggle_publish.records import Records
from arcforge_kaggle_publish.submittable import choose_version, rerun_summary
from tests.support.kaggle import KaggleStandIn

needs_solver = pytest.mark.skipif(
    not (Path(sys.executable).parent / "arcforge-solve").is_file() and shutil.which("arcforge-solve") is None,
    reason="arcforge-solve is not installed",
)
KERNEL = "alice/arcforge-arc-prize"
FORECAST = {  # the solver's forecast event, as the notebook keeps it
    "tasks": 240,
    "budget_s": 39600.0,
    "time_per_task_s": 646.8,
    "lanes": 4,
    "gpus": 4,
    "planned_hours": 10.78,
    "expected_hours": 10.78,
    "gpu_hours": 43.12,
    "machine": "4 x NVIDIA L4",
}


def _record(records: Records, version: int, **fields: object) -> None:
    base: dict[str, object] = {
        "rerun_support": RERUN_SUPPORT,
        "accelerator": "NvidiaL4",
        "validated": True,
        "notebook": {"rerun_support": RERUN_SUPPORT, "solver_exit_code": 0, "submission_source": "solver"},
    }
    base.update(fields)
    records.record_kernel(KERNEL, version, **base)


def test_the_last_submittable_version_is_chosen_and_each_refusal_says_why(tmp_path: Path) -> None:
    records = Records(tmp_path)
    _record(records, 1)
    _record(records, 2, rerun_support=None, notebook={"solver_exit_code": 0})  # an older notebook
    _record(records, 3, notebook={"rerun_support": 1, "solver_exit_code": 70, "submission_source": "solver"})
    _record(records, 4, validated=False)
    assert choose_version(records, KERNEL, None)[0] == 1
    with pytest.raises(PublishError, match=r"/4 has no validated submission: run `arcforge-publish output"):
        choose_version(records, KERNEL, 4)
    with pytest.raises(PublishError, match="/3: the solver exited with 70"):
        choose_version(records, KERNEL, 3)
    with pytest.raises(PublishError, match="predates rerun support"):
        choose_version(records, KERNEL, 2)
    with pytest.raises(PublishError, match="was not pushed from here"):
        choose_version(records, KERNEL, 9)
    _record(records, 1, notebook={"rerun_support": 1, "submission_source": "fallback"})
    with pytest.raises(
        PublishError, match="no version of alice/arcforge-arc-prize can be submitted"
    ) as caught:
        choose_version(records, KERNEL, None)
    assert "the notebook wrote the fallback" in caught.value.message


def test_the_rerun_is_described_from_the_commit_runs_forecast() -> None:
    record = {
        "accelerator": "NvidiaL4",
        "notebook": {"forecast": FORECAST, "accelerator": {"label": "4 x NVIDIA L4"}, "engine": "hybrid"},
    }
    summary = rerun_summary(record)
    assert summary == (
        "the rerun solves all tasks of the hidden set in up to 11.0 h on 4 x NVIDIA L4 "
        "(engine hybrid, expected 10.8 h, 43.1 GPU hours, 11 min per task on 4 lanes)"
    )
    assert "on 4 x NVIDIA L4" in rerun_summary({"accelerator": "NvidiaL4", "notebook": {}})


def test_kernel_passes_solver_arguments_through_untouched(publish, state_dir: Path) -> None:
    from arcforge_kaggle_publish.cli import main

    assert publish("kernel", "--id", KERNEL, "--dry-run").code == 0
    folder = state_dir / "kernels" / "arcforge-arc-prize"
    notebook = json.loads((folder / "arcforge-notebook.ipynb").read_text())
    cells = [c["source"] for c in notebook["cells"]]
    assert "SOLVE_ARGS = []\n" in cells[1]  # nothing defaulted: the solver's own defaults apply
    ids = [c["id"] for c in notebook["cells"]]  # nbformat 4.5: every cell has a unique id
    assert notebook["nbformat_minor"] == 5 and len(set(ids)) == len(ids) == len(cells)
    args = ["--time-budget", "1h30m", "--time-per-task", "soon", "--future-flag=x"]
    code = main(["kernel", "--id", KERNEL, "--state-dir", str(state_dir), "--dry-run",
                 "--solve-arg=--seed", "--solve-arg", "3", "--", *args])  # fmt: skip
    assert code == 0
    cells = [c["source"] for c in json.loads((folder / "arcforge-notebook.ipynb").read_text())["cells"]]
    assert f"SOLVE_ARGS = {['--seed', '3', *args]!r}\n" in cells[1]  # never read, so never refused here
    assert "'--time-per-task'" not in "".join(cells[2:])  # the notebook itself sets no per-task time


@needs_solver
def test_submit_takes_the_checked_version_and_refuses_one_that_did_not_complete(
    kaggle: KaggleStandIn, publish, tmp_path: Path, state_dir: Path
) -> None:
    push = ("kernel", "--id", KERNEL, "--test-mode", "--run")
    assert publish(*push).code == 0
    assert publish("status", KERNEL, "--wait").code == 0
    assert publish("output", KERNEL, "--to", str(tmp_path / "out"), "--version", "1").code == 0
    kaggle.faults.kernel_error = "RuntimeError: CUDA out of memory"
    assert publish(*push).code == 0
    assert publish("status", KERNEL, "--wait").code == 1  # version 2 ended ERROR
    refused = publish("submit", "--kernel", KERNEL, "--version", "2")
    assert refused.code == 1 and "/2 has no validated submission" in refused.err

    # Marked as checked here but still running on Kaggle: Kaggle's own status decides.
    kaggle.faults.kernel_error = None
    assert publish(*push).code == 0
    _record(Records(state_dir), 3)
    running = publish("submit", "--kernel", KERNEL, "--version", "3")
    assert running.code == 1 and "/3 is RUNNING on Kaggle; only a version that ran to COMPLETE" in running.err
    assert kaggle.calls_to("CreateCodeSubmission") == []

    Records(state_dir).update_kernel(KERNEL, 3, validated=False)  # as it really is: never fetched
    submitted = publish("submit", "--kernel", KERNEL)  # no --version: 3 and 2 do not qualify, 1 does
    assert submitted.code == 0, submitted.err
    assert f"{KERNEL}/1: the rerun solves all tasks of the hidden set on 4 x NVIDIA L4" in submitted.out
    (request,) = kaggle.calls_to("CreateCodeSubmission")
    assert request["kernelVersion"] == 1


@needs_solver
def test_a_commit_run_whose_solver_crashed_completes_but_is_never_submitted(
    tmp_path: Path, state_dir: Path, publish, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real notebook on the stand-in: the solver cannot start, the notebook still writes a valid
    submission and ends COMPLETE, `output` warns, and `submit` refuses that version."""
    from tests.support.kaggle import notebook_runner, start_kaggle_server

    monkeypatch.delenv("KAGGLE_API_TOKEN", raising=False)
    runner = notebook_runner(extra_env={"ARCFORGE_NOTEBOOK_SKIP_INSTALL": "1"}, timeout=300, layout="legacy")
    with start_kaggle_server(users={"alice": "alice-secret-key-0123456789"}, runner=runner) as server:
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        pushed = publish(
            "kernel", "--id", KERNEL, "--test-mode", "--run", "--solve-arg=--no-such-solver-flag"
        )
        assert pushed.code == 0, pushed.err
        assert publish("status", KERNEL, "--wait").code == 0  # COMPLETE: the notebook exited cleanly
        fetched = publish("output", KERNEL, "--to", str(tmp_path / "out"))
        assert fetched.code == 0, fetched.err
        assert (
            "the solver exited with 2" in fetched.err
            and "`arcforge-publish submit` will refuse" in fetched.err
        )
        refused = publish("submit", "--kernel", KERNEL)
        assert server.calls_to("CreateCodeSubmission") == []
    assert refused.code == 1
    assert (
        "/1: the solver exited with 2; the submission is the last valid one it left in its commit run"
        in refused.err
    )


@needs_solver
def test_a_version_is_submitted_to_the_competition_it_was_pushed_for(
    tmp_path: Path, publish, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.kaggle import default_competition, start_kaggle_server

    monkeypatch.delenv("KAGGLE_API_TOKEN", raising=False)
    editions = [default_competition(), default_competition(name="arc-prize-2025")]
    with start_kaggle_server(users={"alice": "alice-secret-key-0123456789"}, competitions=editions) as server:
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        pushed = publish("kernel", "--id", KERNEL, "--competition", "arc-prize-2025", "--test-mode", "--run")
        assert pushed.code == 0, pushed.err
        assert publish("status", KERNEL, "--wait").code == 0
        assert publish("output", KERNEL, "--to", str(tmp_path / "out")).code == 0
        submitted = publish("submit", "--kernel", KERNEL)  # no --competition: the one it was pushed for
        assert submitted.code == 0, submitted.err
        (request,) = server.calls_to("CreateCodeSubmission")
    assert request["competitionName"] == "arc-prize-2025"
