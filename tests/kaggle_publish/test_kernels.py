"""`kernel`, `status`, `output` and `submit` against the loopback Kaggle, and secrets kept out of everything."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from tests.kaggle_publish.conftest import KEY, make_model_folder, read_events
from tests.support.kaggle import KaggleStandIn

needs_solver = pytest.mark.skipif(
    not (Path(sys.executable).parent / "arcforge-solve").is_file() and shutil.which("arcforge-solve") is None,
    reason="arcforge-solve is not installed",
)


def _publish_inputs(publish, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert (
        publish(
            "dataset", str(make_model_folder(tmp_path / "m", weights=100)), "--id", "alice/codegemma-arcforge"
        ).code
        == 0
    )
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "arcforge_solver-0.1.0-py3-none-any.whl").write_bytes(b"PK\x05\x06" + bytes(18))
    assert publish("dataset", str(wheels), "--id", "alice/arcforge-wheelhouse").code == 0


def _push(publish, *extra: str):  # type: ignore[no-untyped-def]
    return publish(
        "kernel", "--id", "alice/arcforge-arc-prize",
        "--dataset", "alice/codegemma-arcforge", "--dataset", "alice/arcforge-wheelhouse", *extra,
    )  # fmt: skip


def test_metadata_is_safe_and_explicit(
    kaggle: KaggleStandIn, publish, tmp_path: Path, state_dir: Path
) -> None:
    _publish_inputs(publish, tmp_path)
    result = _push(publish, "--test-mode", "--dry-run")
    assert result.code == 0, result.err
    folder = state_dir / "kernels" / "arcforge-arc-prize"
    metadata = json.loads((folder / "kernel-metadata.json").read_text())
    assert metadata["enable_internet"] is False  # explicit: the kaggle client defaults it to true
    assert metadata["enable_gpu"] is True and metadata["is_private"] is True
    assert metadata["machine_shape"] == "NvidiaL4"
    assert metadata["dataset_sources"] == ["alice/codegemma-arcforge", "alice/arcforge-wheelhouse"]
    assert metadata["competition_sources"] == ["arc-prize-2026-arc-agi-2"]
    assert metadata["code_file"] == "arcforge-notebook.ipynb" and (folder / metadata["code_file"]).is_file()
    assert kaggle.calls_to("SaveKernel") == []

    pushed = _push(publish, "--accelerator", "NvidiaTeslaT4")
    assert pushed.code == 0, pushed.err
    (request,) = kaggle.calls_to("SaveKernel")
    assert request.get("enableInternet", False) is False and request["enableGpu"] is True
    assert request["isPrivate"] is True and request["machineShape"] == "NvidiaTeslaT4"
    assert request["datasetDataSources"] == ["alice/codegemma-arcforge", "alice/arcforge-wheelhouse"]
    assert request["competitionDataSources"] == ["arc-prize-2026-arc-agi-2"]
    assert request["kernelExecutionType"] == "QUICK_SAVE"  # pushed without --run
    assert "pushed version 1" in pushed.out
    kernel = json.loads((state_dir / "published.json").read_text())["kernels"]["alice/arcforge-arc-prize"][
        "1"
    ]
    assert kernel["datasets"]["alice/codegemma-arcforge"] == {
        "role": "dataset", "version": 1, "model_commit": "c0ffee" * 6 + "beef", "model_repo": "google/codegemma-7b-it",
    }  # fmt: skip
    assert kernel["datasets"]["alice/arcforge-wheelhouse"]["role"] == "wheelhouse"


def test_notebook_cells_follow_the_plan(
    kaggle: KaggleStandIn, publish, tmp_path: Path, state_dir: Path
) -> None:
    _publish_inputs(publish, tmp_path)
    assert _push(publish, "--test-mode", "--dry-run").code == 0
    notebook = json.loads(
        (state_dir / "kernels" / "arcforge-arc-prize" / "arcforge-notebook.ipynb").read_text()
    )
    code = [c["source"] for c in notebook["cells"] if c["cell_type"] == "code"]
    assert len(code) == 8
    assert (
        'os.environ["TOKENIZERS_PARALLELISM"] = "false"' in code[0]
        and 'os.environ["HF_HUB_OFFLINE"] = "1"' in code[0]
    )
    assert "TEST_MODE = True" in code[0] and "EXPECT_MODEL = True" in code[0]
    assert 'os.environ.get("KAGGLE_IS_COMPETITION_RERUN"' in code[0] and "RERUN_SUPPORT = 1" in code[0]
    assert "SOLVE_ARGS = []" in code[0]  # nothing defaulted: the solver's own defaults apply
    assert '"nvidia-smi", "--query-gpu=name"' in code[1] and "'label': '4 x NVIDIA L4'" in code[0]
    assert '"--no-index", "--find-links"' in code[2]
    assert 'os.path.join(KAGGLE_INPUT, "competitions", ref)' in code[3]
    assert "/kaggle/input/" not in "".join(code[1:])  # every path is found or derived, never hard-coded
    assert (
        "command += SOLVE_ARGS" in code[4]
        and '["--test-mode", "--time-budget", TEST_MODE_BUDGET, *rerun_forecast_args()]' in code[4]
    )
    assert '["validate", path, "--tasks", CHALLENGES]' in code[5] and "fallback_submission()" in code[5]
    assert '"--forecast-tasks", str(TASKS_TOTAL)' in code[4] and '"rerun_support": RERUN_SUPPORT' in code[7]
    assert 'isinstance(e.data.get("forecast"), dict)' in code[6]  # the solver's own forecast event


def test_engine_only_appends_engine_to_the_solver_arguments(
    kaggle: KaggleStandIn, publish, tmp_path: Path, state_dir: Path
) -> None:
    """`--engine NAME` is `--engine NAME` at the end of SOLVE_ARGS, nothing more: after an --engine given
    with --solve-arg (so it wins) and unchecked (the solver resolves the name where it runs)."""
    _publish_inputs(publish, tmp_path)
    result = _push(
        publish, "--solve-arg=--engine", "--solve-arg=search", "--engine", "my-plugin", "--dry-run"
    )
    assert result.code == 0, result.err
    notebook = json.loads(
        (state_dir / "kernels" / "arcforge-arc-prize" / "arcforge-notebook.ipynb").read_text()
    )
    code = [c["source"] for c in notebook["cells"] if c["cell_type"] == "code"]
    assert "SOLVE_ARGS = ['--engine', 'search', '--engine', 'my-plugin']" in code[0]
    # The install cell installs the packages the wheelhouse's manifest names as included, by name.
    assert 'subprocess.run(pip + ["arcforge-solver"] + INCLUDED, check=True)' in code[2]


def test_save_kernel_error_under_http_200_is_an_error(
    kaggle: KaggleStandIn, publish, tmp_path: Path, state_dir: Path
) -> None:
    _publish_inputs(publish, tmp_path)
    kaggle.faults.save_kernel_error = "Maximum weekly GPU quota of 30.00 hours reached."
    result = _push(publish, "--run")
    assert result.code == 1 and "GPU quota" in result.err
    events = read_events(state_dir / "upload.jsonl")
    assert events[-1]["data"]["status"] == "failed"

    kaggle.faults.save_kernel_error = None
    bad = publish("kernel", "--id", "alice/arcforge-arc-prize", "--dataset", "alice/not-published-yet")
    assert bad.code == 1 and "invalid dataset sources: alice/not-published-yet" in bad.err


def test_status_waits_until_complete(kaggle: KaggleStandIn, publish, tmp_path: Path, state_dir: Path) -> None:
    _publish_inputs(publish, tmp_path)
    assert _push(publish, "--run", "--test-mode").code == 0
    result = publish("status", "alice/arcforge-arc-prize", "--wait")
    assert result.code == 0, result.err
    assert "RUNNING" in result.out and "COMPLETE" in result.out
    statuses = [
        e["data"]["status"] for e in read_events(state_dir / "upload.jsonl") if e["data"].get("kernel")
    ]
    assert statuses[-3:] == ["QUEUED", "RUNNING", "COMPLETE"]


def test_status_reports_the_failure_message(
    kaggle: KaggleStandIn, publish, tmp_path: Path, state_dir: Path
) -> None:
    _publish_inputs(publish, tmp_path)
    kaggle.faults.kernel_error = "FileNotFoundError: no model/ + tokenizer/ folders under /kaggle/input"
    assert _push(publish, "--run").code == 0
    result = publish("status", "alice/arcforge-arc-prize", "--wait")
    assert result.code == 1
    assert "ERROR: FileNotFoundError: no model/" in result.out and "failed: FileNotFoundError" in result.err
    errors = [e for e in read_events(state_dir / "upload.jsonl") if e["kind"] == "error"]
    assert errors[-1]["data"]["code"] == "kernel_error"


@needs_solver
def test_output_fetch_validate_provenance_then_submit(
    kaggle: KaggleStandIn, publish, tmp_path: Path, state_dir: Path, no_credentials_of_this_machine: Path
) -> None:
    """The whole chain under a KGAT_ API token, with no kaggle.json anywhere."""
    _publish_inputs(publish, tmp_path)
    assert _push(publish, "--run", "--test-mode").code == 0
    assert publish("status", "alice/arcforge-arc-prize", "--wait").code == 0
    out = tmp_path / "out"
    fetched = publish("output", "alice/arcforge-arc-prize", "--to", str(out), "--version", "1")
    assert fetched.code == 0, fetched.err
    assert (out / "submission.json").is_file() and (out / "arcforge-arc-prize.log").is_file()
    provenance = json.loads((out / "provenance.json").read_text())
    import hashlib

    assert (
        provenance["submission"]["sha256"]
        == hashlib.sha256((out / "submission.json").read_bytes()).hexdigest()
    )
    assert provenance["kernel"] == {"ref": "alice/arcforge-arc-prize", "version": 1, "test_mode": None}
    assert provenance["submission"]["tasks"] == 1 and provenance["kaggle_submissions"] == []
    assert provenance["model"] == {"repo_id": "google/codegemma-7b-it", "commit": "c0ffee" * 6 + "beef"}
    assert (
        provenance["model_dataset"]["version"] == 1
        and provenance["wheelhouse"]["ref"] == "alice/arcforge-wheelhouse"
    )
    test_run = read_events(state_dir / "test-run.jsonl")
    assert test_run[0]["kind"] == "start" and test_run[-1]["kind"] == "end"
    assert [e["data"]["task_id"] for e in test_run if e["kind"] == "item"] == ["00000001"]

    submitted = publish(
        "submit", "--kernel", "alice/arcforge-arc-prize", "--version", "1", "-m", "first try", "--wait"
    )
    assert submitted.code == 0, submitted.err
    (request,) = kaggle.calls_to("CreateCodeSubmission")
    request_ref = kaggle.submissions[0].ref
    assert request["kernelSlug"] == "arcforge-arc-prize" and request["kernelVersion"] == 1
    assert request["fileName"] == "submission.json" and request["submissionDescription"] == "first try"
    assert "PENDING" in submitted.out and "COMPLETE, public score 0.0000" in submitted.out
    items = [
        e["data"]
        for e in read_events(state_dir / "upload.jsonl")
        if e["kind"] == "item" and "submission" in e["data"]
    ]
    assert items[-1]["status"] == "COMPLETE" and items[-1]["score"] == "0.0000"
    from arcforge_kaggle_publish.kaggle_adapter import build_api
    from arcforge_kaggle_publish.signin import sign_in

    listed = build_api(sign_in()).competition_submissions("arc-prize-2026-arc-agi-2")  # ListSubmissions
    assert [(x.ref, x.status.name, x.public_score, x.description) for x in listed] == [
        (request_ref, "COMPLETE", "0.0000", "first try")
    ]
    assert not list(no_credentials_of_this_machine.rglob("kaggle.json"))
    token = kaggle.token_for("alice")
    assert kaggle.auth_headers and all(h == f"Bearer {token}" for h in kaggle.auth_headers)
    linked = json.loads((out / "provenance.json").read_text())["kaggle_submissions"]
    assert [(s["status"], s["public_score"], s["message"]) for s in linked] == [
        ("COMPLETE", "0.0000", "first try")
    ]


@needs_solver
def test_output_rejects_an_invalid_submission(kaggle: KaggleStandIn, publish, tmp_path: Path) -> None:
    _publish_inputs(publish, tmp_path)
    assert _push(publish, "--run").code == 0
    assert publish("status", "alice/arcforge-arc-prize", "--wait").code == 0
    kaggle.kernels[("alice", "arcforge-arc-prize")].versions[-1].outputs["submission.json"] = (
        b'{"00000001": []}'
    )
    result = publish("output", "alice/arcforge-arc-prize", "--to", str(tmp_path / "out"))
    assert result.code == 1 and "is not a valid submission" in result.err


def test_submit_of_a_missing_version_is_refused(kaggle: KaggleStandIn, publish) -> None:
    result = publish("submit", "--kernel", "alice/arcforge-arc-prize", "--version", "7")
    assert result.code == 1 and "alice/arcforge-arc-prize/7 was not pushed from here" in result.err


def test_no_secret_in_any_output(
    kaggle: KaggleStandIn, publish, tmp_path: Path, state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _publish_inputs(publish, tmp_path)
    outputs = [
        _push(publish, "--run", "--test-mode"),
        publish("status", "alice/arcforge-arc-prize", "--wait"),
        publish("submit", "--kernel", "alice/arcforge-arc-prize", "--version", "9"),
        publish("dataset", str(tmp_path / "m"), "--id", "bob/someone-elses"),
    ]
    token = kaggle.token_for("alice")
    monkeypatch.setenv("KAGGLE_API_TOKEN", "KGAT_0123456789abcdef0123456789abcdef")  # one Kaggle never issued
    outputs.append(publish("status", "alice/arcforge-arc-prize"))
    assert outputs[-1].code == 1 and "did not accept the API token from KAGGLE_API_TOKEN" in outputs[-1].err
    monkeypatch.delenv("KAGGLE_API_TOKEN")
    monkeypatch.setenv("KAGGLE_USERNAME", "alice")
    monkeypatch.setenv("KAGGLE_KEY", "wrong-key-but-still-secret")
    outputs.append(publish("status", "alice/arcforge-arc-prize"))
    assert outputs[-1].code == 1 and "401" in outputs[-1].err
    text = "".join(r.out + r.err for r in outputs)
    for path in [*state_dir.rglob("*"), *tmp_path.rglob("*.json")]:
        if path.is_file():
            text += path.read_text(errors="replace")
    for secret in (token, "KGAT_0123456789abcdef0123456789abcdef", KEY, "wrong-key-but-still-secret"):
        assert secret not in text
    assert kaggle.auth_headers and all(h.startswith(("Bearer ", "Basic ")) for h in kaggle.auth_headers)
    assert sum(h == f"Bearer {token}" for h in kaggle.auth_headers) > 5  # the pushes went out under the token


def test_kaggle_json_readable_by_others_is_warned_about(
    kaggle: KaggleStandIn, publish, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "kaggle-config"
    config.mkdir()
    (config / "kaggle.json").write_text(json.dumps({"username": "alice", "key": KEY}))
    (config / "kaggle.json").chmod(0o644)
    monkeypatch.delenv("KAGGLE_API_TOKEN")  # no token: the legacy kaggle.json signs in
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(config))
    result = publish("status", "alice/arcforge-arc-prize")
    assert f"with the legacy API key from {config / 'kaggle.json'}" in result.err
    assert "readable by other users" in result.err and "chmod 600" in result.err
    assert (
        result.code == 1 and "Notebook not found" in result.err
    )  # signed in from the file, then a clean 404
    assert KEY not in result.out + result.err


@needs_solver
def test_a_run_on_the_stand_in_executes_the_pushed_notebook(
    tmp_path: Path, state_dir: Path, publish, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """The path `invoke test-run --on kaggle` takes: push, wait, fetch, validate, with the notebook really run."""
    from tests.support.kaggle import notebook_runner, start_kaggle_server

    monkeypatch.delenv("KAGGLE_API_TOKEN", raising=False)
    runner = notebook_runner(extra_env={"ARCFORGE_NOTEBOOK_SKIP_INSTALL": "1"}, timeout=300)
    with start_kaggle_server(users={"alice": KEY}, runner=runner) as server:
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        wheels = tmp_path / "wheels"
        wheels.mkdir()
        (wheels / "arcforge_solver-0.1.0-py3-none-any.whl").write_bytes(b"PK\x05\x06" + bytes(18))
        assert publish("dataset", str(wheels), "--id", "alice/arcforge-wheelhouse").code == 0
        pushed = publish(
            "kernel", "--id", "alice/arcforge-arc-prize", "--dataset", "alice/arcforge-wheelhouse",
            "--test-mode", "--test-mode-budget", "5s", "--solve-arg=--time-per-task", "--solve-arg=1", "--run",
        )  # fmt: skip
        assert pushed.code == 0, pushed.err
        waited = publish("status", "alice/arcforge-arc-prize", "--wait")
        assert waited.code == 0, waited.out + waited.err
        fetched = publish("output", "alice/arcforge-arc-prize", "--to", str(tmp_path / "out"))
        assert fetched.code == 0, fetched.err
    provenance = json.loads((tmp_path / "out" / "provenance.json").read_text())
    assert provenance["engine"] == "search" and provenance["kernel"]["test_mode"] is True
    assert (
        provenance["wheelhouse"]["ref"] == "alice/arcforge-wheelhouse"
        and provenance["wheelhouse"]["version"] == 1
    )
    test_run = read_events(state_dir / "test-run.jsonl")
    assert test_run[0]["data"]["engine"] == "search" and test_run[-1]["data"]["status"] == "ok"
