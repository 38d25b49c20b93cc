"""Find, check and load a causal LM from a local folder, never from a hub.

Two layouts are accepted: the downloader's (`DIR/model/` with config and weights, `DIR/tokenizer/`) and a
plain Hugging Face folder (config, weights and tokenizer side by side). Anything else fails with one error
that lists what the folder holds, instead of transformers' "No file named model.safetensors" deep in a
traceback.

Device and dtype come from the hardware: every visible GPU through `device_map="auto"`, bf16 where all
cards support it (compute capability 8.0+), fp16 on older cards such as the T4, fp32 on CPU.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from arcforge_solver.engines.llm.prompts import context_window

WEIGHT_PATTERNS = ("*.safetensors", "*.safetensors.index.json", "pytorch_model*.bin", "*.bin.index.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "tokenizer_config.json", "vocab.json", "spiece.model")
DTYPES = ("auto", "bfloat16", "float16", "float32")


class ModelFolderError(RuntimeError):
    """The model folder is missing, incomplete or unreadable; the message says what is there."""


@dataclass(frozen=True)
class ModelPaths:
    model: Path
    tokenizer: Path


@dataclass(frozen=True)
class DevicePlan:
    """Where the weights go and in which precision."""

    device: str
    """"cuda", "mps" or "cpu": where inputs are sent."""
    device_map: str | None
    """"auto" to spread layers over every GPU (accelerate), None to load on one device."""
    dtype: str
    """A torch dtype name: bfloat16, float16 or float32."""
    gpus: tuple[str, ...] = ()
    """Names of the visible GPUs, for the log."""

    def describe(self) -> str:
        where = ", ".join(self.gpus) if self.gpus else self.device
        return f"{where} ({self.dtype}{', device_map=auto' if self.device_map else ''})"


def describe_folder(folder: Path, *, limit: int = 40) -> str:
    """A short listing of a folder two levels deep (sizes for files), for error messages."""
    if not folder.exists():
        parent = folder.parent
        if parent.is_dir():
            siblings = sorted(p.name for p in parent.iterdir())[:limit]
            return f"{folder} does not exist; {parent} holds: {', '.join(siblings) or '(nothing)'}"
        return f"{folder} does not exist"
    if not folder.is_dir():
        return f"{folder} is a file, not a folder"
    lines: list[str] = []
    for entry in sorted(folder.iterdir()):
        lines.append(_describe_entry(entry, folder))
        if entry.is_dir():
            lines.extend("  " + _describe_entry(child, folder) for child in sorted(entry.iterdir())[:limit])
        if len(lines) >= limit:
            lines.append("…")
            break
    return f"{folder} holds:\n" + ("\n".join("  " + line for line in lines) if lines else "  (nothing)")


def _describe_entry(entry: Path, root: Path) -> str:
    name = str(entry.relative_to(root))
    if entry.is_dir():
        return name + "/"
    try:
        size = entry.stat().st_size
    except OSError:
        return name
    return f"{name} ({_human_bytes(size)})"


def _human_bytes(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


def _has_weights(folder: Path) -> bool:
    return any(any(folder.glob(pattern)) for pattern in WEIGHT_PATTERNS)


def _has_tokenizer(folder: Path) -> bool:
    return any((folder / name).is_file() for name in TOKENIZER_FILES)


def _complete_model(folder: Path) -> bool:
    return (folder / "config.json").is_file() and _has_weights(folder)


def _nested_models(root: Path, depth: int = 3) -> list[Path]:
    """Folders below `root` that look like a model, to suggest when `root` is not one."""
    found: list[Path] = []
    if not root.is_dir() or depth == 0:
        return found
    for child in sorted(root.iterdir()):
        if child.is_dir():
            if _complete_model(child) or (_complete_model(child / "model")):
                found.append(child)
            else:
                found.extend(_nested_models(child, depth - 1))
    return found


def resolve_model_paths(model_dir: str | os.PathLike[str]) -> ModelPaths:
    """The model and tokenizer folders inside `model_dir`, or a `ModelFolderError` that lists it."""
    root = Path(model_dir).expanduser()
    expected = (
        "expected DIR/model/ (config.json + *.safetensors) and DIR/tokenizer/ as `arcforge-download` writes them, "
        "or one Hugging Face folder holding config.json, the weights and the tokenizer"
    )
    if not root.is_dir():
        raise ModelFolderError(f"model folder not found: {describe_folder(root)}\n{expected}")
    if (root / "model").is_dir():
        model = root / "model"
    elif (root / "config.json").is_file():
        model = root
    else:
        raise ModelFolderError(_explain(root, "no config.json in it or in model/", expected))
    if not (model / "config.json").is_file():
        raise ModelFolderError(_explain(root, f"{model} has no config.json", expected))
    if not _has_weights(model):
        raise ModelFolderError(
            _explain(
                root, f"{model} has no weights (no file named model.safetensors or *.safetensors)", expected
            )
        )
    for tokenizer in (root / "tokenizer", model, root):
        if tokenizer.is_dir() and _has_tokenizer(tokenizer):
            return ModelPaths(model=model, tokenizer=tokenizer)
    raise ModelFolderError(_explain(root, "no tokenizer (tokenizer.json or tokenizer.model) found", expected))


def _explain(root: Path, problem: str, expected: str) -> str:
    message = f"not a usable model folder: {problem}\n{expected}\n{describe_folder(root)}"
    nested = _nested_models(root)
    if nested:
        message += "\ndid you mean: " + ", ".join(str(p) for p in nested[:5])
    return message


def read_config(model_folder: str | os.PathLike[str]) -> SimpleNamespace:
    """`config.json` as attributes (nested objects too), read without transformers; empty when unreadable."""
    try:
        data = json.loads((Path(model_folder) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return SimpleNamespace()

    def wrap(value: Any) -> Any:
        return SimpleNamespace(**{k: wrap(v) for k, v in value.items()}) if isinstance(value, dict) else value

    wrapped = wrap(data)
    return wrapped if isinstance(wrapped, SimpleNamespace) else SimpleNamespace()


_DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8}
GPU_OVERHEAD_BYTES = 1024**3
"""CUDA context, allocator slack and activations of one replica, beyond its weights and KV cache."""


def weight_bytes(model_folder: str | os.PathLike[str]) -> int:
    """Bytes of the weights on disk: the index's total_size, else the sum of the weight files."""
    folder = Path(model_folder)
    for index in sorted(folder.glob("*.index.json")):
        try:
            total = json.loads(index.read_text(encoding="utf-8")).get("metadata", {}).get("total_size")
        except (OSError, ValueError, AttributeError):
            total = None
        if isinstance(total, int) and total > 0:
            return total
    files = [*folder.glob("*.safetensors")] or [*folder.glob("pytorch_model*.bin")]
    return sum(f.stat().st_size for f in files if f.is_file())


