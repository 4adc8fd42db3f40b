"""Text columns: Evidently's TF-IDF domain classifier, reproduced step by step, in reports and profiles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

import workbench as wb
from workbench.errors import InvalidInputError, UnknownMethodError
from workbench.monitoring import drift_report, reference_profile
from workbench.monitoring import report as report_module
from workbench.monitoring.text_drift import random_auc_quantile, text_drift

COMMON = ["customer", "account", "plan", "service", "month", "bill", "phone", "line", "support", "help", "question"]
TICKETS = ["refund", "invoice", "payment", "failed", "charge", "dispute"]


def tickets(n: int, seed: int, extra: list[str] | None = None, share: float = 0.0) -> list[str]:
    """Support-ticket-like texts: 6 common words, and with probability ``share`` 2 of ``extra``."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        words = list(rng.choice(COMMON, 6))
        if extra and rng.random() < share:
            words += list(rng.choice(extra, 2))
        rng.shuffle(words)
        out.append(" ".join(words))
    return out


def evidently_auc(reference: list[str], current: list[str]) -> tuple[float, np.ndarray]:
    """Evidently 0.7's ``calculate_text_drift_score`` steps, on pandas as it runs them."""
    domain = pd.concat([pd.DataFrame({"text": reference, "target": 0}),
                        pd.DataFrame({"text": current, "target": 1})])
    x_train, x_test, y_train, y_test = train_test_split(domain["text"], domain["target"], test_size=0.5,
                                                        random_state=42, shuffle=True)
    pipe = Pipeline([("vectorization", TfidfVectorizer(sublinear_tf=True, max_df=0.5, stop_words="english")),
                     ("classification", SGDClassifier(alpha=0.0001, max_iter=50, penalty="l1",
                                                      loss="modified_huber", random_state=42))])
    pipe.fit(x_train, y_train)
    return float(roc_auc_score(y_test, pipe.predict_proba(x_test)[:, 1])), y_test.to_numpy()


def evidently_random_percentile(y_test: np.ndarray, p_value: float = 0.05) -> float:
    """Evidently 0.7's ``roc_auc_random_classifier_percentile``, with the global generator as it uses it."""
    np.random.seed(42)
    seeds = np.random.randint(0, 1000 * 10, size=1000)
    values = []
    for s in seeds:
        np.random.seed(s)
        values.append(roc_auc_score(y_test, np.random.rand(len(y_test))))
    return float(np.percentile(values, 100 * (1 - p_value)))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # Evidently's max_iter
@pytest.mark.parametrize("n, share", [(600, 0.3), (1500, 0.05), (1500, 0.0)])
def test_the_score_and_the_verdict_are_evidentlys(n, share):
    ref = tickets(n, 1)
    cur = tickets(n, 2, TICKETS, share)
    res = text_drift(ref, cur)
    auc, y_test = evidently_auc(ref, cur)
    assert res.statistic == pytest.approx(auc, rel=1e-12)
    if n <= 1000:
        assert res.method == "perc_text_content_drift"
        assert res.threshold == pytest.approx(evidently_random_percentile(y_test), rel=1e-12)
    else:
        assert res.method == "abs_text_content_drift" and res.threshold == 0.55
    assert res.drifted == (auc > res.threshold)
    assert res.rule == "statistic > threshold"


def test_planted_words_are_found_and_the_same_source_is_not_drift():
    ref = tickets(3000, 1)
    drifted = text_drift(ref, tickets(3000, 2, TICKETS, 0.4))
    assert drifted.drifted and drifted.statistic > 0.65  # at most 0.5 + 0.4 / 2 = 0.7
    assert set(drifted.conventions["words_current"][:4]) <= set(TICKETS)
    assert all(any(w in t.split() for w in TICKETS) for t in drifted.examples["current"])
    assert drifted.conventions["unseen_word_share_current"] > 0.05
    same = text_drift(ref, tickets(3000, 3))
    assert not same.drifted and same.statistic < 0.55
    assert same.conventions["unseen_word_share_current"] == pytest.approx(0.0, abs=0.01)


def test_the_random_quantile_matches_a_loop_of_roc_auc_score():
    y = np.random.default_rng(5).integers(0, 2, 700)
    for level in (0.9, 0.95, 0.99):
        assert random_auc_quantile(y, level) == pytest.approx(
            evidently_random_percentile(y, 1 - level), rel=1e-12)


def test_a_report_tests_text_columns_and_a_profile_gives_the_same_answer(tmp_path):
    ref = pd.DataFrame({"note": tickets(2000, 1), "x": np.arange(2000.0)})
    cur = pd.DataFrame({"note": tickets(2000, 2, TICKETS, 0.4), "x": np.arange(2000.0)})
    cur.loc[:99, "note"] = None
    rep = drift_report(ref, cur)
    row = rep.columns.set_index("column").loc["note"]
    assert row["type"] == "text" and row["status"] == "tested"
    assert row["method"] == "abs_text_content_drift" and bool(row["drifted"])
    assert row["n_current"] == 1900 and row["missing_current"] == pytest.approx(0.05)
    q = rep.quality.set_index("column").loc["note"]
    assert q["mean_length_current"] > q["mean_length_reference"]
    hist = rep.histograms["note"]
    assert hist["kind"] == "text" and sum(hist["current"]) == 1900
    store = wb.Store(tmp_path / "s.duckdb")
    reference_profile(ref, name="notes", store=store)
    again = drift_report("notes", cur, store=store, name="notes-report")
    assert again.columns.set_index("column").loc["note", "statistic"] == pytest.approx(row["statistic"])
    html = again.to_html()
    assert "note" in html and hist["examples_current"][0] not in html  # no raw texts exported
    loaded = wb.monitoring.load_report(store, again.id)
    assert loaded.histograms["note"]["words_current"] == hist["words_current"]


def test_texts_are_sampled_reproducibly_above_the_cap(monkeypatch):
    monkeypatch.setattr(report_module, "TEXT_SAMPLE_ROWS", 500)
    from workbench.monitoring import columns
    monkeypatch.setattr(columns, "TEXT_SAMPLE_ROWS", 500)
    ref = pd.DataFrame({"note": tickets(3000, 1)})
    cur = pd.DataFrame({"note": tickets(3000, 2, TICKETS, 0.3)})
    a = drift_report(ref, cur).columns.iloc[0]
    b = drift_report(ref, cur).columns.iloc[0]
    assert a["conventions"]["n_reference_texts"] == a["conventions"]["n_current_texts"] == 500
    assert a["method"] == "perc_text_content_drift"  # 500 texts: the small-sample rule
    assert a["statistic"] == b["statistic"]


def test_bad_text_options_are_refused_by_name():
    ref = pd.DataFrame({"note": tickets(300, 1)})
    cur = pd.DataFrame({"note": tickets(300, 2)})
    with pytest.raises(UnknownMethodError, match="text drift method 'tfidf'"):
        drift_report(ref, cur, text_method="tfidf")
    with pytest.raises(UnknownMethodError, match="does not apply to the text column 'note'"):
        drift_report(ref, cur, per_column_method={"note": "ks"})
    with pytest.raises(InvalidInputError, match="expected 0 < t < 1"):
        drift_report(ref, cur, threshold={"note": 1.5})
    rep = drift_report(ref, cur, per_column_method={"note": "abs_text_content_drift"}, threshold={"note": 0.6})
    assert rep.columns.iloc[0]["method"] == "abs_text_content_drift" and rep.columns.iloc[0]["threshold"] == 0.6
