"""The `arcforge-download` command line."""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import signal
import sys
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

from arcforge_downloader import __version__
from arcforge_downloader.transfer import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_RANGE_SIZE,
    DEFAULT_SLOW_AFTER,
    DEFAULT_STALL_TIMEOUT,
    EngineSettings,
)

DEFAULT_ENDPOINT = "https://huggingface.co"

EPILOG = """\
The token comes from --token-file, else HF_TOKEN, else huggingface_hub's stored login (`hf auth login`);
it is never printed (at most hf_…xyz). Files go to DIR/model/ (config, safetensors, index) and
DIR/tokenizer/ (tokenizer files, chat template, special tokens map); DIR/manifest.json records the
commit and checksums. Interrupt at any moment (Ctrl-C, kill -9): rerunning the same command fetches
only what is missing. Events go to <state dir>/download.jsonl.

Network: HTTPS_PROXY / HTTP_PROXY / NO_PROXY and SSL_CERT_FILE apply to every request, as huggingface_hub
reads them. Xet-backed files go through hf_xet when it is installed (HF_HUB_DISABLE_XET=1: never), with
this tool's resumable engine as the fallback. HF_HUB_OFFLINE=1 fetches nothing.

exit status: 0 done, 1 a file failed (network, checksum), 2 bad arguments, 3 refused before any byte
moved (gated, not found, disk space, offline), 130 interrupted."""


def _size(text: str) -> int:
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    text = text.strip().lower().removesuffix("ib").removesuffix("b")
    try:
        value = int(float(text[:-1]) * units[text[-1]]) if text and text[-1] in units else int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (use e.g. 64M, 1G, 1048576)") from None
    if value < 64 << 10:
        raise argparse.ArgumentTypeError("a range must be at least 64K")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _finite_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number of seconds: {text!r}")
    return value


