"""Find, check and load a causal LM from a local folder, never from a hub.

Two layouts are accepted: the downloader's (`DIR/model/` with config and weights, `DIR/tokenizer/`) and a
plain Hugging Face folder (config, weights and tokenizer side by side). Anything else fails with one error
that lists what the folder holds, instead of transformers' "No file named model.safetensors" deep in a
traceback.

Device and dtype come from the hardware: every visible GPU through `device_map="auto"`, bf16 where all
cards support it (compute capability 8.0+), fp16 on older cards such as the T4, fp32 on CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
