"""The `arcforge-publish` command line."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from arcforge_kaggle_publish import __version__
from arcforge_kaggle_publish.errors import PublishError
from arcforge_kaggle_publish.notebook import DEFAULT_TEST_MODE_BUDGET
from arcforge_kaggle_publish.session import Session

DEFAULT_COMPETITION = "arc-prize-2026-arc-agi-2"
DEFAULT_ACCELERATOR = "NvidiaL4"


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-dir",
        help="where events (upload.jsonl, test-run.jsonl), upload state and published.json go "
        "(default: $ARCFORGE_STATE_DIR or ./.arcforge)",
    )
    parser.add_argument(
        "--poll-seconds",
        type=float,
        default=5.0,
        help="first wait between status checks; it grows by half each time up to 60s (default: 5)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="arcforge-publish",
        description="Publish model and wheelhouse datasets, the ARC Prize notebook, its runs, outputs and "
        "submissions to Kaggle. Sign-in, in the kaggle client's order: an API token (KGAT_...) in "
        "KAGGLE_API_TOKEN or ~/.kaggle/access_token; else the legacy kaggle.json or KAGGLE_USERNAME + KAGGLE_KEY. "
        "An id without OWNER/ is under the signed-in user.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("dataset", help="publish a folder (model/ + tokenizer/ + manifest.json) as a dataset")
    p.add_argument("folder", type=Path, help="the folder to publish; sub-folders are kept")
    p.add_argument(
        "--id",
        required=True,
        dest="dataset_id",
        help="[OWNER/]SLUG of the dataset (default owner: the signed-in user)",
    )
    p.add_argument("--title", help="6–50 characters (default: the slug with spaces)")
    p.add_argument(
        "--license",
        default="apache-2.0",
        help="one licence, e.g. apache-2.0, CC0-1.0, MIT (default: apache-2.0)",
    )
    p.add_argument("--version-notes", default="", help="notes for a new version of an existing dataset")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="show exactly what would be uploaded; upload nothing and write nothing into the folder",
    )
    p.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="PATTERN",
        help="upload a dotfile or secret-looking file that is held back by default (a path or glob; repeatable)",
    )
    p.add_argument(
        "--timeout", type=float, default=3600, help="seconds to wait for Kaggle to process it (default: 3600)"
    )
    _common(p)

    p = sub.add_parser(
        "wheelhouse", help="build wheels of the arcforge packages (and missing deps) and publish them"
    )
    p.add_argument("--id", required=True, dest="dataset_id", help="[OWNER/]SLUG of the wheelhouse dataset")
    p.add_argument(
        "--packages-dir",
        type=Path,
        default=Path("packages"),
        help="the repo's packages/ folder (default: ./packages)",
    )
    p.add_argument(
        "--requirement",
        action="append",
        default=[],
        help="a third-party requirement to add as a wheel (repeatable; default: the solver's dependencies "
        "less torch, CUDA and triton)",
    )
    p.add_argument(
        "--include",
        action="append",
        default=[],
        type=Path,
        dest="include_packages",  # not `include`: that is `dataset`'s held-back file patterns
        metavar="PATH",
        help="also build the wheel of your own package at PATH (a folder with a pyproject.toml), e.g. one "
        "that registers a plug-in engine, with its third-party requirements the wheelhouse lacks (repeatable)",
    )
    p.add_argument(
        "--skip-third-party",
        action="store_true",
        default=os.environ.get("ARCFORGE_WHEELHOUSE_SKIP_THIRD_PARTY", "") not in ("", "0"),
        help="only the arcforge wheels and the --include ones, no third-party wheel (also set by "
        "ARCFORGE_WHEELHOUSE_SKIP_THIRD_PARTY=1)",
    )
    p.add_argument("--title", help="dataset title (default: the slug with spaces)")
    p.add_argument("--version-notes", default="", help="notes for a new version")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="build the wheels and show what would be uploaded; upload nothing",
    )
    p.add_argument("--timeout", type=float, default=3600, help="seconds to wait for Kaggle to process it")
    _common(p)

    p = sub.add_parser("kernel", help="generate the competition notebook and push it")
    p.add_argument("--id", required=True, dest="kernel_id", help="[OWNER/]SLUG of the notebook")
    p.add_argument(
        "--dataset",
        action="append",
        default=[],
        dest="datasets",
        help="OWNER/SLUG of a dataset to attach (repeatable)",
    )
    p.add_argument(
        "--competition",
        default=DEFAULT_COMPETITION,
        help=f"competition data to attach (default: {DEFAULT_COMPETITION})",
    )
    p.add_argument(
        "--accelerator",
        default=DEFAULT_ACCELERATOR,
        help=f"Kaggle machine shape (default: {DEFAULT_ACCELERATOR}, i.e. L4x4)",
    )
    p.add_argument(
        "--test-mode",
        action="store_true",
        help="the commit run solves only 5 tasks and forecasts the full set; the competition rerun always "
        "solves every task",
    )
    p.add_argument(
        "--run", action="store_true", help="save and run the notebook (default: save without running)"
    )
    p.add_argument(
        "--test-mode-budget",
        default=DEFAULT_TEST_MODE_BUDGET,
        help=f"the TEST_MODE commit run's --time-budget (default: {DEFAULT_TEST_MODE_BUDGET}); the rerun ignores it",
    )
    p.add_argument(
        "--model",
        action="append",
        default=[],
        dest="model_sources",
        metavar="OWNER/MODEL/FRAMEWORK/VARIATION[/VERSION]",
        help="a Kaggle Models model to attach as the notebook's model (repeatable)",
    )
    p.add_argument(
        "--solve-arg",
        action="append",
        default=[],
        dest="solve_args",
        metavar="ARG",
        help="one argument for arcforge-solve run, passed through untouched (repeatable; write "
        "--solve-arg=--time-budget --solve-arg=11h), e.g. the whole run's budget",
    )
    p.add_argument(
        "--engine",
        metavar="NAME",
        help="append `--engine NAME` to the solver arguments, nothing more: the solver resolves NAME (a "
        "built-in, or a plug-in registered under the arcforge.engines entry points by a package in the "
        "wheelhouse, see `wheelhouse --include`)",
    )
    p.add_argument(
        "solver_args",
        nargs="*",
        metavar="-- SOLVER_ARGS",
        help="after --: more arguments for arcforge-solve run, passed through untouched",
    )
    p.add_argument(
        "--out",
        type=Path,
        help="where to write the notebook and kernel-metadata.json (default: <state dir>/kernels/SLUG)",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="write the notebook and metadata and show them; push nothing"
    )
    _common(p)

    p = sub.add_parser("status", help="show (or wait for) a notebook run's status")
    p.add_argument("kernel_id", help="OWNER/SLUG of the notebook")
    p.add_argument(
        "--version", type=int, dest="kernel_version", help="the notebook version (default: the latest)"
    )
    p.add_argument("--wait", action="store_true", help="poll with backoff until COMPLETE or ERROR")
    p.add_argument(
        "--timeout", type=float, default=12 * 3600, help="seconds to wait with --wait (default: 12h)"
    )
    _common(p)

    p = sub.add_parser("output", help="fetch submission.json and the log, validate, write provenance.json")
    p.add_argument("kernel_id", help="OWNER/SLUG of the notebook")
    p.add_argument("--to", required=True, type=Path, dest="to", help="folder for the files")
    p.add_argument(
        "--challenges",
        type=Path,
        help="the challenges file to check submission.json against, for an output without "
        "arcforge-challenges.json (default: check its structure only)",
    )
    p.add_argument(
        "--version", type=int, dest="kernel_version", help="the notebook version (default: the latest)"
    )
    _common(p)

    p = sub.add_parser("submit", help="make a code submission of a notebook version")
    p.add_argument("--kernel", required=True, dest="kernel_id", help="[OWNER/]SLUG of the notebook")
    p.add_argument(
        "--version",
        type=int,
        dest="kernel_version",
        help="the notebook version to submit (default: the last pushed version that ran to COMPLETE and "
        "whose submission `arcforge-publish output` validated)",
    )
    p.add_argument(
        "--competition",
        help=f"(default: the competition the version was pushed for, else {DEFAULT_COMPETITION})",
    )
    p.add_argument("-m", "--message", default="arcforge submission", help="the submission's description")
    p.add_argument(
        "--file-name", default="submission.json", help="the output file to submit (default: submission.json)"
    )
    p.add_argument("--wait", action="store_true", help="poll until the submission is scored or fails")
    p.add_argument("--timeout", type=float, default=12 * 3600, help="seconds to wait with --wait")
    _common(p)
    return parser


def _commands() -> dict[str, Callable[[Session], int]]:
    from arcforge_kaggle_publish import commands

    return {
        "dataset": commands.cmd_dataset,
        "wheelhouse": commands.cmd_wheelhouse,
        "kernel": commands.cmd_kernel,
        "status": commands.cmd_status,
        "output": commands.cmd_output,
        "submit": commands.cmd_submit,
    }


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    session = Session(args)
    try:
        return _commands()[args.command](session)
    except PublishError as exc:
        print(f"arcforge-publish: error: {session.redact(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("arcforge-publish: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
