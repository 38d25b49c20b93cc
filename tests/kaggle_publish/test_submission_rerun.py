"""A code submission is scored on Kaggle's rerun, not on the commit run: the stand-in reruns the submitted
version on the competition's hidden tasks with KAGGLE_IS_COMPETITION_RERUN=1 and scores that rerun's file."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from tests.support.kaggle import default_competition, identity_runner, notebook_runner, start_kaggle_server

KERNEL = "alice/arcforge-arc-prize"
PUBLIC = {"00000001": {"train": [{"input": [[1, 0]], "output": [[0, 1]]}], "test": [{"input": [[2, 0]]}]}}
# The identity answers this one right: a score of 1 can only come from a run that saw the hidden tasks.
HIDDEN = {"0000000b": {"train": [{"input": [[5, 5]], "output": [[5, 5]]}], "test": [{"input": [[6, 6]]}]}}
HIDDEN_SOLUTIONS = {"0000000b": [[[6, 6]]]}


def competition() -> object:
    return default_competition(
        PUBLIC, {"00000001": [[[0, 2]]]}, hidden_tasks=HIDDEN, hidden_solutions=HIDDEN_SOLUTIONS
    )


def _push_run_fetch_submit(publish, tmp_path: Path, *kernel_args: str):  # type: ignore[no-untyped-def]
    assert publish("kernel", "--id", KERNEL, "--test-mode", "--run", *kernel_args).code == 0
    assert publish("status", KERNEL, "--wait").code == 0
    fetched = publish("output", KERNEL, "--to", str(tmp_path / "out"))
    assert fetched.code == 0, fetched.err
    return publish("submit", "--kernel", KERNEL, "--wait")


def test_the_submission_is_scored_on_the_rerun_over_the_hidden_tasks(
    publish, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs: list[tuple[bool, bytes]] = []

    def recording(server, kernel, version):  # type: ignore[no-untyped-def]
        outputs, log = identity_runner(server, kernel, version)
        runs.append((version.rerun, outputs["arcforge-challenges.json"]))
        return outputs, log

    with start_kaggle_server(competitions=[competition()], runner=recording) as server:  # type: ignore[list-item]
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        submitted = _push_run_fetch_submit(publish, tmp_path)
        (submission,) = server.submissions
    assert submitted.code == 0, submitted.err
    # The commit run saw the public file; the rerun, started by the submission, the hidden one.
    assert [(rerun, json.loads(tasks)) for rerun, tasks in runs] == [(False, PUBLIC), (True, HIDDEN)]
    assert json.loads((tmp_path / "out" / "submission.json").read_text()).keys() == PUBLIC.keys()
    assert submission.rerun is not None and submission.rerun.rerun is True
    assert "COMPLETE, public score 1.0000" in submitted.out


def test_a_rerun_that_fails_is_a_failed_submission(
    publish, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.kaggle import KernelFailedError

    def fails_in_the_rerun(server, kernel, version):  # type: ignore[no-untyped-def]
        if version.rerun:
            raise KernelFailedError("MemoryError")
        return identity_runner(server, kernel, version)

    with start_kaggle_server(competitions=[competition()], runner=fails_in_the_rerun) as server:  # type: ignore[list-item]
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        submitted = _push_run_fetch_submit(publish, tmp_path)
    assert submitted.code == 1
    assert "submission #1001 failed: Notebook Threw Exception: MemoryError" in submitted.err


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("arcforge-solve") is None and not (Path(sys.executable).parent / "arcforge-solve").is_file(), reason="arcforge-solve is not installed")  # fmt: skip
def test_the_real_notebook_knows_it_is_the_rerun(
    publish, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = notebook_runner(extra_env={"ARCFORGE_NOTEBOOK_SKIP_INSTALL": "1"}, timeout=300)
    with start_kaggle_server(competitions=[competition()], runner=runner) as server:  # type: ignore[list-item]
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        submitted = _push_run_fetch_submit(
            publish,
            tmp_path,
            "--solve-arg=--time-budget",
            "--solve-arg=20s",
            "--solve-arg=--workers",
            "--solve-arg=1",
        )
        (submission,) = server.submissions
    assert submitted.code == 0, submitted.err
    assert submission.rerun is not None
    assert "competition rerun: every task, the whole budget" in submission.rerun.log
    provenance = json.loads(submission.rerun.outputs["arcforge-provenance.json"])
    assert provenance["rerun"] is True and provenance["tasks"] == len(HIDDEN)
    assert json.loads(submission.rerun.outputs["arcforge-challenges.json"]) == HIDDEN
    assert "COMPLETE, public score" in submitted.out
