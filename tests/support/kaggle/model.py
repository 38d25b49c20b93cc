"""The stand-in Kaggle's data: datasets, kernels and their versions, submissions, competitions and faults.

Plain records; the rules for changing them live in `service.py`, the wire in `http_surface.py`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.support.kaggle.service import KaggleStandIn

# The ARC Prize track Kaggle runs today (arcprize.org; public ARC Prize 2026 notebooks attach this slug).
COMPETITION = "arc-prize-2026-arc-agi-2"

Grid = list[list[int]]


class KernelFailedError(Exception):
    """Raised by a runner: the kernel version ends in ERROR with this message."""


@dataclass
class Faults:
    """Failure switches. Counters count down as they fire; None/0 means off."""

    drop_upload_at: int | None = (
        None  # close the connection once an upload has persisted N bytes (fires once)
    )
    stall_upload_at: int | None = None  # stop reading at N bytes until `release_stall()` (a killed client)
    upload_503: int = 0  # the next N upload PUTs persist half their body, then answer 503
    rate_limit: int = 0  # the next N API calls answer 429 with Retry-After: 0
    rate_limit_on: dict[str, int] = field(default_factory=dict)  # the next N calls to a method answer 429
    dataset_failed: str | None = None  # dataset versions end FAILED with this message
    # SaveKernel answers HTTP 200 with `versionNumber` null, `ref` "" and this `error`, e.g. "Maximum batch GPU
    # session count of 2 reached" (seen in competitors' public ARC Prize code; /work/shared/notes/real-world.md).
    save_kernel_error: str | None = None
    kernel_error: str | None = None  # kernel runs end ERROR with this failure message
    # Close the connection without an answer after handling the next N calls to these methods
    # (the request reached Kaggle and took effect; the client never hears back).
    drop_after: dict[str, int] = field(default_factory=dict)
    # How ListDatasetFiles names files: "full" paths, "basename" only, or "top_level" (files in sub-folders left
    # out), as Kaggle/kaggle-api issues #370 and #234 report.
    list_files: str = "full"


@dataclass
class Upload:
    token: str
    name: str
    length: int
    data: bytearray = field(default_factory=bytearray)
    wire_bytes: int = 0  # every body byte read for this upload, resent ones included
    puts: int = 0

    @property
    def complete(self) -> bool:
        return len(self.data) == self.length


@dataclass
class DatasetVersion:
    number: int
    files: dict[str, bytes]  # path inside the dataset -> content
    notes: str = ""
    status_polls: int = 0
    # Status calls that still answer as if the dataset did not exist, right after CreateDataset (403 first,
    # then 404): eventual consistency seen in competitors' ARC Prize 2026 notebooks (real-world.md).
    unseen_polls: int = 0


@dataclass
class Dataset:
    owner: str
    slug: str
    title: str
    license_name: str
    is_private: bool
    versions: list[DatasetVersion] = field(default_factory=list)

    @property
    def ref(self) -> str:
        return f"{self.owner}/{self.slug}"


@dataclass
class KernelVersion:
    number: int
    request: dict[str, Any]
    run: bool
    status_polls: int = 0
    status: str = "QUEUED"
    failure: str = ""
    outputs: dict[str, bytes] = field(default_factory=dict)
    log: str = ""
    rerun: bool = False
    """True for the competition rerun a code submission starts: the runner mounts the competition's hidden
    files and sets KAGGLE_IS_COMPETITION_RERUN."""


@dataclass
class Kernel:
    owner: str
    slug: str
    kernel_id: int
    versions: list[KernelVersion] = field(default_factory=list)


@dataclass
class Submission:
    ref: int
    competition: str
    kernel: tuple[str, str]  # (owner, slug), lower-cased
    version: int
    file_name: str
    description: str
    submitted_by: str
    polls: int = 0
    # GetSubmission answers 404 this many times right after CreateCodeSubmission (kaggle_api_extended.py
    # `_poll_submission` treats that 404 as PENDING).
    unseen_polls: int = 1
    status: str = "PENDING"
    public_score: str = ""
    error: str = ""
    rerun: KernelVersion | None = None
    """The competition rerun of the submitted version, once it has run: its outputs and log."""


@dataclass
class Competition:
    name: str
    files: dict[str, bytes]  # e.g. arc-agi_test_challenges.json
    solutions: dict[str, list[Grid]] | None = None  # task id -> expected test outputs
    hidden_files: dict[str, bytes] | None = None
    """What the competition rerun mounts in place of `files` (the hidden test set); None: `files`."""
    hidden_solutions: dict[str, list[Grid]] | None = None
    """The hidden set's expected outputs, which a submission is scored on."""

    def mounted_files(self, rerun: bool) -> dict[str, bytes]:
        """The competition's files as a notebook sees them: the hidden ones in the rerun."""
        return {**self.files, **(self.hidden_files or {})} if rerun else self.files

    def scoring_solutions(self) -> dict[str, list[Grid]]:
        return (self.hidden_solutions if self.hidden_files is not None else self.solutions) or {}


