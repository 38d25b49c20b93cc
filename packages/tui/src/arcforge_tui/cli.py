"""The `arcforge-tui` command line."""

from __future__ import annotations

import argparse
import sys

from arcforge_tui import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="arcforge-tui", description="A Textual monitor for arcforge's download, upload and test-run stages, live and replayed.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    parser.parse_args(argv)
    print("arcforge-tui: not implemented yet", file=sys.stderr)
    return 2
