"""A task as token ids: one token per cell, a row separator, train pairs, then the test input and output.

The layout of one pair is `I⏎ rows O⏎ rows`, where every row is its cells' digit tokens followed by the
row separator (⏎, the newline token). A prompt is the context pairs, then the query's `I⏎ rows O⏎`; the
answer is the query output's rows and end-of-sequence. Ids are looked up once per tokenizer, cell by
cell, rather than by tokenising text: tokenizers that merge digit runs (Llama 3 spells "123" as one
token) would otherwise give grids a row length the model cannot see. Token counts are therefore exact
arithmetic on grid shapes, which is what fitting the context window needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from arcforge_solver.tasks.model import Grid, Pair

MAX_SIDE = 30
INPUT_MARKER, OUTPUT_MARKER, ROW_SEPARATOR = "I", "O", "\n"


class FormatError(ValueError):
    """The tokenizer cannot spell grids one token per cell, or a task does not fit the context window."""


def _single_token_id(tokenizer: Any, text: str) -> int:
    """The id of `text` as one token: its vocabulary entry (also in byte-level or SentencePiece
    spelling), else what encoding it yields when that is one token."""
    vocab = tokenizer.get_vocab()
    byte_level = {"\n": "Ċ", " ": "Ġ"}.get(text, text)
    sentencepiece = f"<0x{ord(text):02X}>" if len(text) == 1 and not text.isalnum() else text
    for spelling in (text, byte_level, sentencepiece):
        if spelling in vocab:
            return int(vocab[spelling])
    ids = tokenizer.encode(text, add_special_tokens=False)
    if len(ids) == 1:
        return int(ids[0])
    raise FormatError(f"the tokenizer has no single token for {text!r} (it encodes as {ids})")


@dataclass(frozen=True)
class GridVocabulary:
    """The token ids that grids are written with, in one model's own tokenizer."""

    digits: tuple[int, ...]
    """The ids of "0" … "9": colour c is `digits[c]`."""
    row_separator: int
    input_marker: tuple[int, ...]
    output_marker: tuple[int, ...]
    eos: int
    prefix: tuple[int, ...] = ()
    """Ids every sequence starts with (the beginning-of-sequence token where the model has one)."""

    @classmethod
    def from_tokenizer(cls, tokenizer: Any) -> GridVocabulary:
        digits = tuple(_single_token_id(tokenizer, str(d)) for d in range(10))
        separator = _single_token_id(tokenizer, ROW_SEPARATOR)
        if len(set(digits) | {separator}) != 11:
            raise FormatError("the tokenizer spells two grid symbols with the same token")
        eos = tokenizer.eos_token_id
        if eos is None:
            raise FormatError("the tokenizer has no end-of-sequence token")
        bos = tokenizer.bos_token_id
        return cls(
            digits=digits,
            row_separator=separator,
            input_marker=(*tokenizer.encode(INPUT_MARKER, add_special_tokens=False), separator),
            output_marker=(*tokenizer.encode(OUTPUT_MARKER, add_special_tokens=False), separator),
            eos=int(eos),
            prefix=(int(bos),) if bos is not None else (),
        )

    @property
    def answer_tokens(self) -> tuple[int, ...]:
        """What an answer may consist of: the digits, the row separator and end-of-sequence."""
        return (*self.digits, self.row_separator, self.eos)

    def grid_ids(self, grid: Grid) -> list[int]:
        ids: list[int] = []
        for row in np.asarray(grid).tolist():
            ids.extend(self.digits[int(v)] for v in row)
            ids.append(self.row_separator)
        return ids

    def decode_grid(self, ids: Sequence[int]) -> Grid | None:
        """The grid an answer spells, or None unless it is a rectangular 1-30 × 1-30 grid of digits
        whose every row ends with the separator (a trailing end-of-sequence is allowed)."""
        ids = list(ids)
        if ids and ids[-1] == self.eos:
            ids.pop()
        if not ids or ids[-1] != self.row_separator:
            return None
        colour = {token: c for c, token in enumerate(self.digits)}
        rows: list[list[int]] = [[]]
        for token in ids[:-1]:
            if token == self.row_separator:
                rows.append([])
            elif token in colour:
                rows[-1].append(colour[token])
            else:
                return None
        width = len(rows[0])
        if not 1 <= width <= MAX_SIDE or not 1 <= len(rows) <= MAX_SIDE:
            return None
        if any(len(row) != width for row in rows):
            return None
        return np.asarray(rows, dtype=np.int8)

    # -- token counts (exact, from shapes) ----------------------------------------------------------
    def grid_token_count(self, grid: Grid) -> int:
        height, width = np.asarray(grid).shape
        return int(height * (width + 1))

    def pair_token_count(self, pair: Pair) -> int:
        count = len(self.input_marker) + self.grid_token_count(pair.input) + len(self.output_marker)
        return count + (self.grid_token_count(pair.output) if pair.output is not None else 0)


@dataclass(frozen=True)
class Encoded:
    """One sequence: `ids[:answer_start]` is the prompt, the rest (if any) the answer and end-of-sequence."""

    ids: tuple[int, ...]
    answer_start: int

    @property
    def prompt(self) -> tuple[int, ...]:
        return self.ids[: self.answer_start]

    @property
    def answer(self) -> tuple[int, ...]:
        return self.ids[self.answer_start :]


def encode(
    vocab: GridVocabulary, context: Sequence[Pair], query: Grid, answer: Grid | None = None
) -> Encoded:
    """The context pairs, the query input and (when given) its answer, as one sequence."""
    ids: list[int] = list(vocab.prefix)
    for pair in context:
        if pair.output is None:
            raise FormatError("a context pair has no output")
        ids += [*vocab.input_marker, *vocab.grid_ids(pair.input), *vocab.output_marker]
        ids += vocab.grid_ids(pair.output)
    ids += [*vocab.input_marker, *vocab.grid_ids(query), *vocab.output_marker]
    start = len(ids)
    if answer is not None:
        ids += [*vocab.grid_ids(answer), vocab.eos]
    return Encoded(tuple(ids), start)


def answer_budget(vocab: GridVocabulary, pairs: Sequence[Pair], query: Grid) -> int:
    """Tokens to reserve for an answer: the largest train output or the query, whichever is bigger,
    and never less than a quarter of the biggest possible grid (outputs may outgrow every example)."""
    sizes = [vocab.grid_token_count(p.output) for p in pairs if p.output is not None]
    sizes.append(vocab.grid_token_count(query))
    return max(*sizes, MAX_SIDE * (MAX_SIDE + 1) // 4) + 1


def fit_context(
    vocab: GridVocabulary,
    context: Sequence[Pair],
    query: Grid,
    *,
    max_tokens: int,
    answer_tokens: int,
) -> list[Pair]:
    """The context pairs that fit `max_tokens` with the query and `answer_tokens` of answer: the whole
    context when it fits, else with the longest pairs dropped first. FormatError when even the query
    alone does not fit."""
    fixed = (
        len(vocab.prefix)
        + len(vocab.input_marker)
        + vocab.grid_token_count(query)
        + len(vocab.output_marker)
        + answer_tokens
    )
    if fixed > max_tokens:
        raise FormatError(
            f"the query and its answer need {fixed} tokens; the context window holds {max_tokens}"
        )
    kept = list(context)
    total = fixed + sum(vocab.pair_token_count(p) for p in kept)
    while total > max_tokens and kept:
        longest = max(range(len(kept)), key=lambda i: vocab.pair_token_count(kept[i]))
        total -= vocab.pair_token_count(kept.pop(longest))
    return kept
