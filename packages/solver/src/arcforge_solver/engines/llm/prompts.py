"""Prompts for the three LLM operators, built from a task's train pairs as compact text grids.

Grids are written one row per line, one digit per cell (`0120`), with their size: that is the cheapest
form for a tokenizer and the easiest to read back. Test inputs are shown too (never test outputs), so the
model sees what its program must handle. A prompt that would be too long for the model's budget drops the
test inputs first, then train pairs from the end, keeping at least one.

- generate: write `solve(grid)` from the examples;
- refine: a program, the diff between its outputs and the expected ones, and its error: fix it;
- crossover: two programs that each get part of the task right: combine them.

Instructions go in the user turn (several chat templates, Gemma's among them, refuse a system turn).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from arcforge_solver.tasks.model import Grid, Task

MAX_DIFF_CELLS = 12
"""How many wrong cells a refine prompt lists one by one before summarising."""

INTRO = (
    "You are solving an ARC puzzle. Each example maps an input grid to an output grid by one hidden rule. "
    "Grids are written one row per line, one digit (a colour 0-9) per cell."
)
TASK_RULES = (
    "Write a Python function `solve(grid)` that takes the input grid as a 2-D numpy array of ints and returns "
    "the output grid (a 2-D numpy array or a list of lists). Use only numpy (`import numpy as np`) and the "
    "helpers of `arcforge_solver.dsl` (`from arcforge_solver.dsl import *`). No file, network or printing. "
    "Answer with the complete program in one ```python block."
)


def grid_text(grid: Grid | None) -> str:
    """`3x4` and one line per row of digits."""
    if grid is None:
        return "(none)"
    array = np.asarray(grid)
    if array.ndim != 2:
        return f"(not a grid: shape {array.shape})"
    rows = "\n".join("".join(str(int(v)) for v in row) for row in array)
    return f"{array.shape[0]}x{array.shape[1]}\n{rows}"


@dataclass(frozen=True)
class PromptParts:
    """What a task prompt shows: which train pairs, and whether the test inputs."""

    pairs: tuple[int, ...]
    tests: bool


def examples_text(task: Task, parts: PromptParts) -> str:
    blocks: list[str] = []
    for number, index in enumerate(parts.pairs, start=1):
        pair = task.train[index]
        blocks.append(f"Example {number}\ninput {grid_text(pair.input)}\noutput {grid_text(pair.output)}")
    if parts.tests:
        for number, test in enumerate(task.test, start=1):
            blocks.append(f"Test input {number}\ninput {grid_text(test.input)}")
    return "\n\n".join(blocks)


def dsl_summary(limit_chars: int = 1500) -> str:
    """Names and signatures of the DSL helpers, as many as fit in `limit_chars`."""
    try:
        from arcforge_solver import dsl  # noqa: PLC0415  (the DSL is optional for prompts)
    except ImportError:
        return ""
    names = getattr(dsl, "__all__", None) or [n for n in dir(dsl) if not n.startswith("_")]
    entries: list[str] = []
    used = 0
    for name in sorted(names):
        value = getattr(dsl, name, None)
        if not inspect.isfunction(value):
            continue
        entry = f"{name}{_short_signature(value)}"
        if used + len(entry) + 2 > limit_chars:
            break
        entries.append(entry)
        used += len(entry) + 2
    return ", ".join(entries)


def _short_signature(function: Callable[..., object]) -> str:
    """Parameters without annotations: `(grid: Grid, bg: int = 0) -> Grid` becomes `(grid, bg=0)`."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return "(...)"
    shown = [
        p.name if p.default is inspect.Parameter.empty else f"{p.name}={p.default!r}" for p in parameters
    ]
    return "(" + ", ".join(shown) + ")"


def _rules(dsl_names: str) -> str:
    return TASK_RULES + (f"\nDSL helpers: {dsl_names}" if dsl_names else "")


def generate_text(task: Task, parts: PromptParts, dsl_names: str = "") -> str:
    return f"{INTRO}\n\n{examples_text(task, parts)}\n\n{_rules(dsl_names)}"


@dataclass(frozen=True)
class TrialReport:
    """What a program did on the train pairs: its outputs and the error of each pair (None: no error)."""

    outputs: tuple[Grid | None, ...]
    errors: tuple[str | None, ...]


def diff_text(output: Grid | None, expected: Grid, error: str | None) -> str:
    """How one output differs from the expected one: error, shape, or the wrong cells."""
    if error:
        return f"error: {error}"
    if output is None:
        return "no grid returned"
    got = np.asarray(output)
    if got.ndim != 2:
        return f"returned shape {got.shape}, not a 2-D grid"
    if got.shape != expected.shape:
        return (
            f"wrong size: got {got.shape[0]}x{got.shape[1]}, expected {expected.shape[0]}x{expected.shape[1]}\n"
            f"got {grid_text(got)}"
        )
    wrong = np.argwhere(got != expected)
    if len(wrong) == 0:
        return "correct"
    cells = ", ".join(
        f"({r},{c}) got {int(got[r, c])} want {int(expected[r, c])}" for r, c in wrong[:MAX_DIFF_CELLS]
    )
    more = f" and {len(wrong) - MAX_DIFF_CELLS} more" if len(wrong) > MAX_DIFF_CELLS else ""
    marked = "\n".join(
        "".join(str(int(g)) if g == e else "x" for g, e in zip(grow, erow, strict=True))
        for grow, erow in zip(got, expected, strict=True)
    )
    return f"{len(wrong)} of {expected.size} cells wrong: {cells}{more}\ngot (x marks wrong cells)\n{marked}"


