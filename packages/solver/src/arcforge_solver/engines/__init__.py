"""Engines: what turns one task into ranked candidate programs.

- `protocol`: the `Engine` protocol and what passes between the runtime and an engine;
- `registry`: the engine names `--engine` takes, imported lazily;
- `fitness`: train-pair fitness shared by every engine;
- `ranking`: rank a mixed population and pick the two attempts;
- `search/`: the model-free DSL search engine;
- `llm/`: the LLM and hybrid engines.
"""
