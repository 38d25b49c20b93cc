"""Batched text generation: many prompts per forward pass, several samples per prompt.

`TransformersBackend` packs prompts into left-padded batches (so every row continues at its right end),
asks `generate` for `num_return_sequences` samples each with the KV cache on, a max-new-tokens budget and
a stopping criterion that ends the batch at the request's deadline. A CUDA (or CPU allocator)
out-of-memory error halves the batch and retries; one sequence that still does not fit halves its token
budget, and a last failure gives up on that prompt instead of the run. `VllmBackend` is used when vLLM is
installed and a GPU is present; it is never needed. Its calls cannot be interrupted, so it sends the
prompts in batches, each bounded by the new tokens the measured decode pace allows before the deadline
(`pacing`), and starts no batch once the deadline has passed.

Both stop a sequence at eos and at the chat template's end-of-turn token (Gemma's `<end_of_turn>` is not
its eos), and both size prompts to the model's context window less the new tokens.

Every backend returns `Completion`s with the number of tokens generated, which the budget uses.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from arcforge_solver.engines.llm.loading import LoadedModel
from arcforge_solver.engines.llm.pacing import DecodePace, Row, generate_in_batches
from arcforge_solver.engines.llm.prompts import chat_prompt, context_window, end_of_turn_ids

log = logging.getLogger(__name__)

MIN_NEW_TOKENS = 16
"""Below this token budget a retry after out-of-memory is not worth it."""
FALLBACK_CONTEXT_TOKENS = 4096
"""The context window assumed when neither the config nor the tokenizer states one."""


@dataclass(frozen=True)
class Completion:
    prompt_index: int
    text: str
    new_tokens: int


@dataclass
class GenerationStats:
    """Totals for one `generate` call."""

    prompts: int = 0
    prompt_tokens: int = 0
    new_tokens: int = 0
    seconds: float = 0.0
    oom_retries: int = 0


@dataclass
class GenerationRequest:
    prompts: Sequence[str]
    samples: int = 1
    max_new_tokens: int = 512
    temperature: float = 0.8
    top_p: float = 0.95
    seed: int = 0
    max_seconds: float | None = None
    """The deadline, in seconds from the call: generation stops there (partial text is returned)."""
    should_stop: Callable[[], bool] | None = None
    """Checked between decoding steps: True ends the request early (the search already solved the task)."""


class GenerationBackend(Protocol):
    """What the operators need from a model: prompt texts in, sampled completions out."""

    name: str
    context_tokens: int
    """The model's context window: prompt plus new tokens must fit in it."""

    def count_tokens(self, text: str) -> int: ...

    def render(self, content: str) -> str:
        """The user-turn content as the model's prompt text (chat template when there is one)."""
        ...

    def generate(self, request: GenerationRequest) -> tuple[list[Completion], GenerationStats]: ...


def is_out_of_memory(error: BaseException) -> bool:
    """CUDA OOM, or the CPU allocator's failure, which both reach us as RuntimeError subclasses."""
    if type(error).__name__ == "OutOfMemoryError":
        return True
    message = str(error).lower()
    return isinstance(error, RuntimeError | MemoryError) and (
        "out of memory" in message or "can't allocate memory" in message or isinstance(error, MemoryError)
    )


