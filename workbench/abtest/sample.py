"""The demo experiment: ``sample_data/ab_events.parquet`` analysed and saved in a store.

The demo store calls :func:`analyze_sample` so that the A/B page opens on real content:
the experiment ``checkout-redesign-2025`` (50/50, the sample's built-in +10 % conversion
lift), its sample-size design, and one saved frequentist analysis with a proportion, a
CUPED mean, a ratio and a guardrail metric. (The sample's variants were drawn by its own
generator, the parity of an md5 hash, not by :func:`~workbench.abtest.bucket`; the stored
definition records the design, not how those rows were split.)

>>> import tempfile, os, workbench as wb
>>> store = wb.Store(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
>>> res = analyze_sample(store)
>>> res.winner, res.srm.flagged
('treatment', False)
"""

from __future__ import annotations

from typing import Any

from workbench.abtest.allocation import Experiment
from workbench.abtest.analysis import ABTestResult, Metric, analyze
from workbench.abtest.design import sample_size, save_design
from workbench.samples import sample_data_dir
from workbench.store import abtest_store

SAMPLE_EXPERIMENT = "checkout-redesign-2025"
SAMPLE_METRICS = [
    Metric("converted", kind="proportion"),
    Metric("revenue", kind="mean", cuped="pre_period_revenue"),
    Metric("revenue_per_converter", kind="ratio", numerator="revenue", denominator="converted"),
    Metric("page_load_ms", kind="mean", guardrail=True, direction="decrease", margin=0.02),
]


def sample_path():
    """The path of the bundled A/B events."""
    return sample_data_dir() / "ab_events.parquet"


def analyze_sample(store: Any, engine: str = "frequentist") -> ABTestResult:
    """Define, design and analyse the sample experiment in ``store``; returns the result.

    Safe to call again: the experiment definition is reused and a new analysis is saved.
    """
    Experiment(
        SAMPLE_EXPERIMENT,
        {"control": 0.5, "treatment": 0.5},
        unit="user_id",
        salt=SAMPLE_EXPERIMENT,
        coverage=1.0,
        store=store,
        hypothesis="The redesigned checkout raises conversion by 10 % (relative) without "
        "slowing the page down.",
    )
    design = sample_size(baseline=0.10, mde=0.10, relative=True, metric="proportion")
    if abtest_store.list_designs(store, SAMPLE_EXPERIMENT).empty:
        save_design(store, design, experiment=SAMPLE_EXPERIMENT, daily_users=1786)
    abtest_store.set_status(store, SAMPLE_EXPERIMENT, "running")
    return analyze(
        str(sample_path()),
        experiment=SAMPLE_EXPERIMENT,
        variant="variant",
        unit="user_id",
        control="control",
        metrics=SAMPLE_METRICS,
        engine=engine,
        correction="holm",
        store=store,
    )
