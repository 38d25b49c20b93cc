"""`arcforge-solve run`: many tasks under a time budget, resumable, with an always-valid submission.

Order of work, chosen so that any interruption leaves a usable result:
1. load the tasks (bad ones are reported and get fallback entries where their test inputs allow);
2. write the fallback submission, with any results a previous run left in the journal;
3. solve the remaining tasks, each with the time the budget scheduler gives it; after each task the
   journal gets a line and the submission is rewritten atomically;
4. print and emit the scores when solutions are known.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import tempfile
import time
import traceback
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

from arcforge_events.writer import mask_secrets
from arcforge_solver.engines.protocol import EngineResult, EngineStartError, RunInfo
from arcforge_solver.engines.registry import (
    EngineUnavailableError,
    UnknownEngineError,
    load_engine,
    resolve_engine_class,
)
from arcforge_solver.events import EventWriter
from arcforge_solver.runtime import defaults
from arcforge_solver.runtime.executors import InProcessExecutor, ProcessExecutor, TaskOutcome
from arcforge_solver.runtime.forecast import FullRunForecast, measured_rates
from arcforge_solver.runtime.journal import (
    Journal,
    JournalError,
    JournalRecord,
    journal_path_for,
    settings_digest,
)
from arcforge_solver.runtime.lanes import GpuDetectionError, LanePlan, auto_workers, engine_lane_plan
from arcforge_solver.runtime.progress import ProgressLine
from arcforge_solver.runtime.ray_executor import RayExecutor
from arcforge_solver.runtime.scheduler import BudgetScheduler
from arcforge_solver.runtime.scoring import Scores, format_scores, score_submission, task_correctness
from arcforge_solver.runtime.submission import SubmissionFile, choose_attempts, fallback_entries
from arcforge_solver.runtime.timing import Forecast, format_duration
from arcforge_solver.tasks.io import (
    LoadedTasks,
    TaskFormatError,
    TaskSourceError,
    format_problems,
    load_tasks,
    task_fingerprint,
    without_test_outputs,
)
from arcforge_solver.tasks.model import Task, to_list

SAMPLE_CHALLENGES = "arc-agi_sample_challenges.json"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM: stop now; the submission on disk is already valid."""


@dataclass
class RunConfig:
    out: Path
    tasks: Path | None = None
    """None: the bundled sample tasks."""
    solutions: Path | None = None
    limit: int | None = None
    engine: str = defaults.ENGINE
    engine_options: dict[str, Any] = field(default_factory=dict)
    time_budget_s: float | None = defaults.TIME_BUDGET_S
    time_per_task_s: float | None = None
    """None: no per-task cap under a `time_budget_s` (the budget is spread over the tasks), else the
    local defaults.TIME_PER_TASK_S."""
    workers: int | None = None
    """CPU worker processes; None: every core, less one per GPU lane (`--workers auto`)."""
    gpu_lanes: int | None = None
    """The most GPU lanes an engine that holds a model may use; None: one per GPU that fits a replica."""
    forecast_tasks: int | None = None
    """Tasks of the full run a partial (TEST_MODE) run forecasts; None: every task in the input."""
    forecast_budget_s: float | None = None
    """The full run's budget for that forecast; None: this run's `time_budget_s`."""
    seed: int = defaults.SEED
    state_dir: Path | None = None
    journal: Path | None = None
    fresh: bool = False
    sandbox_memory_mb: int | None = None
    executor: str = "process"
    """process: the local pool; ray: Ray tasks (see `ray_executor`)."""
    ray_address: str | None = None
    """With executor ray: the cluster to join; None: a local cluster Ray starts."""


@dataclass
class RunReport:
    exit_code: int
    status: str
    done: int = 0
    total: int = 0
    scores: Scores | None = None
    problems: list[str] = field(default_factory=list)


