"""Progress bars (tqdm) for Pipeline.run and wb.sweep: shown on request, off by switch."""

from __future__ import annotations

import workbench as wb
from workbench.pipelines.progress import progress_bar, progress_enabled
from workbench.training.examples import quadratic


def _pipe():
    return wb.Pipeline("bar", [wb.Step("a", "identity", params={"value": 1}),
                               wb.Step("b", "identity", inputs=["a"])])


def test_pipeline_run_shows_a_bar_of_its_steps(store, capsys):
    _pipe().run(store, progress=True)
    err = capsys.readouterr().err
    assert "pipeline bar" in err and "2/2" in err and "step" in err
    _pipe().run(store, progress=False)
    assert "pipeline bar" not in capsys.readouterr().err


def test_sweep_shows_a_bar_of_its_trials(store, capsys):
    wb.sweep(quadratic, {"x": wb.float_range(0, 1)}, n_trials=3, metric="score", store=store,
             experiment="bar", progress=True)
    err = capsys.readouterr().err
    assert "sweep random" in err and "3/3" in err and "best" in err
    wb.sweep(quadratic, {"x": wb.float_range(0, 1)}, n_trials=2, metric="score", store=store,
             experiment="bar", progress=False)
    assert "sweep random" not in capsys.readouterr().err


def test_a_sweep_that_nobody_waits_for_closes_its_bar_at_the_last_trial(store, capsys):
    handle = wb.sweep(quadratic, {"x": wb.float_range(0, 1)}, n_trials=3, metric="score", store=store,
                      experiment="bar", progress=True, wait=False)
    handle.wait()
    err = capsys.readouterr().err
    assert "3/3" in err and err.endswith("\n")  # closed: tqdm ends the line when a bar closes


def test_the_default_follows_the_terminal_and_the_environment(monkeypatch):
    # under pytest stderr is captured (not a terminal): off by default
    assert progress_enabled() is False and progress_bar(3, "x") is None
    assert progress_enabled(True) is True
    monkeypatch.setattr("sys.stderr.isatty", lambda: True, raising=False)
    monkeypatch.setenv("WORKBENCH_PROGRESS", "0")
    assert progress_enabled() is False
    monkeypatch.setenv("WORKBENCH_PROGRESS", "1")
    assert progress_enabled() is True
