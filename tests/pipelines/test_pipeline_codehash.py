"""The cache key follows the project code a step reaches: a changed helper re-runs the step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

import workbench as wb
from workbench.pipelines.codehash import is_project_module, reached_code, transitive_code_hash

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import workbench as wb
    import steps_mod

    pipe = wb.Pipeline("proj", [
        wb.Step("make", steps_mod.make),
        wb.Step("double", steps_mod.double, inputs=["make"]),
        wb.Step("other", steps_mod.other, inputs=["make"]),
    ])
    result = pipe.run(wb.Store(sys.argv[1]), backend="sequential")
    print(json.dumps({"statuses": result.statuses(), "double": result.output("double"),
                      "other": result.output("other")}))
    """
)

HELPERS = "FACTOR = {factor}\n\ndef scale(x):\n    return x * FACTOR\n"
STEPS = textwrap.dedent(
    """
    import helpers
    from helpers import scale


    def make():
        return 3


    def double(x):
        return scale(x)


    def other(x):
        return [helpers.FACTOR for _ in range(1)][0] + x
    """
)
STEPS_NO_MODULE_REF = STEPS.replace("[helpers.FACTOR for _ in range(1)][0]", "1")


def _run(tmp_path, store) -> dict:
    proc = subprocess.run(
        [sys.executable, str(tmp_path / "run.py"), str(store)], cwd=tmp_path, capture_output=True,
        text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_changing_a_helper_in_another_module_reruns_the_step(tmp_path):
    (tmp_path / "run.py").write_text(SCRIPT)
    (tmp_path / "helpers.py").write_text(HELPERS.format(factor=2))
    (tmp_path / "steps_mod.py").write_text(STEPS)
    store = tmp_path / "s.duckdb"
    first = _run(tmp_path, store)
    assert first["statuses"] == {"make": "SUCCEEDED", "double": "SUCCEEDED", "other": "SUCCEEDED"}
    assert (first["double"], first["other"]) == (6, 5)
    assert _run(tmp_path, store)["statuses"] == {"make": "CACHED", "double": "CACHED",
                                                 "other": "CACHED"}
    # the helper's body changes: both steps that reach it re-run, `make` stays cached
    (tmp_path / "helpers.py").write_text(HELPERS.format(factor=2).replace("x * FACTOR",
                                                                          "x * FACTOR + 100"))
    third = _run(tmp_path, store)
    assert third["statuses"] == {"make": "CACHED", "double": "SUCCEEDED", "other": "SUCCEEDED"}
    assert third["double"] == 106
    # a module-level constant the helper reads changes: the result follows
    (tmp_path / "helpers.py").write_text(HELPERS.format(factor=5))
    fourth = _run(tmp_path, store)
    assert fourth["statuses"]["double"] == "SUCCEEDED" and fourth["double"] == 15
    assert fourth["other"] == 8


@pytest.mark.slow
def test_editing_the_step_module_elsewhere_does_not_invalidate_unrelated_steps(tmp_path):
    (tmp_path / "run.py").write_text(SCRIPT)
    (tmp_path / "helpers.py").write_text(HELPERS.format(factor=2))
    (tmp_path / "steps_mod.py").write_text(STEPS_NO_MODULE_REF)
    store = tmp_path / "s.duckdb"
    _run(tmp_path, store)
    # `other` no longer reaches helpers: changing the helper re-runs only `double`
    (tmp_path / "helpers.py").write_text(HELPERS.format(factor=3))
    out = _run(tmp_path, store)
    assert out["statuses"] == {"make": "CACHED", "double": "SUCCEEDED", "other": "CACHED"}


LIMIT = 3


def _inner(x):
    return x + LIMIT


def _outer(x):
    return (lambda y: _inner(y))(x)


def test_the_hash_covers_nested_references_and_constants_but_not_libraries():
    labels = reached_code(_outer)
    name = __name__
    assert f"{name}:_outer" in labels and f"{name}:_inner" in labels
    assert f"{name}.LIMIT" in labels
    assert not any(label.startswith(("json", "os", "numpy", "workbench")) for label in labels)
    assert is_project_module(__name__) and not is_project_module("numpy")
    assert not is_project_module("json") and not is_project_module("workbench.steps")
    before = transitive_code_hash(_outer)
    globals()["LIMIT"] = 4
    try:
        assert transitive_code_hash(_outer) != before
    finally:
        globals()["LIMIT"] = 3
    assert transitive_code_hash(_outer) == before


def test_builtin_steps_hash_their_own_source_only():
    func = wb.Step("a", "identity").resolve()
    assert reached_code(func) == ["workbench.steps:identity"]


def test_a_partial_and_a_callable_instance_hash_the_same_in_every_process(tmp_path):
    """Their repr holds a memory address: hashing it made the cache key new in every process."""
    (tmp_path / "callables_mod.py").write_text(textwrap.dedent(
        """
        import functools

        def add(x, y=1):
            return x + y

        class Scale:
            def __call__(self, x):
                return 2 * x

        ADD_TWO = functools.partial(add, y=2)
        SCALE = Scale()
        """))
    code = ("import callables_mod as m; from workbench.pipelines.codehash import transitive_code_hash as h; "
            "print(h(m.ADD_TWO), h(m.SCALE))")
    outs = [subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": str(tmp_path)}, timeout=60) for _ in range(2)]
    assert all(o.returncode == 0 for o in outs), outs[0].stderr
    assert outs[0].stdout == outs[1].stdout
    partial_hash, scale_hash = outs[0].stdout.split()
    (tmp_path / "callables_mod.py").write_text((tmp_path / "callables_mod.py").read_text().replace("y=2", "y=3"))
    again = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": str(tmp_path)}, timeout=60).stdout.split()
    assert again[0] != partial_hash and again[1] == scale_hash  # the bound argument is part of the key
