"""Kaggle's real answers, given by the stand-in and met by `arcforge-publish` through the real kaggle client.

Each test names the answer it drives; the stand-in's comments say where each was learned.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from tests.kaggle_publish.conftest import make_model_folder
from tests.support.kaggle import KaggleStandIn
from tests.support.kaggle.model import Kernel, KernelVersion

KERNEL = "alice/arcforge-arc-prize"


def _kernel(publish, *extra: str):  # type: ignore[no-untyped-def]
    return publish("kernel", "--id", KERNEL, *extra)


def _published(state_dir: Path) -> dict:  # type: ignore[type-arg]
    path = state_dir / "published.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _submittable(state_dir: Path, version: int) -> None:
    """Record a kernel version the way `output` leaves a checked one, so that `submit` may send it."""
    from arcforge_kaggle_publish.notebook import RERUN_SUPPORT
    from arcforge_kaggle_publish.records import Records

    Records(state_dir).record_kernel(
        KERNEL,
        version,
        rerun_support=RERUN_SUPPORT,
        accelerator="NvidiaL4",
        validated=True,
        notebook={"rerun_support": RERUN_SUPPORT, "solver_exit_code": 0, "submission_source": "solver"},
    )


# ---- datasets -------------------------------------------------------------------------------------


def test_403_on_the_slug_check_and_on_the_first_polls_mean_create_and_pending(
    kaggle: KaggleStandIn, publish, tmp_path: Path
) -> None:
    folder = make_model_folder(tmp_path / "m", weights=50)
    result = publish("dataset", str(folder), "--id", "alice/fresh-weights", "--license", "Apache 2.0")
    assert result.code == 0, result.err
    # The slug check got Kaggle's 403 for a dataset that does not exist, then the first polls after the create
    # got 403 and 404 before the dataset showed up.
    assert kaggle.statuses_of("GetDatasetStatus")[:3] == [403, 403, 404]
    assert kaggle.statuses_of("GetDatasetStatus")[-1] == 200
    assert "not visible yet" in result.out and "version 1 READY" in result.out
    assert kaggle.calls_to("CreateDataset")[0]["licenseName"] == "apache-2.0"  # Kaggle's dataset name for it


@pytest.mark.parametrize("listing", ["basename", "top_level"])
def test_a_listing_that_cannot_tell_warns_and_is_recorded_never_fails(
    kaggle: KaggleStandIn, publish, tmp_path: Path, state_dir: Path, listing: str
) -> None:
    kaggle.faults.list_files = listing
    result = publish(
        "dataset", str(make_model_folder(tmp_path / "m", weights=50)), "--id", "alice/listed-weights"
    )
    assert result.code == 0, result.err
    verification = _published(state_dir)["datasets"]["alice/listed-weights"]["verification"]
    sub_folder_files = ["model/config.json", "model/model.safetensors", "tokenizer/tokenizer.json"]
    if listing == "basename":
        assert "by base name only" in result.err and verification["by_base_name"] == sub_folder_files
    else:
        assert (
            "leaves out 3 of the files sent" in result.err and verification["not_listed"] == sub_folder_files
        )
    assert verification["matched"] == 1 and verification["size_differs"] == []


def test_dotfiles_and_secrets_are_held_back_listed_and_included_on_request(
    kaggle: KaggleStandIn, publish, tmp_path: Path
) -> None:
    folder = make_model_folder(tmp_path / "m", weights=50)
    (folder / ".env").write_text("HF_TOKEN=hf_x\n")
    (folder / ".kaggle").mkdir()
    (folder / ".kaggle" / "kaggle.json").write_text("{}")
    (folder / "model" / "access_token").write_text("KGAT_x")
    (folder / "NOTES.md").write_text("kept")
    before = sorted((p.relative_to(folder).as_posix(), p.stat().st_mtime_ns) for p in folder.rglob("*"))

    dry = publish("dataset", str(folder), "--id", "alice/careful-weights", "--dry-run")
    assert dry.code == 0
    for held in (".env", ".kaggle/", "model/access_token"):
        assert (
            f"held back (a dotfile or secret; --include '{held.rstrip('/')}' uploads it): {held}" in dry.out
        )
    assert kaggle.calls == []
    assert (
        sorted((p.relative_to(folder).as_posix(), p.stat().st_mtime_ns) for p in folder.rglob("*")) == before
    )

    result = publish("dataset", str(folder), "--id", "alice/careful-weights", "--include", "NOTES.md")
    assert result.code == 0, result.err
    sent = kaggle.dataset("alice/careful-weights").versions[-1].files
    assert "NOTES.md" in sent and not any(n.startswith(".") or n.endswith("access_token") for n in sent)
    assert "held back 3 dotfiles or secrets" in result.err
    # Nothing was written into the folder being published, on a real run either.
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")) == [p for p, _ in before]

    again = publish("dataset", str(folder), "--id", "alice/careful-weights", "--include", ".env")
    assert again.code == 0, again.err
    assert ".env" in kaggle.dataset("alice/careful-weights").versions[-1].files


# ---- kernels --------------------------------------------------------------------------------------


def test_save_kernel_with_a_null_version_fails_with_kaggles_words_and_advice(
    kaggle: KaggleStandIn, publish, state_dir: Path
) -> None:
    kaggle.faults.save_kernel_error = "Maximum batch GPU session count of 2 reached"
    result = _kernel(publish, "--run")
    assert result.code == 1
    assert f"Kaggle did not save {KERNEL}: Maximum batch GPU session count of 2 reached" in result.err
    assert "at most two GPU sessions at once" in result.err
    assert len(kaggle.calls_to("SaveKernel")) == 1 and not _published(state_dir).get("kernels")


def test_a_dropped_connection_after_save_kernel_is_not_resent(
    kaggle: KaggleStandIn, publish, state_dir: Path
) -> None:
    kaggle.faults.drop_after = {"SaveKernel": 1}
    result = _kernel(publish, "--run")
    assert result.code == 1
    assert (
        "dropped after SaveKernel was sent: it may have happened on Kaggle. It was not sent again"
        in result.err
    )
    assert f"arcforge-publish status {KERNEL}" in result.err
    assert len(kaggle.calls_to("SaveKernel")) == 1  # exactly one: SaveKernel is never resent
    assert len(kaggle.kernels[("alice", "arcforge-arc-prize")].versions) == 1  # it did happen on Kaggle
    checked = publish("status", KERNEL)  # what the error advises: the version is there
    assert checked.code == 0 and f"{KERNEL}: RUNNING" in checked.out


def test_a_429_on_save_kernel_is_waited_out_since_kaggle_did_nothing(kaggle: KaggleStandIn, publish) -> None:
    kaggle.faults.rate_limit_on = {"SaveKernel": 2}
    result = _kernel(publish, "--run")
    assert result.code == 0, result.err
    assert (
        len(kaggle.calls_to("SaveKernel")) == 1
        and len(kaggle.kernels[("alice", "arcforge-arc-prize")].versions) == 1
    )


def test_a_kaggle_models_model_is_attached_at_its_latest_version(kaggle: KaggleStandIn, publish) -> None:
    kaggle.add_model("google/codegemma/transformers/7b-it", versions=[1, 2, 3])
    result = _kernel(publish, "--model", "google/codegemma/transformers/7b-it")
    assert result.code == 0, result.err
    (request,) = kaggle.calls_to("SaveKernel")
    assert request["modelDataSources"] == [
        "google/codegemma/transformers/7b-it/3"
    ]  # GetModelInstance's latest
    pinned = _kernel(publish, "--model", "google/codegemma/transformers/7b-it/2")
    assert pinned.code == 0 and kaggle.calls_to("SaveKernel")[-1]["modelDataSources"][0].endswith("/2")

    missing = _kernel(publish, "--model", "google/codegemma/transformers/2b")
    assert missing.code == 1 and "404 to GetModelInstance for google/codegemma/transformers/2b" in missing.err
    unknown_version = _kernel(publish, "--model", "google/codegemma/transformers/7b-it/9")
    assert unknown_version.code == 1 and "invalid model sources: google/codegemma/transformers/7b-it/9" in (
        unknown_version.err
    )
    malformed = _kernel(publish, "--model", "google/codegemma")
    assert malformed.code == 1 and "is not OWNER/MODEL/FRAMEWORK/VARIATION[/VERSION]" in malformed.err


@pytest.mark.parametrize("command", ["kernel", "submit"])
def test_arc_agi_3_is_refused_before_anything_is_sent(kaggle: KaggleStandIn, publish, command: str) -> None:
    args = ["--id", KERNEL] if command == "kernel" else ["--kernel", KERNEL, "--version", "1"]
    result = publish(command, *args, "--competition", "arc-prize-2026-arc-agi-3")
    assert (
        result.code == 1 and "is ARC-AGI-3: interactive agents answered in a parquet submission" in result.err
    )
    assert "--competition arc-prize-2026-arc-agi-2" in result.err
    assert [m for _s, m, _b in kaggle.calls if m != "IntrospectToken"] == []


# ---- output and submissions ------------------------------------------------------------------------


def _submission_only_runner(
    server: KaggleStandIn, kernel: Kernel, version: KernelVersion
) -> tuple[dict[str, bytes], str]:
    """Another notebook's output: a submission.json and nothing of arcforge's."""
    challenges = json.loads(
        server.competitions["arc-prize-2026-arc-agi-2"].files["arc-agi_test_challenges.json"]
    )
    answer = {
        tid: [{"attempt_1": t["input"], "attempt_2": t["input"]} for t in task["test"]]
        for tid, task in challenges.items()
    }
    return {"submission.json": json.dumps(answer).encode()}, "[stdout] done\n"


def test_an_output_without_arcforge_challenges_is_checked_by_structure_and_kept(
    kaggle: KaggleStandIn, publish, tmp_path: Path
) -> None:
    kaggle.runner = _submission_only_runner
    assert _kernel(publish, "--run").code == 0
    assert publish("status", KERNEL, "--wait").code == 0
    out = tmp_path / "out"
    fetched = publish("output", KERNEL, "--to", str(out))
    assert fetched.code == 0, fetched.err
    assert "has no arcforge-challenges.json (an older or another notebook)" in fetched.err
    assert "checked by its structure only; --challenges FILE checks it against the tasks" in fetched.err
    assert (out / "submission.json").is_file() and (out / "provenance.json").is_file()

    def broken(server: KaggleStandIn, kernel: Kernel, version: KernelVersion) -> tuple[dict[str, bytes], str]:
        return {"submission.json": b'{"00000001": [{"attempt_1": [[1, 12]], "attempt_2": [[0]]}]}'}, ""

    kaggle.runner = broken
    assert _kernel(publish, "--run").code == 0 and publish("status", KERNEL, "--wait").code == 0
    bad = publish("output", KERNEL, "--to", str(tmp_path / "bad"))
    assert (
        bad.code == 1 and "task 00000001 answer 0 attempt_1 has a cell that is not an integer 0-9" in bad.err
    )
    assert (tmp_path / "bad" / "submission.json").is_file()  # what was fetched is kept
    missing = publish(
        "output", KERNEL, "--to", str(tmp_path / "bad2"), "--challenges", str(tmp_path / "nope.json")
    )
    assert missing.code == 1 and "is not a file" in missing.err


def test_output_into_an_existing_file_is_one_clear_error(
    kaggle: KaggleStandIn, publish, tmp_path: Path
) -> None:
    target = tmp_path / "a-file"
    target.write_text("mine")
    result = publish("output", KERNEL, "--to", str(target))
    assert result.code == 1 and f"--to {target} is a file; name a folder" in result.err
    assert "Traceback" not in result.err and target.read_text() == "mine"


def test_a_submission_is_sent_once_404_first_reads_pending_and_the_ref_is_kept(
    kaggle: KaggleStandIn, publish, tmp_path: Path, state_dir: Path
) -> None:
    assert _kernel(publish, "--run").code == 0
    assert publish("status", KERNEL, "--wait").code == 0
    _submittable(state_dir, 1)

    # GetSubmission answers 404 right after the create, then drops every connection until the client gives up.
    kaggle.faults.drop_after = {"GetSubmission": 6}
    failed = publish("submit", "--kernel", KERNEL, "--version", "1", "--wait")
    assert failed.code == 1 and "kept dropping during GetSubmission" in failed.err
    assert kaggle.statuses_of("GetSubmission")[0] == 404
    (entry,) = _published(state_dir)["kernels"][KERNEL.lower()]["1"]["submissions"]
    assert (
        entry["ref"] == kaggle.submissions[0].ref and entry["status"] == "PENDING"
    )  # recorded before polling

    kaggle.faults.drop_after = {"CreateCodeSubmission": 1}
    dropped = publish("submit", "--kernel", KERNEL, "--version", "1")
    assert (
        dropped.code == 1
        and "dropped after CreateCodeSubmission was sent: it may have happened" in dropped.err
    )
    assert len(kaggle.calls_to("CreateCodeSubmission")) == 2  # one per command: never resent


# ---- sign-in ---------------------------------------------------------------------------------------


def test_a_token_file_signs_in_learns_the_username_and_a_bare_slug_is_yours(
    kaggle: KaggleStandIn,
    publish,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    no_credentials_of_this_machine: Path,
) -> None:
    home = no_credentials_of_this_machine
    monkeypatch.delenv("KAGGLE_API_TOKEN")
    (home / ".kaggle").mkdir()
    (home / ".kaggle" / "access_token").write_text(kaggle.token_for("alice") + "\n")
    (home / ".kaggle" / "access_token").chmod(0o600)
    result = publish("dataset", str(make_model_folder(tmp_path / "m", weights=20)), "--id", "token-weights")
    assert result.code == 0, result.err
    assert "signed in as alice with the API token from ~/.kaggle/access_token" in result.err
    assert kaggle.dataset("alice/token-weights").versions  # the owner came from IntrospectToken
    assert kaggle.calls_to("IntrospectToken") == [{"token": kaggle.token_for("alice")}]
    assert not list(home.rglob("kaggle.json"))
    assert all(h == f"Bearer {kaggle.token_for('alice')}" for h in kaggle.auth_headers)


def test_the_token_comes_before_the_legacy_key_and_a_refused_token_falls_back(
    kaggle: KaggleStandIn, publish, monkeypatch: pytest.MonkeyPatch, no_credentials_of_this_machine: Path
) -> None:
    config = no_credentials_of_this_machine / ".kaggle"
    config.mkdir()
    (config / "kaggle.json").write_text(json.dumps({"username": "bob", "key": kaggle.users["bob"]}))
    (config / "kaggle.json").chmod(0o600)
    first = publish("status", KERNEL)  # KAGGLE_API_TOKEN (alice's) wins over bob's kaggle.json
    assert "signed in as alice with the API token from KAGGLE_API_TOKEN" in first.err

    kaggle.revoke_token(kaggle.token_for("alice"))
    second = publish("status", KERNEL)
    assert "Kaggle did not accept the API token from KAGGLE_API_TOKEN (expired or revoked)" in second.err
    assert f"signed in as bob with the legacy API key from {config / 'kaggle.json'}" in second.err
    assert kaggle.auth_headers[-1].startswith("Basic ")  # the refused token was not sent again


def test_placeholder_owners_are_refused_before_anything_is_built_or_sent(
    kaggle: KaggleStandIn, publish
) -> None:
    for args in (
        ("kernel", "--id", "your-kaggle-username/arcforge-arc-prize"),
        ("kernel", "--id", KERNEL, "--dataset", "your-kaggle-username/codegemma-arcforge"),
        ("wheelhouse", "--id", "your-kaggle-username/arcforge-wheelhouse"),
        ("status", "your-kaggle-username/arcforge-arc-prize"),
        ("kernel", "--id", KERNEL, "--model", "your-kaggle-username/m/transformers/v"),
    ):
        result = publish(*args)
        assert result.code == 1 and "placeholder owner 'your-kaggle-username'" in result.err, args
    assert [m for _s, m, _b in kaggle.calls if m != "IntrospectToken"] == []


# ---- an unreachable Kaggle ---------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


COMMANDS = [
    ("dataset", "{folder}", "--id", "alice/offline-weights"),
    ("kernel", "--id", KERNEL),
    ("status", KERNEL),
    ("output", KERNEL, "--to", "{tmp}/out"),
    ("submit", "--kernel", KERNEL, "--version", "1"),
]


@pytest.mark.parametrize(
    ("how", "words"),
    [
        ("dns", "cannot resolve kaggle.invalid"),
        ("refused", "connection refused by 127.0.0.1:"),
        ("tls", "TLS failed with 127.0.0.1:"),
        ("proxy", "the proxy could not reach"),
    ],
)
def test_an_unreachable_kaggle_is_one_clear_error_in_every_command(  # noqa: PLR0917
    kaggle: KaggleStandIn,
    publish,
    tmp_path: Path,
    state_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    how: str,
    words: str,
) -> None:
    endpoint = {
        "dns": "http://kaggle.invalid",
        "refused": f"http://127.0.0.1:{_closed_port()}",
        "tls": kaggle.url.replace("http://", "https://"),  # TLS spoken to a plain-HTTP server
        "proxy": kaggle.url,
    }[how]
    monkeypatch.setenv("ARCFORGE_KAGGLE_ENDPOINT", endpoint)
    if how == "proxy":
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{_closed_port()}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
    folder = make_model_folder(tmp_path / "m", weights=10)
    _submittable(state_dir, 1)
    for command in COMMANDS:
        args = [a.format(folder=folder, tmp=tmp_path) for a in command]
        result = publish(*args)
        assert result.code == 1, (command, result.err)
        assert words in result.err and "Traceback" not in result.err, (command, result.err)
        assert result.err.count("arcforge-publish: error:") == 1


def test_kaggle_api_token_may_name_a_file_and_the_legacy_environment_signs_in_without_a_token(
    kaggle: KaggleStandIn, publish, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token_file = tmp_path / "token.txt"
    token_file.write_text(kaggle.token_for("alice"))
    token_file.chmod(0o600)
    monkeypatch.setenv("KAGGLE_API_TOKEN", str(token_file))  # kagglesdk reads a path here as the token's file
    named = publish("status", KERNEL)
    assert "signed in as alice with the API token from the file named by KAGGLE_API_TOKEN" in named.err

    monkeypatch.delenv("KAGGLE_API_TOKEN")
    monkeypatch.setenv("KAGGLE_USERNAME", "bob")
    monkeypatch.setenv("KAGGLE_KEY", kaggle.users["bob"])
    legacy = publish("status", "bob/arcforge-arc-prize")
    assert "signed in as bob with the legacy API key from KAGGLE_USERNAME/KAGGLE_KEY" in legacy.err
    assert (
        legacy.code == 1
        and "Notebook not found" in legacy.err
        and kaggle.auth_headers[-1].startswith("Basic ")
    )
