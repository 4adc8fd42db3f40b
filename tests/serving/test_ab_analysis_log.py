"""``dep.analyze()``: an A/B analysis of a real server's prediction log, checked against scipy/statsmodels.

A server process runs a sticky 50/50 split of v1 and v2; 300 users (header key) make one to
three requests each; every user's first request gets a reward posted to the feedback endpoint
(a 0/1 draw, more often 1 on v2), the others none. The analysis must take one unit per user,
count only requests with feedback for ``reward``, and give scipy's Welch p-value on the
per-user sums and statsmodels' two-proportion z-test for ``error`` (no request failed).
A bandit's analysis says it is not a fixed-allocation experiment.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import columns_of
from scipy import stats
from test_server_process import free_port

import workbench as wb
from workbench.errors import InvalidInputError
from workbench.serving import deploy


def _row(res, metric, variant):
    t = res.table
    return t[(t["metric"] == metric) & (t["variant"] == variant)].iloc[0]


def test_split_log_analysis_matches_scipy_per_user(model_store, rows):
    import httpx

    dep = deploy("ab-api", "churn", 1, store=model_store)
    url = dep.start(port=free_port(), settings={"flush_interval_s": 0.1})
    rng = np.random.default_rng(7)
    posted = []  # (user, variant, reward) as the client saw them
    try:
        dep.split({1: 0.5, 2: 0.5})
        with httpx.Client(base_url=url, timeout=30) as c:
            for u in range(300):
                user = f"user-{u}"
                for k in range(int(rng.integers(1, 4))):
                    r = c.post("/invocations", json=columns_of(rows.iloc[[u % len(rows)]]),
                               headers={"x-workbench-key": user})
                    assert r.status_code == 200, r.text
                    variant = r.headers["x-workbench-variant"]
                    if k == 0:
                        reward = float(rng.random() < (0.6 if variant == "v2" else 0.35))
                        fb = c.post("/v2/models/churn/feedback",
                                    json={"request_id": r.headers["x-request-id"], "reward": reward})
                        assert fb.status_code == 200, fb.text
                        posted.append((user, variant, reward))
        # a request with no feedback and no key: its own unit, left out of the reward analysis
        with httpx.Client(base_url=url, timeout=30) as c:
            assert c.post("/invocations", json=columns_of(rows.head(1))).status_code == 200
    finally:
        dep.stop()

    events = dep.ab_events()
    assert set(events["variant"]) == {"v1", "v2"}
    keyed = events[events["sticky"].fillna(False).astype(bool)]
    assert keyed.groupby("unit")["variant"].nunique().max() == 1  # sticky: one variant per user
    assert keyed["unit"].nunique() == 300 and events["has_feedback"].sum() == 300

    res = dep.analyze(["reward", "error"])
    assert res.control == "v1"  # the champion
    truth = pd.DataFrame(posted, columns=["user", "variant", "reward"])
    c_arm, t_arm = (truth.loc[truth.variant == v, "reward"].to_numpy() for v in ("v1", "v2"))
    rew = _row(res, "reward", "v2")
    ref = stats.ttest_ind(t_arm, c_arm, equal_var=False)
    assert rew["p_value"] == pytest.approx(ref.pvalue, rel=1e-8)
    assert rew["abs_lift"] == pytest.approx(t_arm.mean() - c_arm.mean(), rel=1e-10)
    # the SRM check: users per arm against the split's planned 50/50
    counts = truth["variant"].value_counts()
    chi = stats.chisquare([counts["v1"], counts["v2"]])
    assert res.srm.p_value == pytest.approx(chi.pvalue, rel=1e-8)
    err = _row(res, "error", "v2")
    assert err["abs_lift"] == 0.0  # nothing failed
    # a control by version, and errors that name the problem
    assert dep.analyze(["reward"], control=2).control == "v2"
    with pytest.raises(InvalidInputError, match="unknown prediction-log metric 'revenue'"):
        dep.analyze(["revenue"])
    with pytest.raises(InvalidInputError, match="no logged request was answered by version 3"):
        dep.analyze(["reward"], control=3)


def test_bandit_log_analysis_says_it_is_adaptive(model_store, rows):
    import httpx

    dep = deploy("bandit-api", "churn", 1, store=model_store)
    with pytest.raises(InvalidInputError, match="no logged request"):
        dep.analyze(["reward"])  # nothing logged yet: a clear error, not an empty table
    url = dep.start(port=free_port(), settings={"flush_interval_s": 0.1})
    try:
        dep.bandit([1, 2], policy="thompson", seed=3)
        with httpx.Client(base_url=url, timeout=30) as c:
            for i in range(120):
                r = c.post("/invocations", json=columns_of(rows.iloc[[i % len(rows)]]))
                reward = 1.0 if r.headers["x-workbench-variant"] == "v2" and i % 2 == 0 else 0.0
                c.post("/v2/models/churn/feedback", json={"request_id": r.headers["x-request-id"],
                                                          "reward": reward})
    finally:
        dep.stop()
    res = dep.analyze(["reward"])
    assert any("bandit allocation" in f for f in res.findings)
    assert not res.srm.flagged  # checked against the traffic each arm received
    assert wb.serving.Deployment("bandit-api", model_store).ab_events()["strategy"].eq("bandit").all()
