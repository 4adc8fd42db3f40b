"""The store: the only package that speaks SQL."""

from workbench.store.store import Store

__all__ = ["Store"]
