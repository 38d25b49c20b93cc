"""One population for every engine: rank mixed candidates and pick the two attempts.

The search engine and the LLM engine put their programs (trusted or not) into one list of
`Candidate`s. `rank` orders them best first: higher train fitness, then more exact train pairs,
then simpler (lower complexity), then trusted before untrusted; the sort is stable, so earlier
candidates win remaining ties. `pick_attempts` takes the two best whose test predictions differ,
which become attempt_1 and attempt_2. `merge` combines populations, dropping candidates whose
source or behaviour repeats a better one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

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


def pick_attempts(candidates: Iterable[Candidate]) -> list[Candidate]:
    """The best candidate and the best one after it whose test predictions differ (at most two)."""
    picked: list[Candidate] = []
    seen: set[tuple[object, ...]] = set()
    for candidate in rank(candidates):
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
