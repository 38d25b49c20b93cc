"""The `arcforge-solve` command line: `run`, `sweep`, `validate`, `score`, `forecast`, `report` and `show`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from arcforge_solver import __version__
from arcforge_solver.engines.registry import ENGINE_PATHS
from arcforge_solver.report.commands import add_report_commands, command_report, command_show
from arcforge_solver.runtime import defaults
from arcforge_solver.runtime.forecast_command import add_forecast_command, command_forecast
from arcforge_solver.runtime.ray_executor import cluster_address
from arcforge_solver.runtime.run import EXIT_FAILED, EXIT_OK, EXIT_USAGE, RunConfig, run
from arcforge_solver.runtime.scoring import format_scores, score_submission
from arcforge_solver.runtime.submission import validate_submission
from arcforge_solver.runtime.sweep import command_sweep
from arcforge_solver.runtime.timing import parse_duration
from arcforge_solver.tasks.io import TaskFormatError, TaskSourceError, load_tasks, read_json, read_solutions


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def _workers(text: str) -> int | None:
    """`auto` (None: decided at run time from the cores and GPU lanes) or a positive count."""
    return None if text.strip().lower() == "auto" else _positive_int(text)


def _add_run(sub: Any) -> None:
    run_parser = sub.add_parser(
        "run",
        help="solve ARC tasks and write submission.json",
        description="Solve ARC tasks under a time budget and write an always-valid submission. "
        "Rerunning the same command resumes from the progress journal.",
    )
    run_parser.add_argument(
        "tasks",
        nargs="?",
        type=Path,
        help="a folder of task files, one task file, or a Kaggle *_challenges.json "
        "(default: the bundled sample of ARC-AGI-1 training tasks, with solutions)",
    )
    run_parser.add_argument(
        "--out",
        type=Path,
        default=Path("submission.json"),
        help="where the submission goes (default: %(default)s)",
    )
    run_parser.add_argument(
        "--solutions",
        type=Path,
        help="Kaggle-style solutions file to score against (default: *_solutions.json beside a challenges file, "
        "or the test outputs inside task files)",
    )
    scope = run_parser.add_mutually_exclusive_group()
    scope.add_argument(
        "--test-mode",
        action="store_true",
        help=f"run only the first {defaults.TEST_MODE_TASKS} tasks, like the notebook's TEST_MODE",
    )
    scope.add_argument("--limit", type=_positive_int, help="run only the first N tasks")
    run_parser.add_argument(
        "--time-budget",
        type=_duration,
        default=defaults.TIME_BUDGET_S,
        help="wall-clock budget of the whole run, e.g. 12h, 90m, 1h30m (default: none)",
    )
    run_parser.add_argument(
        "--time-per-task",
        type=_duration,
        default=None,
        help="most seconds one task may take, e.g. 20, 90s, 2m (default: with --time-budget, no cap: the "
        f"budget is spread over the tasks; without, {defaults.TIME_PER_TASK_S:g} s)",
    )
    run_parser.add_argument(
        "--workers",
        type=_workers,
        default=None,
        help="CPU worker processes, or auto: every core less one per GPU lane (default: auto)",
    )
    run_parser.add_argument(
        "--executor",
        choices=("process", "ray"),
        default="process",
        help="where tasks run: process, a pool of local worker processes; ray, Ray tasks on a local "
        "Ray cluster or the one at --ray-address (needs arcforge-solver[ray]) (default: %(default)s)",
    )
    run_parser.add_argument(
        "--ray-address",
        help="with --executor ray: the Ray cluster to join, e.g. auto or 10.0.0.5:6379 "
        "(default: $RAY_ADDRESS, else start a local one of --workers CPUs)",
    )
    run_parser.add_argument(
        "--gpu-lanes",
        type=_positive_int,
        help="most GPU lanes for an engine that holds a model (default: one per GPU a replica fits on)",
    )
    run_parser.add_argument(
        "--forecast-tasks",
        type=_positive_int,
        help="after a partial run (--test-mode, --limit): forecast a full run of N tasks "
        "(default: every task in TASKS)",
    )
    run_parser.add_argument(
        "--forecast-budget",
        type=_duration,
        help="the full run's budget for that forecast, e.g. 11h (default: --time-budget)",
    )
    run_parser.add_argument(
        "--seed",
        type=int,
        default=defaults.SEED,
        help="random seed; a run is repeatable for a seed (default: 0)",
    )
    run_parser.add_argument(
        "--engine",
        help=f"{', '.join(ENGINE_PATHS)}, or a plug-in engine class as module:Class "
        f"(default: {defaults.ENGINE}; {defaults.ENGINE_WITH_MODEL} when --model-dir is given)",
    )
    run_parser.add_argument(
        "--state-dir",
        type=Path,
        help="where test-run.jsonl events go (default: $ARCFORGE_STATE_DIR or .arcforge)",
    )
    run_parser.add_argument(
        "--journal",
        type=Path,
        help="progress journal for resuming (default: beside --out, e.g. submission.journal.jsonl)",
    )
    run_parser.add_argument(
        "--fresh", action="store_true", help="ignore and clear the progress journal instead of resuming"
    )
    run_parser.add_argument(
        "--model-dir",
        type=Path,
        help="model folder (model/ + tokenizer/, or a plain Hugging Face folder) for the llm, hybrid and ttt engines",
    )
    run_parser.add_argument("--population", type=_positive_int, help="engine population size per task")
    run_parser.add_argument("--generations", type=_positive_int, help="engine generations per task")
    run_parser.add_argument("--samples-per-call", type=_positive_int, help="LLM programs sampled per prompt")
    run_parser.add_argument(
        "--sandbox-memory-mb", type=_positive_int, help="memory cap of a sandboxed program (default: 1024)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="arcforge-solve",
        description="Offline evolutionary program-synthesis solver for ARC tasks, with an optional transformers LLM engine.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_run(sub)
    sweep = sub.add_parser(
        "sweep",
        help="run a grid of settings (engine, time per task, seed) over a task set and tabulate scores",
        description="Run every setting of a sweep file's grid over its task set, each in a folder of its "
        "own, and write one table of settings, scores and seconds per task. Rerunning resumes.",
    )
    sweep.add_argument("config", type=Path, help="the sweep file (TOML; see the solver README, Scale out)")
    sweep.add_argument(
        "--state-dir",
        type=Path,
        help="where test-run.jsonl events go (default: $ARCFORGE_STATE_DIR or .arcforge)",
    )
    sweep.add_argument(
        "--fresh", action="store_true", help="ignore and clear every setting's journal instead of resuming"
    )
    validate = sub.add_parser(
        "validate",
        help="check a submission against a challenges file",
        description="Check that a submission has a valid entry for every test input of every task.",
    )
    validate.add_argument("submission", type=Path, help="the submission.json to check")
    validate.add_argument(
        "--tasks", type=Path, required=True, help="the challenges file or task folder it answers"
    )
    score = sub.add_parser(
        "score",
        help="score a submission against solutions",
        description="Print Kaggle's score, the per-task fraction and the share of tasks fully solved.",
    )
    score.add_argument("submission", type=Path, help="the submission.json to score")
    score.add_argument(
        "solutions",
        type=Path,
        help="a Kaggle *_solutions.json, a task file or a folder of task files with test outputs",
    )
    score.add_argument("--json", action="store_true", help="print the scores as one JSON object")
    add_forecast_command(sub)
    add_report_commands(sub)
    return parser


def engine_options(args: argparse.Namespace) -> dict[str, Any]:
    """The engine flags the user set, for `EngineClass(**options)`."""
    names = ("model_dir", "population", "generations", "samples_per_call")
    return {
        name: (str(getattr(args, name)) if name == "model_dir" else getattr(args, name))
        for name in names
        if getattr(args, name) is not None
    }


def choose_engine(args: argparse.Namespace) -> str:
    """--engine, else hybrid when a model is given, else the model-free search."""
    return str(args.engine or defaults.engine_for(args.model_dir))


def command_run(args: argparse.Namespace) -> int:
    engine = choose_engine(args)
    config = RunConfig(
        out=args.out,
        tasks=args.tasks,
        solutions=args.solutions,
        limit=defaults.TEST_MODE_TASKS if args.test_mode else args.limit,
        engine=engine,
        engine_options=engine_options(args),
        time_budget_s=args.time_budget,
        time_per_task_s=args.time_per_task,
        workers=args.workers,
        gpu_lanes=args.gpu_lanes,
        forecast_tasks=args.forecast_tasks,
        forecast_budget_s=args.forecast_budget,
        seed=args.seed,
        state_dir=args.state_dir,
        journal=args.journal,
        fresh=args.fresh,
        sandbox_memory_mb=args.sandbox_memory_mb,
        executor=args.executor,
        ray_address=cluster_address(args.ray_address) if args.executor == "ray" else None,
    )
    if args.ray_address and args.executor != "ray":
        print("arcforge-solve: --ray-address needs --executor ray", file=sys.stderr)
        return EXIT_USAGE
    return run(config).exit_code


def _test_counts(path: Path) -> dict[str, int]:
    loaded = load_tasks(path)
    counts = {task.task_id: len(task.test) for task in loaded.tasks}
    for problem in loaded.problems:
        print(f"warning: {problem.error}", file=sys.stderr)
        if problem.error.task_id and problem.fallback_inputs:
            counts[problem.error.task_id] = len(problem.fallback_inputs)
    return counts


def command_validate(args: argparse.Namespace) -> int:
    try:
        counts = _test_counts(args.tasks)
        submission = read_json(args.submission)
    except (TaskSourceError, TaskFormatError) as exc:
        print(f"arcforge-solve: {exc}", file=sys.stderr)
        return EXIT_USAGE
    problems = validate_submission(submission, counts)
    if problems:
        for problem in problems[:50]:
            print(f"{args.submission}: {problem}", file=sys.stderr)
        if len(problems) > 50:
            print(f"… and {len(problems) - 50} more problems", file=sys.stderr)
        print(f"invalid: {len(problems)} problems", file=sys.stderr)
        return EXIT_FAILED
    print(f"valid: {len(counts)} tasks, {sum(counts.values())} test inputs")
    return EXIT_OK


def command_score(args: argparse.Namespace) -> int:
    try:
        submission = read_json(args.submission)
        solutions, _source = read_solutions(args.solutions)
    except (TaskSourceError, TaskFormatError) as exc:
        print(f"arcforge-solve: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not isinstance(submission, dict):
        print(
            f"arcforge-solve: {args.submission}: a submission must be a JSON object of tasks by id",
            file=sys.stderr,
        )
        return EXIT_FAILED
    if not solutions:
        print(f"arcforge-solve: {args.solutions}: no solutions found", file=sys.stderr)
        return EXIT_USAGE
    scores = score_submission(submission, solutions)
    if args.json:
        print(json.dumps(scores.as_dict()))
    else:
        print(format_scores(scores))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "run":
        return command_run(args)
    if args.command == "sweep":
        return command_sweep(args.config, state_dir=args.state_dir, fresh=args.fresh)
    if args.command == "validate":
        return command_validate(args)
    if args.command == "score":
        return command_score(args)
    if args.command == "forecast":
        return command_forecast(args)
    if args.command == "report":
        return command_report(args)
    if args.command == "show":
        return command_show(args)
    parser.print_help()
    return EXIT_USAGE