@dataclass
class ModelInstance:
    """A Kaggle Models instance, OWNER/MODEL/FRAMEWORK/VARIATION, with its version numbers."""

    owner: str
    model: str
    framework: str  # as the kaggle CLI writes it: transformers, pyTorch, jax, ...
    variation: str
    versions: list[int] = field(default_factory=lambda: [1])
    files: dict[str, bytes] = field(
        default_factory=dict
    )  # mounted under /kaggle/input/<model>/<fw>/<var>/<N>/

    @property
    def handle(self) -> str:
        return f"{self.owner}/{self.model}/{self.framework}/{self.variation}"


# Makes a kernel version's output: (files written to /kaggle/working, the log).
Runner = Callable[["KaggleStandIn", Kernel, KernelVersion], tuple[dict[str, bytes], str]]


def score_submission(submission: dict[str, Any], solutions: dict[str, list[Grid]]) -> float:
    """Kaggle's ARC measure: mean over test outputs, an output counts if either attempt matches."""
    hits, total = 0, 0
    for task_id, expected in solutions.items():
        attempts = submission[task_id]
        for index, grid in enumerate(expected):
            total += 1
            pair = attempts[index]
            hits += int(grid in (pair.get("attempt_1"), pair.get("attempt_2")))
    return hits / total if total else 0.0


def default_competition(
    tasks: dict[str, Any] | None = None,
    solutions: dict[str, list[Grid]] | None = None,
    name: str = COMPETITION,
    hidden_tasks: dict[str, Any] | None = None,
    hidden_solutions: dict[str, list[Grid]] | None = None,
) -> Competition:
    """An ARC competition with the given challenges (default: one 2x2 flip task) in Kaggle's file layout.

    `hidden_tasks` are what the competition rerun of a submission solves and is scored on, in place of the
    public arc-agi_test_challenges.json (default with the default task: another flip task; with given
    `tasks` and no hidden ones: the given tasks, so a test's own tasks are its hidden set too).
    """
    if tasks is None:
        tasks = {
            "00000001": {
                "train": [{"input": [[1, 0], [0, 0]], "output": [[0, 1], [0, 0]]}],
                "test": [{"input": [[0, 0], [2, 0]]}],
            }
        }
        solutions = {"00000001": [[[0, 0], [0, 2]]]}
        if hidden_tasks is None:
            hidden_tasks = {
                "0000000a": {
                    "train": [{"input": [[3, 0], [0, 0]], "output": [[0, 3], [0, 0]]}],
                    "test": [{"input": [[0, 4], [0, 0]]}],
                }
            }
            hidden_solutions = {"0000000a": [[[4, 0], [0, 0]]]}
    files = _challenge_files(tasks)
    hidden = _challenge_files(hidden_tasks) if hidden_tasks is not None else None
    return Competition(name, files, solutions, hidden, hidden_solutions if hidden is not None else None)


def _challenge_files(tasks: dict[str, Any]) -> dict[str, bytes]:
    sample = {
        tid: [{"attempt_1": [[0]], "attempt_2": [[0]]} for _ in task["test"]] for tid, task in tasks.items()
    }
    return {
        "arc-agi_test_challenges.json": json.dumps(tasks).encode(),
        "sample_submission.json": json.dumps(sample).encode(),
    }
