"""Evidently-compatible mode: our numbers against Evidently 0.7.23's own stattests on the same data.

The expected values were computed with Evidently 0.7.23 itself
(``evidently.legacy.calculations.stattests``). Evidently 0.7.23 cannot be imported with
pandas 3 (it imports ``pandas.core.dtypes.common.infer_dtype_from_object``), so it ran in a
separate virtualenv (``python -m venv /tmp/evvenv && /tmp/evvenv/bin/pip install
evidently==0.7.23 "pandas<3" pytest``); the ``__main__`` block below prints the values again
(it needs only numpy, pandas and evidently: stub ``workbench.monitoring`` in ``sys.modules`` to
run it there). The data are deterministic formulas, not random draws.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from workbench.monitoring import drift_report, stat_test

EVIDENTLY_0_7_23 = {
    "num_psi": 0.09411339006991873,
    "num_jensenshannon": 0.10680181951628796,
    "num_kl_div": 0.04377994795434488,
    "num_hellinger": 0.10761316746566663,
    "num_wasserstein": 0.11609130386906669,
    "num_ks": 1.0242335894312059e-10,
    "few_psi": 0.09045055483830516,
    "few_jensenshannon": 0.10456781811389808,
    "few_kl_div": 0.040119147750787086,
    "cat_psi": 3.760652205580583,
    "cat_jensenshannon": 0.4420293484887819,
    "cat_kl_div": 3.1252463136495,
    "cat_hellinger": 0.5138702711574139,
    "cat_chisquare": 5.404431355925085e-249,
    "cat_z": 0.09592292360881016,
}


def num_data():
    i, j = np.arange(3000), np.arange(2200)
    ref = np.sin(i * 0.37) * 3 + (i % 7) * 0.25 + i / 3000
    cur = np.sin(j * 0.41 + 1) * 3.3 + (j % 5) * 0.3 + 0.4
    return ref, cur


def cat_data():
    i, j = np.arange(1500), np.arange(1200)
    levels = np.array(list("abcdefg"))
    return levels[(i * 7 + i // 3) % 6], levels[(j * 5 + j // 4) % 7]  # "g" is new in current


@pytest.mark.parametrize("method", ["psi", "jensenshannon", "kl_div", "hellinger", "wasserstein", "ks"])
def test_numerical_sturges_bins(method):
    ref, cur = num_data()
    r = stat_test(method, ref, cur, binning="evidently")
    got = r.p_value if method == "ks" else r.statistic
    assert math.isclose(got, EVIDENTLY_0_7_23["num_" + method], rel_tol=1e-9)
    if method in ("psi", "kl_div", "jensenshannon"):
        assert r.conventions["binning"] == "evidently"
        assert len(r.conventions["edges"]) == math.ceil(math.log2(len(ref) + len(cur))) + 2


@pytest.mark.parametrize("method", ["psi", "jensenshannon", "kl_div"])
def test_numerical_with_few_values_one_bin_per_value(method):
    ref, cur = num_data()
    r = stat_test(method, np.round(ref), np.round(cur), binning="evidently")
    assert math.isclose(r.statistic, EVIDENTLY_0_7_23["few_" + method], rel_tol=1e-9)


@pytest.mark.parametrize("method", ["psi", "jensenshannon", "kl_div", "hellinger", "chisquare", "z"])
def test_categorical(method):
    ref, cur = cat_data()
    r = stat_test(method, ref, cur, binning="evidently")
    got = r.p_value if method in ("chisquare", "z") else r.statistic
    assert math.isclose(got, EVIDENTLY_0_7_23["cat_" + method], rel_tol=1e-9)


def test_report_in_evidently_mode_reproduces_the_per_column_scores():
    (rn, cn), (rc, cc) = num_data(), cat_data()
    ref = pd.DataFrame({"n": rn[:1500], "c": rc})
    cur = pd.DataFrame({"n": cn[:1200], "c": cc})
    rep = drift_report(ref, cur, method="psi", binning="evidently")
    by = rep.columns.set_index("column")
    assert math.isclose(by.loc["c", "statistic"], EVIDENTLY_0_7_23["cat_psi"], rel_tol=1e-9)
    assert math.isclose(by.loc["n", "statistic"],
                        stat_test("psi", rn[:1500], cn[:1200], binning="evidently").statistic, rel_tol=1e-12)


if __name__ == "__main__":  # run with an interpreter that has evidently (and pandas < 3)
    import json

    from evidently.legacy.calculations.stattests import (
        chisquare_stattest,
        hellinger_distance,
        jensenshannon,
        kl_div,
        ks_stattest,
        psi,
        wasserstein_distance_norm,
        z_stattest,
    )
    from evidently.legacy.core import ColumnType

    fns = {"psi": psi._psi, "jensenshannon": jensenshannon._jensenshannon, "kl_div": kl_div._kl_div,
           "hellinger": hellinger_distance._hellinger_distance,
           "wasserstein": wasserstein_distance_norm._wasserstein_distance_norm,
           "ks": ks_stattest._ks_stat_test, "chisquare": chisquare_stattest._chi_stat_test,
           "z": z_stattest._z_stat_test}
    out = {}
    r, c = num_data()
    for k in ("psi", "jensenshannon", "kl_div", "hellinger", "wasserstein", "ks"):
        out["num_" + k] = float(fns[k](pd.Series(r), pd.Series(c), ColumnType.Numerical, 0.1)[0])
    for k in ("psi", "jensenshannon", "kl_div"):
        out["few_" + k] = float(fns[k](pd.Series(np.round(r)), pd.Series(np.round(c)), ColumnType.Numerical, 0.1)[0])
    r, c = cat_data()
    for k in ("psi", "jensenshannon", "kl_div", "hellinger", "chisquare", "z"):
        out["cat_" + k] = float(fns[k](pd.Series(r), pd.Series(c), ColumnType.Categorical, 0.1)[0])
    print(json.dumps(out, indent=1))
