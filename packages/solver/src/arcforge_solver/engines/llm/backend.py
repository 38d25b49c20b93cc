"""Batched text generation: many prompts per forward pass, several samples per prompt.

`TransformersBackend` packs prompts into left-padded batches (so every row continues at its right end),
asks `generate` for `num_return_sequences` samples each with the KV cache on, a max-new-tokens budget and
a wall-clock limit. A CUDA (or CPU allocator) out-of-memory error halves the batch and retries; one
sequence that still does not fit halves its token budget, and a last failure gives up on that prompt
instead of the run. `VllmBackend` is used when vLLM is installed and a GPU is present; it is never needed.

Every backend returns `Completion`s with the number of tokens generated, which the budget uses.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from arcforge_solver.engines.llm.loading import LoadedModel

log = logging.getLogger(__name__)

MIN_NEW_TOKENS = 16
"""Below this token budget a retry after out-of-memory is not worth it."""


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
    """Stop generating after this long (partial text is returned)."""
    should_stop: Callable[[], bool] | None = None
    """Checked between decoding steps: True ends the request early (the search already solved the task)."""


class GenerationBackend(Protocol):
    """What the operators need from a model: prompt texts in, sampled completions out."""

    name: str

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
    max_prompt_tokens: int = 3072
    name: str = "transformers"
    _tokenizer: Any = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._tokenizer = self.loaded.tokenizer

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    def render(self, content: str) -> str:
        from arcforge_solver.engines.llm.prompts import chat_prompt  # noqa: PLC0415  (prompts imports nothing heavy)

        return chat_prompt(self._tokenizer, content)

    def generate(self, request: GenerationRequest) -> tuple[list[Completion], GenerationStats]:
        stats = GenerationStats(prompts=len(request.prompts))
        started = time.monotonic()
        completions: list[Completion] = []
        needed = dict.fromkeys(range(len(request.prompts)), request.samples)
        max_new = request.max_new_tokens
        rounds = 0
        while needed:
            if request.max_seconds is not None and time.monotonic() - started >= request.max_seconds:
                break
            if request.should_stop is not None and request.should_stop():
                break
            cap = self.max_batch_sequences
            per_row = min(cap, max(needed.values()))
            chunk = list(needed)[: max(1, cap // per_row)]
            remaining = (
                None if request.max_seconds is None else request.max_seconds - (time.monotonic() - started)
            )
            try:
                produced = self._generate_chunk(
                    request,
                    chunk,
                    samples=per_row,
                    max_new_tokens=max_new,
                    max_seconds=remaining,
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
        max_seconds: float | None,
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
            max_length=self.max_prompt_tokens,
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
        if request.temperature > 0:
            kwargs.update(do_sample=True, temperature=request.temperature, top_p=request.top_p)
        else:
            kwargs.update(do_sample=False)
        if max_seconds is not None:
            kwargs["max_time"] = max(0.1, max_seconds)
        if request.should_stop is not None:
            kwargs["stopping_criteria"] = _stop_when(request.should_stop)
        with torch.inference_mode():
            output = self.loaded.model.generate(**kwargs)
        new = output[:, input_ids.shape[1] :].cpu()
        stop_ids = _stop_ids(self.loaded.model, tokenizer)
        completions: list[Completion] = []
        for row in range(new.shape[0]):
            tokens = new[row].tolist()
            length = next((k for k, t in enumerate(tokens) if t in stop_ids), len(tokens))
            stats.new_tokens += length
            text = tokenizer.decode(tokens[:length], skip_special_tokens=True)
            completions.append(Completion(prompt_index=indices[row // samples], text=text, new_tokens=length))
        return completions


def _stop_when(should_stop: Callable[[], bool]) -> Any:
    """A transformers stopping criterion that ends every row once `should_stop()` says so."""
    import torch  # noqa: PLC0415
    from transformers import StoppingCriteria, StoppingCriteriaList  # noqa: PLC0415

    class _External(StoppingCriteria):  # type: ignore[misc,unused-ignore]
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            return torch.full(
                (input_ids.shape[0],), bool(should_stop()), dtype=torch.bool, device=input_ids.device
            )

    return StoppingCriteriaList([_External()])


def _stop_ids(model: Any, tokenizer: Any) -> set[int]:
    ids: set[int] = set()
    for value in (
        getattr(model.generation_config, "eos_token_id", None),
        tokenizer.eos_token_id,
        tokenizer.pad_token_id,
    ):
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, list | tuple):
            ids.update(v for v in value if isinstance(v, int))
    return ids


class VllmBackend:
    """vLLM's continuous batching on GPU: the same requests, several times the throughput."""

    name = "vllm"

    def __init__(
        self, model_path: str, tokenizer_path: str, dtype: str, gpus: int, max_prompt_tokens: int = 3072
    ) -> None:
        from vllm import LLM  # noqa: PLC0415  (optional dependency)

        self._llm = LLM(
            model=model_path,
            tokenizer=tokenizer_path,
            dtype=dtype,
            tensor_parallel_size=max(1, gpus),
            gpu_memory_utilization=0.85,
            max_model_len=max_prompt_tokens + 1024,
            seed=0,
        )
        self._tokenizer = self._llm.get_tokenizer()
        self.max_prompt_tokens = max_prompt_tokens

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    def render(self, content: str) -> str:
        from arcforge_solver.engines.llm.prompts import chat_prompt  # noqa: PLC0415

        return chat_prompt(self._tokenizer, content)

    def generate(self, request: GenerationRequest) -> tuple[list[Completion], GenerationStats]:
        from vllm import SamplingParams  # noqa: PLC0415

        stats = GenerationStats(prompts=len(request.prompts))
        started = time.monotonic()
        params = SamplingParams(
            n=request.samples,
            temperature=request.temperature,
            top_p=request.top_p if request.temperature > 0 else 1.0,
            max_tokens=request.max_new_tokens,
            seed=request.seed,
        )
        # Token ids, not text: a chat-templated prompt already holds the BOS token, and vLLM would add
        # another; long prompts lose their start, as with transformers.
        bos = getattr(self._tokenizer, "bos_token", None) or ""
        inputs = []
        for text in request.prompts:
            ids = self._tokenizer(text, add_special_tokens=not (bos and text.startswith(bos)))["input_ids"]
            inputs.append({"prompt_token_ids": list(ids)[-self.max_prompt_tokens :]})
        results = self._llm.generate(inputs, params, use_tqdm=False)
        completions: list[Completion] = []
        for index, result in enumerate(results):
            stats.prompt_tokens += len(result.prompt_token_ids or [])
            for sample in result.outputs:
                stats.new_tokens += len(sample.token_ids)
                completions.append(Completion(index, sample.text, len(sample.token_ids)))
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
            return VllmBackend(str(paths.model), str(paths.tokenizer), plan.dtype, len(plan.gpus))
        except Exception as error:
            if backend == "vllm":
                raise
            log.warning("vLLM could not start (%s); using transformers", error)
    return TransformersBackend(load_model(model_dir, dtype=dtype), max_batch_sequences=max_batch_sequences)
