"""The `arcforge-tui` command line."""

from __future__ import annotations

import argparse
import sys

from arcforge_events import STAGES, event_path, resolve_state_dir
from arcforge_tui import __version__
from arcforge_tui.app import MonitorApp
from arcforge_tui.summary import summary_text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="arcforge-tui",
        description=(
            "A Textual monitor for arcforge's download, upload and test-run stages. It tails the "
            "stages' JSON-Lines events in the state dir (download.jsonl, upload.jsonl, test-run.jsonl) "
            "and shows progress, Kaggle statuses, the task table, scores and the time forecast. "
            "Without a terminal, --replay prints a plain summary instead. "
            "Keys: q quit, 1-4 panes, f task filter, enter task detail, escape back."
        ),
    )
    parser.add_argument(
        "--state-dir",
        metavar="DIR",
        help="where the stages write their events (default: $ARCFORGE_STATE_DIR, else ./.arcforge)",
    )
    parser.add_argument(
        "--replay",
        action="store_true",
        help="load a finished run at once and show its final state, without following the files",
    )
    parser.add_argument(
        "--poll",
        type=float,
        default=0.25,
        metavar="SECONDS",
        help="how often to look for new events while following live (default: 0.25)",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    state_dir = resolve_state_dir(args.state_dir)
    if args.poll <= 0:
        print("arcforge-tui: --poll must be a positive number of seconds", file=sys.stderr)
        return 2
    if args.replay and not any(event_path(state_dir, stage).is_file() for stage in STAGES):
        files = ", ".join(f"{stage}.jsonl" for stage in STAGES)
        print(f"arcforge-tui: nothing to replay: {state_dir} has none of {files}", file=sys.stderr)
        return 2
    if state_dir.exists() and not state_dir.is_dir():
        print(f"arcforge-tui: the state dir {state_dir} is not a folder", file=sys.stderr)
        return 2
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        # A full-screen app on a pipe or a CI log would only fill it with escape codes.
        if args.replay:
            print(summary_text(state_dir))
            return 0
        print(
            "arcforge-tui: the live monitor needs a terminal (stdin and stdout are not both one); "
            "for a plain summary of the state dir, run it with --replay",
            file=sys.stderr,
        )
        return 2

    MonitorApp(state_dir, replay=args.replay, poll_interval=args.poll).run()
    return 0