@dataclass
class TransformersBackend:
    """Generation with a transformers model loaded by `load_model`."""

    loaded: LoadedModel
    max_batch_sequences: int = 16
    """Rows per forward pass (prompts × samples); halves on out-of-memory and stays halved."""
    max_prompt_tokens: int | None = None
    """None: the context window less the request's new tokens."""
    name: str = "transformers"
    context_tokens: int = field(init=False)
    stop_ids: list[int] = field(init=False)
    """Token ids that end a sequence: eos (config and tokenizer) and the chat template's end of turn."""
    _tokenizer: Any = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._tokenizer = self.loaded.tokenizer
        model = self.loaded.model
        self.context_tokens = (
            context_window(getattr(model, "config", None), self._tokenizer) or FALLBACK_CONTEXT_TOKENS
        )
        self.stop_ids = stop_token_ids(getattr(model, "generation_config", None), self._tokenizer)

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    def render(self, content: str) -> str:
        return chat_prompt(self._tokenizer, content)

    def prompt_limit(self, max_new_tokens: int) -> int:
        """Prompt tokens kept (from the right) so that prompt and new tokens fit the context window."""
        room = max(1, self.context_tokens - max_new_tokens)
        return min(room, self.max_prompt_tokens) if self.max_prompt_tokens else room

    def generate(self, request: GenerationRequest) -> tuple[list[Completion], GenerationStats]:
        stats = GenerationStats(prompts=len(request.prompts))
        started = time.monotonic()
        completions: list[Completion] = []
        needed = dict.fromkeys(range(len(request.prompts)), request.samples)
        max_new = min(request.max_new_tokens, max(1, self.context_tokens - 1))
        deadline = None if request.max_seconds is None else started + request.max_seconds
        rounds = 0
        while needed:
            if deadline is not None and time.monotonic() >= deadline:
                break
            if request.should_stop is not None and request.should_stop():
                break
            cap = self.max_batch_sequences
            per_row = min(cap, max(needed.values()))
            chunk = list(needed)[: max(1, cap // per_row)]
            try:
                produced = self._generate_chunk(
                    request,
                    chunk,
                    samples=per_row,
                    max_new_tokens=max_new,
                    deadline=deadline,
                    stats=stats,
                    round_number=rounds,
                )
            except Exception as error:
                if not is_out_of_memory(error):
                    raise
                stats.oom_retries += 1
                self._release_memory()
                if self.max_batch_sequences > 1:
                    self.max_batch_sequences //= 2
                    log.warning(
                        "out of memory: retrying with %d sequences per batch", self.max_batch_sequences
                    )
                elif max_new // 2 >= MIN_NEW_TOKENS:
                    max_new //= 2
                    log.warning("out of memory at batch 1: retrying with %d new tokens", max_new)
                else:
                    log.warning("out of memory even for one short sequence: skipping prompt %d", chunk[0])
                    del needed[chunk[0]]
                continue
            rounds += 1
            for completion in produced:
                if needed.get(completion.prompt_index, 0) > 0:
                    completions.append(completion)
                    needed[completion.prompt_index] -= 1
            needed = {i: n for i, n in needed.items() if n > 0}
        stats.seconds = time.monotonic() - started
        return completions, stats

    def _release_memory(self) -> None:
        import gc  # noqa: PLC0415

        import torch  # noqa: PLC0415

        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def _generate_chunk(
        self,
        request: GenerationRequest,
        indices: Sequence[int],
        *,
        samples: int,
        max_new_tokens: int,
        deadline: float | None,
        stats: GenerationStats,
        round_number: int = 0,
    ) -> list[Completion]:
        import torch  # noqa: PLC0415

        tokenizer = self._tokenizer
        texts = [request.prompts[i] for i in indices]
        # Chat templates already hold the BOS token; plain prompts need the tokenizer's own.
        bos = tokenizer.bos_token or ""
        templated = bool(bos) and all(t.startswith(bos) for t in texts)
        tokenizer.truncation_side = "left"  # keep the instructions at the end if a prompt is too long
        encoded = tokenizer(
            texts,
            return_tensors="pt",
            padding=True,
            truncation=True,
            max_length=self.prompt_limit(max_new_tokens),
            add_special_tokens=not templated,
        )
        device = self.loaded.input_device
        input_ids = encoded["input_ids"].to(device)
        attention = encoded["attention_mask"].to(device)
        stats.prompt_tokens += int(attention.sum())
        torch.manual_seed(request.seed * 1_000_003 + round_number)  # reproducible for a seed
        kwargs: dict[str, Any] = {
            "input_ids": input_ids,
            "attention_mask": attention,
            "max_new_tokens": max_new_tokens,
            "num_return_sequences": samples,
            "use_cache": True,
            "pad_token_id": tokenizer.pad_token_id,
        }
        if self.stop_ids:
            kwargs["eos_token_id"] = list(self.stop_ids)
        if request.temperature > 0:
            kwargs.update(do_sample=True, temperature=request.temperature, top_p=request.top_p)
        else:
            kwargs.update(do_sample=False)
        if deadline is not None or request.should_stop is not None:
            kwargs["stopping_criteria"] = _stop_when(deadline, request.should_stop)
        with torch.inference_mode():
            output = self.loaded.model.generate(**kwargs)
        new = output[:, input_ids.shape[1] :].cpu()
        stop_ids = {*self.stop_ids, *([tokenizer.pad_token_id] if tokenizer.pad_token_id is not None else [])}
        completions: list[Completion] = []
        for row in range(new.shape[0]):
            tokens = new[row].tolist()
            length = next((k for k, t in enumerate(tokens) if t in stop_ids), len(tokens))
            stats.new_tokens += length
            text = tokenizer.decode(tokens[:length], skip_special_tokens=True)
            completions.append(Completion(prompt_index=indices[row // samples], text=text, new_tokens=length))
        return completions


def past_deadline(deadline: float | None, should_stop: Callable[[], bool] | None) -> bool:
    """Whether generation must end now: the deadline (monotonic time) has passed or `should_stop()` says so."""
    if deadline is not None and time.monotonic() >= deadline:
        return True
    return should_stop is not None and bool(should_stop())


def _stop_when(deadline: float | None, should_stop: Callable[[], bool] | None) -> Any:
    """A transformers stopping criterion, checked after every decoding step, that ends every row at the
    deadline or once `should_stop()` says so."""
    import torch  # noqa: PLC0415
    from transformers import StoppingCriteria, StoppingCriteriaList  # noqa: PLC0415

    class _Deadline(StoppingCriteria):  # type: ignore[misc,unused-ignore]
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            done = past_deadline(deadline, should_stop)
            return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([_Deadline()])


def stop_token_ids(generation_config: Any, tokenizer: Any) -> list[int]:
    """eos from the generation config and the tokenizer, plus the chat template's end-of-turn token."""
    ids: list[int] = []
    for value in (getattr(generation_config, "eos_token_id", None), getattr(tokenizer, "eos_token_id", None)):
        values = value if isinstance(value, list | tuple) else [value]
        ids.extend(v for v in values if isinstance(v, int) and v not in ids)
    ids.extend(v for v in end_of_turn_ids(tokenizer) if v not in ids)
    return ids


class VllmBackend:
    """vLLM's continuous batching on GPU: the same requests, several times the throughput."""

    name = "vllm"

    def __init__(
        self,
        model_path: str,
        tokenizer_path: str,
        *,
        dtype: str,
        gpus: int,
        max_prompt_tokens: int | None = None,
        max_batch_sequences: int = 64,
    ) -> None:
        from vllm import LLM  # noqa: PLC0415  (optional dependency)

        from arcforge_solver.engines.llm.loading import read_config  # noqa: PLC0415

        window = context_window(read_config(model_path), None) or FALLBACK_CONTEXT_TOKENS
        self._llm = LLM(
            model=model_path,
            tokenizer=tokenizer_path,
            dtype=dtype,
            tensor_parallel_size=max(1, gpus),
            gpu_memory_utilization=0.85,
            max_model_len=window,
            seed=0,
        )
        self._tokenizer = self._llm.get_tokenizer()
        self.context_tokens = context_window(read_config(model_path), self._tokenizer) or window
        self.max_prompt_tokens = max_prompt_tokens
        self.max_batch_sequences = max_batch_sequences
        self.stop_ids = end_of_turn_ids(self._tokenizer)
        """vLLM stops at the model's eos itself; the template's end of turn is added to it."""
        self.pace = DecodePace()

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    def render(self, content: str) -> str:
        return chat_prompt(self._tokenizer, content)

    def generate(self, request: GenerationRequest) -> tuple[list[Completion], GenerationStats]:
        from vllm import SamplingParams  # noqa: PLC0415

        stats = GenerationStats(prompts=len(request.prompts))
        started = time.monotonic()
        max_new = min(request.max_new_tokens, max(1, self.context_tokens - 1))
        room = max(1, self.context_tokens - max_new)
        keep = min(room, self.max_prompt_tokens) if self.max_prompt_tokens else room
        # Token ids, not text: a chat-templated prompt already holds the BOS token, and vLLM would add
        # another; long prompts lose their start, as with transformers.
        bos = getattr(self._tokenizer, "bos_token", None) or ""
        inputs = []
        for text in request.prompts:
            ids = self._tokenizer(text, add_special_tokens=not (bos and text.startswith(bos)))["input_ids"]
            inputs.append({"prompt_token_ids": list(ids)[-keep:]})

        def run_batch(indices: Sequence[int], max_tokens: int) -> list[Row]:
            params = SamplingParams(
                n=request.samples,
                temperature=request.temperature,
                top_p=request.top_p if request.temperature > 0 else 1.0,
                max_tokens=max_tokens,
                seed=request.seed,
                stop_token_ids=list(self.stop_ids),
            )
            results = self._llm.generate([inputs[i] for i in indices], params, use_tqdm=False)
            rows: list[Row] = []
            for index, result in zip(indices, results, strict=True):
                stats.prompt_tokens += len(result.prompt_token_ids or [])
                rows.extend((index, sample.text, len(sample.token_ids)) for sample in result.outputs)
            return rows

        rows, _unsent = generate_in_batches(
            len(inputs),
            max(1, self.max_batch_sequences // max(1, request.samples)),
            max_new_tokens=max_new,
            max_seconds=request.max_seconds,
            should_stop=request.should_stop,
            pace=self.pace,
            run_batch=run_batch,
        )
        completions = [Completion(index, text, tokens) for index, text, tokens in rows]
        stats.new_tokens = sum(c.new_tokens for c in completions)
        stats.seconds = time.monotonic() - started
        return completions, stats


def vllm_available() -> bool:
    """vLLM is importable and a CUDA GPU is visible."""
    import importlib.util  # noqa: PLC0415

    if importlib.util.find_spec("vllm") is None:
        return False
    import torch  # noqa: PLC0415

    return bool(torch.cuda.is_available())


def open_backend(
    model_dir: str, *, backend: str = "auto", dtype: str = "auto", max_batch_sequences: int = 16
) -> GenerationBackend:
    """Load the model in `model_dir` behind the chosen backend: "auto" takes vLLM when it can run."""
    from arcforge_solver.engines.llm.loading import load_model, plan_device, resolve_model_paths  # noqa: PLC0415

    if backend not in ("auto", "transformers", "vllm"):
        raise ValueError(f"backend must be auto, transformers or vllm, not {backend!r}")
    if backend == "vllm" or (backend == "auto" and vllm_available()):
        paths = resolve_model_paths(model_dir)
        plan = plan_device(dtype)
        try:
            return VllmBackend(
                str(paths.model),
                str(paths.tokenizer),
                dtype=plan.dtype,
                gpus=len(plan.gpus),
                max_batch_sequences=max(max_batch_sequences, 64),
            )
        except Exception as error:
            if backend == "vllm":
                raise
            log.warning("vLLM could not start (%s); using transformers", error)
    return TransformersBackend(load_model(model_dir, dtype=dtype), max_batch_sequences=max_batch_sequences)
