"""The plain-text summary of the state dir, for `arcforge-tui --replay` without a terminal (a CI log, a pipe)."""

from __future__ import annotations

from pathlib import Path

from arcforge_events import STAGES, event_path, read_events
from arcforge_tui.state import MonitorState, format_bytes, format_duration

TASKS_LISTED = 20  # failed tasks named in the summary; the rest are counted


def load_state(state_dir: Path) -> MonitorState:
    """Every stage file read to its end and folded, as the replay screen shows it."""
    model = MonitorState()
    for stage in STAGES:
        model.apply(stage, read_events(event_path(state_dir, stage)))
    return model


def _run_line(model: MonitorState, stage: str) -> str:
    run = model.run(stage)
    if run.run_id is None:
        return f"{stage:<9} {'no run' if model.present[stage] else 'waiting'}"
    took = f" in {format_duration(run.seconds)}" if run.seconds is not None else ""
    return f"{stage:<9} {run.status}{took}  (run {run.run_id})"


def summary_text(state_dir: Path) -> str:
    """What the monitor would show, as lines of text."""
    model = load_state(state_dir)
    lines = [f"arcforge state in {state_dir}"]

    lines.append(_run_line(model, "download"))
    download = model.download
    if download.run.run_id is not None:
        where = download.repo_id or "?"
        if download.commit:
            where += f"@{download.commit[:12]}"
        total = download.overall_total
        size = f"{format_bytes(download.bytes_done)} of {format_bytes(total)}" if total else "size unknown"
        lines.append(
            f"  {where}: {download.count('done')} of {download.files_expected or len(download.files)} files, {size}"
        )

    lines.append(_run_line(model, "upload"))
    for target, upload in model.upload.targets.items():
        lines.append(f"  {target} {upload.ident or ''}: {upload.run.status}".rstrip())
    for key, remote in model.upload.remote.items():
        version = f" v{remote.version}" if remote.version is not None else ""
        score = f" score {remote.score}" if remote.score is not None else ""
        message = f" ({remote.message})" if remote.message else ""
        lines.append(f"  kaggle {key} {remote.ident or ''}: {remote.status}{version}{score}{message}")

    lines.append(_run_line(model, "test-run"))
    test_run = model.test_run
    if test_run.run.run_id is not None:
        engine = f" with {test_run.engine}" if test_run.engine else ""
        lines.append(
            f"  {test_run.done} of {test_run.total or '?'} tasks done{engine}, {test_run.solved} solved"
        )
        if test_run.scores:
            scores = ", ".join(f"{name} {value:.3f}" for name, value in sorted(test_run.scores.items()))
            lines.append(f"  scores: {scores}")
        lines.append(f"  {test_run.forecast_text}")
        failed = [row for row in test_run.rows("failed")]
        if failed:
            named = ", ".join(f"{row.task_id} ({row.state})" for row in failed[:TASKS_LISTED])
            more = f" and {len(failed) - TASKS_LISTED} more" if len(failed) > TASKS_LISTED else ""
            lines.append(f"  not solved: {named}{more}")

    errors = [entry for entry in model.log if entry.level in ("error", "warning")]
    if errors:
        lines.append("warnings and errors:")
        lines += [f"  {entry.stage}: {entry.level}: {entry.message}" for entry in errors]
    if model.junk_total:
        counts = ", ".join(f"{stage}.jsonl {count}" for stage, count in model.junk.items() if count)
        lines.append(f"lines skipped (not events): {counts}")
    return "\n".join(lines)
