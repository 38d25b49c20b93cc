"""One population for every engine: rank mixed candidates and pick the two attempts.

The search engine and the LLM engine put their programs (trusted or not) into one list of
`Candidate`s. `rank` orders them best first: higher train fitness, then more exact train pairs,
then simpler (lower complexity), then trusted before untrusted; the sort is stable, so earlier
candidates win remaining ties. `vote` then groups the train-exact candidates by their test
predictions and puts the groups first, best first by (fewest demerits, most weight, simplest): a
program's weight falls with its complexity, so two programs that agree outweigh one slightly
simpler outlier. `pick_attempts` takes the two best (by vote) whose test predictions differ, which
become attempt_1 and attempt_2; `first_two_distinct` does the same for a list already in order.
`merge` combines populations, dropping candidates whose source or behaviour repeats a better one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from arcforge_solver.engines.protocol import Candidate
from arcforge_solver.tasks.model import Grid


def rank_key(candidate: Candidate) -> tuple[float, int, int, int]:
    return (
        -candidate.train_fitness,
        -candidate.train_exact,
        candidate.complexity,
        0 if candidate.trusted else 1,
    )


def rank(candidates: Iterable[Candidate]) -> list[Candidate]:
    """Best first: fitness desc, exact desc, complexity asc, trusted first; stable otherwise."""
    return sorted(candidates, key=rank_key)


def predictions_key(predictions: Sequence[Grid | None]) -> tuple[object, ...]:
    """A hashable form of a candidate's test predictions (None stays None)."""
    return tuple(
        None if p is None else (p.shape, np.ascontiguousarray(p, dtype=np.int8).tobytes())
        for p in predictions
    )


def usable(candidate: Candidate) -> bool:
    """A candidate gives a grid for at least one test input."""
    return any(p is not None for p in candidate.predictions)


VOTE_DECAY = 0.5
"""A program's vote weighs exp(-VOTE_DECAY * complexity): below ln 2, so two agreeing programs one
step more complex outweigh a single simpler one, while a much simpler program still wins alone."""


def vote_weight(candidate: Candidate) -> float:
    return math.exp(-VOTE_DECAY * max(0, candidate.complexity))


def vote(
    candidates: Iterable[Candidate], demerits: Callable[[Candidate], int] | None = None
) -> list[Candidate]:
    """Candidates best first: one head per group of train-exact candidates with equal test predictions,
    groups ordered by (fewest demerits, most total weight, simplest head); then the other candidates
    by rank; then the groups' other members. `demerits` counts what speaks against a candidate (the
    properties its test output breaks, a memorised table: see the search engine); a group has the
    fewest of its members', and the first member in rank order with that few heads it."""
    groups: dict[tuple[object, ...], list[Candidate]] = {}
    rest: list[Candidate] = []
    for candidate in rank(candidates):
        if candidate.train_fitness >= 1.0 and usable(candidate):
            groups.setdefault(predictions_key(candidate.predictions), []).append(candidate)
        else:
            rest.append(candidate)
    heads: list[tuple[int, float, int, list[Candidate]]] = []
    for members in groups.values():
        counts = [demerits(m) for m in members] if demerits is not None else [0] * len(members)
        fewest = min(counts)
        at = counts.index(fewest)
        members.insert(0, members.pop(at))  # the best-supported reading of the group leads it
        heads.append((fewest, -sum(vote_weight(m) for m in members), members[0].complexity, members))
    ordered = [h[3] for h in sorted(heads, key=lambda h: h[:3])]  # stable: rank order breaks ties
    return [g[0] for g in ordered] + rest + [m for g in ordered for m in g[1:]]


def pick_attempts(
    candidates: Iterable[Candidate], demerits: Callable[[Candidate], int] | None = None
) -> list[Candidate]:
    """The best candidate by vote and the best one after it whose test predictions differ (at most two)."""
    return first_two_distinct(vote(candidates, demerits))


def first_two_distinct(candidates: Iterable[Candidate]) -> list[Candidate]:
    """The first usable candidate and the first one after it whose test predictions differ, in the
    given order (as the runtime picks attempt_1 and attempt_2)."""
    picked: list[Candidate] = []
    seen: set[tuple[object, ...]] = set()
    for candidate in candidates:
        if not usable(candidate):
            continue
        key = predictions_key(candidate.predictions)
        if key in seen:
            continue
        seen.add(key)
        picked.append(candidate)
        if len(picked) == 2:
            break
    return picked


def merge(*populations: Iterable[Candidate], limit: int | None = None) -> list[Candidate]:
    """Rank the union of populations, keeping the best of each source text and of each
    (fitness, predictions) behaviour; at most `limit` survive."""
    out: list[Candidate] = []
    sources: set[str] = set()
    behaviours: set[tuple[object, ...]] = set()
    for candidate in rank(c for population in populations for c in population):
        behaviour = (candidate.train_fitness, predictions_key(candidate.predictions))
        if candidate.source in sources or behaviour in behaviours:
            continue
        sources.add(candidate.source)
        behaviours.add(behaviour)
        out.append(candidate)
        if limit is not None and len(out) >= limit:
            break
    return out
