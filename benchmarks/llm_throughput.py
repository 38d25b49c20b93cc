"""LLM generation throughput at batch sizes 1, 4 and 16, side by side.

    python benchmarks/llm_throughput.py MODEL_DIR [--max-new-tokens 256] [--tasks DIR] [--batch-sizes 1,4,16]
    python benchmarks/llm_throughput.py tiny          # builds the tests' tiny random model first

MODEL_DIR is a downloader layout (model/ + tokenizer/) or a Hugging Face folder; the device and dtype are
chosen from the hardware (GPU with device_map=auto, bf16/fp16; else CPU fp32), as the engine does. For
each batch size B the script sends B real generate-prompts (ARC tasks from --tasks, or a built-in one)
in one batched request of B rows through the engine's transformers backend and prints generated
tokens per second, completions per second and programs per second (completions from which a
`solve(grid)` program was extracted), with the speed-up over batch size 1. A random model writes
junk, so its programs/s is near zero; its tokens/s is still the honest figure.

It also prints the model's context window and the token ids generation stops at (eos and the chat
template's end of turn), and what the best batch's tokens/s buys a full run: the forecast
`arcforge-solve forecast` prints, for --forecast-tasks (240) in --forecast-budget (11h) on
--forecast-lanes (4) lanes of this speed. Run it on one card of the target machine (one lane).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from arcforge_solver.engines.llm.backend import GenerationRequest, TransformersBackend  # noqa: E402
from arcforge_solver.engines.llm.extract import extract_program  # noqa: E402
from arcforge_solver.engines.llm.loading import load_model  # noqa: E402
from arcforge_solver.engines.llm.operators import LlmOperators  # noqa: E402
from arcforge_solver.runtime.forecast import assumed_forecast  # noqa: E402
from arcforge_solver.runtime.lanes import Gpu  # noqa: E402
from arcforge_solver.runtime.timing import parse_duration  # noqa: E402
from arcforge_solver.tasks.model import Pair, Task, to_grid  # noqa: E402


def builtin_task() -> Task:
    g = to_grid
    return Task(
        "builtin-mirror",
        train=(
            Pair(g([[1, 2, 0], [3, 4, 0], [0, 0, 5]]), g([[0, 2, 1], [0, 4, 3], [5, 0, 0]])),
            Pair(g([[6, 0], [0, 7]]), g([[0, 6], [7, 0]])),
        ),
        test=(Pair(g([[8, 9, 1]])),),
    )


def load_tasks(folder: Path | None, count: int) -> list[Task]:
    if folder is None:
        return [builtin_task()] * count
    tasks: list[Task] = []
    for path in sorted(folder.glob("*.json"))[:count]:
        data = json.loads(path.read_text())
        train = tuple(Pair(to_grid(p["input"]), to_grid(p["output"])) for p in data["train"])
        test = tuple(Pair(to_grid(p["input"])) for p in data["test"])
        tasks.append(Task(path.stem, train, test))
    if not tasks:
        raise SystemExit(f"no task files in {folder}")
    return [tasks[i % len(tasks)] for i in range(count)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model_dir", help="model folder, or `tiny` to build the tests' tiny random model")
    parser.add_argument(
        "--batch-sizes", default="1,4,16", help="comma-separated batch sizes (default: 1,4,16)"
    )
    parser.add_argument(
        "--max-new-tokens", type=int, default=128, help="tokens generated per row (default: 128)"
    )
    parser.add_argument("--max-prompt-tokens", type=int, default=2048, help="prompt budget (default: 2048)")
    parser.add_argument(
        "--tasks", type=Path, help="folder of ARC task files for the prompts (default: built-in)"
    )
    parser.add_argument("--temperature", type=float, default=0.8, help="sampling temperature (default: 0.8)")
    parser.add_argument("--repeat", type=int, default=1, help="requests per batch size; the best is kept")
    parser.add_argument("--forecast-tasks", type=int, default=240, help="tasks of the forecast run (240)")
    parser.add_argument("--forecast-budget", default="11h", help="the forecast run's budget (11h)")
    parser.add_argument("--forecast-lanes", type=int, default=4, help="lanes of this speed (4: L4×4)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.batch_sizes.split(",") if s.strip()]

    model_dir = args.model_dir
    if model_dir == "tiny":
        from tests.support.tiny_model import build_tiny_model

        model_dir = str(build_tiny_model(Path(tempfile.gettempdir()) / "arcforge-bench-tiny"))
    started = time.monotonic()
    loaded = load_model(model_dir)
    print(
        f"model: {loaded.paths.model} on {loaded.plan.describe()}, loaded in {time.monotonic() - started:.1f} s"
    )
    backend = TransformersBackend(
        loaded, max_batch_sequences=max(sizes), max_prompt_tokens=args.max_prompt_tokens
    )
    stops = ", ".join(f"{i} {loaded.tokenizer.convert_ids_to_tokens(i)!r}" for i in backend.stop_ids)
    print(f"context window: {backend.context_tokens} tokens; generation stops at: {stops}")
    operators = LlmOperators(backend, max_prompt_tokens=args.max_prompt_tokens)
    prompts = [operators.generate_prompt(task).text for task in load_tasks(args.tasks, max(sizes))]
    prompt_tokens = np.mean([backend.count_tokens(p) for p in prompts])
    print(f"prompts: {len(prompts)} of ~{prompt_tokens:.0f} tokens; {args.max_new_tokens} new tokens per row")

    backend.generate(
        GenerationRequest(prompts[:1], max_new_tokens=8, temperature=args.temperature)
    )  # warm-up
    rows: list[tuple[int, float, float, float, float]] = []
    sample_tokens: dict[int, float] = {}
    for size in sizes:
        backend.max_batch_sequences = size
        best: tuple[float, float, float, float] | None = None
        for attempt in range(args.repeat):
            request = GenerationRequest(
                prompts[:size],
                samples=1,
                max_new_tokens=args.max_new_tokens,
                temperature=args.temperature,
                seed=attempt,
            )
            completions, stats = backend.generate(request)
            programs = sum(1 for c in completions if extract_program(c.text) is not None)
            seconds = max(stats.seconds, 1e-9)
            measured = (stats.new_tokens / seconds, len(completions) / seconds, programs / seconds, seconds)
            if best is None or measured[0] > best[0]:
                best = measured
                sample_tokens[size] = stats.new_tokens / max(1, len(completions))
        assert best is not None
        rows.append((size, *best))

    base = rows[0][1] or 1.0
    print(
        f"\n{'batch':>5}  {'tokens/s':>10}  {'completions/s':>13}  {'programs/s':>10}  {'seconds':>8}  {'vs batch ' + str(rows[0][0]):>11}"
    )
    for size, tokens_s, completions_s, programs_s, seconds in rows:
        print(
            f"{size:>5}  {tokens_s:>10.1f}  {completions_s:>13.2f}  {programs_s:>10.2f}  {seconds:>8.2f}  {tokens_s / base:>10.1f}×"
        )
    best_size, best_tokens_s = max(((row[0], row[1]) for row in rows), key=lambda row: row[1])
    per_sample = max(1.0, sample_tokens[best_size])
    gpus = [Gpu(str(i), "lane", 0) for i in range(max(1, args.forecast_lanes))]
    forecast = assumed_forecast(
        tasks=args.forecast_tasks,
        budget_s=parse_duration(args.forecast_budget),
        cap_s=None,
        holds_model=True,
        search_share=0.5,
        gpus=gpus,
        cpus=max(1, args.forecast_lanes),
        replica_bytes=None,
        tokens_per_s=best_tokens_s,
        tokens_per_sample=per_sample,
        source=(
            f"measured here: {best_tokens_s:.1f} tokens/s at batch {best_size}, {per_sample:.0f} tokens a sample;"
            " search evaluations assumed"
        ),
    )
    print(
        f"\nwhat that buys {args.forecast_tasks} tasks in {args.forecast_budget} on {len(gpus)} lanes of this speed:"
    )
    for line in forecast.lines()[1:]:
        print("  " + line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
