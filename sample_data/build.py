"""Build the bundled sample data sets of the workbench.

Run ``python sample_data/build.py`` to (re)write every Parquet file next to this
script.  Nothing is downloaded: the three classic tables come from the data sets
that ship *inside* scikit-learn, and the two business tables (customer churn and
an A/B experiment) are generated here from fixed seeds, so every run produces
identical frames.

The generators are plain functions (``make_churn(seed=0) -> DataFrame`` and so
on) so tests and notebooks can import this file by path and rebuild any table in
memory.  The constants below document the drift and effect sizes that are built
in; ``sample_data/README.md`` describes them in prose.
"""

from __future__ import annotations

import argparse
import hashlib
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
COMPRESSION = "zstd"

# --------------------------------------------------------------------------- #
# Churn: what is built in
# --------------------------------------------------------------------------- #
CHURN_SEED = 0
CHURN_N = 20_000
CHURN_START = "2025-01-01"
CHURN_END = "2026-01-01"  # exclusive; timestamps cover 2025-01-01 .. 2025-12-31
DRIFT_START_MONTH = 7  # covariate shift: step changes from July onward
CONCEPT_DRIFT_START_MONTH = 11  # concept drift: Nov + Dec
CHARGES_SHIFT = 1.15  # monthly_charges multiplied by this from month 7 (+15 % mean)
SUPPORT_CALLS_SHIFT = 1.5  # Poisson rate of support_calls multiplied from month 7
CONTRACTS = ("month-to-month", "one-year", "two-year")
CONTRACT_P_BEFORE = (0.45, 0.25, 0.30)
CONTRACT_P_AFTER = (0.60, 0.20, 0.20)
REGIONS_OLD = ("north", "south", "east", "west")
REGIONS_OLD_P = (0.30, 0.26, 0.22, 0.22)  # relative shares of the four old regions
NEW_REGION = "central"
NEW_REGION_SHARE_BEFORE = 0.01  # months 1-6


def new_region_share(month: int) -> float:
    """Expected share of the new region ``central`` in a calendar month (1-12).

    1 % in months 1-6, then 5 % in July rising by 4 points a month to 25 % in
    December.
    """
    if month < DRIFT_START_MONTH:
        return NEW_REGION_SHARE_BEFORE
    return 0.05 + 0.04 * (month - DRIFT_START_MONTH)


# True coefficients of the churn logit.  Months 11-12 use CHURN_COEF_LATE
# (support calls matter more, contract type and price less).
CHURN_COEF = {
    "intercept": -1.80,
    "month_to_month": 1.20,
    "two_year": -0.90,
    "tenure_months": -0.035,  # per month of tenure
    "monthly_charges": 0.015,  # per dollar above 70
    "support_calls": 0.25,  # per call
    "electronic_check": 0.35,
    "fiber_optic": 0.30,
    "senior": 0.30,
    "num_products": -0.15,  # per product above 1
}
CHURN_COEF_LATE = {**CHURN_COEF, "support_calls": 0.55, "month_to_month": 0.70}

CHURN_MISSING_RATE = 0.01  # in total_charges and payment_method, independently
CHURN_N_CHARGE_OUTLIERS = 15  # monthly_charges replaced by 600-1000
CHURN_N_CALL_OUTLIERS = 10  # support_calls replaced by 25-40

# --------------------------------------------------------------------------- #
# A/B experiment: what is built in
# --------------------------------------------------------------------------- #
# Seed 13 is the default because its realised draw matches the design closely
# (lift ~ +10 %, pre-period revenue balanced across arms, guardrail flat); any seed
# gives the same design, only sampling noise differs.
AB_SEED = 13
AB_N = 50_000
AB_START = "2025-03-03"  # a Monday
AB_DAYS = 28
AB_SALT = "checkout-redesign-2025"
AB_CONTROL_RATE = 0.10  # population mean conversion probability in control
AB_RELATIVE_LIFT = 0.10  # treatment multiplies each user's probability by 1.10 (-> ~11 %)
COUNTRIES = ("US", "GB", "DE", "FR", "CA", "IN", "BR")
COUNTRY_P = (0.40, 0.12, 0.10, 0.08, 0.08, 0.12, 0.10)
DEVICES = ("mobile", "desktop", "tablet")
DEVICE_P = (0.55, 0.38, 0.07)