def refine_text(task: Task, parts: PromptParts, source: str, report: TrialReport, dsl_names: str = "") -> str:
    lines = [
        INTRO,
        "",
        examples_text(task, parts),
        "",
        "This program was tried:",
        fenced(source),
        "",
        "Results:",
    ]
    for number, index in enumerate(parts.pairs, start=1):
        pair = task.train[index]
        assert pair.output is not None
        output = report.outputs[index] if index < len(report.outputs) else None
        error = report.errors[index] if index < len(report.errors) else None
        lines.append(f"Example {number}: {diff_text(output, pair.output, error)}")
    lines += ["", "Find the mistake and write a corrected program.", _rules(dsl_names)]
    return "\n".join(lines)


def crossover_text(
    task: Task,
    parts: PromptParts,
    first: tuple[str, Sequence[int]],
    second: tuple[str, Sequence[int]],
    dsl_names: str = "",
) -> str:
    def solved(indices: Sequence[int]) -> str:
        shown = [parts.pairs.index(i) + 1 for i in indices if i in parts.pairs]
        return "solves examples " + ", ".join(map(str, shown)) if shown else "solves no example exactly"

    return "\n".join(
        [
            INTRO,
            "",
            examples_text(task, parts),
            "",
            f"Program A ({solved(first[1])}):",
            fenced(first[0]),
            "",
            f"Program B ({solved(second[1])}):",
            fenced(second[0]),
            "",
            "Each program gets part of the rule right. Combine their ideas into one program that solves every example.",
            _rules(dsl_names),
        ]
    )


def fenced(source: str) -> str:
    return f"```python\n{source.strip()}\n```"


def fit_parts(
    task: Task, render: Callable[[PromptParts], str], count_tokens: Callable[[str], int], max_tokens: int
) -> str:
    """The richest prompt within `max_tokens`: all pairs and tests, then without tests, then fewer pairs."""
    pairs = tuple(range(len(task.train)))
    attempts = [PromptParts(pairs, True), PromptParts(pairs, False)]
    attempts += [PromptParts(pairs[:n], False) for n in range(len(pairs) - 1, 0, -1)]
    text = ""
    for parts in attempts:
        text = render(parts)
        if count_tokens(text) <= max_tokens:
            return text
    return text  # even one pair is too long: send it anyway; the backend truncates from the left


def chat_prompt(tokenizer: object, content: str) -> str:
    """The user turn wrapped in the tokenizer's chat template, opening the assistant's turn; plain text
    ending in a cue when the tokenizer has no template."""
    template = getattr(tokenizer, "chat_template", None)
    apply = getattr(tokenizer, "apply_chat_template", None)
    if template and apply is not None:
        try:
            text = apply([{"role": "user", "content": content}], tokenize=False, add_generation_prompt=True)
            if isinstance(text, str):
                return text
        except Exception:  # a broken template must not stop the run; plain text works
            pass
    return f"{content}\n\n```python\n"


_REPLY_MARKER = "ARCFORGE_REPLY_MARKER"


def end_of_turn_ids(tokenizer: object) -> list[int]:
    """The special token the chat template closes the assistant's turn with (Gemma's `<end_of_turn>`,
    ChatML's `<|im_end|>`, Llama 3's `<|eot_id|>`), which is often not the tokenizer's eos: a model that
    finishes its answer writes it, and generation must stop there. Found by rendering one exchange and
    reading the first token after the assistant's text; empty when there is no template or no such token."""
    template = getattr(tokenizer, "chat_template", None)
    apply = getattr(tokenizer, "apply_chat_template", None)
    if not template or apply is None or not callable(tokenizer):
        return []
    messages = [{"role": "user", "content": "hello"}, {"role": "assistant", "content": _REPLY_MARKER}]
    try:
        text = apply(messages, tokenize=False)
    except Exception:  # a template that refuses this exchange: no end-of-turn token learned
        return []
    if not isinstance(text, str) or _REPLY_MARKER not in text:
        return []
    tail = text.split(_REPLY_MARKER, 1)[1].lstrip()
    if not tail:
        return []
    ids = tokenizer(tail, add_special_tokens=False)["input_ids"]
    if not ids:
        return []
    first = int(ids[0])
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    added = getattr(tokenizer, "added_tokens_decoder", {}) or {}
    special.update(int(i) for i, token in added.items() if getattr(token, "special", False))
    return [first] if first in special else []


def context_window(config: object, tokenizer: object) -> int | None:
    """Tokens the model attends over: the config's position limit, or the tokenizer's `model_max_length`
    when that is a real limit (transformers puts 1e30 there when it does not know)."""
    limits: list[int] = []
    text_config = getattr(config, "text_config", None)  # multimodal configs (Gemma 3) nest the LM's
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, name, None)
        if value is None and text_config is not None:
            value = getattr(text_config, name, None)
        if isinstance(value, int) and value > 0:
            limits.append(value)
            break
    length = getattr(tokenizer, "model_max_length", None)
    if isinstance(length, int) and 0 < length < 10_000_000:
        limits.append(length)
    return min(limits) if limits else None