@contextlib.contextmanager
def bundled_sample() -> Iterator[Path]:
    """The sample challenges file shipped inside the package (its solutions lie beside it)."""
    with resources.as_file(resources.files("arcforge_solver") / "samples" / SAMPLE_CHALLENGES) as path:
        yield path


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM stops a run like Ctrl-C does (only the main thread may install handlers)."""

    def handler(signum: int, frame: types.FrameType | None) -> None:
        raise RunInterrupted(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class Run:
    """One invocation of `arcforge-solve run`."""

    def __init__(self, config: RunConfig, loaded: LoadedTasks, stream: TextIO) -> None:
        self.config = config
        self.loaded = loaded
        self.stream = stream
        self.events = EventWriter("test-run", config.state_dir)
        self.selected = loaded.tasks[: config.limit] if config.limit else list(loaded.tasks)
        self.fingerprints = {task.task_id: task_fingerprint(task) for task in self.selected}
        self.settings = settings_digest(config.engine, config.engine_options, config.seed)
        fallbacks: dict[str, Any] = {task.task_id: task.test_inputs for task in loaded.tasks}
        for problem in loaded.problems:
            if problem.error.task_id and problem.fallback_inputs and problem.error.task_id not in fallbacks:
                fallbacks[problem.error.task_id] = problem.fallback_inputs
        self.submission = SubmissionFile(config.out, fallbacks)
        self.journal = Journal(config.journal or journal_path_for(config.out))
        self.scored_ids = [task.task_id for task in self.selected if task.task_id in loaded.solutions]
        self.finished_ids: set[str] = set()
        self.progress = ProgressLine(stream)
        self.scheduler: BudgetScheduler | None = None
        self.started = time.monotonic()
        self._last_verdict: bool | None = None
        self._last_forecast_at = 0
        self._last_progress_event = 0.0
        self.cap_s = defaults.time_per_task_cap(config.time_budget_s, config.time_per_task_s)
        self.lane_plan: LanePlan | None = None
        self.measured: list[tuple[float, bool, dict[str, Any]]] = []
        """(seconds, train_solved, stats) of each task this run finished, for the full run's forecast."""

    # -- events and printing -------------------------------------------------------------------
    def say(self, message: str, level: str = "info") -> None:
        self.progress.message(message)
        self.events.emit("log", level=level, message=message)

    def running_scores(self) -> Scores | None:
        ids = [task_id for task_id in self.scored_ids if task_id in self.finished_ids]
        if not ids:
            return None
        return score_submission(self.submission.entries, self.loaded.solutions, ids)

    def emit_progress(self, forecast: Forecast | None, force: bool = False) -> None:
        assert self.scheduler is not None
        data: dict[str, Any] = {
            "done": len(self.finished_ids),
            "total": len(self.selected),
            "elapsed_s": round(time.monotonic() - self.started, 2),
            "budget_s": self.config.time_budget_s,
            "forecast_s": round(forecast.total_s, 1) if forecast else None,
            "within_budget": forecast.within_budget if forecast else True,
        }
        scores = self.running_scores()
        if scores is not None:
            data["scores"] = scores.as_event()
        now = time.monotonic()
        last = force or len(self.finished_ids) == len(self.selected)
        if last or now - self._last_progress_event >= 0.1:  # the contract's ≤ 10 progress events a second
            self.events.emit("progress", **data)
            self._last_progress_event = now
        line = f"test-run {len(self.finished_ids)}/{len(self.selected)} tasks  {format_duration(data['elapsed_s'])}"
        if scores is not None:
            line += f"  solved {scores.tasks_solved}/{scores.tasks}"
        if forecast is not None:
            line += f"  forecast {format_duration(forecast.total_s)}" + (
                "" if forecast.within_budget else " (over budget)"
            )
        step = max(1, len(self.selected) // 20)
        self.progress.update(line, force=force or len(self.finished_ids) % step == 0)

    def maybe_forecast(self) -> Forecast | None:
        assert self.scheduler is not None
        forecast = self.scheduler.forecast()
        if forecast is None:
            return None
        done = self.scheduler.done
        # Say it when it first appears, when the verdict flips, and every tenth of the run.
        step = max(1, len(self.selected) // 10)
        periodic = forecast.budget_s is not None and done - self._last_forecast_at >= step
        if self._last_verdict is None or forecast.within_budget != self._last_verdict or periodic:
            self.say(forecast.line, "info" if forecast.within_budget else "warning")
            self._last_verdict = forecast.within_budget
            self._last_forecast_at = done
        return forecast

    # -- per task ----------------------------------------------------------------------------
    def task_item(self, task: Task, state: str, **extra: Any) -> dict[str, Any]:
        entries = self.submission.entries[task.task_id]
        correct = None
        if task.task_id in self.loaded.solutions:
            correct = all(task_correctness(entries, self.loaded.solutions[task.task_id]))
        return {
            "task_id": task.task_id,
            "state": state,
            "correct": correct,
            "predictions": [[entry["attempt_1"], entry["attempt_2"]] for entry in entries],
            "train": [
                {"input": to_list(p.input), "output": to_list(p.output)}
                for p in task.train
                if p.output is not None
            ],
            **extra,
        }

    def finish(self, outcome: TaskOutcome) -> None:
        task = outcome.task
        result: EngineResult | None = outcome.result
        candidates = result.candidates if result is not None else []
        chosen = choose_attempts(candidates, task.test_inputs)
        self.submission.set(task.task_id, chosen.entries)
        self.submission.write()
        best = candidates[0] if candidates else None
        train_solved = best is not None and best.train_exact == len(task.train)
        stats = dict(result.stats) if result is not None else {}
        record = JournalRecord(
            task_id=task.task_id,
            fingerprint=self.fingerprints[task.task_id],
            engine=self.config.engine,
            settings=self.settings,
            state=outcome.state,
            seconds=round(outcome.seconds, 3),
            entries=chosen.entries,
            fitness=best.train_fitness if best else None,
            train_solved=train_solved,
            attempts=chosen.distinct,
            program=best.source if best else None,
            error=redact_secrets(outcome.error),
            stats=_jsonable(stats),
        )
        self.journal.append(record)
        self.finished_ids.add(task.task_id)
        self.measured.append((outcome.seconds, train_solved, stats))
        assert self.scheduler is not None
        self.scheduler.finished(outcome.seconds)
        extra: dict[str, Any] = {
            "fitness": record.fitness,
            "train_solved": train_solved,
            "seconds": record.seconds,
            "attempts": chosen.distinct,
            "program": record.program,
        }
        if outcome.error:
            extra["error"] = outcome.error
            self.events.emit("error", message=outcome.error, task_id=task.task_id)
        if isinstance(stats.get("llm"), Mapping):
            extra["llm"] = stats["llm"]
        if outcome.lane is not None:
            extra["lane"] = outcome.lane
        self.events.emit("item", **self.task_item(task, outcome.state, **extra))

    def resume_from_journal(self) -> list[Task]:
        """Put finished results of an earlier run in the submission; return the tasks still to run."""
        if self.config.fresh:
            self.journal.reset()
            return list(self.selected)
        finished = self.journal.finished(self.config.engine, self.fingerprints, self.settings)
        self.report_journal_problems()
        todo: list[Task] = []
        for task in self.selected:
            record = finished.get(task.task_id)
            if record is None or len(record.entries) != len(task.test):
                todo.append(task)
                continue
            self.submission.set(task.task_id, record.entries)
            self.finished_ids.add(task.task_id)
        return todo

    def report_journal_problems(self, shown: int = 5) -> None:
        """Name the journal lines a rerun skipped; their tasks are solved again."""
        problems = self.journal.problems
        for problem in problems[:shown]:
            task = f" (task {problem.task_id})" if problem.task_id else ""
            self.say(
                f"journal {self.journal.path} line {problem.line}{task} skipped: {problem.problem}", "warning"
            )
        if len(problems) > shown:
            self.say(
                f"journal {self.journal.path}: {len(problems) - shown} more bad lines skipped", "warning"
            )

    # -- the run -----------------------------------------------------------------------------
    def execute(self) -> RunReport:
        config = self.config
        problems = [str(problem.error) for problem in self.loaded.problems]
        for problem in self.loaded.problems:
            self.progress.message(f"skipping bad task: {problem.error}")
        todo = self.resume_from_journal()
        self.submission.write()  # valid from here on, whatever happens next
        resumed = len(self.selected) - len(todo)
        engine_class: type[Any] | None = None
        cannot_start: str | None = None
        try:
            engine_class = resolve_engine_class(config.engine)
            self.lane_plan = engine_lane_plan(engine_class, config.engine_options, max_lanes=config.gpu_lanes)
        except (EngineUnavailableError, UnknownEngineError, GpuDetectionError) as exc:
            cannot_start = str(exc)  # said after the start event, so the run's events are whole
        plan = self.lane_plan
        reserved = plan.lanes if plan is not None and plan.gpus else 0
        workers = config.workers or auto_workers(reserved)
        self.events.emit(
            "start",
            tasks=len(self.selected),
            engine=config.engine,
            time_budget_s=config.time_budget_s,
            time_per_task_s=self.cap_s,
            workers=workers,
            lanes=plan.lanes if plan is not None else workers,
            gpus=plan.gpus_used if plan is not None else 0,
            has_solutions=bool(self.scored_ids),
            resumed=resumed,
            out=str(config.out),
            journal=str(self.journal.path),
            seed=config.seed,
        )
        for problem in self.loaded.problems:
            self.events.emit(
                "error", message=str(problem.error), file=problem.error.file, task_id=problem.error.task_id
            )
        for task in self.selected:
            if task.task_id in self.finished_ids:
                self.events.emit("item", **self.task_item(task, "done", resumed=True))
        if resumed:
            self.say(
                f"resuming: {resumed} of {len(self.selected)} tasks already done (journal {self.journal.path});"
                " pass --fresh to solve them again"
            )
        if self.journal.stale:
            self.say(
                f"{self.journal.stale} tasks were solved before with another engine or other settings; "
                "they are solved again with these"
            )
        if cannot_start is not None or engine_class is None:
            return self.fail(
                cannot_start or f"engine {config.engine!r} is not available", EXIT_USAGE, problems
            )
        if plan is not None:
            self.say(f"GPU lanes: {plan.reason}")
        parallel = bool(getattr(engine_class, "parallel", True))
        if config.executor == "ray" and not parallel:
            return self.fail(
                f"--executor ray runs engines that solve tasks in worker processes; {config.engine!r} "
                "runs in the runtime's own process or its GPU lanes: leave --executor out",
                EXIT_USAGE,
                problems,
            )
        if parallel:
            lanes = min(workers, max(1, len(todo)))
        else:
            lanes = min(plan.lanes, max(1, len(todo))) if plan is not None else 1
        self.scheduler = BudgetScheduler(
            tasks_total=len(self.selected),
            budget_s=config.time_budget_s,
            cap_s=self.cap_s,
            lanes=lanes,
            done=resumed,
        )
        status = "ok"
        try:
            with _sigterm_interrupts():
                if todo:
                    self.solve_all(todo, parallel, lanes, workers)
        except KeyboardInterrupt:  # Ctrl-C, or SIGTERM through RunInterrupted
            status = "interrupted"
        except EngineStartError as exc:
            return self.fail(str(exc), EXIT_USAGE, problems)
        self.progress.done()
        return self.conclude(status, problems)

    def solve_all(self, todo: list[Task], parallel: bool, lanes: int, workers: int) -> None:
        config = self.config
        assert self.scheduler is not None

        def sink(task_id: str, kind: str, data: dict[str, Any]) -> None:
            if kind in ("item", "progress", "log", "error"):
                self.events.emit(kind, **{"task_id": task_id, **data})

        executor: InProcessExecutor | ProcessExecutor | RayExecutor
        if parallel and config.executor == "ray":
            executor = RayExecutor(
                config.engine,
                options=config.engine_options,
                seed=config.seed,
                workers=config.workers if config.ray_address else lanes,
                sink=sink,
                address=config.ray_address,
                sandbox_memory_mb=config.sandbox_memory_mb,
            )
            self.scheduler.lanes = min(executor.capacity, max(1, len(todo)))  # a cluster's CPUs
        elif parallel:
            executor = ProcessExecutor(
                config.engine,
                options=config.engine_options,
                seed=config.seed,
                workers=lanes,
                sink=sink,
                sandbox_memory_mb=config.sandbox_memory_mb,
            )
        elif self.lane_plan is not None and self.lane_plan.gpus and not self.lane_plan.sharded:
            # One worker per GPU lane, each with its own card and its own model replica (also for one
            # lane: it must see only its card); the CPU cores the lanes leave are shared out as their
            # sandbox and DSL search workers.
            plan = self.lane_plan
            executor = ProcessExecutor(
                config.engine,
                options=self.lane_options(max(1, workers // lanes)),
                seed=config.seed,
                workers=lanes,
                sink=sink,
                sandbox_memory_mb=config.sandbox_memory_mb,
                lane_env=[plan.env(lane) for lane in range(lanes)],
                sandbox_workers=max(1, workers // lanes),
                on_ready=self.lane_ready,
            )
        else:
            try:
                engine = load_engine(config.engine, self.lane_options(workers))
            except EngineStartError:
                raise
            except Exception as exc:  # bad options, a missing model: one clear error, no traceback
                raise EngineStartError(
                    f"cannot start engine {config.engine!r}: {type(exc).__name__}: {exc}"
                ) from exc
            executor = InProcessExecutor(
                engine,
                seed=config.seed,
                options=config.engine_options,
                sink=sink,
                sandbox_workers=workers,
                sandbox_memory_mb=config.sandbox_memory_mb,
            )
        waiting = list(todo)
        try:
            self.emit_progress(None, force=True)
            while waiting or executor.busy():
                while waiting and executor.busy() < executor.capacity:
                    seconds = self.scheduler.next_allotment(len(waiting) + executor.busy())
                    if seconds <= 0:
                        self.skip_rest(waiting)
                        waiting = []
                        break
                    task = waiting.pop(0)
                    budget_left = self.scheduler.remaining_budget()
                    run_info = RunInfo(
                        tasks_remaining=len(waiting) + 1 + executor.busy(),
                        budget_remaining_s=None if budget_left is None else round(budget_left, 1),
                        tasks_total=len(self.selected),
                        lanes=lanes,
                    )
                    self.events.emit(
                        "item", task_id=task.task_id, state="running", seconds_allowed=round(seconds, 2)
                    )
                    executor.start(without_test_outputs(task), seconds, run_info)
                for outcome in executor.wait(timeout=0.5):
                    full = next(t for t in self.selected if t.task_id == outcome.task.task_id)
                    self.finish(
                        TaskOutcome(
                            full, outcome.state, outcome.seconds, outcome.result, outcome.error, outcome.lane
                        )
                    )
                    self.emit_progress(self.maybe_forecast())
        finally:
            executor.close()

    def lane_options(self, cores: int) -> dict[str, Any]:
        """The engine options of a lane with `cores` CPU cores: an engine that runs the DSL search beside
        its model (`cpu_search = True`, the hybrid) gets all but one of them as search processes."""
        options = dict(self.config.engine_options)
        if getattr(resolve_engine_class(self.config.engine), "cpu_search", False):
            options["search_processes"] = max(1, cores - 1)
        return options

    def lane_ready(self, lane: int, seconds: float) -> None:
        """A lane's worker has built its engine (loaded its model replica)."""
        plan = self.lane_plan
        card = f" on GPU {plan.devices[lane]}" if plan is not None and lane < len(plan.devices) else ""
        message = f"lane {lane}{card}: engine ready in {format_duration(seconds)}"
        self.progress.message(message)
        self.events.emit("log", level="info", message=message, lane=lane)

    def full_run_forecast(self) -> FullRunForecast | None:
        """After a partial run (TEST_MODE, --limit), the forecast of the full run at the measured pace."""
        config = self.config
        if not (config.limit or config.forecast_tasks) or not self.measured:
            return None
        plan = self.lane_plan
        if plan is not None:
            lanes, gpus, where = plan.lanes, plan.gpus_used, plan.layout
        elif bool(getattr(resolve_engine_class(config.engine), "parallel", True)):
            lanes = config.workers or auto_workers(0)
            gpus, where = 0, f"{lanes} CPU workers"
        else:
            lanes, gpus, where = 1, 0, "1 lane in the runtime's process"
        rates = measured_rates(self.measured, lanes_label=where)
        if rates is None:
            return None
        budget = config.forecast_budget_s or config.time_budget_s
        # A full budget named for the forecast is the competition rerun's: no per-task cap there.
        cap = None if config.forecast_budget_s else self.cap_s
        return FullRunForecast(
            tasks=config.forecast_tasks or len(self.loaded.tasks),
            budget_s=budget,
            cap_s=cap,
            lanes=lanes,
            gpus=gpus,
            where=where,
            rates=rates,
        )

    def skip_rest(self, waiting: list[Task]) -> None:
        assert self.scheduler is not None
        self.say(
            f"time budget spent: {len(waiting)} tasks skipped; they keep their fallback entries", "warning"
        )
        for task in waiting:
            self.scheduler.skipped()
            self.events.emit("item", **self.task_item(task, "skipped"))

    def fail(self, message: str, code: int, problems: list[str]) -> RunReport:
        self.progress.done()
        self.progress.message(f"arcforge-solve: {message}")
        if self.submission.written:
            self.progress.message(f"the fallback submission at {self.config.out} is valid")
        self.events.emit("error", message=message)
        self.events.emit(
            "end",
            status="failed",
            done=len(self.finished_ids),
            total=len(self.selected),
            seconds=self.elapsed(),
        )
        self.events.close()
        return RunReport(code, "failed", len(self.finished_ids), len(self.selected), problems=problems)

    def elapsed(self) -> float:
        return round(time.monotonic() - self.started, 2)

    def conclude(self, status: str, problems: list[str]) -> RunReport:
        scores = None
        if self.scored_ids:
            scores = score_submission(self.submission.entries, self.loaded.solutions, self.scored_ids)
        end: dict[str, Any] = {
            "status": status,
            "done": len(self.finished_ids),
            "total": len(self.selected),
            "seconds": self.elapsed(),
        }
        if scores is not None:
            end["scores"] = scores.as_event()
        forecast = self.full_run_forecast()
        if forecast is not None:
            for line in forecast.lines():
                print(line, file=self.stream)
            self.events.emit(
                "log", level="info", message="; ".join(forecast.lines()), forecast=forecast.as_event()
            )
        self.events.emit("end", **end)
        self.events.close()
        print(f"submission: {self.config.out} ({len(self.submission.entries)} tasks)", file=self.stream)
        if status == "interrupted":
            print(
                f"interrupted after {len(self.finished_ids)}/{len(self.selected)} tasks; the submission is valid."
                " Rerun the same command to resume.",
                file=self.stream,
            )
        if scores is not None:
            print(
                f"score over {scores.tasks} tasks with known solutions:\n{format_scores(scores)}",
                file=self.stream,
            )
        code = EXIT_INTERRUPTED if status == "interrupted" else EXIT_OK
        return RunReport(code, status, len(self.finished_ids), len(self.selected), scores, problems)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def run(config: RunConfig, stream: TextIO | None = None) -> RunReport:
    """Run the solver as configured; never raises for bad input, an engine failure or an interrupt."""
    out_stream = stream or sys.stderr
    try:
        if config.tasks is None:
            with bundled_sample() as sample:
                loaded = load_tasks(sample, config.solutions)
        else:
            loaded = load_tasks(config.tasks, config.solutions)
    except (TaskSourceError, TaskFormatError) as exc:
        print(f"arcforge-solve: {exc}", file=out_stream)
        return RunReport(EXIT_USAGE, "failed")
    if not loaded.tasks:
        source = config.tasks or "the bundled sample"
        for problem in loaded.problems:
            print(f"arcforge-solve: bad task: {problem.error}", file=out_stream)
        reason = f"all {len(loaded.problems)} tasks are bad" if loaded.problems else "it holds no tasks"
        print(f"arcforge-solve: no valid task to solve in {source}: {reason}", file=out_stream)
        return RunReport(EXIT_USAGE, "failed", problems=format_problems(loaded.problems))
    unusable = unusable_output_paths(config)
    if unusable:
        print(f"arcforge-solve: {unusable}; nothing was solved or written", file=out_stream)
        return RunReport(EXIT_USAGE, "failed")
    runner = Run(config, loaded, out_stream)
    try:
        return runner.execute()
    except KeyboardInterrupt:
        runner.progress.done()
        return runner.conclude("interrupted", [])
    except Exception as exc:  # a runtime bug: the submission on disk stays valid; say so and fail
        traceback.print_exc(file=out_stream)
        return runner.fail(f"internal error: {type(exc).__name__}: {exc}", EXIT_FAILED, [])


def redact_secrets(text: str | None) -> str | None:
    """The text with the values of $HF_TOKEN, $KAGGLE_KEY and $KAGGLE_API_TOKEN masked, as the event
    writer masks them: an engine error may quote its environment, and the journal outlives the run."""
    return None if text is None else mask_secrets(text)


def unusable_output_paths(config: RunConfig) -> str | None:
    """Why the submission or journal cannot be written where asked, checked before any solving."""
    journal = Journal(config.journal or journal_path_for(config.out))
    for target, what in ((Path(config.out), "submission"), (journal.path, "journal")):
        if what == "journal":
            try:
                journal.check_usable()
            except JournalError as exc:
                return str(exc)
        problem = writable_file_problem(target)
        if problem:
            return f"{target}: cannot write the {what} there: {problem}"
    return None


def writable_file_problem(target: Path) -> str | None:
    """Why a file cannot be created at `target` (its folder made if need be), or None."""
    if target.is_dir():
        return "it is a folder"
    blocker = next((up for up in target.parents if up.exists() and not up.is_dir()), None)
    if blocker is not None:
        return f"{blocker} is a file, not a folder"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, prefix=".arcforge-probe-"):
            pass
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


__all__ = ["RunConfig", "RunReport", "bundled_sample", "fallback_entries", "run"]
