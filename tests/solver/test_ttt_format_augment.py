"""The TTT engine's task format and augmentations: every inverse round-trips, token counts are exact,
and the context fits the window."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from arcforge_solver.engines.ttt.augment import Augmentation, dihedral, sample_augmentations
from arcforge_solver.engines.ttt.format import (
    FormatError,
    GridVocabulary,
    answer_budget,
    encode,
    fit_context,
)
from arcforge_solver.tasks.model import Pair

pytest.importorskip("tokenizers")
from tests.support.tiny_model import build_tokenizer

grids = st.tuples(st.integers(1, 30), st.integers(1, 30)).flatmap(
    lambda shape: arrays(np.int8, shape, elements=st.integers(0, 9))
)
colour_maps = st.permutations(list(range(1, 10))).map(lambda rest: (0, *rest))
augmentations = st.builds(
    Augmentation,
    dihedral=st.integers(0, 7),
    colours=colour_maps,
    order=st.one_of(st.none(), st.permutations([0, 1, 2]).map(tuple)),
)


@pytest.fixture(scope="module")
def vocab() -> GridVocabulary:
    return GridVocabulary.from_tokenizer(build_tokenizer())


@settings(max_examples=150, deadline=None)
@given(grid=grids, augmentation=augmentations)
def test_every_augmentation_inverts_exactly(grid: np.ndarray, augmentation: Augmentation) -> None:
    changed = augmentation.grid(grid)
    assert changed.dtype == np.int8
    restored = augmentation.invert_grid(changed)
    assert restored.shape == grid.shape
    assert np.array_equal(restored, grid)
    # Background stays background, and the cell count is kept.
    assert int((changed == 0).sum()) == int((grid == 0).sum())


@settings(max_examples=60, deadline=None)
@given(inputs=st.lists(grids, min_size=3, max_size=3), augmentation=augmentations)
def test_pair_order_and_grids_invert_together(inputs: list[np.ndarray], augmentation: Augmentation) -> None:
    pairs = [Pair(g, (g + 1) % 10) for g in inputs]
    changed = augmentation.pairs(pairs)
    if augmentation.order is not None:
        # The view shows pair `order[k]` in position k.
        for position, index in enumerate(augmentation.order):
            assert np.array_equal(changed[position].input, augmentation.grid(pairs[index].input))
    restored = augmentation.invert_pairs(changed)
    assert len(restored) == 3
    for original, back in zip(pairs, restored, strict=True):
        assert back.output is not None and original.output is not None
        assert np.array_equal(back.input, original.input)
        assert np.array_equal(back.output, original.output)


def test_the_eight_dihedral_transforms_are_distinct() -> None:
    grid = np.arange(6, dtype=np.int8).reshape(2, 3)
    views = {dihedral(grid, i).tobytes() + bytes(dihedral(grid, i).shape) for i in range(8)}
    assert len(views) == 8


def test_colour_maps_must_keep_the_background() -> None:
    with pytest.raises(ValueError, match="keeping 0 fixed"):
        Augmentation(colours=(1, 0, 2, 3, 4, 5, 6, 7, 8, 9))


def test_sampled_views_start_with_the_identity_and_repeat_for_a_seed() -> None:
    first = sample_augmentations(8, 3, seed=5)
    assert first[0].is_identity
    assert [v.dihedral for v in first] == list(range(8))
    assert all(v.colours[0] == 0 for v in first)
    assert first == sample_augmentations(8, 3, seed=5)
    assert first != sample_augmentations(8, 3, seed=6)


@settings(max_examples=80, deadline=None)
@given(grid=grids)
def test_a_grid_spells_one_token_per_cell_and_decodes_back(grid: np.ndarray, vocab: GridVocabulary) -> None:
    ids = vocab.grid_ids(grid)
    assert len(ids) == vocab.grid_token_count(grid) == grid.shape[0] * (grid.shape[1] + 1)
    decoded = vocab.decode_grid([*ids, vocab.eos])
    assert decoded is not None and np.array_equal(decoded, grid)


def test_the_tokenizer_sees_the_same_tokens_as_the_format(vocab: GridVocabulary) -> None:
    tokenizer = build_tokenizer()
    grid = np.array([[1, 2, 3], [0, 0, 9]], dtype=np.int8)
    text = "".join("".join(str(v) for v in row) + "\n" for row in grid.tolist())
    assert tokenizer.encode(text, add_special_tokens=False) == vocab.grid_ids(grid)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "ids",
    [[], [1], "ragged", "no-final-separator", "too-wide"],
)
def test_malformed_answers_are_not_grids(ids: object, vocab: GridVocabulary) -> None:
    d, sep = vocab.digits, vocab.row_separator
    cases = {
        "ragged": [d[1], d[2], sep, d[3], sep],
        "no-final-separator": [d[1], d[2]],
        "too-wide": [d[1]] * 31 + [sep],
    }
    sequence = cases.get(ids, ids) if isinstance(ids, str) else ids
    assert vocab.decode_grid(sequence) is None  # type: ignore[arg-type]


def test_encoded_length_matches_the_counted_tokens(vocab: GridVocabulary) -> None:
    a = np.array([[1, 2], [3, 4]], dtype=np.int8)
    b = np.array([[5, 6, 7]], dtype=np.int8)
    pairs = [Pair(a, b), Pair(b, a)]
    query, answer = np.array([[8]], dtype=np.int8), np.array([[9, 9]], dtype=np.int8)
    encoded = encode(vocab, pairs, query, answer)
    counted = (
        len(vocab.prefix)
        + sum(vocab.pair_token_count(p) for p in pairs)
        + len(vocab.input_marker)
        + vocab.grid_token_count(query)
        + len(vocab.output_marker)
    )
    assert encoded.answer_start == counted
    assert list(encoded.answer) == [*vocab.grid_ids(answer), vocab.eos]
    assert encode(vocab, pairs, query).ids == encoded.prompt


def test_fit_context_drops_the_longest_pairs_first(vocab: GridVocabulary) -> None:
    small = Pair(np.ones((2, 2), np.int8), np.ones((2, 2), np.int8))
    large = Pair(np.ones((10, 10), np.int8), np.ones((10, 10), np.int8))
    query = np.ones((2, 2), np.int8)
    room = answer_budget(vocab, [small], query)
    everything = fit_context(vocab, [small, large], query, max_tokens=10_000, answer_tokens=room)
    assert everything == [small, large]
    query_alone = len(vocab.prefix) + len(vocab.input_marker) + 6 + len(vocab.output_marker) + room
    needed = query_alone + vocab.pair_token_count(small)
    assert fit_context(vocab, [small, large], query, max_tokens=needed, answer_tokens=room) == [small]
    with pytest.raises(FormatError, match="context window holds 10"):
        fit_context(vocab, [small], query, max_tokens=10, answer_tokens=room)


class SentencePieceLike:
    """A tokenizer as Llama 2, Mistral and Gemma ship theirs (tokenizer.json with byte fallback): the
    newline is the byte token `<0x0A>` and digits are single pieces; `encode` of a lone digit adds the
    word-start piece `▁` first, so it is two ids (SentencePiece's add_dummy_prefix)."""

    eos_token_id, bos_token_id = 2, 1

    def __init__(self, split_digits: bool = True) -> None:
        self.vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, "<0x0A>": 13, "▁": 29871, "I": 29902, "O": 29949}
        if split_digits:
            self.vocab.update({str(d): 29900 + d for d in range(10)})

    def get_vocab(self) -> dict[str, int]:
        return dict(self.vocab)

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return [self.vocab["▁"], *(self.vocab.get(ch, 0) for ch in text)]


def test_grid_tokens_are_found_in_a_sentencepiece_vocabulary() -> None:
    vocab = GridVocabulary.from_tokenizer(SentencePieceLike())
    assert vocab.row_separator == 13
    assert vocab.digits == tuple(29900 + d for d in range(10))
    assert vocab.prefix == (1,) and vocab.eos == 2


def test_a_tokenizer_without_single_digit_tokens_is_refused_by_name() -> None:
    with pytest.raises(FormatError, match="no single token for '0'"):
        GridVocabulary.from_tokenizer(SentencePieceLike(split_digits=False))
