"""The hybrid engine's DSL search on several CPU cores: a portfolio of search processes with different
seeds on one task, whose candidates are ranked together."""

from __future__ import annotations

import numpy as np

from arcforge_solver.engines.llm.search_worker import PORTFOLIO_LIMIT, SearchPortfolio, portfolio_options
from arcforge_solver.tasks.model import Pair, Task, to_grid


def _flip_task() -> Task:
    grids = [[[1, 2], [3, 4]], [[5, 0, 0], [0, 6, 0]]]
    train = tuple(Pair(to_grid(g), to_grid(g[::-1])) for g in grids)
    return Task("flip", train, (Pair(to_grid([[7, 8], [9, 1]])),))


def test_a_portfolio_answers_with_every_process_ranked_together() -> None:
    portfolio = SearchPortfolio(2)
    try:
        job = portfolio.submit(_flip_task(), 10.0, seed=3)
        portfolio.wait(job.started + job.seconds)
        assert job.finished and job.error is None and job.result is not None
        assert job.result.stats["processes"] == 2 and job.result.stats["answered"] == 2
        assert job.result.stats["train_solved"] is True
        assert job.result.stats["evaluations"] > 0
        best = job.result.candidates[0]
        assert best.train_exact == 2
        assert best.predictions[0] is not None
        assert np.array_equal(best.predictions[0], [[9, 1], [7, 8]])
        sources = [c.source for c in job.result.candidates]
        assert len(sources) == len(set(sources))  # merged without repeats
    finally:
        portfolio.close()


def test_portfolio_settings() -> None:
    assert portfolio_options(0, {"max_cost": 4}) == {"max_cost": 4}
    assert portfolio_options(1, {})["enumerate_share"] == 0.3  # the others evolve more
    assert len(SearchPortfolio(100).workers) == PORTFOLIO_LIMIT
    assert len(SearchPortfolio(0).workers) == 1
