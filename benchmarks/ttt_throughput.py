"""TTT engine throughput: TTT steps per second, decode tokens per second and seconds per task.

    python benchmarks/ttt_throughput.py                       # CPU: the tests' tiny random model
    python benchmarks/ttt_throughput.py --model qwen3-4b      # GPU: a Qwen3-4B-shaped model, random weights
    python benchmarks/ttt_throughput.py --model-dir DIR       # any model folder (model/ + tokenizer/ or HF)

It runs `TttEngine.solve` on the first --tasks tasks of the solver's bundled ARC sample (real ARC-AGI-1
tasks), with a fixed plan (--steps, --views, --min-prob), and prints each task's TTT steps/s, decode
tokens/s (forward tokens of greedy and DFS decoding) and seconds, then the means over the tasks after
the first (the first pays for warm-up): steps/s and tokens/s are totals over those tasks, as the
engine's budget measures them. The load average is printed too: on a shared machine it moves every
figure.

On a GPU the realistic-size models are built from their config with random weights (no download) and
the tiny byte-level tokenizer; the vocabulary size is the real model's, so logits cost what they
would. It also prints how many of 240 tasks fit in 12 h on 4×L4 (one model per card), scaling the
measured seconds per task by the ratio of this card's memory bandwidth to the L4's (300 GB/s). That
ratio is a rough guide: decoding one token at a time is bandwidth-bound, training is partly
compute-bound. Random weights decode junk, so the DFS tree is small; a trained model explores more.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from arcforge_solver.engines.protocol import Deadline, EngineContext  # noqa: E402
from arcforge_solver.engines.ttt.engine import TttEngine  # noqa: E402
from arcforge_solver.engines.ttt.model import AdapterSettings, TttModel, open_ttt_model  # noqa: E402
from arcforge_solver.tasks.model import Pair, Task, to_grid  # noqa: E402

SAMPLES = ROOT / "packages/solver/src/arcforge_solver/samples/arc-agi_sample_challenges.json"
L4_BANDWIDTH_GBS = 300.0
"""NVIDIA L4 datasheet: 300 GB/s GDDR6."""
BANDWIDTH_GBS = {
    # Datasheet memory bandwidths, matched against torch.cuda.get_device_name().
    "H200": 4800.0,
    "H100": 3350.0,
    "A100": 2039.0,
    "A10": 600.0,
    "L40": 864.0,
    "L4": 300.0,
    "T4": 320.0,
    "V100": 900.0,
    "P100": 732.0,
}
CONFIGS: dict[str, dict[str, Any]] = {
    # Shapes from the models' published config.json files.
    "qwen3-4b": {
        "arch": "qwen3",
        "vocab_size": 151936,
        "hidden_size": 2560,
        "intermediate_size": 9728,
        "num_hidden_layers": 36,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "head_dim": 128,
        "max_position_embeddings": 40960,
        "tie_word_embeddings": True,
    },
    "llama-3.2-3b": {
        "arch": "llama",
        "vocab_size": 128256,
        "hidden_size": 3072,
        "intermediate_size": 8192,
        "num_hidden_layers": 28,
        "num_attention_heads": 24,
        "num_key_value_heads": 8,
        "head_dim": 128,
        "max_position_embeddings": 131072,
        "tie_word_embeddings": True,
    },
}


def sample_tasks(count: int) -> list[Task]:
    data = json.loads(SAMPLES.read_text())
    tasks = []
    for task_id in sorted(data)[:count]:
        body = data[task_id]
        train = tuple(Pair(to_grid(p["input"]), to_grid(p["output"])) for p in body["train"])
        test = tuple(Pair(to_grid(p["input"])) for p in body["test"])
        tasks.append(Task(task_id, train, test))
    return tasks


def open_model(args: argparse.Namespace) -> tuple[TttModel, str]:
    settings = AdapterSettings(mode=args.mode, rank=args.lora_rank, alpha=args.lora_rank)
    if args.model_dir:
        return open_ttt_model(args.model_dir, settings=settings, max_tokens=args.max_tokens), str(
            args.model_dir
        )
    from tests.support.tiny_model import build_tiny_model, build_tokenizer

    if args.model == "tiny":
        folder = build_tiny_model(Path(tempfile.mkdtemp(prefix="ttt-bench-")) / "tiny")
        return open_ttt_model(
            folder, settings=settings, max_tokens=args.max_tokens
        ), "tiny random (2 layers, hidden 64)"
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen3Config

    from arcforge_solver.engines.llm.loading import _dtype_keyword, plan_device

    plan = plan_device("auto")
    if plan.device != "cuda":
        raise SystemExit(
            f"--model {args.model} is a realistic-size model: it needs a CUDA GPU (use --model tiny on CPU)"
        )
    shape = dict(CONFIGS[args.model])
    arch = shape.pop("arch")
    tokenizer = build_tokenizer()
    ids = {
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }  # type: ignore[attr-defined]
    config = (Qwen3Config if arch == "qwen3" else LlamaConfig)(**shape, **ids)
    dtype = getattr(torch, plan.dtype)
    with torch.device("cuda"):
        model = AutoModelForCausalLM.from_config(config, **{_dtype_keyword(): dtype})
    if args.checkpointing:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    model.eval()
    ttt = TttModel.wrap(model, tokenizer, settings, dtype=plan.dtype, max_tokens=args.max_tokens)
    return ttt, f"{args.model} shape, random weights, {plan.dtype}"


def gpu_name() -> str | None:
    try:
        import torch
    except ImportError:
        return None
    return str(torch.cuda.get_device_name(0)) if torch.cuda.is_available() else None


def bandwidth(name: str, override: float | None) -> float | None:
    if override:
        return override
    for key in sorted(BANDWIDTH_GBS, key=len, reverse=True):
        if key in name:
            return BANDWIDTH_GBS[key]
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model", choices=["tiny", *CONFIGS], help="built-in model (default: tiny on CPU, qwen3-4b on a GPU)"
    )
    parser.add_argument("--model-dir", type=Path, help="a model folder instead of a built-in model")
    parser.add_argument("--tasks", type=int, default=4, help="sample tasks to run (default: 4)")
    parser.add_argument("--steps", type=int, default=16, help="TTT steps per task (default: 16)")
    parser.add_argument("--batch-size", type=int, default=4, help="TTT batch (default: 4)")
    parser.add_argument(
        "--views", type=int, default=2, help="augmented views decoded and scored (default: 2)"
    )
    parser.add_argument("--min-prob", type=float, default=0.1, help="DFS threshold (default: 0.1)")
    parser.add_argument("--seconds", type=float, default=600.0, help="seconds a task may take (default: 600)")
    parser.add_argument("--mode", choices=["lora", "full"], default="lora", help="adapter (default: lora)")
    parser.add_argument("--lora-rank", type=int, default=32, help="LoRA rank (default: 32)")
    parser.add_argument("--max-tokens", type=int, default=8192, help="context window cap (default: 8192)")
    parser.add_argument("--checkpointing", action="store_true", help="gradient checkpointing (big models)")
    parser.add_argument(
        "--bandwidth-gbs", type=float, help="this GPU's memory bandwidth, if not in the table"
    )
    args = parser.parse_args(argv)
    gpu = gpu_name()
    if args.model is None and args.model_dir is None:
        args.model = "qwen3-4b" if gpu else "tiny"

    ttt, described = open_model(args)
    engine = TttEngine(
        ttt_model=ttt, steps=args.steps, batch_size=args.batch_size, views=args.views, min_prob=args.min_prob
    )
    machine = gpu or f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count() or 1} cores)"
    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    print(f"model: {described}; device: {machine}{load}")
    print(
        f"plan: {args.steps} steps × batch {args.batch_size}, {args.views} views, DFS p≥{args.min_prob:g}, {args.mode}"
    )
    rows = []
    for task in sample_tasks(args.tasks):
        started = time.monotonic()
        result = engine.solve(task, Deadline(args.seconds), EngineContext())
        seconds = time.monotonic() - started
        stats = result.stats
        rows.append((task.task_id, stats["ttt_steps_per_s"], seconds))
        error = f"  error: {stats['ttt_error']}" if "ttt_error" in stats else ""
        print(
            f"  {task.task_id}: {stats['ttt_steps']} steps at {stats['ttt_steps_per_s']:.2f} steps/s "
            f"(batch {stats['ttt_batch']}, loss {stats['ttt_loss_start']} -> {stats['ttt_loss_end']}), "
            f"{stats['ttt_decode_tokens']} decode tokens, {seconds:.1f} s{error}"
        )
    measured = rows[1:] or rows
    seconds_per_task = sum(r[2] for r in measured) / len(measured)
    # The engine's own pace: totals over the tasks after the first (it drops the first's warm-up).
    print(f"TTT steps/s: {engine.pace.steps_per_second():.2f}")
    print(f"decode tokens/s: {engine.pace.decode_tokens_per_second():.1f}")
    print(f"seconds per task: {seconds_per_task:.1f} (mean over {len(measured)} tasks after the first)")
    if gpu:
        gbs = bandwidth(gpu, args.bandwidth_gbs)
        if gbs is None:
            print(f"unknown bandwidth for {gpu}: pass --bandwidth-gbs to scale to the L4")
        else:
            on_l4 = seconds_per_task * gbs / L4_BANDWIDTH_GBS
            fit = int(4 * 12 * 3600 // on_l4) if on_l4 > 0 else 0
            print(
                f"scaled to an L4 ({gbs:.0f} / {L4_BANDWIDTH_GBS:.0f} GB/s): {on_l4:.0f} s per task; "
                f"4×L4 in 12 h fit {min(fit, 240)} of 240 tasks ({fit} at this plan)"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
