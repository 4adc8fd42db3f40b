"""The Compare screen's view-model: runs, latest values, params, histories and charts.

No Panel here: the view (``workbench.ui.compare.view``) lays it out; tests drive it directly.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import param

from workbench.store.store import Store
from workbench.ui.compare import chart as _chart
from workbench.ui.compare.chart import (  # noqa: F401 - where they were before .chart
    BAR_HEIGHT,
    CHART_COLUMNS,
    CHART_ROW_HEIGHT,
    LEGEND_HEIGHT,
    SYMBOLS_UP_TO,
    format_bar_value,
)

MIN_RUNS = 2
MAX_RUNS = 50
X_AXES = ("step", "wall time", "relative time")
DIRECTIONS = ("max", "min")

# Words in a metric name that say which way is better. Lower-is-better words
# are checked first, so ``accuracy_std`` and ``auc_loss`` count as "min".
_LOWER_WORDS = frozenset(
    {"loss", "error", "err", "errors", "rmse", "mse", "mae", "mape", "smape", "nll", "perplexity",
     "ppl", "std", "stdev", "variance", "var", "latency", "time", "duration", "cost", "wer", "cer",
     "fpr", "fnr", "brier", "logloss", "regret", "distance", "divergence", "kl"}
)
_HIGHER_WORDS = frozenset(
    {"auc", "roc", "acc", "accuracy", "f1", "r2", "precision", "recall", "score", "ap", "map",
     "ndcg", "mrr", "iou", "dice", "bleu", "rouge", "sensitivity", "specificity", "tpr", "tnr",
     "kappa", "mcc", "gain", "reward", "return", "fscore", "top1", "top5", "hit", "hits",
     "coverage", "auroc", "auprc", "jaccard"}
)
_HIGHER_SUBSTRINGS = ("auc", "acc", "f1", "r2", "precision", "recall", "score")
_LOWER_SUBSTRINGS = ("loss", "error", "rmse", "mae", "mse")

# Colours per run: Category10 then Category20's lighter halves, then a
# spread of Turbo for the rest (up to MAX_RUNS distinct colours).
_PALETTE = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94",
    "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
]
NA_POSITION = -0.08  # where a missing value sits on a parallel-coordinates axis


def known_direction(metric: str) -> str | None:
    """``"max"``/``"min"`` when the name says which way is better, ``None`` when it does not.

    >>> known_direction("val_accuracy"), known_direction("log_loss"), known_direction("mystery")
    ('max', 'min', None)
    """
    words = [w for w in re.split(r"[^a-z0-9]+", metric.lower()) if w]
    if any(w in _LOWER_WORDS for w in words):
        return "min"
    if any(w in _HIGHER_WORDS for w in words):
        return "max"
    name = metric.lower()
    if any(s in name for s in _LOWER_SUBSTRINGS):
        return "min"
    if any(s in name for s in _HIGHER_SUBSTRINGS):
        return "max"
    return None


def guess_direction(metric: str) -> str:
    """``"max"`` if the name suggests higher is better (auc, acc, f1, r2, ...), else ``"min"``.

    >>> guess_direction("val_accuracy"), guess_direction("log_loss"), guess_direction("rmse")
    ('max', 'min', 'min')
    >>> guess_direction("accuracy_std"), guess_direction("rocauc"), guess_direction("mystery")
    ('min', 'max', 'min')
    """
    return known_direction(metric) or "min"



def run_colors(n: int) -> list[str]:
    """``n`` distinct colours (the first 20 from Category20, then Turbo)."""
    if n <= len(_PALETTE):
        return _PALETTE[:n]
    from bokeh.palettes import Turbo256

    extra = n - len(_PALETTE)
    picks = np.linspace(20, 235, extra).round().astype(int)
    return _PALETTE + [Turbo256[i] for i in picks]


def ema(values: pd.Series | np.ndarray, weight: float) -> np.ndarray:
    """Debiased exponential moving average (TensorBoard's smoothing), ``weight`` in [0, 1).

    Equal to ``pd.Series(values).ewm(alpha=1 - weight, adjust=True).mean()``; NaN points
    are skipped (they keep NaN and do not poison later points).
    """
    arr = np.asarray(values, dtype=float)
    if weight <= 0 or arr.size == 0:
        return arr.copy()
    return pd.Series(arr).ewm(alpha=1.0 - weight, adjust=True, ignore_na=False).mean().to_numpy()


def _as_numbers(values: pd.Series) -> pd.Series | None:
    """The values as floats if every non-missing one is numeric, else ``None``."""
    present = values.dropna()
    if present.empty:
        return None
    nums = pd.to_numeric(present, errors="coerce")
    if nums.isna().any():
        return None
    return pd.to_numeric(values, errors="coerce").astype(float)


class CompareModel(param.Parameterized):
    """State and actions of the Compare screen (no browser needed).

    Set ``store`` and ``run_ids`` (2 to 50 ids); on a problem (too few or too
    many runs, an unknown id, a store error) ``error`` holds a readable
    message and the data frames are empty, nothing raises.

    >>> import tempfile, os, workbench as wb
    >>> store = wb.Store(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
    >>> CompareModel(store=store, run_ids=["only-one"]).error
    'Select at least 2 runs to compare (got 1).'
    """

    store = param.ClassSelector(class_=Store, default=None, allow_None=True, doc="The store.")
    run_ids = param.List(default=[], doc="The runs to compare, 2 to 50 ids.")

    x_axis = param.Selector(default="step", objects=list(X_AXES), doc="x of the metric charts.")
    smoothing = param.Number(
        default=0.0, bounds=(0.0, 0.99), step=0.01, doc="EMA weight of the metric curves (0 = raw)."
    )
    log_y = param.Boolean(default=False, doc="Log scale for the metric charts' y axis.")
    max_points = param.Integer(
        default=2000, bounds=(2, 100_000), doc="Points per curve at most (downsampled in SQL)."
    )
    chart_metrics = param.ListSelector(default=[], objects=[], doc="The metrics charted.")
    only_differing = param.Boolean(default=False, doc="Params table: only params that differ.")
    parallel_metric = param.Selector(
        default=None, objects=[], allow_None=True, doc="The metric axis of parallel coordinates."
    )
    scatter_x = param.Selector(default=None, objects=[], allow_None=True, doc="Scatter x column.")
    scatter_y = param.Selector(default=None, objects=[], allow_None=True, doc="Scatter y column.")
    directions = param.Dict(
        default={}, doc="Per-metric override of which way is better: {metric: 'max' | 'min'}."
    )

    error = param.String(default="", doc="A readable message when the comparison cannot be shown.")
    runs = param.DataFrame(
        default=None, allow_None=True, precedence=-1,
        doc="One row per run (in run_ids order): run_id, run_name, label, color, params.*, metrics.*",
    )
    latest = param.DataFrame(
        default=None, allow_None=True, precedence=-1,
        doc="Latest metric values, long form: run_id, key, value, step, min/max_value, n_points.",
    )

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._history_cache: dict[tuple[str, int], pd.DataFrame] = {}
        self.store_calls = 0  # how many Store queries this model made (tests check it stays small)
        self.load()

    # -- loading -------------------------------------------------------------
    @param.depends("store", "run_ids", watch=True)
    def load(self) -> None:
        """(Re)read the runs; sets ``error`` instead of raising."""
        self._history_cache.clear()
        try:
            self._load()
        except Exception as exc:  # shown in the UI as a message, never a traceback
            self._clear(f"Could not load the runs: {type(exc).__name__}: {exc}")

    def _clear(self, message: str) -> None:
        self.param.update(
            error=message, runs=None, latest=None, chart_metrics=[], parallel_metric=None,
            scatter_x=None, scatter_y=None,
        )
        self.param.chart_metrics.objects = []
        self.param.parallel_metric.objects = []
        self.param.scatter_x.objects = []
        self.param.scatter_y.objects = []

    def _load(self) -> None:
        ids = [str(r) for r in dict.fromkeys(self.run_ids or [])]
        if self.store is None:
            return self._clear("No store to read runs from.")
        if len(ids) < MIN_RUNS:
            return self._clear(f"Select at least {MIN_RUNS} runs to compare (got {len(ids)}).")
        if len(ids) > MAX_RUNS:
            return self._clear(
                f"Compare at most {MAX_RUNS} runs at a time (got {len(ids)}); narrow the selection."
            )
        quoted = ", ".join("'" + r.replace("'", "''") + "'" for r in ids)
        self.store_calls += 1
        found = self.store.search_runs(
            filter=f"attributes.run_id IN ({quoted})", run_view="all", max_results=len(ids)
        )
        missing = [r for r in ids if r not in set(found["run_id"])]
        if missing:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            return self._clear(f"Unknown run id{'s' if len(missing) > 1 else ''}: {shown}.")
        runs = found.set_index("run_id").loc[ids].reset_index()
        names = runs["run_name"].fillna("").astype(str)
        dup = names.duplicated(keep=False) | (names == "")
        runs["label"] = [
            f"{n} ({r[:6]})" if d else n for n, r, d in zip(names, runs["run_id"], dup, strict=False)
        ]
        runs["color"] = run_colors(len(runs))
        self.store_calls += 1
        latest = self.store.latest_metrics(ids)

        metrics = sorted(latest["key"].unique().tolist())
        history_metrics = sorted(latest.loc[latest["n_points"] > 1, "key"].unique().tolist())
        scatter_choices = {f"param: {c[7:]}": c for c in runs.columns if c.startswith("params.")}
        scatter_choices.update({f"metric: {m}": f"metrics.{m}" for m in metrics})

        self.param.chart_metrics.objects = metrics
        self.param.parallel_metric.objects = metrics
        self.param.scatter_x.objects = scatter_choices
        self.param.scatter_y.objects = scatter_choices
        primary = self._primary_metric(latest, metrics, len(ids))
        differing = self._differing(runs)
        numeric_diff = [
            f"params.{k}" for k in differing if _as_numbers(runs[f"params.{k}"]) is not None
        ]
        x_default = (numeric_diff or [f"params.{k}" for k in differing] or [None])[0]
        if x_default is None and len(metrics) > 1:
            x_default = f"metrics.{[m for m in metrics if m != primary][0]}"
        self.param.update(
            error="",
            runs=runs,
            latest=latest,
            chart_metrics=history_metrics or metrics,
            parallel_metric=primary,
            scatter_x=x_default,
            scatter_y=f"metrics.{primary}" if primary else None,
        )

    @staticmethod
    def _primary_metric(latest: pd.DataFrame, metrics: list[str], n_runs: int) -> str | None:
        if not metrics:
            return None
        coverage = latest.groupby("key")["run_id"].nunique()
        full = [m for m in metrics if coverage.get(m, 0) == n_runs] or metrics
        higher = [m for m in full if guess_direction(m) == "max"]
        return (higher or full)[0]

    # -- params --------------------------------------------------------------
    @property
    def labels(self) -> list[str]:
        return [] if self.runs is None else self.runs["label"].tolist()

    @property
    def metric_names(self) -> list[str]:
        return [] if self.latest is None else sorted(self.latest["key"].unique().tolist())

    @property
    def param_names(self) -> list[str]:
        if self.runs is None:
            return []
        return [c[7:] for c in self.runs.columns if c.startswith("params.")]

    @staticmethod
    def _differing(runs: pd.DataFrame) -> list[str]:
        out = []
        for col in (c for c in runs.columns if c.startswith("params.")):
            values = runs[col].map(lambda v: None if pd.isna(v) else str(v))
            if values.nunique(dropna=False) > 1:
                out.append(col[7:])
        return out

    def differing_params(self) -> list[str]:
        """Param keys whose value (or presence) is not the same in every run."""
        return [] if self.runs is None else self._differing(self.runs)

    def params_frame(self, only_differing: bool | None = None) -> pd.DataFrame:
        """Rows = params, columns ``param``, one per run label, and ``differs`` (bool)."""
        only = self.only_differing if only_differing is None else only_differing
        if self.runs is None:
            return pd.DataFrame(columns=["param", "differs"])
        differing = set(self.differing_params())
        rows = []
        for key in self.param_names:
            if only and key not in differing:
                continue
            values = self.runs[f"params.{key}"].map(lambda v: "" if pd.isna(v) else str(v))
            rows.append([key, *values.tolist(), key in differing])
        return pd.DataFrame(rows, columns=["param", *self.labels, "differs"])

    # -- best run per metric -------------------------------------------------
    def direction(self, metric: str) -> str:
        """``"max"`` or ``"min"``: the override in ``directions`` or a guess from the name."""
        override = (self.directions or {}).get(metric)
        if override is not None:
            if override not in DIRECTIONS:
                raise ValueError(f"direction of {metric!r} must be 'max' or 'min', got {override!r}")
            return override
        return guess_direction(metric)

    def set_direction(self, metric: str, direction: str) -> None:
        """Override which way is better for one metric."""
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be 'max' or 'min', got {direction!r}")
        self.directions = {**(self.directions or {}), metric: direction}

    def best_runs(self) -> dict[str, str]:
        """``{metric: run_id}`` of the run with the best latest value (first one on ties)."""
        if self.latest is None:
            return {}
        order = {r: i for i, r in enumerate(self.runs["run_id"])}
        best: dict[str, str] = {}
        for key, group in self.latest.groupby("key", sort=True):
            group = group.dropna(subset=["value"])
            group = group[np.isfinite(group["value"].astype(float))]
            if group.empty:
                continue
            group = group.assign(_order=group["run_id"].map(order)).sort_values("_order")
            values = group["value"].to_numpy(dtype=float)
            idx = int(np.argmax(values) if self.direction(key) == "max" else np.argmin(values))
            best[key] = group["run_id"].iloc[idx]
        return best

    def summary_frame(self) -> pd.DataFrame:
        """Rows = runs (``run`` label, ``run_id``), columns = metrics' latest values."""
        if self.runs is None:
            return pd.DataFrame(columns=["run", "run_id"])
        wide = self.latest.pivot(index="run_id", columns="key", values="value")
        wide = wide.reindex(index=self.runs["run_id"], columns=self.metric_names)
        out = wide.reset_index().rename_axis(columns=None)
        out.insert(0, "run", self.runs["label"].to_numpy())
        return out

    def best_mask(self) -> pd.DataFrame:
        """Same shape as :meth:`summary_frame`: True where the run is the metric's best."""
        frame = self.summary_frame()
        mask = pd.DataFrame(False, index=frame.index, columns=frame.columns)
        for key, run_id in self.best_runs().items():
            if key in mask.columns:
                mask.loc[frame["run_id"] == run_id, key] = True
        return mask

    # -- metric histories ----------------------------------------------------
    def histories(self, key: str) -> pd.DataFrame:
        """Every run's history of ``key``, downsampled to ``max_points``.

        The first call fetches every charted metric in one store query; later calls
        (other metrics, smoothing, the x axis) are served from the cache.
        """
        if self.runs is None:
            return pd.DataFrame(columns=["run_id", "step", "timestamp", "value"])
        if (key, self.max_points) not in self._history_cache:
            single = set(self.single_value_metrics) - {key}
            wanted = [k for k in dict.fromkeys([key, *self.chart_metrics])
                      if (k, self.max_points) not in self._history_cache and k not in single]
            self.store_calls += 1
            fetched = self.store.metric_histories_by_key(
                self.runs["run_id"].tolist(), wanted, max_points=self.max_points
            )
            for k, frame in fetched.items():
                self._history_cache[(k, self.max_points)] = frame
        return self._history_cache[(key, self.max_points)]

    def curve_data(self, key: str) -> dict[str, pd.DataFrame]:
        """``{run_id: DataFrame(x, y, value)}`` for the runs having ``key``, in run order.

        ``x`` follows ``x_axis`` (step; wall time as UTC datetimes; relative time in
        seconds since the run started); ``y`` is ``value`` after EMA smoothing.
        """
        return {run_id: pd.DataFrame({"x": x, "y": y, "value": values}, copy=False)
                for run_id, x, y, values in self._curves(key)}

    def _curves(self, key: str) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
        """``(run_id, x, y, value)`` arrays per run having ``key``: :meth:`curve_data` in numpy."""
        hist = self.histories(key)
        if hist.empty:
            return []
        # the store returns each run's points together, by step: numpy slices per run
        # (a pandas group, or a DataFrame, per run cost ~1 ms each)
        run_col = hist["run_id"].to_numpy()
        cuts = np.flatnonzero(run_col[1:] != run_col[:-1]) + 1
        bounds = dict(zip(run_col[np.r_[0, cuts]], zip(np.r_[0, cuts], np.r_[cuts, len(run_col)]),
                          strict=True))
        values_all = hist["value"].to_numpy(dtype=float)
        if self.x_axis == "step":
            x_all = hist["step"].to_numpy()
        elif self.x_axis == "wall time":
            x_all = hist["timestamp"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
        else:
            x_all = hist["timestamp"]
        starts = dict(zip(self.runs["run_id"], self.runs["start_time"], strict=False))
        out = []
        for run_id in self.runs["run_id"]:
            if run_id not in bounds:
                continue
            lo, hi = bounds[run_id]
            if self.x_axis == "relative time":
                stamps = x_all.iloc[lo:hi]
                start = starts.get(run_id)
                if start is None or pd.isna(start):
                    start = stamps.min()
                x = (stamps - start).dt.total_seconds().to_numpy()
            else:
                x = x_all[lo:hi]
            values = values_all[lo:hi]
            out.append((run_id, x, ema(values, self.smoothing), values))
        return out

    def x_label(self) -> str:
        return {"step": "step", "wall time": "wall time (UTC)",
                "relative time": "relative time (s)"}[self.x_axis]

    # -- single-value metrics (bars by run) ----------------------------------
    @property
    def single_value_metrics(self) -> list[str]:
        """Metrics with at most one point in every run (final accuracy, AUC, ...), sorted.

        They are drawn as bars by run: a history of one point is a dot on an empty axis.
        """
        if self.latest is None or self.latest.empty:
            return []
        most = self.latest.groupby("key")["n_points"].max()
        return sorted(str(k) for k in most.index[most <= 1])

    @property
    def history_metric_names(self) -> list[str]:
        """Metrics with several points in at least one run (drawn as histories), sorted."""
        single = set(self.single_value_metrics)
        return [k for k in self.metric_names if k not in single]

    def direction_known(self, metric: str) -> bool:
        """True when ``directions`` sets it or the name says which way is better."""
        return metric in (self.directions or {}) or known_direction(metric) is not None

    def bar_frame(self, key: str) -> pd.DataFrame:
        """One row per run (run order): ``run_id``, ``run`` label, ``color``, ``value`` (NaN if none)."""
        if self.runs is None:
            return pd.DataFrame(columns=["run_id", "run", "color", "value"])
        values = self.latest.loc[self.latest["key"] == key].set_index("run_id")["value"]
        return pd.DataFrame({
            "run_id": self.runs["run_id"].to_numpy(), "run": self.runs["label"].to_numpy(),
            "color": self.runs["color"].to_numpy(),
            "value": values.reindex(self.runs["run_id"]).to_numpy(dtype=float),
        })

    def bar_highlight(self, key: str) -> tuple[str | None, str]:
        """``(run_id, "best")`` by the metric's direction when it is known, else
        ``(run_id, "highest")``: the run whose bar is highlighted (first one on ties)."""
        if self.direction_known(key):
            return self.best_runs().get(key), "best"
        frame = self.bar_frame(key)
        values = frame["value"].to_numpy(dtype=float)
        finite = np.isfinite(values)
        if not finite.any():
            return None, "highest"
        return frame["run_id"].iloc[int(np.nanargmax(np.where(finite, values, np.nan)))], "highest"

    # -- the metrics chart (built in .chart) ----------------------------------
    def chart_layout(self) -> list[dict[str, Any]]:
        """Where each charted metric's grid goes: see :func:`.chart.chart_layout`."""
        return _chart.chart_layout(self)

    def history_chart(self) -> dict[str, Any]:
        """One ECharts option drawing every metric of ``chart_metrics``: a grid per metric.

        A metric with several steps gets a history grid (one line per run, the best one
        thicker); a metric with one value per run (:attr:`single_value_metrics`) gets a bar
        grid (one bar per run, the best one highlighted). See :func:`.chart.metrics_chart`.

        >>> import tempfile, os, workbench as wb
        >>> store = wb.Store(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
        >>> ids = []
        >>> for lr in (0.1, 0.01):
        ...     with wb.start_run(experiment="e", run_name=f"lr{lr}", store=store) as run:
        ...         run.log_metric_history("loss", [1.0, 0.5, lr])
        ...         run.log_metric("accuracy", 0.9 - lr)
        ...     ids.append(run.id)
        >>> model = CompareModel(store=store, run_ids=ids)
        >>> model.chart_metrics  # the metrics with histories, by default
        ['loss']
        >>> option = model.history_chart()
        >>> [t["text"] for t in option["title"]], len(option["series"])
        (['loss (lower is better) · best: lr0.01'], 2)
        >>> model.chart_metrics = ["accuracy", "loss"]
        >>> [t["text"] for t in model.history_chart()["title"]]
        ['loss (lower is better) · best: lr0.01', 'accuracy (higher is better) · best: lr0.01']
        """
        return _chart.metrics_chart(self)

    def history_chart_height(self) -> int:
        """Pixels the :meth:`history_chart` needs (its grids, their titles and x axes)."""
        return _chart.chart_height(self)

    chart_lines = staticmethod(_chart.chart_lines)
    chart_bars = staticmethod(_chart.chart_bars)

    # -- parallel coordinates ------------------------------------------------
    def parallel_axes(self, max_params: int = 12) -> list[dict[str, Any]]:
        """The axes: differing params (at most ``max_params``) then ``parallel_metric``.

        Each axis is ``{"name", "kind" ("numeric" | "log" | "category"), "positions"
        (per run, in [0, 1], missing at NA_POSITION), "ticks" [(position, text)]}``.
        """
        if self.runs is None:
            return []
        columns = [f"params.{k}" for k in self.differing_params()[:max_params]]
        if self.parallel_metric:
            columns.append(f"metrics.{self.parallel_metric}")
        return [self._axis(col) for col in columns if col in self.runs.columns]

    def _axis(self, column: str) -> dict[str, Any]:
        raw = self.runs[column]
        name = column.split(".", 1)[1]
        nums = _as_numbers(raw)
        if nums is not None:
            present = nums.dropna()
            lo, hi = float(present.min()), float(present.max())
            kind = "log" if lo > 0 and hi / lo >= 100 else "numeric"
            f = np.log10 if kind == "log" else (lambda v: v)
            flo, fhi = f(lo), f(hi)
            span = fhi - flo
            pos = nums.map(lambda v: NA_POSITION if pd.isna(v) else
                           (0.5 if span == 0 else (f(v) - flo) / span))
            ticks = [(0.0 if span else 0.5, f"{lo:.4g}")] + ([(1.0, f"{hi:.4g}")] if span else [])
        else:
            text = raw.map(lambda v: None if pd.isna(v) else str(v))
            cats = sorted(text.dropna().unique().tolist())
            where = {c: (0.5 if len(cats) == 1 else i / (len(cats) - 1)) for i, c in enumerate(cats)}
            pos = text.map(lambda v: NA_POSITION if v is None else where[v])
            ticks = [(p, c if len(c) <= 14 else c[:13] + "…") for c, p in where.items()]
            kind = "category"
        if pos.eq(NA_POSITION).any():
            ticks.append((NA_POSITION, "n/a"))
        return {"name": name, "column": column, "kind": kind,
                "positions": pos.to_numpy(dtype=float), "ticks": ticks}

    # -- scatter -------------------------------------------------------------
    def scatter_frame(self) -> pd.DataFrame:
        """``x``, ``y`` (floats when numeric, else text), ``run``, ``color`` of runs having both."""
        if self.runs is None or not self.scatter_x or not self.scatter_y:
            return pd.DataFrame(columns=["x", "y", "run", "color"])
        out = pd.DataFrame({"run": self.runs["label"], "color": self.runs["color"]})
        for axis, col in (("x", self.scatter_x), ("y", self.scatter_y)):
            raw = self.runs[col] if col in self.runs.columns else pd.Series(np.nan, index=self.runs.index)
            nums = _as_numbers(raw)
            out[axis] = nums if nums is not None else raw.map(lambda v: None if pd.isna(v) else str(v))
        return out.dropna(subset=["x", "y"])[["x", "y", "run", "color"]].reset_index(drop=True)

    def _choice_label(self, column: str | None) -> str:
        for label, col in self.param.scatter_x.names.items() if self.param.scatter_x.names else []:
            if col == column:
                return label
        return str(column)
