"""Event files for the TUI tests, written by the stages' real writers with the payloads of docs/events.md.

The writers stamp each event with `time.time()`; `fixed_clock` makes those stamps a fixed sequence so
that snapshots do not change from one run to the next.
"""

from __future__ import annotations

import contextlib
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import arcforge_events.writer as event_writer
from arcforge_events import EventWriter

T0 = 1_764_095_400.0  # 2025-11-25 18:30:00 UTC
DOWNLOAD_RUN = "20251125T183000-a1b2"
DATASET_RUN = "20251125T184000-c3d4"
KERNEL_RUN = "20251125T184500-e5f6"
TEST_RUN = "20251125T190000-0a0b"
GiB = 1024**3
MiB = 1024**2


class _Ticker:
    """A clock that moves on by `step` seconds each time it is read."""

    def __init__(self, start: float, step: float) -> None:
        self.now = start
        self.step = step

    def time(self) -> float:
        self.now += self.step
        return self.now


@contextlib.contextmanager
def fixed_clock(module: types.ModuleType, start: float = T0, step: float = 0.5) -> Iterator[None]:
    """Make `module`'s writer stamp events start+step, start+2·step, … (its `time` is swapped back after)."""
    real = module.time
    module.time = _Ticker(start, step)  # type: ignore[attr-defined]
    try:
        yield
    finally:
        module.time = real  # type: ignore[attr-defined]


def redact(text: str) -> str:
    return text.replace("hf_SECRETTOKEN", "***")


# -- download -------------------------------------------------------------------------------------

MODEL_FILES = [
    ("config.json", 1_024),
    ("tokenizer.json", 7 * MiB),
    ("model-00001-of-00002.safetensors", 4 * GiB),
    ("model-00002-of-00002.safetensors", 2 * GiB),
]


def write_download(state_dir: Path, *, finished: bool = True, clock: bool = True) -> None:
    """A download of a two-shard model: one file resumed, the second shard at 50 % unless finished."""
    with fixed_clock(event_writer, T0) if clock else contextlib.nullcontext():
        writer = EventWriter("download", state_dir, run_id=DOWNLOAD_RUN, redact=redact)
        total = sum(size for _, size in MODEL_FILES)
        writer.emit(
            "start",
            repo_id="google/gemma-3-1b-it",
            revision="main",
            commit="9f2a5c1e7b3d40aa8c6f1e2d3b4a5c6d7e8f9012",
            files=len(MODEL_FILES),
            bytes_total=total,
            bytes_to_fetch=total - 1_024,
        )
        done_total = 0
        for name, size in MODEL_FILES:
            writer.emit("item", file=name, state="queued", bytes_total=size)
        for name, size in MODEL_FILES:
            if name == "config.json":
                writer.emit("item", file=name, state="resumed", bytes_total=size, bytes_done=size)
                writer.emit("item", file=name, state="done", bytes_total=size, sha256="ab" * 32)
                done_total += size
                continue
            writer.emit("item", file=name, state="fetching", bytes_total=size)
            last = name == MODEL_FILES[-1][0] and not finished
            steps = 4
            for step in range(1, steps + 1):
                done = size * step // steps
                if last and step > steps // 2:
                    break
                writer.emit(
                    "progress",
                    file=name,
                    bytes_done=done,
                    bytes_total=size,
                    speed_bps=50_000_000,
                    total_bytes_done=done_total + done,
                    total_bytes=total,
                )
            if last:
                break
            writer.emit("item", file=name, state="verifying", bytes_total=size)
            writer.emit("item", file=name, state="done", bytes_total=size, sha256="cd" * 32)
            done_total += size
        writer.emit("log", level="info", message="model/ and tokenizer/ are in ./output")
        if finished:
            writer.emit(
                "end", status="ok", files=len(MODEL_FILES), bytes_fetched=total - 1_024, seconds=133.4
            )
        writer.close()


def write_gated_download(state_dir: Path) -> None:
    """A download refused by the Hub because the model is gated (no advice in the event)."""
    with fixed_clock(event_writer, T0):
        writer = EventWriter("download", state_dir, run_id="20251125T183500-9999", redact=redact)
        writer.emit(
            "error",
            message="403 Forbidden: access to model google/gemma-3-1b-it is restricted (token hf_SECRETTOKEN)",
            code="gated",
        )
        writer.emit("end", status="failed", files=0, bytes_fetched=0, seconds=0.8)
        writer.close()


# -- upload ---------------------------------------------------------------------------------------

DATASET_FILES = [
    ("model/model.safetensors", 2 * GiB),
    ("model/config.json", 900),
    ("tokenizer/tokenizer.json", 7 * MiB),
]


