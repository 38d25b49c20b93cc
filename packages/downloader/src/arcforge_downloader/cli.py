"""The `arcforge-download` command line."""

from __future__ import annotations

import argparse
import sys

from arcforge_downloader import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="arcforge-download", description="Resumable, verified download of a Hugging Face model repo into model/ + tokenizer/.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    parser.parse_args(argv)
    print("arcforge-download: not implemented yet", file=sys.stderr)
    return 2
