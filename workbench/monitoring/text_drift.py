"""Text drift: a domain classifier on TF-IDF features, as Evidently 0.7 tests text columns.

The reference and current texts are pooled, labelled 0 and 1, split 50/50
(``train_test_split(test_size=0.5, random_state=42, shuffle=True)``), and a
``TfidfVectorizer(sublinear_tf=True, max_df=0.5, stop_words="english")`` +
``SGDClassifier(alpha=1e-4, max_iter=50, penalty="l1", loss="modified_huber",
random_state=42)`` pipeline learns to tell them apart; the score is its ROC
AUC on the held-out half (0.5: indistinguishable). Evidently's two rules:

- ``abs_text_content_drift`` (default above 1,000 reference texts): drift when
  AUC > 0.55 (the threshold);
- ``perc_text_content_drift`` (default up to 1,000): drift when AUC exceeds the
  ``threshold`` quantile (0.95) of 1,000 AUCs of random scores on the same
  held-out labels (``np.random.RandomState(42)``), which guards small samples.

Beyond Evidently's verdict, the result names the words that tell the sides
apart (the largest model weights toward each side), the texts most typical of
each side, and descriptors: mean length, share of empty texts, and the share of
current words absent from the reference's vocabulary. Each side is a seeded
sample of at most :data:`TEXT_SAMPLE_ROWS` non-missing texts.

>>> ref = ["the cat sat on the mat", "a dog in the fog"] * 600
>>> cur = ["refund my order now", "invoice payment failed"] * 600
>>> res = text_drift(ref, cur)
>>> res.method, res.drifted, res.statistic > 0.9
('abs_text_content_drift', True, True)
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workbench.errors import InvalidInputError, MonitoringInputError, UnknownMethodError

TEXT_SAMPLE_ROWS = 10_000
TEXT_SAMPLE_SEED = 0
SEED = 42  # Evidently's random_state for the split, the model and the random AUCs
RANDOM_AUC_ITERATIONS = 1000
TEXT_METHODS = {"abs_text_content_drift": 0.55, "perc_text_content_drift": 0.95}
RULE = "statistic > threshold"
_WORD = re.compile(r"(?u)\b\w\w+\b")  # TfidfVectorizer's default token pattern


@dataclass
class TextDriftResult:
    """Evidently's verdict on one text column, and what tells the two sides apart."""

    method: str
    statistic: float  # ROC AUC of the domain classifier
    threshold: float  # what the AUC was compared with (for perc: the random-AUC quantile)
    drifted: bool
    n_reference: int
    n_current: int
    conventions: dict[str, Any] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)

    @property
    def rule(self) -> str:
        return RULE


def default_text_method(n_reference: int) -> str:
    """Evidently's choice: the percentile rule for at most 1,000 reference texts."""
    return "perc_text_content_drift" if n_reference <= 1000 else "abs_text_content_drift"


def check_text_method(name: Any, threshold: Any = None) -> float:
    """The threshold to use with text method ``name`` (its default when ``threshold`` is None)."""
    if name not in TEXT_METHODS:
        raise UnknownMethodError(
            f"unknown text drift method {name!r}; expected one of {', '.join(TEXT_METHODS)}")
    if threshold is None:
        return TEXT_METHODS[name]
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.number)) \
            or not 0.0 < float(threshold) < 1.0:
        what = "an AUC" if name == "abs_text_content_drift" else "a quantile level"
        raise InvalidInputError(f"threshold of {name} is {what}: expected 0 < t < 1, got {threshold!r}")
    return float(threshold)


