"""Which repo files to fetch, and where each goes: DIR/model/ or DIR/tokenizer/."""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Iterable, Sequence

# What a transformers/vLLM loader needs from a model repo. GGUF exports, PyTorch pickles and
# `original/` checkpoints are skipped: on codegemma-7b-it the .gguf alone is 34 GB.
DEFAULT_INCLUDE = ("*.safetensors", "*.json", "*.model", "*.txt", "*.jinja", "*.tiktoken", "*.py")
DEFAULT_EXCLUDE = ("original/*", "*.gguf", "*.bin", "*.pt", "*.pth", "*.onnx", "*.h5", "*.msgpack", "*.ot")

TOKENIZER_NAMES = frozenset(
    {
        "tokenizer.json",
        "tokenizer.model",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "added_tokens.json",
        "chat_template.json",
        "chat_template.jinja",
        "vocab.json",
        "vocab.txt",
        "merges.txt",
        "spiece.model",
        "sentencepiece.bpe.model",
    }
)
TOKENIZER_PATTERNS = ("tokenizer*", "*.tiktoken", "chat_template*")

MODEL_DIR = "model"
TOKENIZER_DIR = "tokenizer"


def matches(path: str, patterns: Iterable[str]) -> bool:
    return any(
        fnmatch.fnmatchcase(path, p) or fnmatch.fnmatchcase(posixpath.basename(path), p) for p in patterns
    )


def select_files(paths: Iterable[str], include: Sequence[str], exclude: Sequence[str]) -> list[str]:
    """Repo paths to fetch. Without --include, the default allow- and deny-lists apply; an --include
    replaces both (so `--include '*.gguf'` works). --exclude always applies."""
    if include:
        allow, deny = tuple(include), tuple(exclude)
    else:
        allow, deny = DEFAULT_INCLUDE, DEFAULT_EXCLUDE + tuple(exclude)
    return sorted(p for p in paths if matches(p, allow) and not matches(p, deny))


def destination(repo_path: str) -> str:
    """The file's path under the output dir: tokenizer files in tokenizer/, everything else in model/."""
    if "/" not in repo_path and (repo_path in TOKENIZER_NAMES or matches(repo_path, TOKENIZER_PATTERNS)):
        return f"{TOKENIZER_DIR}/{repo_path}"
    return f"{MODEL_DIR}/{repo_path}"
