"""Offline evolutionary program-synthesis solver for ARC tasks, with an optional transformers LLM engine."""

__version__ = "0.1.0"
