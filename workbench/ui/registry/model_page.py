"""The Registry screen's model page: versions and lineage, requests, aliases, gates, history, audit.

A part of :class:`~workbench.ui.registry.view.RegistryView` (a mixin: it builds its widgets
on the view and keeps them in sync with the shared :class:`RegistryModel`).
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd
import panel as pn

from workbench.ui.components.format import format_value
from workbench.ui.components.widgets import lazy_tabs, wrapping_row
from workbench.ui.registry.model import (
    TARGET_STAGES,
    TIMELINE_COLOURS,
    RegistryModel,
    _when,
    stage_badge,
)

_HISTORY_TAB = 3  # index of "Stage history" in the model page's tabs


def _timeline_legend() -> str:
    items = "".join(
        f"<span style='margin-right:14px'><span style='display:inline-block;width:14px;"
        f"height:10px;background:{c};margin-right:4px'></span>{html.escape(s)}</span>"
        for s, c in TIMELINE_COLOURS.items()
    )
    return f"<div class='wb-timeline-legend'>{items}</div>"


class _ModelPage:
    """One model's page: the tabs under the models list (the card tab is :mod:`.card`'s)."""

    model: RegistryModel

    def _build_model_page(self, m: RegistryModel, table: dict[str, Any]) -> None:
        self._model_header = pn.pane.Markdown(
            "", css_classes=["wb-model-header"], sizing_mode="stretch_width"
        )
        self._versions = pn.widgets.Tabulator(
            pd.DataFrame(),
            css_classes=["wb-versions"],
            selectable="checkbox",
            formatters={"stage": {"type": "html"}, "run": {"type": "html"}},
            **table,
        )
        self._versions.on_click(self._on_version_click)
        self._open_run = pn.widgets.Button(
            label="Open run of selected version", width=230, css_classes=["wb-open-run"]
        )
        self._open_run.on_click(lambda e: self._open_version_run(m.version))
        self._compare = pn.widgets.Button(
            label="Compare runs of checked versions", width=250, css_classes=["wb-compare-versions"]
        )
        self._compare.on_click(self._on_compare_click)
        self._lineage = pn.pane.Markdown(
            "", css_classes=["wb-lineage"], sizing_mode="stretch_width"
        )

        self._req_version = pn.widgets.Select(
            label="Version", options=[], width=110, css_classes=["wb-request-version"]
        )
        self._req_stage = pn.widgets.Select(
            label="Target stage",
            options=list(TARGET_STAGES),
            width=140,
            css_classes=["wb-request-stage"],
        )
        self._req_comment = pn.widgets.TextInput(
            label="Comment",
            placeholder="why this move",
            sizing_mode="stretch_width",
            css_classes=["wb-request-comment"],
        )
        self._req_archive = pn.widgets.Checkbox(
            label="Archive the current Production version when approved",
            value=True,
            css_classes=["wb-archive-existing"],
        )
        self._req_button = pn.widgets.Button(
            label="Request transition", color="primary", width=170, css_classes=["wb-request"]
        )
        self._req_button.on_click(self._on_request_click)

        self._alias_name = pn.widgets.TextInput(
            label="Alias", placeholder="champion", width=150, css_classes=["wb-alias-name"]
        )
        self._alias_version = pn.widgets.Select(label="Version", options=[], width=100)
        self._alias_set = pn.widgets.Button(
            label="Set alias", width=100, align="end", css_classes=["wb-alias-set"]
        )
        self._alias_set.on_click(
            lambda e: (
                m.set_alias(self._alias_name.value, self._alias_version.value)
                if self._alias_version.value is not None
                else None
            )
        )
        self._swap_a = pn.widgets.TextInput(label="Swap alias", value="champion", width=130)
        self._swap_b = pn.widgets.TextInput(label="with", value="challenger", width=130)
        self._swap = pn.widgets.Button(
            label="Swap", width=80, align="end", css_classes=["wb-alias-swap"]
        )
        self._swap.on_click(lambda e: m.swap_aliases(self._swap_a.value, self._swap_b.value))

        self._gate_table = pn.widgets.Tabulator(
            pd.DataFrame(), css_classes=["wb-gate-list"], **table
        )
        self._gate_rule = pn.widgets.TextInput(
            label="New gate rule",
            placeholder="metrics.auc >= 0.85 · signature matches production · model card complete",
            sizing_mode="stretch_width",
            css_classes=["wb-gate-rule"],
        )
        self._gate_stages = pn.widgets.CheckBoxGroup(
            options=["Staging", "Production"],
            value=["Staging", "Production"],
            inline=True,
            align="end",
            css_classes=["wb-gate-stages"],
        )
        self._gate_add = pn.widgets.Button(
            label="Add gate", width=100, align="end", css_classes=["wb-gate-add"]
        )
        self._gate_add.on_click(self._on_gate_add)
        self._gate_pick = pn.widgets.Select(label="Gate", options=[], width=100)
        self._gate_delete = pn.widgets.Button(
            label="Delete gate", width=110, align="end", css_classes=["wb-gate-delete"]
        )
        self._gate_delete.on_click(
            lambda e: m.delete_gate(self._gate_pick.value) if self._gate_pick.value else None
        )
        self._description = pn.widgets.TextInput(
            label="Description", sizing_mode="stretch_width", css_classes=["wb-description"]
        )
        self._description_save = pn.widgets.Button(label="Save description", width=150, align="end")
        self._description_save.on_click(lambda e: m.set_description(self._description.value))
        self._tag_key = pn.widgets.TextInput(label="Tag", width=150)
        self._tag_value = pn.widgets.TextInput(label="Value", width=200)
        self._tag_set = pn.widgets.Button(label="Set tag", width=90, align="end")
        self._tag_set.on_click(lambda e: m.set_tag(self._tag_key.value, self._tag_value.value))
        # Drawn when the Stage history tab is first shown (HoloViews is the slowest part of
        # opening the page: importing and rendering it cost more than everything else).
        self._timeline = pn.pane.HoloViews(
            None, sizing_mode="stretch_width", css_classes=["wb-timeline"]
        )
        self._history = pn.widgets.Tabulator(pd.DataFrame(), css_classes=["wb-history"], **table)
        self._audit = pn.widgets.Tabulator(pd.DataFrame(), css_classes=["wb-audit"], **table)

        self._model_tabs = lazy_tabs(
            (
                "Versions",
                pn.Column(
                    self._versions,
                    wrapping_row(self._open_run, self._compare),
                    self._lineage,
                    pn.pane.Markdown("##### Request a stage transition"),
                    wrapping_row(
                        self._req_version,
                        self._req_stage,
                        self._req_comment,
                        sizing_mode="stretch_width",
                    ),
                    wrapping_row(self._req_archive, self._req_button),
                    pn.pane.Markdown("##### Aliases"),
                    wrapping_row(
                        self._alias_name,
                        self._alias_version,
                        self._alias_set,
                        pn.Spacer(width=30),
                        self._swap_a,
                        self._swap_b,
                        self._swap,
                    ),
                    sizing_mode="stretch_width",
                ),
            ),
            (
                "Model card",
                self._card_tab(),
            ),
            (
                "Gates & details",
                pn.Column(
                    pn.pane.Markdown(
                        "##### Gates (checked before a request to these stages is approved)"
                    ),
                    self._gate_table,
                    wrapping_row(
                        self._gate_rule,
                        self._gate_stages,
                        self._gate_add,
                        sizing_mode="stretch_width",
                    ),
                    wrapping_row(self._gate_pick, self._gate_delete),
                    pn.pane.Markdown("##### Description and tags"),
                    wrapping_row(self._description, self._description_save, sizing_mode="stretch_width"),
                    wrapping_row(self._tag_key, self._tag_value, self._tag_set),
                    sizing_mode="stretch_width",
                ),
            ),
            (
                "Stage history",
                pn.Column(
                    self._timeline,
                    pn.pane.HTML(_timeline_legend()),
                    self._history,
                    sizing_mode="stretch_width",
                ),
            ),
            ("Audit log", self._audit),
            sizing_mode="stretch_width",
            css_classes=["wb-model-tabs"],
        )
        self._model_tabs.param.watch(lambda e: self._sync_timeline(), "active")

    def _on_version_click(self, event: Any) -> None:
        versions = self.model.versions
        if versions is None or event.row is None or not 0 <= event.row < len(versions):
            return
        number = int(versions["version"].iloc[event.row])
        if event.column == "run":
            self._open_version_run(number)
        else:
            self.model.select_version(number)

    def _open_version_run(self, version: int | None) -> None:
        m = self.model
        run_id = m.run_of(version) if version is not None else None
        if run_id is None:
            m.error = "This version was registered from a file: it has no run to open."
            return
        if self.on_open is not None:
            self.on_open(run_id)
            return
        from workbench.ui.runs.detail import RunDetail

        self._below[:] = [pn.pane.Markdown("### Run"), RunDetail(m.store, run_id=run_id)]

    def _on_compare_click(self, event: Any) -> None:
        m = self.model
        versions = m.versions
        chosen = [
            int(versions["version"].iloc[i])
            for i in self._versions.selection
            if versions is not None and i < len(versions)
        ]
        runs = [r for r in (m.run_of(v) for v in chosen) if r]
        runs = list(dict.fromkeys(runs))
        if len(runs) < 2:
            m.error = "Tick the boxes of at least two versions that came from runs to compare them."
            return
        if self.on_compare is not None:
            self.on_compare(runs)
            return
        from workbench.ui.compare.view import RunComparison

        self._below[:] = [RunComparison(m.store, run_ids=runs)]

    def _on_request_click(self, event: Any) -> None:
        if self._req_version.value is None:
            self.model.error = "Select the version to move."
            return
        if self.model.request_transition(
            int(self._req_version.value),
            self._req_stage.value,
            self._req_comment.value,
            archive_existing=bool(self._req_archive.value),
        ):
            self._req_comment.value = ""

    def _on_gate_add(self, event: Any) -> None:
        if self.model.add_gate(self._gate_rule.value, self._gate_stages.value):
            self._gate_rule.value = ""

    def _sync_model_page(self) -> None:
        m = self.model
        info = m.model_info or {}
        if not m.model_name:
            self._model_header.object = (
                "No registered models yet: register one from a run above (model name and "
                "run id), or in Python with `wb.Registry(store).register_model(name, "
                "run_id=...)`."
            )
        else:
            aliases = ", ".join(f"`{a}` → v{v}" for a, v in sorted(info.get("aliases", {}).items()))
            tags = ", ".join(f"`{k}={v}`" for k, v in sorted(info.get("tags", {}).items()))
            self._model_header.object = "\n\n".join(
                x
                for x in (
                    f"#### Model: {html.escape(m.model_name)}",
                    html.escape(info.get("description") or ""),
                    f"Aliases: {aliases}" if aliases else "",
                    f"Tags: {tags}" if tags else "",
                )
                if x
            )
        self._model_tabs.visible = bool(m.model_name)
        gates = m.gate_list if m.gate_list is not None else pd.DataFrame()
        self._gate_table.value = gates
        self._gate_pick.options = [int(g) for g in gates["gate"]] if len(gates) else []
        self._description.value = info.get("description") or ""
        versions = m.versions if m.versions is not None else pd.DataFrame()
        shown = versions.copy()
        if len(shown):
            shown["stage"] = shown["stage"].map(stage_badge)
            shown.insert(
                shown.columns.get_loc("run_id"),
                "run",
                [
                    f'<span class="wb-run-link" title="open run {html.escape(r)}" '
                    f'style="color:#0d6efd;cursor:pointer;text-decoration:underline">'
                    f"{html.escape(r[:8])}</span>"
                    if r
                    else ""
                    for r in shown["run_id"]
                ],
            )
            shown = shown.drop(columns=["run_id"])
            for col in [c for c in shown.columns if c.startswith("metrics.")]:
                shown[col] = shown[col].map(format_value)
        self._versions.value = shown
        numbers = [int(v) for v in versions["version"]] if len(versions) else []
        for select in (self._req_version, self._alias_version, self._card_version):
            select.options = numbers
            if m.version in numbers:
                select.value = m.version
        self._lineage.object = self._lineage_text()
        self._sync_card()
        history = m.history if m.history is not None else pd.DataFrame()
        if len(history):
            history = history.assign(
                start=history["start"].map(_when),
                end=[_when(e) if not pd.isna(e) else "now" for e in history["end"]],
            )
        self._history.value = history
        self._sync_timeline()
        self._audit.value = m.audit_frame()

    def _sync_timeline(self) -> None:
        m = self.model
        if self._model_tabs.active != _HISTORY_TAB:
            return  # drawn when the tab is shown
        if m.history is not self._shown_history:  # redraw only when the history changed
            self._shown_history = m.history
            self._timeline.object = m.timeline()

    def _lineage_text(self) -> str:
        m = self.model
        if m.version is None or m.versions is None or m.versions.empty:
            return ""
        match = m.versions[m.versions["version"] == m.version]
        if match.empty:
            return ""
        row = match.iloc[0]
        lines = [
            f"**Version {m.version}** · stage {row['stage']} since {row['stage_since']} · "
            f"sha256 `{row['sha256']}…`"
        ]
        lines.append(f"- run: `{row['run_id']}`" if row["run_id"] else "- registered from a file")
        if row["pipeline"]:
            lines.append(f"- pipeline: {html.escape(row['pipeline'])}")
        if row["datasets"]:
            lines.append(f"- datasets: {html.escape(row['datasets'])}")
        return "\n".join(lines)
