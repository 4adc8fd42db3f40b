"""Allocation: GrowthBook's hash vectors, cumulative ranges, ramp-up safety, namespaces."""

from __future__ import annotations

import pytest

import workbench as wb
from workbench.abtest import allocation as al
from workbench.errors import AllocationError, NotFoundError

# GrowthBook packages/sdk-js/test/cases.json, "hash" (seed, value, version, result);
# version 2 is our bucket / 10000.
GB_HASH_V2 = [
    ("seed", "a", 0.0505),
    ("seed", "b", 0.2696),
    ("foo", "ab", 0.2575),
    ("foo", "def", 0.2019),
    ("89123klj", "8952klfjas09ujkasdf", 0.124),
    ("90850943850283058242805", "123", 0.7516),
    ("()**(%$##$%#$#", '___)((*":&', 0.0128),
    # experimentResult.bucket of the "Support passthrough / holdout" feature cases
    ("experiment", "1", 0.4413),
    ("holdout", "1", 0.8043),
]
# version 1: (fnv(value + seed) % 1000) / 1000, checks the FNV core on other inputs
GB_HASH_V1 = [
    ("", "a", 0.22),
    ("", "b", 0.077),
    ("b", "a", 0.946),
    ("ef", "d", 0.652),
    ("asdf", "8952klfjas09ujk", 0.549),
    ("", "123", 0.011),
    ("", '___)((*":&', 0.563),
]


@pytest.mark.parametrize("seed,value,expected", GB_HASH_V2)
def test_bucket_matches_growthbook_v2(seed, value, expected):
    assert al.bucket(seed, value) == round(expected * 10000)


@pytest.mark.parametrize("seed,value,expected", GB_HASH_V1)
def test_fnv_matches_growthbook_v1(seed, value, expected):
    assert (al.fnv1a32(value + seed) % 1000) / 1000 == expected


def test_runtime_self_test_uses_the_same_vectors():
    assert al.self_test()
    assert {(s, v) for s, v, _ in al.GROWTHBOOK_V2_VECTORS} == {(s, v) for s, v, _ in GB_HASH_V2}


def test_fnv1a_published_vectors():
    # Fowler/Noll/Vo reference vectors for FNV-1a 32 (ASCII bytes == UTF-16 units < 0x80)
    assert al.fnv1a32("") == 0x811C9DC5
    assert al.fnv1a32("a") == 0xE40C292C
    assert al.fnv1a32("foobar") == 0xBF9CF968


def test_non_ascii_hashes_utf16_code_units():
    # Derived by hand: each UTF-16 code unit (not each UTF-8 byte) is one FNV step.
    def manual(units):
        h = 0x811C9DC5
        for u in units:
            h = ((h ^ u) * 16777619) & 0xFFFFFFFF
        return h

    assert al.fnv1a32("é") == manual([0x00E9])  # one unit, not the UTF-8 bytes C3 A9
    assert al.fnv1a32("é") != manual([0xC3, 0xA9])
    assert al.fnv1a32("€1") == manual([0x20AC, 0x31])
    assert al.fnv1a32("😀") == manual([0xD83D, 0xDE00])  # a surrogate pair: two units
    assert 0 <= al.bucket("ß", "ユーザー") < 10000


def test_bucket_ranges_match_growthbook_cases():
    def r(ws, c):
        return [(round(a, 9), round(b, 9)) for a, b in al.bucket_ranges(ws, c)]

    assert r([0.5, 0.5], 1) == [(0, 0.5), (0.5, 1)]
    assert r([0.5, 0.5], 0.5) == [(0, 0.25), (0.5, 0.75)]
    assert r([0.5, 0.5], 0) == [(0, 0), (0.5, 0.5)]
    assert r([0.4, 0.6], 1) == [(0, 0.4), (0.4, 1)]
    assert r([0.2, 0.3, 0.5], 0.2) == [(0, 0.04), (0.2, 0.26), (0.5, 0.6)]


def test_assignment_is_sticky_and_split_is_even():
    exp = al.Experiment("e", {"control": 0.5, "treatment": 0.5}, salt="e")
    ids = [f"u{i}" for i in range(20000)]
    first = exp.assign_many(ids)
    assert first == exp.assign_many(ids)
    share = first.count("treatment") / len(ids)
    assert abs(share - 0.5) < 0.015
    assert None not in first


