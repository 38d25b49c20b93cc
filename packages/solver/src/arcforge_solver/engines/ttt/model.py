"""The model that test-time training adapts: a causal LM with a LoRA adapter (or, for small models, all
of its weights trainable), and a reset that puts it back exactly as loaded before every task.

Loading reuses the LLM engine's (`engines.llm.loading`): our `model/` + `tokenizer/` layout or a plain
Hugging Face folder, offline, bf16 on GPUs of compute capability 8.0 and up, fp16 below, fp32 on CPU.
`quantize="4bit"` or `"8bit"` loads the base weights through bitsandbytes (CUDA only); a checkpoint that
was saved quantized (such as the ARChitects' `*-bnb-4bit`) loads quantized by itself.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from typing import Any

from arcforge_solver.engines.llm.loading import (
    LoadedModel,
    ModelFolderError,
    describe_folder,
    load_model,
    plan_device,
    resolve_model_paths,
)
from arcforge_solver.engines.ttt.format import GridVocabulary

MODES = ("lora", "full")
QUANTIZE = ("none", "4bit", "8bit")
DEFAULT_CONTEXT = 8192


@dataclass(frozen=True)
class AdapterSettings:
    mode: str = "lora"
    """"lora": train a LoRA adapter on every linear layer; "full": train every weight (small models)."""
    rank: int = 32
    alpha: int = 32
    dropout: float = 0.0


@dataclass
class TttModel:
    """A trainable causal LM, its tokenizer, the grid vocabulary and the weights to reset to."""

    model: Any
    tokenizer: Any
    vocab: GridVocabulary
    settings: AdapterSettings
    device: Any
    dtype: str = "float32"
    max_tokens: int = DEFAULT_CONTEXT
    """The context window used: the model's own, capped by the engine's setting."""
    _initial: dict[str, Any] = field(default_factory=dict, repr=False)
    resets: int = 0

    @classmethod
    def wrap(
        cls,
        model: Any,
        tokenizer: Any,
        settings: AdapterSettings | None = None,
        *,
        dtype: str = "float32",
        max_tokens: int | None = None,
    ) -> TttModel:
        """Make `model` trainable as `settings` says and remember its starting weights."""
        settings = settings or AdapterSettings()
        if settings.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {settings.mode!r}")
        if settings.mode == "lora":
            from peft import LoraConfig, get_peft_model  # noqa: PLC0415

            config = LoraConfig(
                r=settings.rank,
                lora_alpha=settings.alpha,
                lora_dropout=settings.dropout,
                target_modules="all-linear",
                bias="none",
                task_type="CAUSAL_LM",
            )
            model = get_peft_model(model, config)
        else:
            for parameter in model.parameters():
                parameter.requires_grad_(True)
        window = _context_window(model, tokenizer)
        wrapped = cls(
            model=model,
            tokenizer=tokenizer,
            vocab=GridVocabulary.from_tokenizer(tokenizer),
            settings=settings,
            device=model.get_input_embeddings().weight.device,
            dtype=dtype,
            max_tokens=min(window, max_tokens) if max_tokens else window,
        )
        wrapped._initial = {
            name: parameter.detach().to("cpu", copy=True)
            for name, parameter in model.named_parameters()
            if parameter.requires_grad
        }
        model.eval()
        return wrapped

    def trainable(self) -> list[Any]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def reset(self) -> None:
        """Put every trainable weight back to its value when loaded: nothing learnt on one task leaks
        into the next."""
        import torch  # noqa: PLC0415

        with torch.no_grad():
            for name, parameter in self.model.named_parameters():
                if name in self._initial:
                    parameter.copy_(self._initial[name].to(parameter.device))
        self.model.eval()
        self.resets += 1

    def trainable_bytes(self) -> int:
        return sum(p.numel() * p.element_size() for p in self.trainable())


def _context_window(model: Any, tokenizer: Any) -> int:
    config = getattr(model, "config", None)
    window = getattr(config, "max_position_embeddings", None) or DEFAULT_CONTEXT
    tokenizer_limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(tokenizer_limit, int) and 0 < tokenizer_limit < window:
        window = tokenizer_limit
    return int(window)


def open_ttt_model(
    model_dir: str | os.PathLike[str],
    *,
    settings: AdapterSettings | None = None,
    dtype: str = "auto",
    quantize: str = "none",
    max_tokens: int | None = None,
    gradient_checkpointing: bool = False,
) -> TttModel:
    """Load `model_dir` and make it trainable; ModelFolderError with the folder's listing when it
    cannot be loaded."""
    if quantize not in QUANTIZE:
        raise ValueError(f"quantize must be one of {', '.join(QUANTIZE)}, not {quantize!r}")
    loaded = (
        load_model(model_dir, dtype=dtype)
        if quantize == "none"
        else _load_quantized(model_dir, dtype, quantize)
    )
    model = loaded.model
    if gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()  # so LoRA gradients flow through checkpointed frozen layers
    return TttModel.wrap(model, loaded.tokenizer, settings, dtype=loaded.plan.dtype, max_tokens=max_tokens)


def _load_quantized(model_dir: str | os.PathLike[str], dtype: str, quantize: str) -> LoadedModel:
    plan = plan_device(dtype)
    if plan.device != "cuda":
        raise ModelFolderError(f"quantize {quantize} needs a CUDA GPU (bitsandbytes); this machine has none")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise ModelFolderError(f"quantize {quantize} needs bitsandbytes: pip install bitsandbytes")
    import torch  # noqa: PLC0415
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig  # noqa: PLC0415

    from arcforge_solver.engines.llm.loading import _dtype_keyword  # noqa: PLC0415

    paths = resolve_model_paths(model_dir)
    compute = getattr(torch, plan.dtype)
    config = (
        BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_compute_dtype=compute, bnb_4bit_quant_type="nf4")  # type: ignore[no-untyped-call,unused-ignore]
        if quantize == "4bit"
        else BitsAndBytesConfig(load_in_8bit=True)  # type: ignore[no-untyped-call,unused-ignore]
    )
    try:
        tokenizer = AutoTokenizer.from_pretrained(paths.tokenizer, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(
            paths.model,
            quantization_config=config,
            device_map=plan.device_map,
            local_files_only=True,
            **{_dtype_keyword(): compute},
        )
    except Exception as exc:
        raise ModelFolderError(
            f"cannot load the model from {paths.model}: {type(exc).__name__}: {exc}\n{describe_folder(paths.model)}"
        ) from exc
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return LoadedModel(model=model, tokenizer=tokenizer, plan=plan, paths=paths)
