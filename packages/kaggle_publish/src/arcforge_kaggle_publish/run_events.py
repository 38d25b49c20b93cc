"""Reading a notebook's own test-run.jsonl and replaying its last run into our events."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from arcforge_events import Event, latest_run, read_events
from arcforge_kaggle_publish.reporter import Reporter

REPLAYED_KINDS = ("start", "progress", "item", "log", "error", "end")


def last_run_events(path: Path) -> list[Event]:
    """The events of the last run in a test-run.jsonl, read by the contract's reader (junk skipped)."""
    return latest_run(read_events(path).events)


def replay_test_run(
    writer: Reporter, events_file: Path, submission: dict[str, Any], kernel: str
) -> dict[str, Any] | None:
    """Copy the kernel's own test-run events to `writer`; without them, summarise the submission.

    Returns the scores of the run's `end` event, when it had any.
    """
    events = last_run_events(events_file)
    scores = None
    try:
        if events:
            for event in events:
                if event.kind in REPLAYED_KINDS:
                    writer.emit(event.kind, **event.data)
                if event.kind == "end":
                    scores = event.data.get("scores")
        else:
            writer.emit(
                "start", tasks=len(submission), engine="kaggle", has_solutions=False, resumed=0, source=kernel
            )
            for task_id in submission:
                writer.emit("item", task_id=task_id, state="done", correct=None)
            writer.emit("end", status="ok", done=len(submission), total=len(submission), seconds=0)
    finally:
        writer.close()
    return scores if isinstance(scores, dict) else None
