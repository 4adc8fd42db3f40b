"""``extension()``: make every workbench component render offline in a notebook.

``pn.extension()`` on its own points the notebook page at Bokeh's and Panel's remote asset hosts, so
without internet a component shows as an empty output. This call loads the same
resources **inline** (BokehJS, Panel, Tabulator and the ECharts copy bundled with Panel
travel inside the notebook's output), so nothing is fetched from outside::

    import workbench as wb
    wb.ui.extension()          # once, in an early cell
    wb.ui.RunTable(store)

A workbench screen displayed before ``wb.ui.extension()`` ran in the kernel shows a
message saying what to call instead of an empty output (:class:`NotebookScreen`).
"""

from __future__ import annotations

from typing import Any

import panel as pn

# The Panel extensions the workbench's screens use in a notebook.
EXTENSIONS: tuple[str, ...] = ("tabulator", "echarts")

_state = {"loaded": False}

NOT_LOADED_MESSAGE = (
    "This workbench component needs its JavaScript loaded in the notebook: run "
    "`wb.ui.extension()` (import workbench as wb) in an earlier cell, then re-run this one."
)


def extension(*extra: str, **config: Any) -> None:
    """Load Panel, Bokeh and the components' extensions inline into this notebook.

    ``extra`` names further Panel extensions (``"plotly"``, ...); ``config`` is passed to
    ``pn.extension`` (``sizing_mode=...``). Calling it again is harmless.

    Example::

        >>> import workbench as wb
        >>> wb.ui.extension()            # doctest: +SKIP
    """
    config.setdefault("inline", True)
    pn.extension(*EXTENSIONS, *extra, **config)
    if _inline_later_stylesheets not in pn.viewable.Viewable._preprocessing_hooks:
        pn.viewable.Viewable._preprocessing_hooks.append(_inline_later_stylesheets)
    _inline_updated_stylesheets()
    if _in_notebook_kernel():
        from IPython.display import Javascript, display

        display(Javascript(NOTEBOOK_JS))
    _state["loaded"] = True


# Panel's CommManager (panel/models/comm_manager.ts) holds an event while it waits for the
# kernel's ACK of its last message, and sends it only on that ACK or with the *next* event
# after its timeout (5 s): when an ACK never comes, a filter typed and Enter pressed stay in
# the buffer for good (about half the runs of the real-JupyterLab test, Panel 1.9.4). This
# adds the missing timer, run once per page: a held event is sent once the timeout passed.
NOTEBOOK_JS = """
(function () {
  if (window.__workbenchNotebookJs) { return; }
  window.__workbenchNotebookJs = true;
  var flushHeldEvents = function (manager) {
    manager.__wbTimer = null;
    if (!manager._event_buffer || manager._event_buffer.length === 0) { return; }
    var wait = manager._timeout - Date.now();
    if (manager._blocked && wait >= 0) {
      manager.__wbTimer = setTimeout(function () { flushHeldEvents(manager); }, wait + 20);
      return;
    }
    manager._blocked = true;
    manager._timeout = Date.now() + manager.timeout;
    manager.process_events();
  };
  var patchCommManager = function () {
    var panel = window.Bokeh && window.Bokeh.Panel;
    if (!panel || !panel.CommManager) { return false; }
    var proto = panel.CommManager.prototype;
    if (proto.__wbPatched) { return true; }
    var documentChanged = proto._document_changed;
    proto._document_changed = function (event) {
      documentChanged.call(this, event);
      if (this._blocked && this._event_buffer.length > 0 && !this.__wbTimer) {
        var manager = this;
        var wait = Math.max(0, this._timeout - Date.now()) + 20;
        this.__wbTimer = setTimeout(function () { flushHeldEvents(manager); }, wait);
      }
    };
    proto.__wbPatched = true;
    return true;
  };
  if (!patchCommManager()) {  // Panel's bundle may still be loading
    var tries = 0;
    var timer = setInterval(function () {
      if (patchCommManager() || ++tries > 600) { clearInterval(timer); }
    }, 100);
  }
})();
"""


def _inline_later_stylesheets(viewable: Any, root: Any) -> None:
    """Inline the remote stylesheets of models added *after* a component was displayed.

    Panel inlines the stylesheets of a notebook output when it is first shown, but the
    models a component adds later (a table filled in, a tab built when opened) keep
    stylesheet links to Panel's remote asset host, which an offline browser cannot load.
    """
    from bokeh.models import ImportedStyleSheet, UIElement
    from panel.io.notebook import patch_inline_stylesheets, replace_inline_css
    from panel.io.state import state

    view = state._views.get(root.ref["id"])
    if not pn.config.inline or view is None or view[3] is None:  # only notebook (comm) views
        return
    # Panel caches one stylesheet model per URL and document and reuses it for every later
    # property update: make the cached ones inline too.
    for doc in {root.document, view[2]} - {None}:
        cache = state._stylesheets.get(doc)
        for url, sheet in list((cache or {}).items()):
            if isinstance(sheet, ImportedStyleSheet):
                cache[url] = replace_inline_css(sheet)
    for model in root.select({"type": UIElement}):
        patch_inline_stylesheets(model)


def extension_loaded() -> bool:
    """True once :func:`extension` ran in this process."""
    return _state["loaded"]


def _in_notebook_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with panel
        return False
    ip = get_ipython()
    return ip is not None and hasattr(ip, "kernel")


class NotebookScreen(pn.viewable.Viewer):
    """A ``Viewer`` that, in a notebook kernel, refuses to render blank.

    Shown before :func:`extension` ran, it displays :data:`NOT_LOADED_MESSAGE` (as HTML
    and plain text) instead of an output that stays empty offline.
    """

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Any:
        if _in_notebook_kernel() and not extension_loaded():
            html = (
                '<div class="wb-extension-missing" style="padding:8px;border:1px solid #d97706;'
                f'background:#fffbeb;color:#92400e">{NOT_LOADED_MESSAGE}</div>'
            )
            return {"text/html": html, "text/plain": NOT_LOADED_MESSAGE}, {}
        return super()._repr_mimebundle_(include, exclude)


def _inline_updated_stylesheets() -> None:
    """Make every stylesheet Panel builds for a notebook output inline.

    Panel builds a component's stylesheets as links to its remote asset host
    and inlines them only when an output is first shown; a property update (a Markdown
    pane's text changed, say) re-sends the whole property set, stylesheets included, as remote
    links again, which an offline browser cannot load. This wraps
    ``panel.reactive.Reactive._get_properties`` (once) so that, in a notebook kernel after
    ``extension()`` with ``pn.config.inline``, those links are inline stylesheets from the
    installed Panel from the start. Under ``panel serve`` nothing changes. The
    real-JupyterLab test (``tests/browser/test_jupyterlab_tour.py``) catches a Panel
    version where this no longer holds.
    """
    from bokeh.models import ImportedStyleSheet
    from panel.io.notebook import replace_inline_css
    from panel.reactive import Reactive

    original = Reactive._get_properties
    if getattr(original, "_workbench_inline", False):
        return

    def _get_properties(self: Any, doc: Any) -> dict[str, Any]:
        props = original(self, doc)
        sheets = props.get("stylesheets")
        if sheets and pn.config.inline and extension_loaded() and _in_notebook_kernel():
            props["stylesheets"] = [
                replace_inline_css(s) if isinstance(s, ImportedStyleSheet) else s for s in sheets
            ]
        return props

    _get_properties._workbench_inline = True  # type: ignore[attr-defined]
    Reactive._get_properties = _get_properties  # type: ignore[method-assign]
