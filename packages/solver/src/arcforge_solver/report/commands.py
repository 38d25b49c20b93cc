"""The `report` and `show` subcommands of arcforge-solve: arguments in, one clear error or a page out."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from arcforge_solver.report.html_report import report_path_for, write_report
from arcforge_solver.report.run_view import ReportInputError, RunView, load_run_view
from arcforge_solver.report.terminal import render_task

EXIT_OK, EXIT_USAGE = 0, 2
DEFAULT_SUBMISSION = Path("out/submission.json")


def add_report_commands(sub: Any) -> None:
    """Register `report` and `show` on the CLI's subparsers."""
    report = sub.add_parser(
        "report",
        help="write a self-contained HTML report of a run",
        description=(
            "Write one HTML file (no server, no network) with the scores, a table of every task, and each "
            "task's grids, attempts, expected outputs and best program. It reads the submission, the journal "
            "beside it and the run's events; a Kaggle output fetched with `arcforge-publish output` works too."
        ),
    )
    report.add_argument("submission", type=Path, help="the run's submission.json")
    report.add_argument(
        "--out", type=Path, help="where the HTML goes (default: <submission>.report.html beside it)"
    )
    _add_sources(report)
    show = sub.add_parser(
        "show",
        help="one task of a run in the terminal: grids, program, why it failed",
        description="Draw one task of a run: its grids in colour, the best program, and which train pair and cells it gets wrong.",
    )
    show.add_argument("task_id", help="the task to show")
    show.add_argument(
        "--submission",
        type=Path,
        default=DEFAULT_SUBMISSION,
        help="the run's submission.json (default: %(default)s)",
    )
    show.add_argument(
        "--no-color", action="store_true", help="plain digits instead of colours (also: NO_COLOR set)"
    )
    show.add_argument("--no-check", action="store_true", help="do not rerun the program on the train pairs")
    _add_sources(show)


def _add_sources(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tasks",
        type=Path,
        help="the challenges file or task folder of the run (default: arcforge-challenges.json beside the "
        "submission, else the bundled sample)",
    )
    parser.add_argument(
        "--solutions", type=Path, help="known test outputs (a solutions file or tasks with outputs)"
    )
    parser.add_argument("--journal", type=Path, help="the run's journal (default: beside the submission)")
    parser.add_argument(
        "--events",
        type=Path,
        help="the run's test-run.jsonl (default: beside the submission, else the state dir)",
    )


def _view(args: argparse.Namespace) -> RunView:
    return load_run_view(args.submission, args.tasks, args.solutions, args.journal, args.events)


def command_report(args: argparse.Namespace) -> int:
    try:
        view = _view(args)
        target = write_report(view, args.out or report_path_for(args.submission))
    except ReportInputError as exc:
        print(f"arcforge-solve: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"arcforge-solve: cannot write the report: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for warning in view.warnings[:10]:
        print(f"warning: {warning}", file=sys.stderr)
    solved = sum(1 for t in view.tasks if t.outcome == "solved")
    print(f"report: {target} ({len(view.tasks)} tasks, {solved} solved; open it in a browser)")
    return EXIT_OK


def command_show(args: argparse.Namespace) -> int:
    try:
        task = _view(args).task(args.task_id)
    except ReportInputError as exc:
        print(f"arcforge-solve: {exc}", file=sys.stderr)
        return EXIT_USAGE
    colour = not args.no_color and "NO_COLOR" not in os.environ and sys.stdout.isatty()
    print(render_task(task, colour=colour, check=not args.no_check))
    return EXIT_OK
