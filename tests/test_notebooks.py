"""The notebooks in notebooks/ run headlessly from top to bottom without errors."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
# Panel's mimebundle for a live component (what JupyterLab renders with the Panel extension).
PANEL_MIME = "application/vnd.holoviews_exec.v0+json"


def _execute(path: Path, tmp_path: Path):
    nb = nbformat.read(path, as_version=4)
    # "python3" is the native kernel that ipykernel provides in this environment; jupyter_client
    # launches it with this interpreter (sys.executable), so no user-level kernelspec is needed.
    client = nbclient.NotebookClient(
        nb,
        kernel_name="python3",
        timeout=600,
        allow_errors=True,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    return nb


def _outputs(cell) -> tuple[str, list[dict]]:
    text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.output_type == "stream")
    bundles = [o.get("data", {}) for o in cell.get("outputs", [])
               if o.output_type in ("display_data", "execute_result")]
    return text, bundles


def _cell(nb, needle: str):
    matches = [c for c in nb.cells if c.cell_type == "code" and needle in c.source]
    assert matches, f"no code cell contains {needle!r}"
    return matches[0]


@pytest.mark.slow
def test_tour_notebook_runs(tmp_path):
    assert sys.executable  # the kernel runs on this interpreter
    nb = _execute(NOTEBOOKS / "tour.ipynb", tmp_path)

    errors = [
        f"cell {i}: {o.get('ename')}: {o.get('evalue')}"
        for i, c in enumerate(nb.cells) if c.cell_type == "code"
        for o in c.get("outputs", []) if o.output_type == "error"
    ]
    assert not errors, "\n".join(errors)
    assert all(c.get("execution_count") for c in nb.cells if c.cell_type == "code")

    text, _ = _outputs(_cell(nb, "wb.start_run"))
    assert "logged 6 runs" in text
    text, bundles = _outputs(_cell(nb, "store.search_runs("))
    assert "2 runs match" in text
    assert any("adam-lr0.01" in b.get("text/html", "") for b in bundles)
    text, _ = _outputs(_cell(nb, "store.metric_history("))
    assert "loss: 100000 points stored, 1000 returned" in text

    for needle in ("wb.ui.RunTable(store)", "wb.ui.RunComparison("):
        _, bundles = _outputs(_cell(nb, needle))
        assert any(PANEL_MIME in b for b in bundles), f"{needle}: no Panel output in {bundles}"
        html = "".join(b.get("text/html", "") for b in bundles)
        assert "Traceback (most recent call last)" not in html  # (inlined CSS names "Generic.Traceback")

    # wb.ui.extension() loaded everything inline: no CDN URL is loaded by the page.
    _, bundles = _outputs(_cell(nb, "wb.ui.extension()"))
    js = "".join(b.get("application/javascript", "") for b in bundles)
    assert js and "Bokeh" in js

    text, _ = _outputs(_cell(nb, "model.differing_params()"))
    assert "differing params: ['lr', 'optimizer']" in text
    assert "best run per metric:" in text
