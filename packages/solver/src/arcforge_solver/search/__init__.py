"""The model-free search engine: typed enumeration, evolution and learned final steps over the DSL.

- `engine.SearchEngine`: the engine the runtime loads as `--engine search`;
- `population`: rank mixed candidates (ours and an LLM's) and pick two distinct attempts;
- `program`: program trees and their `def solve(grid)` source;
- `evaluator`, `enumerate`, `evolve`, `learn`, `library`, `scoreboard`: the parts of the search.
"""
