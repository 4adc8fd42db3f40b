"""The editor's view-model: cancel a run, values typed but not applied, changes from elsewhere."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import workbench as wb
from workbench.ui.pipelines.model import PipelineEditorModel


def _model(store) -> PipelineEditorModel:
    wb.Pipeline("p", [wb.Step("a", "identity", params={"value": 1}),
                      wb.Step("slow", "sleep", inputs=["a"], params={"seconds": 60}),
                      wb.Step("b", "identity", inputs=["slow"])]).save(store)
    return PipelineEditorModel(store, "p")


def test_cancel_from_the_editor_stops_the_run(store):
    m = _model(store)
    assert m.cancel_run() is False  # nothing running
    assert m.start_run(n_jobs=1, backend="loky")
    deadline = time.monotonic() + 60
    while m.poll() and m.statuses.get("slow") != "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    t0 = time.perf_counter()
    assert m.cancel_run()
    m.wait(60)
    assert time.perf_counter() - t0 < 15
    assert not m.running
    assert m.statuses == {"a": "SUCCEEDED", "slow": "CANCELLED", "b": "CANCELLED"}
    assert "cancelled" in m.message and not m.error


def test_unapplied_values_survive_editing_another_step(store):
    m = _model(store)
    m.select_step("slow")
    m.note_draft("slow", "seconds", "5")  # typed, not applied
    m.select_step("a")
    assert m.set_params("a", {"value": "2"})  # another step edited and applied
    assert m.draft_values("slow") == {"seconds": "5"}
    assert m.draft_values("a") == {}
    assert m.pipeline.step("slow").params["seconds"] == 60  # still not applied
    assert m.set_params("slow", {"seconds": "5"})
    assert m.draft_values("slow") == {} and m.pipeline.step("slow").params["seconds"] == 5
    m.note_draft("slow", "seconds", "7")
    wb.Pipeline("other", [wb.Step("x", "identity")]).save(store)
    m.refresh()
    m.load("other")
    assert m.draft_values("slow") == {}  # another pipeline: drafts dropped


def test_a_change_made_by_another_process_is_picked_up(store):
    m = _model(store)
    assert m.check_live() is False  # first look: remembers the stamp
    assert m.check_live() is False  # nothing changed
    script = textwrap.dedent(f"""
        import workbench as wb
        store = wb.Store({str(store.path)!r})
        wb.Pipeline("from-notebook", [wb.Step("n", "identity", params={{"value": 3}})]).save(store)
        wb.Pipeline("p", [wb.Step("a", "identity", params={{"value": 1}})]).run(store)
    """)
    store.close() if hasattr(store, "close") else None
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    assert m.check_live() is True
    assert "from-notebook" in m.names
    assert m.status_run_id and m.statuses.get("a") in ("SUCCEEDED", "CACHED")
    assert m.pipeline.step_names == ["a", "slow", "b"]  # the draft was not replaced
    assert m.check_live() is False
    assert m.last_check_s < 1.0
    # a change right after a reload, before the next look, is not taken as the new base
    m.apply_live()
    wb.Pipeline("right-after", [wb.Step("n", "identity", params={"value": 4})]).save(store)
    assert m.check_live() is True and "right-after" in m.names
