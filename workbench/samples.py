"""The bundled sample data: where it lives and how to load one table.

Both the demo store (:mod:`workbench.demo`) and the training examples
(:mod:`workbench.training.examples`) read these tables; this module sits below
both, so neither imports the other.

>>> sorted(p.stem for p in sample_data_dir().glob("*.parquet"))[:2]
['ab_events', 'breast_cancer']
>>> load_sample("wine").shape[0] > 0
True
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

__all__ = ["load_sample", "sample_data_dir"]


def sample_data_dir() -> Path:
    """The bundled ``sample_data/`` folder (``$WORKBENCH_SAMPLE_DATA`` overrides)."""
    env = os.environ.get("WORKBENCH_SAMPLE_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "sample_data"


def load_sample(name: str) -> pd.DataFrame:
    """One bundled table by name: churn, ab_events, breast_cancer, wine, diabetes."""
    path = sample_data_dir() / f"{name}.parquet"
    if not path.exists():
        raise FileNotFoundError(f"no sample table {name!r} at {path}")
    return pd.read_parquet(path)