# --------------------------------------------------------------------------- #
# helpers
# --------------------------------------------------------------------------- #
def snake_case(name: str) -> str:
    """``"mean concave points"`` -> ``"mean_concave_points"``;
    ``"od280/od315_of_diluted_wines"`` -> ``"od280_od315_of_diluted_wines"``."""
    out = re.sub(r"[^0-9a-zA-Z]+", "_", name.strip()).strip("_").lower()
    if not out or out[0].isdigit():
        out = f"c_{out}"
    return out


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _str(values) -> pd.Series:
    return pd.Series(np.asarray(values, dtype=object), dtype="str")


def _random_timestamps(rng: np.random.Generator, n: int, start: str, end: str) -> np.ndarray:
    """n sorted timestamps, whole seconds, uniform on [start, end)."""
    t0 = np.datetime64(start, "s")
    span = int((np.datetime64(end, "s") - t0) / np.timedelta64(1, "s"))
    secs = np.sort(rng.integers(0, span, size=n))
    return (t0 + secs.astype("timedelta64[s]")).astype("datetime64[us]")


# --------------------------------------------------------------------------- #
# scikit-learn bundled data sets
# --------------------------------------------------------------------------- #
def _sklearn_frame(loader: Callable, **kwargs) -> pd.DataFrame:
    bunch = loader(as_frame=True, **kwargs)
    frame = bunch.frame.copy()
    frame.columns = [snake_case(c) for c in frame.columns]
    assert frame.columns[-1] == "target" and frame.columns.is_unique
    return frame.reset_index(drop=True)


def make_breast_cancer() -> pd.DataFrame:
    """569 x 31: 30 float features + ``target`` (int, 0 = malignant, 1 = benign)."""
    from sklearn.datasets import load_breast_cancer

    return _sklearn_frame(load_breast_cancer)


def make_wine() -> pd.DataFrame:
    """178 x 14: 13 float features + ``target`` (int class 0, 1, 2)."""
    from sklearn.datasets import load_wine

    return _sklearn_frame(load_wine)


def make_diabetes() -> pd.DataFrame:
    """442 x 11: 10 *unscaled* features (age in years, sex 1/2, ...) + float ``target``."""
    from sklearn.datasets import load_diabetes

    return _sklearn_frame(load_diabetes, scaled=False)


# --------------------------------------------------------------------------- #
# customer churn with covariate and concept drift
# --------------------------------------------------------------------------- #
def churn_logit(df: pd.DataFrame, coef: dict[str, float]) -> np.ndarray:
    """The true churn logit of rows of a churn frame under the coefficients ``coef``."""
    return (
        coef["intercept"]
        + coef["month_to_month"] * (df["contract"] == "month-to-month").to_numpy(float)
        + coef["two_year"] * (df["contract"] == "two-year").to_numpy(float)
        + coef["tenure_months"] * df["tenure_months"].to_numpy(float)
        + coef["monthly_charges"] * (df["monthly_charges"].to_numpy(float) - 70.0)
        + coef["support_calls"] * df["support_calls"].to_numpy(float)
        + coef["electronic_check"] * (df["payment_method"] == "electronic check").to_numpy(float)
        + coef["fiber_optic"] * (df["internet_service"] == "fiber optic").to_numpy(float)
        + coef["senior"] * df["senior"].to_numpy(float)
        + coef["num_products"] * (df["num_products"].to_numpy(float) - 1.0)
    )


