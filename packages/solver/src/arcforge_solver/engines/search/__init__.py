"""The model-free search engine: typed enumeration, evolution and learned final steps over the DSL.

- `search_engine.SearchEngine`: the engine the runtime loads as `--engine search`;
- `program`: program trees and their `def solve(grid)` source;
- `evaluator`, `enumerate`, `evolve`, `learn`, `library`, `scoreboard`: the parts of the search.
"""