def write_upload(state_dir: Path, *, kernel_error: bool = True) -> None:
    """A dataset upload that becomes READY, then a kernel push that errors (or completes)."""
    with fixed_clock(event_writer, T0 + 600):
        writer = EventWriter("upload", state_dir, run_id=DATASET_RUN, redact=redact)
        writer.emit(
            "start",
            target="dataset",
            id="arcfan/gemma-3-1b-it-arc",
            files=len(DATASET_FILES),
            bytes_total=sum(size for _, size in DATASET_FILES),
        )
        for name, _size in DATASET_FILES:
            writer.emit("item", file=name, state="queued")
        total, sent = sum(size for _, size in DATASET_FILES), 0
        for name, size in DATASET_FILES:
            writer.emit("item", file=name, state="uploading", bytes_total=size)
            for part in (size // 2, size):
                writer.emit(
                    "progress",
                    file=name,
                    bytes_done=part,
                    bytes_total=size,
                    total_bytes_done=sent + part,
                    total_bytes=total,
                )
            sent += size
            writer.emit("item", file=name, state="done", bytes_total=size)
        writer.emit("item", dataset="arcfan/gemma-3-1b-it-arc", status="processing")
        writer.emit("item", dataset="arcfan/gemma-3-1b-it-arc", status="READY", version=3)
        writer.emit("end", status="ok", version=3)
        writer.close()
        writer = EventWriter("upload", state_dir, run_id=KERNEL_RUN, redact=redact)
        writer.emit("start", target="kernel", id="arcfan/arcforge-solver", files=1, bytes_total=48_000)
        writer.emit("item", file="arcforge-solver.ipynb", state="uploading")
        writer.emit("item", file="arcforge-solver.ipynb", state="done")
        writer.emit("item", kernel="arcfan/arcforge-solver", status="QUEUED", version=7)
        writer.emit("item", kernel="arcfan/arcforge-solver", status="RUNNING", version=7)
        if kernel_error:
            message = "CUDA out of memory: lower --max-model-len or pick a smaller model"
            writer.emit("item", kernel="arcfan/arcforge-solver", status="ERROR", version=7, message=message)
            writer.emit("error", message=f"kernel version 7 failed: {message}", code="kernel_error")
            writer.emit("end", status="failed", version=7)
        else:
            writer.emit("item", kernel="arcfan/arcforge-solver", status="COMPLETE", version=7)
            writer.emit("end", status="ok", version=7)
        writer.close()


# -- test-run -------------------------------------------------------------------------------------

TASKS: list[dict[str, Any]] = [
    # id, state, fitness, seconds, attempts, correct
    {"task_id": "007bbfb7", "state": "done", "fitness": 1.0, "seconds": 12.4, "attempts": 2, "correct": True},
    {"task_id": "00d62c1b", "state": "done", "fitness": 1.0, "seconds": 31.0, "attempts": 1, "correct": True},
    {
        "task_id": "017c7c7b",
        "state": "done",
        "fitness": 0.82,
        "seconds": 60.0,
        "attempts": 2,
        "correct": False,
    },
    {
        "task_id": "025d127b",
        "state": "timeout",
        "fitness": 0.4,
        "seconds": 60.0,
        "attempts": 1,
        "correct": False,
    },
    {
        "task_id": "045e512c",
        "state": "failed",
        "fitness": None,
        "seconds": 2.2,
        "attempts": 0,
        "correct": False,
    },
    {"task_id": "0520fde7", "state": "done", "fitness": 1.0, "seconds": 8.9, "attempts": 1, "correct": True},
]
PROGRAM = "def solve(grid):\n    # mirror left to right, then recolour 1 -> 2\n    return recolour(flip_lr(grid), 1, 2)\n"


def small_grid(seed: int, height: int = 3, width: int = 3) -> list[list[int]]:
    return [[(seed + y * width + x) % 10 for x in range(width)] for y in range(height)]


def task_payload(spec: dict[str, Any]) -> dict[str, Any]:
    index = [t["task_id"] for t in TASKS].index(spec["task_id"])
    train = [{"input": small_grid(index + k), "output": small_grid(index + k + 5)} for k in range(2)]
    prediction = small_grid(index + 7)
    return {
        **spec,
        "train_solved": spec["fitness"] == 1.0,
        "program": PROGRAM if spec["fitness"] is not None else None,
        "predictions": [[prediction, small_grid(index + 8)]],
        "train": train,
        "error": "engine crashed: ValueError" if spec["state"] == "failed" else None,
    }


SCORES = {"kaggle": 0.5, "task_fraction": 0.5, "tasks_fully_solved": 0.5}


def write_test_run(state_dir: Path, *, finished: bool = True, tasks: int | None = None) -> None:
    """A test run of six tasks with known solutions: three solved, one wrong, one timeout, one crash."""
    specs = TASKS[: tasks if tasks is not None else len(TASKS)]
    with fixed_clock(event_writer, T0 + 1800, step=1.0):
        writer = EventWriter("test-run", state_dir, run_id=TEST_RUN)
        writer.emit(
            "start",
            tasks=len(TASKS),
            engine="search",
            time_budget_s=43_200.0,
            time_per_task_s=60.0,
            workers=2,
            has_solutions=True,
            resumed=0,
        )
        solved = 0
        for done, spec in enumerate(specs, start=1):
            writer.emit("item", task_id=spec["task_id"], state="running", seconds_allowed=60.0)
            writer.emit("item", **task_payload(spec))
            solved += bool(spec["correct"])
            fraction = solved / len(TASKS)
            writer.emit(
                "progress",
                done=done,
                total=len(TASKS),
                elapsed_s=3_600.0 * done,
                budget_s=43_200.0,
                forecast_s=24_480.0,
                within_budget=True,
                scores={"kaggle": fraction, "task_fraction": fraction, "tasks_fully_solved": fraction},
            )
        writer.emit("log", level="info", message="forecast: 6.8 h of 12 h at this pace")
        if finished:
            writer.emit(
                "end", status="ok", done=len(specs), total=len(TASKS), seconds=21_600.0, scores=SCORES
            )
        writer.close()


def write_all(state_dir: Path) -> None:
    write_download(state_dir)
    write_upload(state_dir)
    write_test_run(state_dir)