def make_churn(seed: int = CHURN_SEED, n: int = CHURN_N) -> pd.DataFrame:
    """A customer-churn table with drift; one row per customer, sorted by ``timestamp``.

    See the module constants and ``sample_data/README.md`` for the shifts.
    """
    rng = np.random.default_rng(seed)
    ts = _random_timestamps(rng, n, CHURN_START, CHURN_END)
    month = pd.DatetimeIndex(ts).month.to_numpy()
    late = month >= DRIFT_START_MONTH
    concept = month >= CONCEPT_DRIFT_START_MONTH

    age = np.clip(np.round(rng.normal(46, 15, n)), 18, 90).astype(np.int64)
    senior = age >= 65
    gender = rng.choice(np.array(["female", "male"], dtype=object), size=n)

    # region: the new region "central" grows from July onward
    p_new = np.array([new_region_share(int(m)) for m in month])
    old = rng.choice(np.array(REGIONS_OLD, dtype=object), size=n, p=REGIONS_OLD_P)
    region = np.where(rng.random(n) < p_new, NEW_REGION, old)

    u = rng.random(n)
    cum_b, cum_a = np.cumsum(CONTRACT_P_BEFORE), np.cumsum(CONTRACT_P_AFTER)
    idx = np.where(
        late, np.searchsorted(cum_a, u, side="right"), np.searchsorted(cum_b, u, side="right")
    )
    contract = np.array(CONTRACTS, dtype=object)[np.minimum(idx, 2)]

    mean_tenure = np.select(
        [contract == "month-to-month", contract == "one-year"], [10.0, 28.0], 44.0
    )
    tenure = np.clip(np.round(rng.gamma(2.0, mean_tenure / 2.0)), 1, 72).astype(np.int64)

    internet = rng.choice(
        np.array(["dsl", "fiber optic", "none"], dtype=object), size=n, p=[0.35, 0.45, 0.20]
    )
    num_products = np.clip(1 + rng.poisson(1.0, n), 1, 6).astype(np.int64)
    base = np.select([internet == "dsl", internet == "fiber optic"], [25.0, 50.0], 0.0)
    charges = 22.0 + base + 7.5 * (num_products - 1) + rng.normal(0.0, 8.0, n)
    charges = np.maximum(charges, 18.0) * np.where(late, CHARGES_SHIFT, 1.0)
    charges = np.round(charges, 2)
    total = np.round(charges * tenure * rng.uniform(0.93, 1.03, n), 2)

    payment = rng.choice(
        np.array(
            ["electronic check", "mailed check", "bank transfer", "credit card"], dtype=object
        ),
        size=n,
        p=[0.34, 0.22, 0.22, 0.22],
    )
    lam = 0.9 + 0.4 * (internet == "fiber optic") + 0.03 * np.minimum(tenure, 24) / 24
    lam = lam * np.where(late, SUPPORT_CALLS_SHIFT, 1.0)
    support_calls = rng.poisson(lam).astype(np.int64)

    df = pd.DataFrame(
        {
            "customer_id": _str([f"C{i:06d}" for i in range(1, n + 1)]),
            "timestamp": pd.Series(ts),
            "age": age,
            "gender": _str(gender),
            "senior": senior,
            "region": _str(region),
            "contract": _str(contract),
            "tenure_months": tenure,
            "internet_service": _str(internet),
            "num_products": num_products,
            "monthly_charges": charges,
            "total_charges": total,
            "payment_method": _str(payment),
            "support_calls": support_calls,
        }
    )
    logit = np.where(concept, churn_logit(df, CHURN_COEF_LATE), churn_logit(df, CHURN_COEF))
    df["churned"] = (rng.random(n) < _sigmoid(logit)).astype(np.int64)

    # data-quality defects, injected after the target so they do not drive it
    miss_total = rng.random(n) < CHURN_MISSING_RATE
    miss_pay = rng.random(n) < CHURN_MISSING_RATE
    df.loc[miss_total, "total_charges"] = np.nan
    df.loc[miss_pay, "payment_method"] = np.nan
    out_rows = rng.choice(n, CHURN_N_CHARGE_OUTLIERS + CHURN_N_CALL_OUTLIERS, replace=False)
    charge_rows = np.sort(out_rows[:CHURN_N_CHARGE_OUTLIERS])
    call_rows = np.sort(out_rows[CHURN_N_CHARGE_OUTLIERS:])
    df.loc[charge_rows, "monthly_charges"] = np.round(
        rng.uniform(600.0, 1000.0, len(charge_rows)), 2
    )
    df.loc[call_rows, "support_calls"] = rng.integers(25, 41, len(call_rows))
    return df