def test_ramp_never_moves_an_assigned_user():
    exp = al.Experiment("ramp", {"a": 0.2, "b": 0.3, "c": 0.5}, coverage=0.05)
    ids = [str(i) for i in range(8000)]
    seen = dict(zip(ids, exp.assign_many(ids)))
    in_before = sum(v is not None for v in seen.values())
    for cov in (0.1, 0.2, 0.5, 0.8, 1.0):
        exp.ramp(coverage=cov)
        now = dict(zip(ids, exp.assign_many(ids)))
        for u, v in seen.items():
            if v is not None:
                assert now[u] == v, (u, v, now[u], cov)
        n_in = sum(v is not None for v in now.values())
        assert n_in >= in_before
        assert abs(n_in / len(ids) - cov) < 0.025
        in_before = n_in
        seen = now
    assert None not in seen.values()


def test_weights_and_coverage_validated():
    with pytest.raises(AllocationError, match="sum to 1"):
        al.Experiment("x", {"a": 0.5, "b": 0.4})
    with pytest.raises(AllocationError, match="sum to 1"):
        al.Experiment("x", {"a": 0.5, "b": 0.5 + 1e-8})
    al.Experiment("x", {"a": 0.1, "b": 0.2, "c": 0.7})  # 0.1+0.2+0.7 != 1.0 exactly, within 1e-9
    with pytest.raises(AllocationError, match="at least 2"):
        al.Experiment("x", {"a": 1.0})
    with pytest.raises(AllocationError, match="coverage"):
        al.Experiment("x", {"a": 0.5, "b": 0.5}, coverage=1.5)
    with pytest.raises(AllocationError, match="not a number"):
        al.Experiment("x", {"a": "half", "b": 0.5})
    with pytest.raises(AllocationError, match="namespace"):
        al.Experiment("x", {"a": 0.5, "b": 0.5}, namespace=("ns", 0.6, 0.4))


def test_namespaces_make_experiments_mutually_exclusive():
    a = al.Experiment("a", {"x": 0.5, "y": 0.5}, namespace=("checkout", 0.0, 0.4))
    b = al.Experiment("b", {"x": 0.5, "y": 0.5}, namespace=("checkout", 0.4, 1.0))
    c = al.Experiment("c", {"x": 0.5, "y": 0.5}, namespace=("checkout", 0.3, 0.6))
    assert al.check_exclusive(a, b)
    assert not al.check_exclusive(a, c)
    ids = [f"user-{i}" for i in range(10000)]
    in_a = {u for u, v in zip(ids, a.assign_many(ids)) if v is not None}
    in_b = {u for u, v in zip(ids, b.assign_many(ids)) if v is not None}
    assert not in_a & in_b
    assert len(in_a | in_b) == len(ids)  # together they cover the namespace
    assert abs(len(in_a) / len(ids) - 0.4) < 0.02


def test_stored_experiment_keeps_definition_and_ramps(tmp_path):
    store = wb.Store(tmp_path / "s.duckdb")
    from workbench.store import abtest_store

    exp = al.Experiment(
        "checkout-v2",
        {"control": 0.5, "treatment": 0.5},
        unit="user_id",
        salt="checkout-v2",
        coverage=0.2,
        store=store,
    )
    ids = [f"user-{i}" for i in range(3000)]
    s1 = exp.snapshot(ids)
    exp.ramp(coverage=0.5, comment="looks healthy")
    s2 = exp.snapshot(ids)
    assert abtest_store.moved_units(store, s1["snapshot_id"], s2["snapshot_id"]).empty
    assert s2["counts"]["(none)"] < s1["counts"]["(none)"]
    hist = abtest_store.ramp_history(store, "checkout-v2")
    assert hist["coverage_to"].tolist() == [0.2, 0.5]
    again = al.Experiment.load(store, "checkout-v2")
    assert again.coverage == 0.5
    assert again.assign_many(ids) == exp.assign_many(ids)
    with pytest.raises(AllocationError, match="would move assigned users"):
        al.Experiment(
            "checkout-v2", {"control": 0.4, "treatment": 0.6}, store=store, salt="checkout-v2"
        )
    # refused redefinition saved nothing
    assert abtest_store.get_experiment(store, "checkout-v2")["variants"] == [
        ["control", 0.5],
        ["treatment", 0.5],
    ]
    with pytest.raises(NotFoundError):
        al.Experiment.load(store, "nope")
