"""Column types, per-column reference summaries, and Evidently's default method choice.

A :class:`ColumnProfile` is everything a report needs to know about one
reference column without its rows: counts, missing, min/max, mean and
population std, distinct count, decile edges, value counts (categorical, or
numerical with at most 20 distinct values) and a small display histogram.
The exact tests (KS, Wasserstein, ...) also need the reference's sorted values,
which travel beside the profile (in memory, or a Parquet artifact in the store).

>>> default_method("numerical", n_reference=500, n_unique=40)
'ks'
>>> default_method("categorical", n_reference=5000, n_unique=3)
'jensenshannon'
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from workbench.errors import MonitoringInputError, UnknownMethodError
from workbench.monitoring import _ecdf
from workbench.monitoring.binning import FEW_VALUES, counts_open_bins, quantile_edges
from workbench.monitoring.stattests import CATEGORICAL, NUMERICAL, Sample
from workbench.monitoring.text_drift import TEXT_SAMPLE_ROWS, TEXT_SAMPLE_SEED, default_text_method
from workbench.store.drift_sql import Scan, type_family

COLUMN_TYPES = ("numerical", "categorical", "datetime", "text")
TEXT = "text"
INTEGER_CATEGORICAL_LIMIT = 10  # Evidently 0.7: integers with <= 10 distinct values are categorical
TEXT_UNIQUE_SHARE = 0.5  # Evidently 0.7: strings whose distinct share exceeds 50 % are text
DISPLAY_BINS = 20
DISPLAY_TOP = 20


def default_method(column_type: str, n_reference: int, n_unique: int) -> str | None:
    """Evidently's default test for a column (``None`` for datetime columns).

    ``n_reference`` counts non-missing reference rows; ``n_unique`` the distinct
    values of reference and current together.
    """
    if column_type == "datetime":
        return None
    if column_type == TEXT:
        return default_text_method(n_reference)
    if n_reference <= 1000:
        if column_type == NUMERICAL and n_unique > 5:
            return "ks"
        return "chisquare" if n_unique > 2 else "z"
    if column_type == NUMERICAL and n_unique > 5:
        return "wasserstein"
    return "jensenshannon"


def check_column_type(value: Any, column: str) -> str:
    if value not in COLUMN_TYPES:
        raise UnknownMethodError(
            f"unknown column type {value!r} for column {column!r}; expected one of {', '.join(COLUMN_TYPES)}"
        )
    return value


def infer_types(scan: Scan, names: list[str]) -> dict[str, str]:
    """Column types from the reference, as Evidently 0.7 infers them."""
    fam = {c: type_family(t) for c, t in scan.columns}
    need = [c for c in names if fam[c] in ("integer", "string")]
    distinct = scan.distinct_counts(need)
    nulls = scan.null_counts([c for c in need if fam[c] == "string"])
    out = {}
    for c in names:
        f = fam[c]
        if f == "float":
            out[c] = NUMERICAL
        elif f == "integer":
            out[c] = CATEGORICAL if distinct[c] <= INTEGER_CATEGORICAL_LIMIT else NUMERICAL
        elif f == "boolean":
            out[c] = CATEGORICAL
        elif f == "string":
            non_null = scan.n_rows - nulls[c]
            text = non_null > 0 and distinct[c] > TEXT_UNIQUE_SHARE * non_null and distinct[c] > 50
            out[c] = "text" if text else CATEGORICAL
        elif f == "datetime":
            out[c] = "datetime"
        else:
            out[c] = CATEGORICAL
    return out


@dataclass
class ColumnProfile:
    """One reference column summarised (see the module docstring)."""

    name: str
    type: str
    family: str
    n_rows: int
    n: int = 0
    n_missing: int = 0
    n_type_mismatch: int = 0
    n_distinct: int = 0
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    std: float | None = None
    deciles: list[float] | None = None
    keys: list | None = None
    counts: list[int] | None = None
    display_edges: list[float] | None = None
    display_counts: list[int] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if d["keys"] is not None:
            d["keys"] = [_plain(k) for k in d["keys"]]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ColumnProfile:
        return cls(**d)

    def sample(self, values: np.ndarray | None) -> Sample:
        """The reference :class:`Sample` (numerical columns need their sorted values)."""
        if self.type == NUMERICAL:
            if values is None:
                raise MonitoringInputError(
                    f"the profile of {self.name!r} holds no values; rebuild it with keep_values=True"
                )
            s = Sample(NUMERICAL, values=values, n_missing=self.n_missing)
            s._std = self.std
            if self.deciles is not None:
                s.__dict__["_quantile_edges"] = np.asarray(self.deciles)
            if self.keys is not None:
                s._vc = (list(self.keys), np.asarray(self.counts, dtype=np.int64))
            return s
        return Sample(CATEGORICAL, keys=list(self.keys or []),
                      counts=np.asarray(self.counts or [], dtype=np.int64), n_missing=self.n_missing)


def _plain(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, (str, int, float, bool)) or x is None:
        return x
    return str(x)


def read_numeric(scan: Scan, name: str) -> tuple[np.ndarray, int, int]:
    """Sorted finite values, missing count (NULL/NaN/inf and unreadable) and unreadable count."""
    fam = dict(scan.columns)[name]
    cast = type_family(fam) not in ("integer", "float", "boolean")
    raw, bad = scan.numeric(name, cast=cast)
    values, n_bad = _ecdf.finite_sorted(raw)
    del raw
    return values, n_bad, bad


def display_edges(values: np.ndarray) -> np.ndarray:
    lo, hi = _ecdf.sorted_quantile(values, np.array([0.005, 0.995])) if values.size else (0.0, 1.0)
    if hi <= lo:
        lo, hi = float(values[0]) - 0.5, float(values[-1]) + 0.5
    return np.linspace(lo, hi, DISPLAY_BINS + 1)


def numeric_profile(name: str, family: str, n_rows: int, values: np.ndarray, n_missing: int,
                    n_bad: int) -> ColumnProfile:
    p = ColumnProfile(name, NUMERICAL, family, n_rows, n=int(values.size), n_missing=n_missing,
                      n_type_mismatch=n_bad)
    if values.size:
        p.min, p.max = float(values[0]), float(values[-1])
        p.mean, p.std = float(values.mean()), float(np.std(values))
        p.n_distinct = _ecdf.n_distinct(values)
        if p.n_distinct > FEW_VALUES:
            p.deciles = quantile_edges(values).tolist()
        else:
            k, c = _ecdf.run_lengths(values)
            p.keys, p.counts = k.tolist(), c.tolist()
        edges = display_edges(values)
        p.display_edges = edges.tolist()
        p.display_counts = counts_open_bins(values, edges[1:-1]).tolist()
    return p


def categorical_profile(scan: Scan, name: str, family: str) -> ColumnProfile:
    keys, counts, nulls = scan.value_counts(name)
    p = ColumnProfile(name, CATEGORICAL, family, scan.n_rows, n=int(sum(counts)), n_missing=nulls,
                      n_distinct=len(keys), keys=keys, counts=counts)
    return p


def profile_column(scan: Scan, name: str, column_type: str) -> tuple[ColumnProfile, np.ndarray | None]:
    """Summarise one reference column; numerical columns also return their sorted values."""
    family = type_family(dict(scan.columns)[name])
    if column_type == NUMERICAL:
        if family in ("datetime", "other"):
            raise MonitoringInputError(f"column {name!r} has type {family}, which cannot be numerical")
        values, n_bad, bad = read_numeric(scan, name)
        return numeric_profile(name, family, scan.n_rows, values, n_bad, bad), values
    if column_type == CATEGORICAL:
        return categorical_profile(scan, name, family), None
    nulls = scan.null_counts([name])[name]
    p = ColumnProfile(name, column_type, family, scan.n_rows, n=scan.n_rows - nulls, n_missing=nulls)
    if column_type == TEXT:
        # the domain classifier needs texts: a seeded sample travels with the profile
        p.extra["texts"] = scan.sample_texts(name, TEXT_SAMPLE_ROWS, TEXT_SAMPLE_SEED)
    return p, None
