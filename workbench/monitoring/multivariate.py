"""Multivariate drift: a domain classifier that tries to tell current rows from reference rows.

A scikit-learn gradient-boosting classifier (``HistGradientBoostingClassifier``)
is trained to predict "is this row from the current data" on a seeded sample
of at most ``max_rows`` rows per side; the score is the 5-fold
cross-validated ROC AUC (0.5: indistinguishable). Drift when AUC > 0.55. The
features that separate the two sets are ranked by permutation importance (drop
in ROC AUC on a held-out fifth, 5 repeats), and the reference rows the
out-of-fold model finds most "current-like" are kept (``current_like_rows``;
raw rows, so they are not written into the HTML export).

>>> DomainClassifierResult(0.5, 0.55, False, 10, 10, [], {}).drifted
False
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from workbench.store.drift_sql import Scan

AUC_THRESHOLD = 0.55


@dataclass
class DomainClassifierResult:
    roc_auc: float
    threshold: float
    drifted: bool
    n_reference: int
    n_current: int
    importance: list[dict[str, Any]]
    conventions: dict[str, Any]
    current_like_rows: list[dict[str, Any]] = field(default_factory=list)
    method: str = "domain_classifier"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["current_like_rows"] = [{k: (str(v) if not isinstance(v, (int, float, bool)) or v is None else v)
                                   for k, v in r.items()} for r in self.current_like_rows]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DomainClassifierResult:
        return cls(**d)


def _features(frame: pd.DataFrame, types: dict[str, str], cats: dict[str, list]) -> np.ndarray:
    cols = []
    for c, t in types.items():
        if t == "numerical":
            cols.append(pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=np.float64))
        else:
            index = {k: i for i, k in enumerate(cats[c])}
            cols.append(frame[c].map(lambda x, ix=index: ix.get(x, np.nan)).to_numpy(dtype=np.float64))
    return np.column_stack(cols) if cols else np.zeros((len(frame), 0))


def domain_classifier(ref: Scan, cur: Scan, columns: list[list[str]], max_rows: int = 100_000,
                      seed: int = 0, folds: int = 5, threads: int = 1) -> DomainClassifierResult:
    """Fit the domain classifier on samples of both scans (see the module docstring).

    ``threads`` caps the OpenMP threads of the boosting (1 by default: on a shared
    2-core machine more threads made a 3,000-row fit 20x slower, measured).
    """
    import sklearn.ensemble  # noqa: F401  (load OpenMP before limiting it: threadpoolctl limits loaded libraries)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(threads):
        return _domain_classifier(ref, cur, columns, max_rows, seed, folds)


def _domain_classifier(ref: Scan, cur: Scan, columns: list[list[str]], max_rows: int, seed: int,
                       folds: int) -> DomainClassifierResult:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.inspection import permutation_importance
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, train_test_split

    types = {c: t for c, t in columns}
    names = list(types)
    a = ref.sample_rows(names, max_rows, seed)
    b = cur.sample_rows(names, max_rows, seed + 1)
    cats = {}
    for c, t in types.items():
        if t != "numerical":
            seen = pd.concat([a[c], b[c]]).dropna().unique().tolist()
            cats[c] = sorted(seen, key=str)
    x = np.vstack([_features(a, types, cats), _features(b, types, cats)])
    y = np.concatenate([np.zeros(len(a)), np.ones(len(b))])
    cat_mask = np.array([types[c] != "numerical" for c in names], dtype=bool)

    def model():
        return HistGradientBoostingClassifier(max_iter=100, random_state=seed,
                                              categorical_features=cat_mask if cat_mask.any() else None)

    oof = np.zeros(len(y))
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y):
        m = model().fit(x[train], y[train])
        oof[test] = m.predict_proba(x[test])[:, 1]
    auc = float(roc_auc_score(y, oof))
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.2, stratify=y, random_state=seed)
    m = model().fit(xtr, ytr)
    imp = permutation_importance(m, xte, yte, scoring="roc_auc", n_repeats=5, random_state=seed)
    ranking = sorted(({"column": c, "importance": float(imp.importances_mean[i]),
                       "std": float(imp.importances_std[i])} for i, c in enumerate(names)),
                     key=lambda r: -r["importance"])
    top = np.argsort(-oof[: len(a)])[:10]
    like = a.iloc[top].assign(p_current=oof[top]).to_dict("records")
    return DomainClassifierResult(
        auc, AUC_THRESHOLD, auc > AUC_THRESHOLD, len(a), len(b), ranking,
        {"model": "sklearn HistGradientBoostingClassifier(max_iter=100)", "cv": f"{folds}-fold stratified",
         "score": "out-of-fold ROC AUC", "rule": "roc_auc > threshold", "sample_per_side": max_rows,
         "seed": seed, "importance": "permutation (ROC AUC drop, 5 repeats, 20 % held out)"},
        like)
