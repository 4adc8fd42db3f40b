"""Training: hyper-parameter sweeps (grid, random, successive halving, TPE) as tracked runs.

>>> from workbench.training import int_range, choice
>>> int_range(1, 3).grid(), choice(["a", "b"]).grid()
([1, 2, 3], ['a', 'b'])
"""

from __future__ import annotations

from workbench.training.follow import SweepRecord, cancel_sweep, running_sweeps
from workbench.training.space import choice, float_range, int_range
from workbench.training.strategies import (
    GridSearch,
    RandomSearch,
    Strategy,
    SuccessiveHalving,
    TPESearch,
)
from workbench.training.sweep import (
    Sweep,
    TrialResult,
    live_sweeps,
    rerun,
    resume_sweep,
    shutdown_workers,
    sweep,
)
from workbench.training.tabular import train_tabular
from workbench.training.trial import Trial

__all__ = [
    "GridSearch",
    "RandomSearch",
    "Strategy",
    "SuccessiveHalving",
    "Sweep",
    "SweepRecord",
    "TPESearch",
    "Trial",
    "TrialResult",
    "cancel_sweep",
    "choice",
    "float_range",
    "int_range",
    "live_sweeps",
    "rerun",
    "resume_sweep",
    "running_sweeps",
    "shutdown_workers",
    "sweep",
    "train_tabular",
]
