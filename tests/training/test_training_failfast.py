"""Fail fast: a wrong train signature is refused; identical failures stop the sweep early."""

from __future__ import annotations

import pytest

import workbench as wb
from workbench.errors import InvalidInputError, SweepError
from workbench.training.failfast import FAIL_FAST_TRIALS, last_line, same_failure


def one_argument(params):
    return params["x"]


def always_broken(params, trial):
    raise ValueError("column 'target' is missing")


def broken_differently(params, trial):
    raise ValueError(f"bad x={params['x']}")


def fails_then_works(params, trial):
    if trial.index < 2:
        raise ValueError("warming up")
    return {"score": params["x"]}


SPACE = {"x": wb.float_range(0, 1)}


@pytest.mark.parametrize("train", [one_argument, lambda: 1, lambda p, t, extra: 1])
def test_a_train_function_of_the_wrong_shape_is_refused_before_anything_runs(store, train):
    before = store.count_runs()
    with pytest.raises(InvalidInputError, match=r"train\(params: dict, trial: Trial\)"):
        wb.sweep(train, SPACE, n_trials=64, metric="score", store=store, experiment="ff")
    assert store.count_runs() == before  # nothing was recorded


def test_keyword_and_star_signatures_are_accepted(store):
    s = wb.sweep(lambda *args: {"score": 1.0}, SPACE, n_trials=1, metric="score", store=store,
                 experiment="ff")
    assert s.status == "FINISHED"


def test_a_sweep_whose_first_trials_fail_alike_stops(store):
    with pytest.raises(SweepError, match="first 3 trials all failed with the same error") as info:
        wb.sweep(always_broken, SPACE, n_trials=64, metric="score", store=store,
                 experiment="ff", seed=1)
    assert "ValueError: column 'target' is missing" in str(info.value)
    parent = store.search_runs("ff", filter="tags.`workbench.kind` = 'sweep'")
    assert parent["status"].tolist() == ["FAILED"]
    children = store.child_runs(parent["run_id"].iloc[0])
    counts = children["status"].value_counts().to_dict()
    # three trials ran; the other 61 never started and are recorded as KILLED (as on cancel)
    assert counts == {"FAILED": FAIL_FAST_TRIALS, "KILLED": 64 - FAIL_FAST_TRIALS}


def test_different_errors_or_an_early_success_do_not_stop_the_sweep(store):
    s = wb.sweep(broken_differently, SPACE, n_trials=5, metric="score", store=store,
                 experiment="ff2", seed=0)
    assert s.progress["failed"] == 5 and s.status == "FINISHED"
    s = wb.sweep(fails_then_works, SPACE, strategy="random", n_trials=5, metric="score",
                 store=store, experiment="ff3", seed=0)
    assert s.progress["failed"] == 2 and s.progress["finished"] == 3


def test_same_failure_rule():
    class R:
        def __init__(self, status, error=None):
            self.status, self.error = status, error

    tb = "Traceback (most recent call last):\n  File x\nTypeError: nope\n"
    assert last_line(tb) == "TypeError: nope"
    assert same_failure([R("FAILED", tb)] * 3) == "TypeError: nope"
    assert same_failure([R("FAILED", tb)] * 2) is None
    assert same_failure([R("FAILED", tb)] * 3 + [R("FINISHED")]) is None
    assert same_failure([R("FAILED", tb), R("FAILED", tb), R("FAILED", "ValueError: x")]) is None
    assert same_failure([R("FAILED", tb)] * 3, n=0) is None