def kv_bytes_per_token(config: Any, dtype_bytes: int = 2) -> int:
    """KV-cache bytes one token costs: keys and values of every layer's KV heads."""
    config = getattr(config, "text_config", None) or config
    layers = getattr(config, "num_hidden_layers", None)
    heads = getattr(config, "num_attention_heads", None)
    hidden = getattr(config, "hidden_size", None)
    if not isinstance(layers, int) or not isinstance(heads, int) or not heads:
        return 0
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "head_dim", None) or (hidden // heads if isinstance(hidden, int) else 0)
    return int(2 * layers * kv_heads * head_dim * dtype_bytes)


def replica_bytes(model_dir: str | os.PathLike[str], *, gpu_dtype_bytes: int = 2) -> int | None:
    """GPU memory one model replica needs: its weights in the GPU dtype (bf16/fp16), the KV cache of one
    sequence as long as the context window, and GPU_OVERHEAD_BYTES; None when the folder is unreadable.
    Reads config.json and file sizes only (no torch), so the runtime can plan lanes before loading."""
    try:
        paths = resolve_model_paths(model_dir)
    except ModelFolderError:
        return None
    config = read_config(paths.model)
    stored = getattr(config, "torch_dtype", None) or getattr(config, "dtype", None)
    weights = weight_bytes(paths.model)
    if not weights:
        return None
    if isinstance(stored, str) and stored in _DTYPE_BYTES:
        weights = weights * gpu_dtype_bytes // _DTYPE_BYTES[stored]
    window = context_window(config, None) or 4096
    return weights + kv_bytes_per_token(config, gpu_dtype_bytes) * window + GPU_OVERHEAD_BYTES


def pick_dtype(capabilities: list[tuple[int, int]], *, mps: bool = False) -> str:
    """bfloat16 when every GPU is Ampere or newer, float16 on older GPUs (T4, V100, P100), float32 on CPU."""
    if capabilities:
        return "bfloat16" if all(major >= 8 for major, _ in capabilities) else "float16"
    return "float16" if mps else "float32"


def plan_device(requested_dtype: str = "auto", *, device: str = "auto") -> DevicePlan:
    """Look at the hardware and decide where and in which precision to load."""
    import torch  # noqa: PLC0415  (torch only once a model is wanted)

    if requested_dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, not {requested_dtype!r}")
    use_cuda = torch.cuda.is_available() and device in ("auto", "cuda")
    use_mps = (
        not use_cuda and device in ("auto", "mps") and getattr(torch.backends, "mps", None) is not None
    ) and torch.backends.mps.is_available()
    if use_cuda:
        count = torch.cuda.device_count()
        capabilities: list[tuple[int, int]] = []
        for index in range(count):
            major, minor = torch.cuda.get_device_capability(index)
            capabilities.append((int(major), int(minor)))
        names = tuple(torch.cuda.get_device_name(i) for i in range(count))
        dtype = pick_dtype(capabilities)
        plan = DevicePlan(device="cuda", device_map="auto", dtype=dtype, gpus=names)
    elif use_mps:
        plan = DevicePlan(device="mps", device_map=None, dtype=pick_dtype([], mps=True))
    else:
        plan = DevicePlan(device="cpu", device_map=None, dtype="float32")
    if requested_dtype != "auto":
        plan = DevicePlan(plan.device, plan.device_map, requested_dtype, plan.gpus)
    return plan


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    plan: DevicePlan
    paths: ModelPaths

    @property
    def input_device(self) -> Any:
        """Where input ids go: the device of the embedding layer (the first GPU under device_map)."""
        return self.model.get_input_embeddings().weight.device


def _dtype_keyword() -> str:
    """transformers renamed `torch_dtype` to `dtype` in 4.56; older releases ignore the new name."""
    import transformers  # noqa: PLC0415

    major, minor = (int(part) for part in transformers.__version__.split(".")[:2])
    return "dtype" if (major, minor) >= (4, 56) else "torch_dtype"


def load_model(
    model_dir: str | os.PathLike[str], *, dtype: str = "auto", device: str = "auto"
) -> LoadedModel:
    """Load tokenizer and causal LM offline from `model_dir` onto the planned device(s)."""
    paths = resolve_model_paths(model_dir)
    os.environ["HF_HUB_OFFLINE"] = "1"  # before transformers reads it; local_files_only covers a late import
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch  # noqa: PLC0415
    from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: PLC0415

    plan = plan_device(dtype, device=device)
    try:
        tokenizer = AutoTokenizer.from_pretrained(paths.tokenizer, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelFolderError(
            f"cannot load the tokenizer from {paths.tokenizer}: {exc}\n{describe_folder(paths.tokenizer)}"
        ) from exc
    tokenizer.padding_side = "left"  # generation continues the right end of every row
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token if tokenizer.eos_token is not None else tokenizer.unk_token
    kwargs: dict[str, Any] = {_dtype_keyword(): getattr(torch, plan.dtype), "local_files_only": True}
    if plan.device_map:
        kwargs["device_map"] = plan.device_map
    try:
        model: Any = AutoModelForCausalLM.from_pretrained(paths.model, **kwargs)
    except Exception as exc:  # OSError, safetensors' own error, out of memory: all end the same way
        raise ModelFolderError(
            f"cannot load the model from {paths.model}: {type(exc).__name__}: {exc}\n{describe_folder(paths.model)}"
        ) from exc
    if plan.device_map is None:
        model = model.to(plan.device)
    model.eval()
    if getattr(model, "generation_config", None) is not None and model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    return LoadedModel(model=model, tokenizer=tokenizer, plan=plan, paths=paths)
