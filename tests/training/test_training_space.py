"""Search spaces and strategies, without running any trial."""

from __future__ import annotations

import pytest

import workbench as wb
from workbench.errors import InvalidInputError, SearchSpaceError
from workbench.training.space import (
    check_space,
    iter_grid,
    sample_params,
    space_from_dict,
    space_to_dict,
)
from workbench.training.strategies import (
    DoneTrial,
    GridSearch,
    RandomSearch,
    SuccessiveHalving,
    TPESearch,
)

SPACE = {
    "n_estimators": wb.int_range(50, 500),
    "max_depth": wb.choice([4, 8, None]),
    "lr": wb.float_range(1e-3, 1.0, log=True),
}


def test_same_seed_and_index_give_the_same_params_and_different_seeds_differ():
    space = check_space(SPACE)
    a = [sample_params(space, 0, i) for i in range(20)]
    assert a == [sample_params(space, 0, i) for i in range(20)]
    assert a != [sample_params(space, 1, i) for i in range(20)]
    for p in a:
        assert 50 <= p["n_estimators"] <= 500 and isinstance(p["n_estimators"], int)
        assert p["max_depth"] in (4, 8, None)
        assert 1e-3 <= p["lr"] <= 1.0
    assert {p["max_depth"] for p in a} == {4, 8, None}


def test_int_range_step_and_log_and_grid():
    assert wb.int_range(0, 10, step=5).grid() == [0, 5, 10]
    assert wb.int_range(1, 1000, log=True, num=4).grid() == [1, 10, 100, 1000]
    space = check_space({"k": wb.int_range(10, 20, step=5)})
    assert {sample_params(space, 3, i)["k"] for i in range(40)} == {10, 15, 20}
    logs = [
        sample_params(check_space({"k": wb.int_range(1, 1000, log=True)}), 0, i)["k"]
        for i in range(200)
    ]
    assert min(logs) >= 1 and max(logs) <= 1000 and sum(v < 32 for v in logs) > 60


def test_grid_enumerates_every_point_in_a_fixed_order():
    space = check_space(
        {"a": wb.int_range(1, 3), "b": wb.choice(["x", "y"]), "c": wb.float_range(0, 1, num=2)}
    )
    points = list(iter_grid(space))
    assert len(points) == 12 and points[0] == {"a": 1, "b": "x", "c": 0.0}
    assert len({tuple(p.values()) for p in points}) == 12
    assert GridSearch(space, None, 0).total == 12
    assert GridSearch(space, 5, 0).total == 5


def test_infinite_grid_and_bad_dimensions_fail_clearly():
    with pytest.raises(SearchSpaceError, match="num=.*step="):
        GridSearch(check_space({"lr": wb.float_range(0.0, 1.0)}), None, 0)
    with pytest.raises(SearchSpaceError, match="low <= high"):
        wb.int_range(5, 1)
    with pytest.raises(SearchSpaceError, match="must be an int"):
        wb.int_range(0.5, 3)
    with pytest.raises(SearchSpaceError, match="low > 0"):
        wb.float_range(0, 1, log=True)
    with pytest.raises(SearchSpaceError, match="at least one"):
        wb.choice([])
    with pytest.raises(SearchSpaceError, match="space\\['k'\\]"):
        check_space({"k": 3})
    with pytest.raises(SearchSpaceError, match="non-empty dict"):
        check_space({})
    assert isinstance(SearchSpaceError("x"), InvalidInputError)


def test_space_round_trips_through_json_description():
    space = check_space(SPACE)
    assert space_from_dict(space_to_dict(space)) == space


def test_random_search_hands_out_each_index_once_and_skips_finished_ones():
    space = check_space(SPACE)
    s = RandomSearch(space, 5, seed=7)
    s.start([DoneTrial(1, {}, 0.5, "FINISHED"), DoneTrial(3, {}, None, "FAILED")])
    got = s.ask(2)
    assert [t.index for t in got] == [0, 2]
    assert got[1].params == sample_params(space, 7, 2)
    assert [t.index for t in s.pending()] == [4]
    assert [t.index for t in s.ask(5)] == [4]
    assert s.ask(1) is None


def test_successive_halving_promotes_the_best_third_with_three_times_the_budget():
    space = check_space({"x": wb.float_range(0, 1)})
    s = SuccessiveHalving(
        space, 9, seed=0, mode="max", resource="n_estimators", min_budget=10, max_budget=90, eta=3
    )
    assert s.budgets == [10, 30, 90] and s.sizes == [9, 3, 1] and s.total == 13
    rung0 = s.ask(100)
    assert [t.params["n_estimators"] for t in rung0] == [10] * 9
    assert s.ask(1) == []  # waits for the rung to finish
    for t in rung0:
        s.tell(t, t.params["x"], "FINISHED" if t.index != 0 else "FAILED")
    rung1 = s.ask(100)
    best3 = sorted((t for t in rung0 if t.index != 0), key=lambda t: -t.params["x"])[:3]
    assert [t.config for t in rung1] == [t.config for t in best3]
    assert {t.params["n_estimators"] for t in rung1} == {30}
    assert [t.index for t in rung1] == [9, 10, 11]
    for t in rung1:
        s.tell(t, t.params["x"], "FINISHED")
    (last,) = s.ask(100)
    assert last.config == best3[0].config and last.params["n_estimators"] == 90
    s.tell(last, 1.0, "FINISHED")
    assert s.ask(1) is None


def test_halving_with_a_fractional_budget():
    s = SuccessiveHalving(
        check_space({"x": wb.float_range(0, 1)}),
        8,
        seed=0,
        resource="data_fraction",
        min_budget=0.25,
        max_budget=1.0,
        eta=2,
    )
    assert s.budgets == [0.25, 0.5, 1.0] and s.sizes == [8, 4, 2]


def test_tpe_goes_through_optuna_ask_and_tell_and_is_reproducible():
    space = check_space(
        {
            "x": wb.float_range(-3, 3),
            "k": wb.choice([1, "a", None]),
            "obj": wb.choice([(1, 2), (3, 4)]),
        }
    )

    def drive(seed):
        s = TPESearch(space, 14, seed=seed, mode="max", n_startup_trials=4)
        seen = []
        while (batch := s.ask(2)) is not None:
            for t in batch:
                seen.append(t.params)
                s.tell(t, -((t.params["x"] - 1) ** 2), "FINISHED")
        return s, seen

    s, a = drive(0)
    _, b = drive(0)
    assert a == b and len(a) == 14
    assert all(p["obj"] in ((1, 2), (3, 4)) for p in a)
    assert len(s.study.trials) == 14
    assert abs(s.study.best_params["x"] - 1) < 1.0
    # resume: finished trials are re-told, only the rest are asked
    r = TPESearch(space, 14, seed=0, mode="max", n_startup_trials=4)
    r.start([DoneTrial(i, p, -((p["x"] - 1) ** 2), "FINISHED") for i, p in enumerate(a[:10])])
    assert len(r.study.trials) == 10
    assert [t.index for t in r.ask(10)] == [10, 11, 12, 13]
