"""A tiny, randomly initialised causal LM laid out like the downloader's output (`model/` + `tokenizer/`).

Tests and end-to-end runs need a real transformers model folder without touching a hub. This builds one
in a few seconds: a Llama- or Gemma-architecture config with two small layers and a byte-level tokenizer
(every byte is a token, so it can spell any Python source and any digits) wrapped as a
`PreTrainedTokenizerFast` with a chat template and special tokens.

The random weights write junk; that is the point for robustness tests. Building is deterministic, and the
result is cached per process and on disk (in the system temp folder, keyed by the library versions), so
calling `build_tiny_model` repeatedly costs a folder copy.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

ARCHITECTURES = ("llama", "gemma")
SPECIAL_TOKENS = ["<pad>", "<bos>", "<eos>", "<unk>", "<|im_start|>", "<|im_end|>"]
# ChatML: the prompt builder in the solver uses whatever template a tokenizer ships with.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
_LAYOUT_VERSION = "1"  # bump when the recipe below changes, so stale disk caches are not reused
_COMPLETE_MARKER = ".tiny-model-complete"


def build_tiny_model(root: Path, *, arch: str = "llama") -> Path:
    """Create `root/model/` and `root/tokenizer/` for a tiny random causal LM; return `root`.

    Calling it again on a complete folder does nothing. `arch` is "llama" or "gemma".
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"arch must be one of {ARCHITECTURES}, not {arch!r}")
    root = Path(root)
    marker = root / _COMPLETE_MARKER
    if marker.is_file() and marker.read_text(encoding="utf-8").strip() == arch:
        return root
    cached = _cached_build(arch)
    root.mkdir(parents=True, exist_ok=True)
    for part in ("model", "tokenizer"):
        if (root / part).exists():
            shutil.rmtree(root / part)
        shutil.copytree(cached / part, root / part)
    (root / _COMPLETE_MARKER).write_text(arch, encoding="utf-8")
    return root


def _cache_key(arch: str) -> str:
    import tokenizers
    import torch
    import transformers

    versions = (
        f"{_LAYOUT_VERSION}-{arch}-{transformers.__version__}-{tokenizers.__version__}-{torch.__version__}"
    )
    return hashlib.sha256(versions.encode()).hexdigest()[:16]


def _cached_build(arch: str) -> Path:
    base = Path(
        os.environ.get("ARCFORGE_TINY_MODEL_CACHE", Path(tempfile.gettempdir()) / "arcforge-tiny-models")
    )
    target = base / f"{arch}-{_cache_key(arch)}"
    if (target / _COMPLETE_MARKER).is_file():
        return target
    base.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{arch}-", dir=base))
    try:
        _build(staging, arch)
        (staging / _COMPLETE_MARKER).write_text(arch, encoding="utf-8")
        try:
            staging.rename(target)
        except OSError:
            # Another process finished first; its copy is identical.
            if not (target / _COMPLETE_MARKER).is_file():
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


def build_tokenizer() -> object:
    """The byte-level tokenizer as a `PreTrainedTokenizerFast` (not saved)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {token: index for index, token in enumerate(SPECIAL_TOKENS)}
    for symbol in sorted(alphabet):
        vocab.setdefault(symbol, len(vocab))
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens(SPECIAL_TOKENS)
    tokenizer = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call,unused-ignore]
        tokenizer_object=backend,
        bos_token="<bos>",
        eos_token="<eos>",
        pad_token="<pad>",
        unk_token="<unk>",
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
        padding_side="left",
        model_max_length=4096,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def _build(folder: Path, arch: str) -> None:
    import torch
    from transformers import AutoModelForCausalLM, GemmaConfig, GenerationConfig, LlamaConfig

    tokenizer = build_tokenizer()
    tokenizer.save_pretrained(folder / "tokenizer")  # type: ignore[attr-defined]
    ids = {name: tokenizer.convert_tokens_to_ids(name) for name in SPECIAL_TOKENS}  # type: ignore[attr-defined]
    vocab_size = len(tokenizer)  # type: ignore[arg-type]
    shape = {
        "vocab_size": vocab_size,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 16,
        "max_position_embeddings": 4096,
        "bos_token_id": ids["<bos>"],
        "eos_token_id": [ids["<eos>"], ids["<|im_end|>"]],
        "pad_token_id": ids["<pad>"],
        "tie_word_embeddings": True,
    }
    config = LlamaConfig(**shape) if arch == "llama" else GemmaConfig(**shape)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)  # type: ignore[no-untyped-call,unused-ignore]
    model.generation_config = GenerationConfig(  # type: ignore[no-untyped-call,unused-ignore]
        bos_token_id=ids["<bos>"],
        eos_token_id=[ids["<eos>"], ids["<|im_end|>"]],
        pad_token_id=ids["<pad>"],
    )
    model.save_pretrained(folder / "model", safe_serialization=True)
