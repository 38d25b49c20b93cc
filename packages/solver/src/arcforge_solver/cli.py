"""The `arcforge-solve` command line."""

from __future__ import annotations

import argparse
import sys

from arcforge_solver import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="arcforge-solve", description="Offline evolutionary program-synthesis solver for ARC tasks, with an optional transformers LLM engine.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    parser.parse_args(argv)
    print("arcforge-solve: not implemented yet", file=sys.stderr)
    return 2
