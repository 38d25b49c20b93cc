"""The `data` of each event, typed per stage and kind, as docs/events.md documents them.

Every key is optional (`total=False`): a reader must cope with any key missing, and a file may hold
anything. The types let writers and readers name keys that mypy checks; the values still arrive
unchecked from a file, so readers test each value's type before using it.
`tests/contract/` checks these types against the tables in docs/events.md, and, in strict mode
(`ARCFORGE_EVENTS_STRICT=1`), the writer refuses a key that is not typed here.
"""

from __future__ import annotations

from typing import Any, TypedDict

# -- every stage -------------------------------------------------------------------------------------


class ForecastWork(TypedDict, total=False):
    llm_samples: float
    llm_programs: float
    llm_tokens: float
    search_evaluations: float


class FullRunForecast(TypedDict, total=False):
    tasks: int
    budget_s: float | None
    time_per_task_s: float
    lanes: int
    gpus: int
    planned_hours: float
    expected_hours: float
    gpu_hours: float
    budget_share: float | None
    per_task: ForecastWork
    rates: str


class LogData(TypedDict, total=False):
    level: str  # info, warning
    message: str
    task_id: str  # test-run: the task the message is about
    lane: int  # test-run: the GPU lane the message is about (its engine is ready)
    forecast: FullRunForecast  # test-run: the full run's forecast after a partial (TEST_MODE) run
    file: str  # download: the file the message is about
    wait_s: float  # download: seconds before it goes on (retry, rate limit)
    rate_limit: str  # download: the Hub limit that answered 429
    workers: int  # download: connections now, when one is added


class ErrorData(TypedDict, total=False):
    message: str
    code: str
    advice: str
    file: str
    task_id: str
    gated: bool  # download: the Hub says the repo is gated
    http_status: int  # download: the status of the refused request


# -- download ----------------------------------------------------------------------------------------


class DownloadStart(TypedDict, total=False):
    repo_id: str
    revision: str
    commit: str | None  # null on a refusal before the revision resolved
    files: int
    bytes_total: int
    bytes_to_fetch: int
    output_dir: str
    tool_version: str
    workers: int
    range_size: int
    dry_run: bool


class DownloadProgress(TypedDict, total=False):
    file: str
    bytes_done: int
    bytes_total: int
    speed_bps: float
    state: str  # `fetching` while bytes flow
    total_bytes_done: int
    total_bytes: int


class DownloadItem(TypedDict, total=False):
    file: str
    state: str  # queued, fetching, resumed, verifying, done, failed
    bytes_total: int
    bytes_done: int
    sha256: str
    via: str  # xet: through huggingface_hub's Xet path


class DownloadEnd(TypedDict, total=False):
    status: str  # ok, failed, interrupted
    files: int
    bytes_fetched: int
    seconds: float


# -- upload ------------------------------------------------------------------------------------------


class UploadStart(TypedDict, total=False):
    target: str  # dataset, wheelhouse, kernel, submission
    id: str  # owner/slug
    files: int
    bytes_total: int


class UploadProgress(TypedDict, total=False):
    file: str
    bytes_done: int
    bytes_total: int
    total_bytes_done: int
    total_bytes: int


class UploadItem(TypedDict, total=False):
    """One of: a file (`file` + `state`), or what Kaggle says of a `dataset`, `kernel` or `submission`."""

    file: str
    state: str  # queued, uploading, resumed, done, failed
    bytes_total: int
    bytes_done: int
    dataset: str
    kernel: str
    submission: str
    status: str  # Kaggle's word: processing, READY, FAILED, QUEUED, RUNNING, COMPLETE, ERROR, PENDING …
    message: str
    version: int
    score: float


class UploadEnd(TypedDict, total=False):
    status: str
    version: int
    files: int
    bytes_total: int
    kernel_status: str
    submission: str
    submission_status: str


# -- test-run ----------------------------------------------------------------------------------------


class Scores(TypedDict, total=False):
    kaggle: float
    task_fraction: float
    tasks_fully_solved: float


class LlmCounters(TypedDict, total=False):
    calls: int
    tokens: int
    programs: int


class TttProgress(TypedDict, total=False):
    step: int
    steps: int
    loss: float


class TrainPair(TypedDict, total=False):
    input: list[list[int]]
    output: list[list[int]]


class TestRunStart(TypedDict, total=False):
    tasks: int
    engine: str
    time_budget_s: float
    time_per_task_s: float | None
    workers: int
    lanes: int
    gpus: int
    has_solutions: bool
    resumed: int
    out: str
    journal: str
    seed: int
    source: str  # arcforge-publish output: the kernel whose run this is


class TestRunProgress(TypedDict, total=False):
    done: int
    total: int
    elapsed_s: float
    budget_s: float
    forecast_s: float | None
    within_budget: bool
    scores: Scores


class TestRunItem(TypedDict, total=False):
    task_id: str
    state: str  # running, done, failed, timeout, skipped
    fitness: float | None
    train_solved: bool
    seconds: float
    seconds_allowed: float
    attempts: int
    correct: bool | None
    program: str | None
    predictions: list[list[Any]]  # per test input: [attempt_1, attempt_2] grids
    train: list[TrainPair]
    llm: LlmCounters
    generation: int
    ttt: TttProgress
    resumed: bool
    error: str
    lane: int


class TestRunEnd(TypedDict, total=False):
    status: str
    done: int
    total: int
    seconds: float
    scores: Scores


# (stage, kind) -> the payload's type. A kind missing for a stage (e.g. download `log`) uses the
# shared LogData / ErrorData.
PAYLOADS: dict[tuple[str, str], type[Any]] = {
    ("download", "start"): DownloadStart,
    ("download", "progress"): DownloadProgress,
    ("download", "item"): DownloadItem,
    ("download", "log"): LogData,
    ("download", "error"): ErrorData,
    ("download", "end"): DownloadEnd,
    ("upload", "start"): UploadStart,
    ("upload", "progress"): UploadProgress,
    ("upload", "item"): UploadItem,
    ("upload", "log"): LogData,
    ("upload", "error"): ErrorData,
    ("upload", "end"): UploadEnd,
    ("test-run", "start"): TestRunStart,
    ("test-run", "progress"): TestRunProgress,
    ("test-run", "item"): TestRunItem,
    ("test-run", "log"): LogData,
    ("test-run", "error"): ErrorData,
    ("test-run", "end"): TestRunEnd,
}


def payload_type(stage: str, kind: str) -> type[Any] | None:
    """The TypedDict of `data` for one stage and kind, or None when the contract has none."""
    return PAYLOADS.get((stage, kind))


def documented_keys(stage: str, kind: str) -> frozenset[str]:
    """The `data` keys the contract names for one stage and kind (empty when it names none)."""
    typed = payload_type(stage, kind)
    return frozenset(typed.__annotations__) if typed is not None else frozenset()
