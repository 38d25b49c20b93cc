"""One function per `arcforge-publish` command: each reports through events and plain lines."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from arcforge_kaggle_publish.datasets import DatasetPublisher, describe_plan, plan_dataset, read_manifest
from arcforge_kaggle_publish.errors import PublishError
from arcforge_kaggle_publish.kernels import (
    current_kernel_version,
    fetch_output,
    kernel_ref,
    kernel_status,
    push_kernel,
    resolve_model_source,
    wait_for_kernel,
)
from arcforge_kaggle_publish.limits import SUPPORTED_COMPETITIONS, check_competition, split_id
from arcforge_kaggle_publish.notebook import (
    KERNEL_METADATA_FILE,
    NOTEBOOK_FILE,
    RERUN_SUPPORT,
    build_notebook,
    kernel_metadata,
)
from arcforge_kaggle_publish.provenance import build_provenance, link_submissions, write_provenance
from arcforge_kaggle_publish.records import Records
from arcforge_kaggle_publish.reporter import Reporter
from arcforge_kaggle_publish.run_events import replay_test_run
from arcforge_kaggle_publish.session import Session
from arcforge_kaggle_publish.submission_check import (
    CHALLENGES_COPY,
    check_structure,
    read_submission,
    validate_submission,
)
from arcforge_kaggle_publish.submissions import create_code_submission, follow_submission
from arcforge_kaggle_publish.submittable import choose_version, crash_warning, notebook_run, rerun_summary
from arcforge_kaggle_publish.wheelhouse import MANIFEST, build_wheelhouse, included_folders


@contextmanager
def stage_run(reporter: Reporter) -> Iterator[dict[str, Any]]:
    """Ends the run's events with ok, failed or interrupted; the body fills `end` with totals."""
    end: dict[str, Any] = {}
    try:
        yield end
    except PublishError as exc:
        reporter.emit("error", message=str(exc.message), code=exc.code, advice=exc.advice)
        reporter.emit("end", status="failed", **end)
        raise
    except KeyboardInterrupt:
        reporter.emit("end", status="interrupted", **end)
        raise
    except Exception as exc:
        reporter.emit("error", message=f"{exc.__class__.__name__}: {exc}", code="internal")
        reporter.emit("end", status="failed", **end)
        raise
    else:
        reporter.emit("end", status="ok", **end)
    finally:
        reporter.close()


# ---- datasets --------------------------------------------------------------------------------------


def _publish_folder(session: Session, folder: Path, target: str, title: str | None, license_name: str) -> int:
    args = session.args
    include = tuple(getattr(args, "include", None) or ())
    plan = plan_dataset(folder, session.full_ref(args.dataset_id, "--id"), title, license_name, include)
    if args.dry_run:
        for line in describe_plan(plan, "would publish"):
            print(session.redact(line))
        print(f"  nothing was uploaded or written into {folder} (--dry-run)")
        return 0
    if plan.held_back:
        print(
            f"held back {len(plan.held_back)} dotfiles or secrets (--include PATTERN uploads one): "
            + ", ".join(plan.held_back[:10]),
            file=sys.stderr,
        )
    if target == "dataset" and (folder / "model").is_dir() and read_manifest(folder) is None:
        print(
            f"warning: {folder} has no manifest.json from arcforge-download; the provenance will lack the model commit",
            file=sys.stderr,
        )
    reporter = session.reporter("upload")
    reporter.emit("start", target=target, id=plan.ref, files=len(plan.files), bytes_total=plan.bytes_total)
    with stage_run(reporter) as end:
        publisher = DatasetPublisher(
            session.api, session.credentials.username, reporter, session.state_dir, args.poll_seconds
        )
        version = publisher.publish(plan, args.version_notes, target, args.timeout)
        end.update(version=version, files=len(plan.files), bytes_total=plan.bytes_total)
        reporter.say(
            f"{plan.ref}: version {version or '?'} READY ({len(plan.files)} files, {plan.bytes_total} bytes)"
        )
    return 0


