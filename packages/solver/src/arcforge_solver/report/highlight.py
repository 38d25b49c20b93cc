"""Python syntax highlighting with the standard library's tokenizer, for the report and the terminal.

The report must need no network and the solver no extra dependency, so this is a small tokenizer pass
rather than Pygments. Each token gets one of a few kinds; the renderers map kinds to colours.
"""

from __future__ import annotations

import io
import keyword
import token
import tokenize
from collections.abc import Iterator

KINDS = ("keyword", "builtin", "string", "number", "comment", "name", "op", "text")
_BUILTINS = frozenset(
    {"len", "range", "list", "dict", "set", "tuple", "int", "min", "max", "sum", "any", "all"}
)


def highlight_python(source: str) -> list[tuple[str, str]]:
    """The source as (kind, text) pieces that join back to exactly the source."""
    pieces: list[tuple[str, str]] = []
    lines = source.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    position = 0
    try:
        for tok in _tokens(source):
            if tok.type in (token.ENDMARKER, token.INDENT, token.DEDENT):
                continue
            start = offsets[tok.start[0] - 1] + tok.start[1] if tok.start[0] - 1 < len(offsets) else position
            end = offsets[tok.end[0] - 1] + tok.end[1] if tok.end[0] - 1 < len(offsets) else position
            if start < position or end < start:
                continue
            if start > position:
                pieces.append(("text", source[position:start]))
            pieces.append((_kind(tok), source[start:end]))
            position = end
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass  # a broken program is shown plain from where it breaks
    if position < len(source):
        pieces.append(("text", source[position:]))
    return pieces


def _tokens(source: str) -> Iterator[tokenize.TokenInfo]:
    return tokenize.generate_tokens(io.StringIO(source).readline)


def _kind(tok: tokenize.TokenInfo) -> str:
    if tok.type == token.NAME:
        if keyword.iskeyword(tok.string):
            return "keyword"
        return "builtin" if tok.string in _BUILTINS else "name"
    if tok.type == token.STRING or tok.type == getattr(token, "FSTRING_START", -1):
        return "string"
    if tok.type == token.NUMBER:
        return "number"
    if tok.type == token.COMMENT:
        return "comment"
    if tok.type == token.OP:
        return "op"
    return "text"