def _seconds(text: str) -> float:
    value = _finite_seconds(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def _non_negative_seconds(text: str) -> float:
    value = _finite_seconds(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more seconds")
    return value


def endpoint_problem(endpoint: str) -> str | None:
    """Why `endpoint` is not a usable Hub URL (None when it is): checked before any request is made."""
    try:
        parts = urlsplit(endpoint)
        parts.port  # noqa: B018 - parses the port: 'http://host:x' fails here, not mid-run
    except ValueError as exc:
        return f"{exc}"
    if parts.scheme not in ("http", "https"):
        return "it must start with https:// (or http://)"
    if not parts.hostname:
        return "it names no host"
    return None


def repo_id_problem(repo_id: str) -> str | None:
    """Why `repo_id` is not a Hub repo id (None when it is), by huggingface_hub's own rules."""
    from huggingface_hub.errors import HFValidationError  # noqa: PLC0415 - after HF_ENDPOINT is set
    from huggingface_hub.utils import validate_repo_id  # type: ignore[attr-defined]  # noqa: PLC0415

    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        return str(exc).split(". Use `repo_type`")[0].rstrip(".")
    return None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="arcforge-download",
        description="Resumable, verified download of a Hugging Face model repo into model/ + tokenizer/.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "repo_id", metavar="REPO_ID", help="model repo on the Hub, e.g. google/codegemma-7b-it"
    )
    parser.add_argument(
        "--output-dir",
        required=True,
        type=Path,
        metavar="DIR",
        help="where model/, tokenizer/ and manifest.json go",
    )
    parser.add_argument(
        "--revision", default="main", help="branch, tag or commit; resolved once to a commit (default: main)"
    )
    parser.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="GLOB",
        help="fetch only repo files matching GLOB (repeatable); replaces the default selection "
        "(safetensors, JSON, tokenizer and template files)",
    )
    parser.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="skip repo files matching GLOB (repeatable); adds to the default exclusions (*.gguf, *.bin, original/*…)",
    )
    parser.add_argument(
        "--workers",
        type=_positive,
        default=8,
        metavar="N",
        help="parallel connections to start with (default: 8)",
    )
    parser.add_argument(
        "--max-workers",
        type=_positive,
        metavar="N",
        help="add connections up to N while each one raises the throughput (default: twice --workers; "
        "equal to --workers: never add)",
    )
    parser.add_argument(
        "--endpoint",
        metavar="URL",
        help="Hub endpoint (default: $HF_ENDPOINT, else https://huggingface.co)",
    )
    parser.add_argument(
        "--token-file", metavar="F", help="read the Hugging Face token from this file instead of HF_TOKEN"
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="list what would be fetched and the total size; download nothing",
    )
    parser.add_argument(
        "--state-dir",
        metavar="DIR",
        help="where download.jsonl events go (default: $ARCFORGE_STATE_DIR, else ./.arcforge)",
    )
    parser.add_argument(
        "--range-size",
        type=_size,
        default=DEFAULT_RANGE_SIZE,
        metavar="SIZE",
        help="bytes per ranged request, e.g. 64M (default: 64M)",
    )
    parser.add_argument(
        "--stall-timeout",
        type=_seconds,
        default=DEFAULT_STALL_TIMEOUT,
        metavar="S",
        help=f"cut and retry a connection that sends no byte for S seconds (default: {DEFAULT_STALL_TIMEOUT:g})",
    )
    parser.add_argument(
        "--reconnect-slow",
        type=_non_negative_seconds,
        default=DEFAULT_SLOW_AFTER,
        metavar="S",
        help="replace a connection that stays under 40%% of the others' speed for S seconds with a new "
        f"one, as a new CDN edge may be faster; 0: never (default: {DEFAULT_SLOW_AFTER:g})",
    )
    parser.add_argument(
        "--retries",
        type=_positive,
        default=DEFAULT_MAX_RETRIES,
        metavar="N",
        help=f"retries of one range without progress before giving up (default: {DEFAULT_MAX_RETRIES})",
    )
    parser.add_argument(
        "--progress",
        choices=("auto", "line", "plain"),
        default="auto",
        help="a redrawn progress line (line), one line per file (plain), or line on a terminal only (auto)",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def _interrupt_on_sigterm() -> None:
    """SIGTERM stops like Ctrl-C: progress is kept and the run ends with `interrupted`."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    with contextlib.suppress(ValueError):  # not the main thread (embedded use): leave signals alone
        signal.signal(signal.SIGTERM, handler)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    endpoint = (args.endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
    if problem := endpoint_problem(endpoint):
        where = "--endpoint" if args.endpoint else "HF_ENDPOINT"
        parser.error(f"{where} {endpoint!r} is not a Hub URL: {problem}")
    # huggingface_hub reads HF_ENDPOINT once, at import: set it first, then import what uses it.
    os.environ["HF_ENDPOINT"] = endpoint
    from arcforge_downloader.auth import TokenFileError, resolve_token  # noqa: PLC0415
    from arcforge_downloader.download import EXIT_REFUSED, Downloader, Options  # noqa: PLC0415

    if problem := repo_id_problem(args.repo_id):
        parser.error(
            f"REPO_ID {args.repo_id!r} is not a Hub repo id (ORG/NAME, e.g. google/gemma-2b): {problem}"
        )
    try:
        token = resolve_token(args.token_file)
    except TokenFileError as exc:
        print(f"arcforge-download: error: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    options = Options(
        repo_id=args.repo_id,
        output_dir=args.output_dir,
        revision=args.revision,
        include=tuple(args.include),
        exclude=tuple(args.exclude),
        endpoint=endpoint,
        dry_run=args.dry_run,
        state_dir=Path(args.state_dir) if args.state_dir else None,
        engine=EngineSettings(
            workers=args.workers,
            max_workers=args.max_workers,
            slow_after=args.reconnect_slow,
            range_size=args.range_size,
            stall_timeout=args.stall_timeout,
            max_retries=args.retries,
            token=token.value,
            user_agent=f"arcforge-downloader/{__version__}",
        ),
    )
    interactive = args.progress == "line" or (args.progress == "auto" and sys.stderr.isatty())
    _interrupt_on_sigterm()
    downloader = Downloader(options, token, sys.stdout, sys.stderr, interactive)
    try:
        return downloader.run()
    except KeyboardInterrupt:  # outside the transfer (metadata, hashing): nothing to save
        print("\narcforge-download: interrupted", file=sys.stderr)
        return 130
