"""`arcforge-solve forecast`: what a full run will do on a given machine, before it runs.

    arcforge-solve forecast --tasks 240 --time-budget 11h --gpus 4 --gpu-memory 22.5 --cpus 48 \\
        --engine hybrid --replica-gib 20.4

It plans the lanes as `run` would (one replica per GPU when it fits, else one sharded lane), spreads the
budget as the scheduler does, and prints the hours planned, the share of the budget, the GPU hours and
the samples and search evaluations one unsolved task gets, at assumed rates the flags can change.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from arcforge_solver.engines.registry import EngineUnavailableError, UnknownEngineError, resolve_engine_class
from arcforge_solver.runtime.forecast import (
    ASSUMED_SEARCH_EVALUATIONS_PER_S,
    ASSUMED_TOKENS_PER_S,
    ASSUMED_TOKENS_PER_SAMPLE,
    assumed_forecast,
)
from arcforge_solver.runtime.lanes import GIB, Gpu, cpu_cores, detect_gpus
from arcforge_solver.runtime.timing import parse_duration

HIDDEN_TASKS = 240
FULL_BUDGET = "11h"
L4_GIB = 22.5
"""An NVIDIA L4 as nvidia-smi reports it (23034 MiB)."""
HYBRID_SEARCH_SHARE = 0.5
"""The hybrid engine's default: the DSL search runs for half of each task's seconds."""


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive(kind: type[int] | type[float]) -> Any:
    def read(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text} must be positive")
        return value

    return read


def _gpu_count(text: str) -> int:
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of GPUs (0 or more)")
    return int(text)


def add_forecast_command(sub: Any) -> None:
    parser = sub.add_parser(
        "forecast",
        help="what a full run will do: hours, GPU hours, work per task",
        description="Forecast a full run before it runs: lanes, per-task seconds, hours planned, the share "
        "of the budget, GPU hours, and the LLM samples and search evaluations one unsolved task gets. "
        "Rates are assumptions unless given; a TEST_MODE run prints the same forecast from measured rates.",
    )
    parser.add_argument(
        "--tasks", type=_positive(int), default=HIDDEN_TASKS, help="tasks in the run (default: %(default)s)"
    )
    parser.add_argument(
        "--time-budget",
        type=_duration,
        default=parse_duration(FULL_BUDGET),
        help=f"the run's wall-clock budget (default: {FULL_BUDGET})",
    )
    parser.add_argument(
        "--time-per-task", type=_duration, help="a per-task cap, as `run` takes it (default: none)"
    )
    parser.add_argument(
        "--engine", help="search, llm, hybrid or module:Class (default: hybrid with a model, else search)"
    )
    parser.add_argument(
        "--gpus", type=_gpu_count, help="GPUs on the machine, 0 for none (default: the GPUs visible here)"
    )
    parser.add_argument(
        "--gpu-memory",
        type=_positive(float),
        default=L4_GIB,
        help="GiB per GPU when --gpus is given (default: %(default)s, an L4)",
    )
    parser.add_argument("--cpus", type=_positive(int), help="CPU cores (default: this machine's)")
    model = parser.add_mutually_exclusive_group()
    model.add_argument("--model-dir", type=Path, help="model folder: a replica's size comes from its files")
    model.add_argument("--replica-gib", type=_positive(float), help="GPU memory one model replica needs")
    parser.add_argument(
        "--tokens-per-second",
        type=_positive(float),
        default=ASSUMED_TOKENS_PER_S,
        help="generated tokens per second per lane (default: %(default)s, assumed for a 7B model on an L4)",
    )
    parser.add_argument(
        "--tokens-per-sample",
        type=_positive(float),
        default=ASSUMED_TOKENS_PER_SAMPLE,
        help="new tokens per LLM completion (default: %(default)s)",
    )
    parser.add_argument(
        "--search-evaluations-per-second",
        type=_positive(float),
        default=ASSUMED_SEARCH_EVALUATIONS_PER_S,
        help="DSL evaluations per second of one search process (default: %(default)s, measured on 2 shared cores)",
    )
    parser.add_argument("--json", action="store_true", help="print the forecast as one JSON object")


def command_forecast(args: argparse.Namespace) -> int:
    engine = args.engine or ("hybrid" if args.model_dir or args.replica_gib else "search")
    try:
        engine_class = resolve_engine_class(engine)
    except (EngineUnavailableError, UnknownEngineError) as exc:
        print(f"arcforge-solve: {exc}", file=sys.stderr)
        return 2
    holds_model = bool(getattr(engine_class, "holds_model", False))
    replica: int | None = None
    if args.replica_gib:
        replica = int(args.replica_gib * GIB)
    elif args.model_dir and hasattr(engine_class, "replica_bytes"):
        replica = engine_class.replica_bytes({"model_dir": str(args.model_dir)})
        if replica is None:
            print(f"arcforge-solve: cannot size a replica of the model in {args.model_dir}", file=sys.stderr)
            return 2
    if args.gpus is not None:
        gpus = [Gpu(str(i), "GPU", int(args.gpu_memory * GIB)) for i in range(args.gpus)]
    else:
        gpus = detect_gpus()
    share = {"hybrid": HYBRID_SEARCH_SHARE, "llm": 0.0}.get(engine, 1.0)
    forecast = assumed_forecast(
        tasks=args.tasks,
        budget_s=args.time_budget,
        cap_s=args.time_per_task,
        holds_model=holds_model,
        search_share=share,
        gpus=gpus,
        cpus=args.cpus or cpu_cores(),
        replica_bytes=replica,
        tokens_per_s=args.tokens_per_second,
        tokens_per_sample=args.tokens_per_sample,
        search_evaluations_per_s=args.search_evaluations_per_second,
    )
    if args.json:
        print(json.dumps({"engine": engine, **forecast.as_event()}))
    else:
        print(f"engine: {engine}")
        for line in forecast.lines():
            print(line)
    return 0