def cmd_dataset(session: Session) -> int:
    args = session.args
    return _publish_folder(session, args.folder, "dataset", args.title, args.license)


def cmd_wheelhouse(session: Session) -> int:
    args = session.args
    args.dataset_id = session.full_ref(args.dataset_id, "--id")  # before anything is built
    included_folders(args.include_packages)  # a wrong --include is said before anything else
    if not args.dry_run:
        _ = session.credentials  # signed in before the wheels take their 15-20 s, not after
    _owner, slug = split_id(args.dataset_id)
    third_party: list[str] | None = [] if args.skip_third_party else (args.requirement or None)
    out = session.state_dir / "wheelhouse" / slug
    print(f"building the wheelhouse in {out}" + (" (arcforge packages only)" if third_party == [] else ""))
    wheels = build_wheelhouse(args.packages_dir, out, third_party, include=args.include_packages)
    print(f"  {len(wheels)} wheels: " + ", ".join(w.name for w in wheels))
    return _publish_folder(session, out, "wheelhouse", args.title or "arcforge wheelhouse", "apache-2.0")


# ---- the notebook ------------------------------------------------------------------------------------


def _pushed_with(session: Session, datasets: list[str]) -> tuple[dict[str, Any], bool]:
    """Each attached dataset's recorded version and role; whether a model dataset is among them."""
    records = Records(session.state_dir)
    pushed: dict[str, Any] = {}
    expect_model = False
    for ref in datasets:
        split_id(ref, "--dataset")
        record = records.dataset(ref) or {}
        files = record.get("files") or {}
        holds_wheels = bool(files) and all(str(name).endswith(".whl") or name == MANIFEST for name in files)
        if record:
            role = "wheelhouse" if record.get("target") == "wheelhouse" or holds_wheels else "dataset"
        else:  # published elsewhere: judge by name
            role = "wheelhouse" if "wheel" in ref.lower() else "dataset"
        entry: dict[str, Any] = {"role": role, "version": record.get("version")}
        manifest = record.get("manifest") or {}
        if manifest.get("commit"):
            entry["model_commit"] = manifest["commit"]
            entry["model_repo"] = manifest.get("repo_id")
        pushed[ref] = entry
        expect_model = expect_model or role == "dataset"
    return pushed, expect_model


