"""Bins and shares for the histogram methods (PSI, KL, Jensen-Shannon, Hellinger).

Two conventions, recorded with every result:

- ``"quantile"`` (default): 10 bins at the reference's deciles (``np.quantile``,
  linear interpolation), the first and last bins open-ended, equal edges merged,
  bins empty on both sides dropped. A reference profile stores the edges once.
- ``"evidently"``: Evidently's ``get_binned_data``: when the reference has more
  than 20 distinct values, equal-width Sturges bins over reference and current
  together (``np.histogram_bin_edges(concat, "sturges")``), otherwise one bin per
  distinct value; kept as is, empty bins included.

Numerical columns with at most 20 distinct reference values get one bin per
distinct value under both conventions (as Evidently does). Zero fill (PSI and KL
only): an empty share becomes 1e-4, or min_nonzero/1e6 when the smallest non-zero
share is at most 1e-4, on each side separately and without renormalising.

>>> import numpy as np
>>> evidently_fill(np.array([0.5, 0.5, 0.0]))
array([5.e-01, 5.e-01, 1.e-04])
"""

from __future__ import annotations

import math

import numpy as np

BINNINGS = ("quantile", "evidently")
FEW_VALUES = 20  # at most this many distinct reference values: one bin per value
DECILES = np.linspace(0.1, 0.9, 9)
FILL_RULE = "empty share -> 1e-4 (min_nonzero/1e6 if min_nonzero <= 1e-4), per side, not renormalised"


def evidently_fill(shares: np.ndarray) -> np.ndarray:
    """Evidently's zero fill of a share vector (a copy)."""
    out = np.array(shares, dtype=np.float64)
    nonzero = out[out != 0]
    if nonzero.size == 0:
        return out
    low = nonzero.min()
    np.place(out, out == 0, low / 10**6 if low <= 0.0001 else 0.0001)
    return out


def quantile_edges(sorted_ref: np.ndarray) -> np.ndarray:
    """The reference's deciles, equal ones merged (the inner edges of open-ended bins)."""
    from workbench.monitoring._ecdf import sorted_quantile

    return np.unique(sorted_quantile(sorted_ref, DECILES))


def sturges_edges(lo: float, hi: float, size: int) -> np.ndarray:
    """``np.histogram_bin_edges(x, "sturges")`` from x's min, max and size only."""
    first, last = float(lo), float(hi)
    if first == last:
        first, last = first - 0.5, last + 0.5
    width = (hi - lo) / (math.log2(size) + 1.0) if size > 0 else 0.0
    n_bins = int(math.ceil((last - first) / width)) if width else 1
    return np.linspace(first, last, n_bins + 1, endpoint=True)


def counts_on_edges(sorted_values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``np.histogram(x, edges)[0]`` of a sorted array, in O(k log n)."""
    left = np.searchsorted(sorted_values, edges, side="left")
    counts = np.diff(left)
    counts[-1] += np.searchsorted(sorted_values, edges[-1], side="right") - left[-1]
    return counts


def counts_open_bins(sorted_values: np.ndarray, inner_edges: np.ndarray) -> np.ndarray:
    """Counts in (-inf, e1), [e1, e2), ..., [ek, inf) of a sorted array."""
    left = np.searchsorted(sorted_values, inner_edges, side="left")
    return np.diff(np.concatenate(([0], left, [sorted_values.size])))
