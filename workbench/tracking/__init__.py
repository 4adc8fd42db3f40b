"""Experiment tracking: runs, params, metrics, tags, datasets, artifacts and search."""