def cmd_kernel(session: Session) -> int:
    args = session.args
    args.kernel_id = session.full_ref(args.kernel_id, "--id")
    args.datasets = [session.full_ref(ref, "--dataset") for ref in args.datasets]
    args.competition = check_competition(args.competition)
    if args.model_sources:
        args.model_sources = [resolve_model_source(session.api, handle) for handle in args.model_sources]
    _owner, slug = args.kernel_id.split("/")
    pushed, expect_model = _pushed_with(session, args.datasets)
    solve_args = [*args.solve_args, *args.solver_args]  # passed through untouched
    if args.engine:  # last, so it wins over an --engine among the others; the solver checks the name
        solve_args += ["--engine", args.engine]
    notebook = build_notebook(
        args.competition,
        test_mode=args.test_mode,
        expect_model=expect_model,
        solve_args=solve_args,
        pushed_with=pushed,
        accelerator=args.accelerator,
        model_sources=args.model_sources,
        test_mode_budget=args.test_mode_budget,
    )
    metadata = kernel_metadata(
        args.kernel_id, args.datasets, args.competition, args.accelerator, args.model_sources
    )
    folder = args.out or session.state_dir / "kernels" / slug
    folder.mkdir(parents=True, exist_ok=True)
    (folder / NOTEBOOK_FILE).write_text(json.dumps(notebook, indent=1) + "\n", encoding="utf-8")
    (folder / KERNEL_METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {folder / NOTEBOOK_FILE} and {folder / KERNEL_METADATA_FILE}")
    if args.dry_run:
        print(json.dumps(metadata, indent=2))
        print("nothing was pushed (--dry-run)")
        return 0
    reporter = session.reporter("upload")
    reporter.emit("start", target="kernel", id=args.kernel_id, files=2, bytes_total=0)
    with stage_run(reporter) as end:
        response = push_kernel(session.api, folder, args.run, args.kernel_id)
        version = int(response.version_number or 0) or None
        end["version"] = version
        Records(session.state_dir).record_kernel(
            args.kernel_id,
            version,
            datasets=pushed,
            competition=args.competition,
            test_mode=args.test_mode,
            accelerator=args.accelerator,
            ran=args.run,
            rerun_support=RERUN_SUPPORT,
            solve_args=solve_args,
            model_sources=args.model_sources,
        )
        state = "QUEUED" if args.run else "COMPLETE"
        reporter.emit("item", kernel=args.kernel_id, status=state, version=version, message="pushed")
        reporter.say(
            f"{args.kernel_id}: pushed version {version}" + (", running" if args.run else " (saved, not run)")
        )
        if response.url:
            reporter.say(f"  {response.url}")
    return 0


def cmd_status(session: Session) -> int:
    args = session.args
    args.kernel_id = session.full_ref(args.kernel_id, "kernel")
    reporter = session.reporter("upload")
    reporter.emit("start", target="kernel", id=args.kernel_id, files=0, bytes_total=0)
    with stage_run(reporter) as end:
        status, failure = wait_for_kernel(
            session.api,
            kernel_id=args.kernel_id,
            version=args.kernel_version,
            reporter=reporter,
            wait=args.wait,
            poll_seconds=args.poll_seconds,
            timeout_s=args.timeout,
        )
        end.update(kernel_status=status, version=args.kernel_version)
        if status == "ERROR":
            raise PublishError(
                f"{kernel_ref(args.kernel_id, args.kernel_version)} failed: {failure or 'no message'}",
                code="kernel_error",
            )
    return 0


# ---- output --------------------------------------------------------------------------------------------


def cmd_output(session: Session) -> int:
    args = session.args
    args.kernel_id = session.full_ref(args.kernel_id, "kernel")
    to: Path = args.to
    if to.exists() and not to.is_dir():
        raise PublishError(f"--to {to} is a file; name a folder for the output", code="usage")
    challenges: Path | None = getattr(args, "challenges", None)
    if challenges is not None and not challenges.is_file():
        raise PublishError(f"--challenges {challenges} is not a file", code="usage")
    to.mkdir(parents=True, exist_ok=True)
    if args.kernel_version is None:
        args.kernel_version = current_kernel_version(session.api, args.kernel_id)
    files = fetch_output(session.api, args.kernel_id, args.kernel_version, to)
    names = {f.name for f in files}
    log = [f for f in files if f.suffix == ".log"]
    print(f"fetched {len(files)} files into {to}: " + ", ".join(sorted(names)))
    submission_path = to / "submission.json"
    if "submission.json" not in names:
        raise PublishError(
            f"{kernel_ref(args.kernel_id, args.kernel_version)} has no submission.json in its output"
            + (f"; see {log[0]}" if log else ""),
            code="no_submission",
        )
    tasks = challenges or to / CHALLENGES_COPY
    if tasks.is_file():
        print(validate_submission(submission_path, tasks) or f"{submission_path} is valid")
        submission = read_submission(submission_path)
    else:
        # An older notebook, or another one: no copy of the challenges it answered. Check the shape.
        submission = read_submission(submission_path)
        check_structure(submission, submission_path)
        print(
            f"warning: the output has no {CHALLENGES_COPY} (an older or another notebook), so {submission_path} "
            "was checked by its structure only; --challenges FILE checks it against the tasks. The fetched files "
            f"are kept in {to}",
            file=sys.stderr,
        )
    scores = replay_test_run(session.reporter("test-run"), to / "test-run.jsonl", submission, args.kernel_id)
    run = notebook_run(to)
    crashed = crash_warning(run)
    if crashed:
        print(f"warning: {crashed}; `arcforge-publish submit` will refuse this version", file=sys.stderr)
    elif run.get("forecast"):
        print(f"if submitted, {rerun_summary({'notebook': run})}")
    if args.kernel_version:
        Records(session.state_dir).update_kernel(
            args.kernel_id,
            args.kernel_version,
            output_dir=str(to.resolve()),
            validated=tasks.is_file(),
            notebook=run,
        )
    provenance = build_provenance(
        Records(session.state_dir),
        kernel_id=args.kernel_id,
        version=args.kernel_version,
        to=to,
        submission=submission_path,
        scores=scores,
    )
    print(f"wrote {write_provenance(to, provenance)}")
    return 0


# ---- submissions ---------------------------------------------------------------------------------------


def _remember_submission(session: Session, args: Any, ref: int, submission: Any | None) -> None:
    """Record the submission with its kernel version, and in the provenance.json of that version's output.

    `submission` None: just made, not yet read back (PENDING).
    """
    entry = {
        "ref": ref,
        "competition": args.competition,
        "status": submission.status.name if submission is not None else "PENDING",
        "public_score": (submission.public_score or None) if submission is not None else None,
        "message": args.message,
    }
    record = Records(session.state_dir).record_submission(args.kernel_id, args.kernel_version, entry)
    linked = link_submissions(record)
    if linked is not None:
        print(f"  recorded in {linked}")


def cmd_submit(session: Session) -> int:
    args = session.args
    args.kernel_id = session.full_ref(args.kernel_id, "--kernel")
    if args.competition:  # a named one is checked before anything else
        args.competition = check_competition(args.competition)
    args.kernel_version, record = choose_version(
        Records(session.state_dir), args.kernel_id, args.kernel_version
    )
    # Unless named, a version goes to the competition it was pushed for.
    args.competition = args.competition or check_competition(
        record.get("competition") or SUPPORTED_COMPETITIONS[0]
    )
    api: Any = session.api
    reporter = session.reporter("upload")
    reporter.emit("start", target="submission", id=args.kernel_id, files=1, bytes_total=0)
    with stage_run(reporter) as end:
        ran_to, _failure = kernel_status(api, args.kernel_id, args.kernel_version)
        if ran_to != "COMPLETE":
            raise PublishError(
                f"{kernel_ref(args.kernel_id, args.kernel_version)} is {ran_to} on Kaggle; only a version "
                "that ran to COMPLETE can be submitted",
                code="not_submittable",
            )
        reporter.say(f"{kernel_ref(args.kernel_id, args.kernel_version)}: {rerun_summary(record)}")
        response = create_code_submission(
            api,
            competition=args.competition,
            kernel_id=args.kernel_id,
            version=args.kernel_version,
            file_name=args.file_name,
            message=args.message,
        )
        ref = int(response.ref or 0)
        reporter.say(
            f"{args.competition}: submitted {kernel_ref(args.kernel_id, args.kernel_version)} as #{ref}: {response.message}"
        )
        # Recorded before the first poll: the ref survives a poll that fails or an interrupted wait.
        _remember_submission(session, args, ref, None)

        def show(submission: Any) -> None:
            status = submission.status.name
            score = submission.public_score or None
            message = submission.error_description or ""
            reporter.emit("item", submission=str(ref), status=status, message=message, score=score)
            reporter.say(
                f"  submission #{ref}: {status}"
                + (f", public score {score}" if score else "")
                + (f": {message}" if message else "")
            )

        submission = follow_submission(
            api,
            ref,
            on_change=show,
            wait=args.wait,
            poll_seconds=args.poll_seconds,
            timeout_s=args.timeout,
        )
        status = submission.status.name
        end.update(submission=ref, submission_status=status, version=args.kernel_version)
        _remember_submission(session, args, ref, submission)
        if status == "ERROR":
            raise PublishError(
                f"submission #{ref} failed: {submission.error_description or 'no message'}",
                code="submission_error",
            )
    return 0
