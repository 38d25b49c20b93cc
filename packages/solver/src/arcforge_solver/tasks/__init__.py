"""ARC tasks: the in-memory model and reading them from disk.

- `model`: `Task`, `Pair` and the grid types;
- `io`: load challenges and solutions files or folders, with clear errors.
"""
