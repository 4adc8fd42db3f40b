"""Serve the Compare screen on its own.

    panel serve apps/compare_app.py --args --store PATH [--runs ID1,ID2,...]

Without ``--runs`` it compares the five most recent top-level runs of the
store. ``--store`` defaults to ``$WORKBENCH_STORE`` (or the default store).
"""

from __future__ import annotations

import argparse
import sys

import panel as pn

import workbench as wb
from workbench.ui.compare.view import RunComparison

pn.extension("tabulator", design="bootstrap")


def _args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="compare_app")
    parser.add_argument("--store", default=None, help="the store file (default: $WORKBENCH_STORE)")
    parser.add_argument("--runs", default="", help="comma-separated run ids to compare")
    known, _ = parser.parse_known_args(argv)
    return known


def build(argv: list[str]) -> pn.viewable.Viewable:
    args = _args(argv)
    store = wb.Store(args.store)
    ids = [r.strip() for r in args.runs.split(",") if r.strip()]
    if not ids:
        recent = store.search_runs(filter="attributes.parent_run_id IS NULL", max_results=5,
                                   order_by="attributes.start_time DESC")
        ids = recent["run_id"].tolist()
    return pn.Column(RunComparison(store, run_ids=ids), sizing_mode="stretch_width")


build(sys.argv[1:]).servable(title="workbench · compare runs")
