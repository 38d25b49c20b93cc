"""The `arcforge-publish` command line."""

from __future__ import annotations

import argparse
import sys

from arcforge_kaggle_publish import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="arcforge-publish", description="Publish model and wheelhouse datasets, the ARC Prize notebook, its runs, outputs and submissions to Kaggle.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    parser.parse_args(argv)
    print("arcforge-publish: not implemented yet", file=sys.stderr)
    return 2
