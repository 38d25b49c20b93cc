"""Resumable, verified download of a Hugging Face model repo into model/ + tokenizer/."""

__version__ = "0.1.0"
