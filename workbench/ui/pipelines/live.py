"""The Pipelines editor's live parts: noticing another process's changes, and unapplied values.

A mixin of :class:`~workbench.ui.pipelines.model.PipelineEditorModel` (no Panel).

- :meth:`check_live` (= :meth:`live_changed`, which may run in a thread, then
  :meth:`apply_live`) compares a small stamp of the store (pipelines, versions and the
  latest run of the pipeline shown: its status and how many of its steps started and
  ended, :func:`workbench.pipelines.api.change_stamp`) with the last one seen; when it
  changed, the list of pipelines, the versions and the latest run's statuses are
  reloaded. The draft being edited is never touched.
- Values typed in a step's form but not applied are kept per step
  (:meth:`note_draft`), so selecting and editing another step and coming back shows
  them again; applying the step's parameters, or loading another pipeline, drops them.
"""

from __future__ import annotations

import time
from typing import Any

from workbench.pipelines import api as papi

#: How often the page checks the store for changes made elsewhere (milliseconds).
LIVE_MS = 2000


class _Live:
    """Live reload and per-step unapplied form values."""

    _stamp: tuple | None = None
    last_check_s: float = 0.0

    def check_live(self) -> bool:
        """Reload what another process changed; True when something was reloaded."""
        if not self.live_changed():
            return False
        self.apply_live()
        return True

    def live_changed(self) -> bool:
        """Whether the store changed since the last look (one small query; any thread)."""
        if self.running:
            return False
        t0 = time.perf_counter()
        try:
            stamp = papi.change_stamp(self.store, self.pipeline_name or None)
        except Exception:  # the store is busy or gone for a moment: try at the next tick
            return False
        finally:
            self.last_check_s = time.perf_counter() - t0
        if self._stamp is None or stamp == self._stamp:
            self._stamp = stamp
            return False
        self._stamp = stamp
        return True

    def apply_live(self) -> None:
        """Reload the list, the versions and the latest run (never the draft)."""
        names_before = list(self.names)
        try:  # read before the data: a change made during or after the reload shows at the next look
            stamp = papi.change_stamp(self.store, self.pipeline_name or None)
        except Exception:
            stamp = None
        self.reload()
        if self.pipeline is None and self.names and self.names != names_before:
            self.load(self.names[0])
            stamp = None  # another pipeline: its stamp is taken at the next look
        self._stamp = stamp

    # -- values typed but not applied ---------------------------------------------------
    def _drafts(self) -> dict[str, dict[str, Any]]:
        if not hasattr(self, "_draft_values"):
            self._draft_values: dict[str, dict[str, Any]] = {}
        return self._draft_values

    def note_draft(self, step: str, key: str, value: Any) -> None:
        """Remember a value typed into ``step``'s form (``key``: a parameter or ``setting:x``)."""
        if step:
            self._drafts().setdefault(step, {})[key] = value

    def draft_values(self, step: str) -> dict[str, Any]:
        """The unapplied values of a step's form (empty when none)."""
        return dict(self._drafts().get(step, {}))

    def clear_drafts(self, step: str | None = None) -> None:
        """Forget the unapplied values of one step (all steps when None)."""
        if step is None:
            self._drafts().clear()
        else:
            self._drafts().pop(step, None)
