"""Publish model and wheelhouse datasets, the ARC Prize notebook, its runs, outputs and submissions to Kaggle."""

__version__ = "0.1.0"
