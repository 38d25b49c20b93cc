"""A Textual monitor for arcforge's download, upload and test-run stages, live and replayed."""

__version__ = "0.1.0"
