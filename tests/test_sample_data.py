"""The bundled sample data: ``sample_data/build.py``'s generators make the documented
schema and the drift and experiment effects that later features (drift checks, A/B
statistics) rely on, and the committed files are exactly what they make.

The schema and effect tests run on freshly generated frames (a change to a generator that
breaks an effect fails here), and one test checks each file equals its generator's output.
``sample_data/build.py`` is imported by path (sample_data is not a package).
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "sample_data"
REBUILD = "stale sample data: rebuild with `python sample_data/build.py`"


def _load_build():
    spec = importlib.util.spec_from_file_location("sample_data_build", SAMPLE_DIR / "build.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


build = _load_build()


@pytest.fixture(scope="module")
def churn() -> pd.DataFrame:
    return build.BUILDERS["churn"]()


@pytest.fixture(scope="module")
def ab() -> pd.DataFrame:
    return build.BUILDERS["ab_events"]()


def _month(df: pd.DataFrame) -> pd.Series:
    return df["timestamp"].dt.month


# --------------------------------------------------------------------------- #
# files, shapes, columns, dtypes
# --------------------------------------------------------------------------- #
def test_readme_and_all_files_present_and_small():
    assert (SAMPLE_DIR / "README.md").is_file()
    for name in ("breast_cancer", "wine", "diabetes", "churn", "ab_events"):
        path = SAMPLE_DIR / f"{name}.parquet"
        assert path.is_file(), REBUILD
        assert path.stat().st_size < 2 * 1024 * 1024
        assert name in (SAMPLE_DIR / "README.md").read_text()


@pytest.mark.parametrize(
    ("name", "shape", "target_kind", "some_columns"),
    [
        ("breast_cancer", (569, 31), "i", ["mean_radius", "mean_concave_points", "worst_area"]),
        ("wine", (178, 14), "i", ["alcohol", "od280_od315_of_diluted_wines", "proline"]),
        ("diabetes", (442, 11), "f", ["age", "sex", "bmi", "bp", "s1", "s6"]),
    ],
)
def test_sklearn_tables(name, shape, target_kind, some_columns):
    df = build.BUILDERS[name]()
    assert df.shape == shape
    assert df.columns[-1] == "target"
    assert set(some_columns) <= set(df.columns)
    for col in df.columns:
        assert col == build.snake_case(col) and col.isidentifier(), col
    assert df["target"].dtype.kind == target_kind
    assert all(df[c].dtype == np.float64 for c in df.columns[:-1])
    assert not df.isna().any().any()


def test_snake_case():
    assert build.snake_case("mean concave points") == "mean_concave_points"
    assert build.snake_case("od280/od315_of_diluted_wines") == "od280_od315_of_diluted_wines"
    assert build.snake_case("Sepal Length (cm)") == "sepal_length_cm"


def test_diabetes_is_unscaled():
    df = build.BUILDERS["diabetes"]()
    assert df["age"].between(18, 80).all()
    assert set(df["sex"].unique()) == {1.0, 2.0}


CHURN_DTYPES = {
    "customer_id": "str",
    "timestamp": "datetime64[us]",
    "age": "int64",
    "gender": "str",
    "senior": "bool",
    "region": "str",
    "contract": "str",
    "tenure_months": "int64",
    "internet_service": "str",
    "num_products": "int64",
    "monthly_charges": "float64",
    "total_charges": "float64",
    "payment_method": "str",
    "support_calls": "int64",
    "churned": "int64",
}

AB_DTYPES = {
    "user_id": "str",
    "timestamp": "datetime64[us]",
    "variant": "str",
    "country": "str",
    "device": "str",
    "pre_period_revenue": "float64",
    "converted": "int64",
    "revenue": "float64",
    "page_load_ms": "float64",
    "sessions": "int64",
}


def test_churn_schema(churn):
    assert churn.shape == (20_000, len(CHURN_DTYPES))
    assert {c: str(t) for c, t in churn.dtypes.items()} == CHURN_DTYPES
    assert churn["customer_id"].is_unique
    assert churn["timestamp"].is_monotonic_increasing
    assert churn["timestamp"].min() >= pd.Timestamp("2025-01-01")
    assert churn["timestamp"].max() < pd.Timestamp("2026-01-01")
    assert sorted(_month(churn).unique()) == list(range(1, 13))
    assert set(churn["contract"]) == {"month-to-month", "one-year", "two-year"}
    assert set(churn["region"]) == {"north", "south", "east", "west", "central"}
    assert set(churn["internet_service"]) == {"dsl", "fiber optic", "none"}
    assert set(churn["gender"]) == {"female", "male"}
    assert set(churn["churned"]) == {0, 1}
    assert (churn["senior"] == (churn["age"] >= 65)).all()
    assert 0.20 <= churn["churned"].mean() <= 0.30


def test_churn_data_quality_defects(churn):
    missing = churn.isna().mean()
    assert set(missing[missing > 0].index) == {"total_charges", "payment_method"}
    assert missing["total_charges"] == pytest.approx(0.01, abs=0.003)
    assert missing["payment_method"] == pytest.approx(0.01, abs=0.003)
    assert (churn["monthly_charges"] > 500).sum() == build.CHURN_N_CHARGE_OUTLIERS
    assert (churn["support_calls"] >= 25).sum() == build.CHURN_N_CALL_OUTLIERS
    clean = churn[churn["monthly_charges"] <= 500]
    assert clean["monthly_charges"].max() < 200


def test_ab_schema(ab):
    assert ab.shape == (50_000, len(AB_DTYPES))
    assert {c: str(t) for c, t in ab.dtypes.items()} == AB_DTYPES
    assert ab["user_id"].is_unique
    assert ab["timestamp"].min() >= pd.Timestamp("2025-03-03")
    assert ab["timestamp"].max() < pd.Timestamp("2025-03-31")
    assert set(ab["variant"]) == {"control", "treatment"}
    assert set(ab["device"]) == {"mobile", "desktop", "tablet"}
    assert set(ab["converted"]) == {0, 1}
    assert (ab.loc[ab["converted"] == 0, "revenue"] == 0).all()
    assert (ab.loc[ab["converted"] == 1, "revenue"] > 0).all()
    assert (ab["sessions"] >= 1).all() and (ab["page_load_ms"] > 0).all()
    assert not ab.isna().any().any()


# --------------------------------------------------------------------------- #
# churn drift is real (and absent where it should be)
# --------------------------------------------------------------------------- #
def test_churn_covariate_shift(churn):
    month = _month(churn)
    early, late = churn[month <= 3], churn[month >= 10]
    assert stats.ks_2samp(early["monthly_charges"], late["monthly_charges"]).pvalue < 1e-6

    # no strong drift inside months 1-3: first half vs second half in time
    half = len(early) // 2
    for col in ("monthly_charges", "support_calls", "age", "tenure_months"):
        p = stats.ks_2samp(early[col].iloc[:half], early[col].iloc[half:]).pvalue
        assert p > 0.001, col

    before, after = churn[month < 7], churn[month >= 7]
    trim = churn["monthly_charges"] <= 500
    ratio = after.loc[trim, "monthly_charges"].mean() / before.loc[trim, "monthly_charges"].mean()
    assert 1.10 < ratio < 1.20
    mtm_before = (before["contract"] == "month-to-month").mean()
    mtm_after = (after["contract"] == "month-to-month").mean()
    assert mtm_after - mtm_before > 0.10
    calls = churn["support_calls"] < 25
    assert (
        after.loc[calls, "support_calls"].mean() > 1.3 * before.loc[calls, "support_calls"].mean()
    )
    central = churn["region"].eq("central").groupby(month).mean()
    assert central.loc[1:6].max() < 0.03
    assert central.loc[12] > 0.20


def test_churn_concept_drift_in_last_two_months(churn):
    from sklearn.linear_model import LogisticRegression

    df = churn.dropna()
    df = df[(df["monthly_charges"] <= 500) & (df["support_calls"] < 25)]
    x = pd.DataFrame(
        {
            "month_to_month": df["contract"] == "month-to-month",
            "two_year": df["contract"] == "two-year",
            "tenure_months": df["tenure_months"],
            "monthly_charges": df["monthly_charges"] - 70,
            "support_calls": df["support_calls"],
        }
    ).astype(float)
    month = _month(df)
    coefs = {}
    for label, mask in {"before": (month >= 7) & (month <= 10), "after": month >= 11}.items():
        model = LogisticRegression(C=1e6, max_iter=2000).fit(x[mask], df.loc[mask, "churned"])
        coefs[label] = dict(zip(x.columns, model.coef_[0], strict=True))
    assert coefs["after"]["support_calls"] > 1.5 * coefs["before"]["support_calls"]
    assert coefs["after"]["month_to_month"] < coefs["before"]["month_to_month"]


# --------------------------------------------------------------------------- #
# A/B experiment
# --------------------------------------------------------------------------- #
def test_ab_no_sample_ratio_mismatch_and_sticky(ab):
    counts = ab["variant"].value_counts()
    # a tiny, realistic imbalance: not exactly 50/50, and far from a sample-ratio mismatch
    assert 0 < abs(counts["control"] - counts["treatment"]) / len(ab) < 0.02
    assert stats.chisquare(counts.to_numpy()).pvalue > 0.01
    # sticky bucketing, as sample_data/README.md documents it (computed here, not by the
    # generator's own function): the parity of md5("checkout-redesign-2025:" + user_id),
    # whatever the seed and size the events were generated with
    def documented(users):
        return ["treatment" if hashlib.md5(f"checkout-redesign-2025:{u}".encode()).digest()[0] % 2
                else "control" for u in users]

    assert documented(ab["user_id"]) == ab["variant"].tolist()
    other = build.make_ab_events(seed=3, n=300)
    assert documented(other["user_id"]) == other["variant"].tolist()
    assert set(other["variant"]) == {"control", "treatment"}
    resalted = [build.assign_variant(u, salt="another-experiment") for u in ab["user_id"][:500]]
    assert resalted != ab["variant"].tolist()[:500]


def test_ab_effects(ab):
    by = ab.groupby("variant")
    rate = by["converted"].mean()
    assert rate["control"] == pytest.approx(0.10, abs=0.01)
    assert rate["treatment"] == pytest.approx(0.11, abs=0.01)
    assert rate["treatment"] > rate["control"]
    ctrl, trt = (ab[ab["variant"] == v] for v in ("control", "treatment"))
    assert stats.ttest_ind(trt["converted"], ctrl["converted"]).pvalue < 0.01
    # guardrail: page load does not move
    assert stats.ttest_ind(trt["page_load_ms"], ctrl["page_load_ms"]).pvalue > 0.05
    # CUPED covariate is usefully correlated with the outcome
    assert np.corrcoef(ab["pre_period_revenue"], ab["revenue"])[0, 1] > 0.3


# --------------------------------------------------------------------------- #
# determinism
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("name", list(build.BUILDERS))
def test_generators_are_deterministic_and_match_files(name):
    maker = build.BUILDERS[name]
    first, second = maker(), maker()
    assert len(first) > 0 and first.equals(second), f"{name}: two builds differ"
    on_disk = pd.read_parquet(SAMPLE_DIR / f"{name}.parquet")
    assert on_disk.columns.tolist() == first.columns.tolist(), REBUILD
    assert on_disk.dtypes.tolist() == first.dtypes.tolist(), REBUILD
    assert on_disk.equals(first), f"{name}: {REBUILD}"


def test_seed_changes_generated_data():
    a, b = build.make_churn(seed=0, n=500), build.make_churn(seed=1, n=500)
    assert not a.equals(b)
    c, d = build.make_ab_events(seed=3, n=300), build.make_ab_events(seed=4, n=300)
    assert not c["revenue"].equals(d["revenue"])