def random_auc_quantile(y_test: np.ndarray, level: float = 0.95, iterations: int = RANDOM_AUC_ITERATIONS,
                        seed: int = SEED) -> float:
    """The ``level`` quantile of ROC AUCs of uniform random scores on ``y_test`` (Evidently's bootstrap).

    Draws exactly as Evidently does (``np.random.seed(seed)``, ``iterations``
    seeds from ``randint(0, 10 * iterations)``, then ``rand(len(y_test))`` under
    each), with private generators rather than the global one, and computes the
    AUCs from the ranks (random scores have no ties), which equals
    ``sklearn.metrics.roc_auc_score`` on each draw.
    """
    y = np.asarray(y_test).astype(bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        raise MonitoringInputError("the held-out half holds only one side; more texts are needed")
    seeds = np.random.RandomState(seed).randint(0, iterations * 10, size=iterations)
    scores = np.vstack([np.random.RandomState(s).rand(y.size) for s in seeds])
    ranks = scores.argsort(axis=1).argsort(axis=1) + 1
    aucs = (ranks[:, y].sum(axis=1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return float(np.percentile(aucs, 100 * level))


def text_drift(reference: Sequence[str], current: Sequence[str], method: str | None = None,
               threshold: float | None = None, seed: int = SEED, n_words: int = 10,
               n_examples: int = 5) -> TextDriftResult:
    """Test one text column: Evidently's domain classifier, plus the words and texts that differ."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import SGDClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import Pipeline

    ref = [str(t) for t in reference]
    cur = [str(t) for t in current]
    if not ref or not cur:
        side = "reference" if not ref else "current"
        raise MonitoringInputError(f"the {side} side has no texts")
    method = method or default_text_method(len(ref))
    level = check_text_method(method, threshold)
    texts = ref + cur
    labels = np.r_[np.zeros(len(ref), dtype=int), np.ones(len(cur), dtype=int)]
    idx_train, idx_test = train_test_split(np.arange(len(texts)), test_size=0.5, random_state=seed,
                                           shuffle=True)
    y_train, y_test = labels[idx_train], labels[idx_test]
    if len(set(y_train)) < 2 or len(set(y_test)) < 2:
        raise MonitoringInputError("too few texts on one side to train and test a domain classifier")
    pipe = Pipeline([
        ("vectorization", TfidfVectorizer(sublinear_tf=True, max_df=0.5, stop_words="english")),
        ("classification", SGDClassifier(alpha=0.0001, max_iter=50, penalty="l1", loss="modified_huber",
                                         random_state=seed)),
    ])
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings(record=True) as caught:
        # Evidently's max_iter=50 often stops SGD short; say so in the result, not as noise
        warnings.simplefilter("always", ConvergenceWarning)
        try:
            pipe.fit([texts[i] for i in idx_train], y_train)
        except ValueError as exc:  # e.g. only stop words: an empty vocabulary
            raise MonitoringInputError(f"the texts give no features to compare: {exc}") from None
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    for w in caught:
        if not issubclass(w.category, ConvergenceWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    proba = pipe.predict_proba([texts[i] for i in idx_test])[:, 1]
    auc = float(roc_auc_score(y_test, proba))
    limit = random_auc_quantile(y_test, level, seed=seed) if method == "perc_text_content_drift" else level
    vocab = pipe.named_steps["vectorization"].get_feature_names_out()
    coef = pipe.named_steps["classification"].coef_[0]
    order = np.argsort(coef)
    conventions = {
        "features": "TfidfVectorizer(sublinear_tf=True, max_df=0.5, stop_words='english')",
        "model": f"SGDClassifier(alpha=1e-4, max_iter=50, penalty='l1', loss='modified_huber', "
                 f"random_state={seed})",
        "split": f"train_test_split(test_size=0.5, random_state={seed}, shuffle=True)",
        "seed": seed, "n_train": int(len(idx_train)), "n_test": int(len(idx_test)),
        "sgd_converged": converged,
        "words_current": [str(vocab[i]) for i in order[::-1][:n_words] if coef[i] > 0],
        "words_reference": [str(vocab[i]) for i in order[:n_words] if coef[i] < 0],
        **describe(ref, cur),
    }
    if method == "perc_text_content_drift":
        conventions.update(level=level, random_auc_iterations=RANDOM_AUC_ITERATIONS)
    test_texts = [texts[i] for i in idx_test]
    by_score = np.argsort(proba)
    examples = {
        "current": [test_texts[i] for i in by_score[::-1] if y_test[i] == 1][:n_examples],
        "reference": [test_texts[i] for i in by_score if y_test[i] == 0][:n_examples],
    }
    return TextDriftResult(method, auc, float(limit), bool(auc > limit), len(ref), len(cur),
                           conventions, examples)


def describe(ref: Sequence[str], cur: Sequence[str]) -> dict[str, float]:
    """Descriptors of both sides: mean length, share of empty texts, share of unseen current words."""
    def stats(texts: Sequence[str]) -> tuple[float, float]:
        lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
        return (float(lengths.mean()) if lengths.size else math.nan,
                float((lengths == 0).mean()) if lengths.size else math.nan)

    ref_len, ref_empty = stats(ref)
    cur_len, cur_empty = stats(cur)
    seen = {w for t in ref for w in _WORD.findall(t.lower())}
    cur_words = [w for t in cur for w in _WORD.findall(t.lower())]
    unseen = sum(w not in seen for w in cur_words) / len(cur_words) if cur_words else math.nan
    return {"mean_length_reference": ref_len, "mean_length_current": cur_len,
            "empty_share_reference": ref_empty, "empty_share_current": cur_empty,
            "unseen_word_share_current": unseen}


def length_histogram(ref: Sequence[str], cur: Sequence[str], bins: int = 20) -> dict[str, Any]:
    """Both sides' text lengths (characters) on shared bins, for the small and the opened chart."""
    r = np.fromiter((len(t) for t in ref), dtype=np.float64, count=len(ref))
    c = np.fromiter((len(t) for t in cur), dtype=np.float64, count=len(cur))
    both = np.concatenate([r, c])
    if both.size == 0:
        return {}
    lo, hi = float(both.min()), float(both.max())
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, bins + 1)
    return {"kind": "text", "measure": "text length (characters)", "edges": edges.tolist(),
            "reference": np.histogram(r, edges)[0].tolist(), "current": np.histogram(c, edges)[0].tolist()}
