"""Data sets: registry of builders, canonical cached form, and the prepare entry point."""

from pipeline.data.dataset import Dataset

__all__ = ["Dataset"]
