"""The LLM engine: an offline causal LM writes, repairs and recombines `solve(grid)` programs that join the
search's population.

Modules, one job each:
- `loading`: find the model folder, pick device and dtype from the hardware, load offline;
- `prompts`: task text, and the generate / refine / crossover prompts;
- `extract`: programs out of model text;
- `backend`: batched generation (transformers; vLLM when installed on a GPU);
- `budget`: throughput measurements, the forecast table, shrinking the population to fit;
- `operators`: prompts → programs → sandboxed candidates;
- `llm_engine`: `LlmEngine` and `HybridEngine` (DSL search in a CPU worker while the model generates).

Importing this package needs no torch; `loading` and `backend` import it when a model is loaded.
"""