# --------------------------------------------------------------------------- #
# A/B experiment
# --------------------------------------------------------------------------- #
def assign_variant(user_id: str, salt: str = AB_SALT) -> str:
    """Deterministic, sticky 50/50 bucketing: md5(salt:user_id) parity."""
    digest = hashlib.md5(f"{salt}:{user_id}".encode()).digest()
    return "treatment" if digest[0] % 2 else "control"


def make_ab_events(seed: int = AB_SEED, n: int = AB_N) -> pd.DataFrame:
    """One row per user exposed to the experiment, sorted by first-exposure ``timestamp``.

    ``converted``/``revenue``/``sessions``/``page_load_ms`` are the user's outcomes over
    the 4-week window; ``pre_period_revenue`` is the 4 weeks before (for CUPED).
    """
    rng = np.random.default_rng(seed)
    end = str(np.datetime64(AB_START) + np.timedelta64(AB_DAYS, "D"))
    ts = _random_timestamps(rng, n, AB_START, end)
    user_id = [f"U{i:06d}" for i in range(1, n + 1)]
    variant = np.array([assign_variant(uid) for uid in user_id], dtype=object)
    treat = variant == "treatment"

    country = rng.choice(np.array(COUNTRIES, dtype=object), size=n, p=COUNTRY_P)
    device = rng.choice(np.array(DEVICES, dtype=object), size=n, p=DEVICE_P)
    value = rng.normal(0.0, 1.0, n)  # latent customer value, drives pre and post

    # pre-period: same propensity model, independent draws
    p_pre = _sigmoid(-1.0 + 2.0 * value)
    bought_pre = rng.random(n) < p_pre
    pre_rev = np.where(bought_pre, rng.lognormal(3.6 + 0.6 * value, 0.4), 0.0)

    # in-experiment conversion: calibrate intercept so the population mean is AB_CONTROL_RATE
    device_eff = np.select([device == "desktop", device == "tablet"], [0.25, 0.05], -0.15)
    shape = 2.0 * value + device_eff
    lo, hi = -10.0, 5.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if _sigmoid(mid + shape).mean() < AB_CONTROL_RATE:
            lo = mid
        else:
            hi = mid
    p_conv = _sigmoid((lo + hi) / 2 + shape)
    p_conv = np.where(treat, np.minimum(p_conv * (1 + AB_RELATIVE_LIFT), 1.0), p_conv)
    converted = (rng.random(n) < p_conv).astype(np.int64)
    revenue = np.where(converted == 1, rng.lognormal(3.6 + 0.6 * value, 0.4), 0.0)

    sessions = (1 + rng.poisson(np.exp(0.7 + 0.3 * value))).astype(np.int64)
    base_ms = np.select([device == "desktop", device == "tablet"], [650.0, 800.0], 950.0)
    page_load = np.round(base_ms * rng.lognormal(0.0, 0.35, n), 1)

    return pd.DataFrame(
        {
            "user_id": _str(user_id),
            "timestamp": pd.Series(ts),
            "variant": _str(variant),
            "country": _str(country),
            "device": _str(device),
            "pre_period_revenue": np.round(pre_rev, 2),
            "converted": converted,
            "revenue": np.round(revenue, 2),
            "page_load_ms": page_load,
            "sessions": sessions,
        }
    )


# --------------------------------------------------------------------------- #
# writing
# --------------------------------------------------------------------------- #
BUILDERS: dict[str, Callable[[], pd.DataFrame]] = {
    "breast_cancer": make_breast_cancer,
    "wine": make_wine,
    "diabetes": make_diabetes,
    "churn": make_churn,
    "ab_events": make_ab_events,
}


def write_parquet(df: pd.DataFrame, path: Path) -> None:
    table = pa.Table.from_pandas(df, preserve_index=False)
    pq.write_table(table, path, compression=COMPRESSION)


def build_all(out_dir: Path = HERE) -> dict[str, Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, builder in BUILDERS.items():
        path = out_dir / f"{name}.parquet"
        df = builder()
        write_parquet(df, path)
        written[name] = path
        print(
            f"{path.name:<24} {len(df):>7} rows x {df.shape[1]:>2} cols "
            f"{path.stat().st_size / 1024:>8.1f} KiB"
        )
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="output directory")
    args = parser.parse_args(argv)
    build_all(args.out)


if __name__ == "__main__":
    main()
