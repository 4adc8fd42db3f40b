"""The Deployments screen's "New rollout" card: a strategy, its settings, Start, a confirmation.

Any strategy (blue-green switch, canary with its gates, shadow, split, bandit) starts on a
registered version after a confirmation that states the plan (``dep.<call>``); an edit of
any field withdraws a confirmation, and a refused rollout shows its reason in the card.
The card only talks to :class:`~workbench.ui.deployments.model.DeploymentsModel`
(``plan``, ``rollout``, ``rollout_error``); the screen polls it and starts a plan that was
confirmed while a read was in flight (:attr:`RolloutCard.queued_plan`).
"""

from __future__ import annotations

import html
from typing import Any

import panel as pn

from workbench.errors import InvalidInputError
from workbench.ui.components.widgets import ConfirmBar
from workbench.ui.deployments.model import (
    CANARY_DEFAULTS,
    ROLLOUTS,
    DeploymentsModel,
    DeploymentSnapshot,
    RolloutPlan,
)

# the fields each strategy shows, in the form's order
FIELDS = {"switch": ["version", "window"],
          "canary": ["version", "steps", "interval", "min_samples", "failure_limit", "max_wait",
                     "alpha", "max_error_rate", "slo_ms", "latency_factor", "max_psi", "min_agreement",
                     "max_score_diff", "agreement_sample"],
          "shadow": ["version", "percent"], "split": ["versions", "weights", "key"],
          "bandit": ["versions", "policy"]}
GATE_FIELDS = ("alpha", "max_error_rate", "slo_ms", "latency_factor", "max_psi", "min_agreement",
               "max_score_diff", "agreement_sample")
GATES_HELP = (
    "<small>Gates per step: error rate (one-sided z-test at <i>alpha</i>, and a ceiling), p99 latency "
    "&le; max(<i>latency_factor</i> &times; champion, <i>slo_ms</i>); optional: PSI of the scores, "
    "<i>min_agreement</i> (classifiers: share of rows where the canary predicts what the champion "
    "predicts for the same input) or <i>max_score_diff</i> (regressors: p95 of |difference|); the "
    "champion re-predicts <i>agreement_sample</i> of the canary's requests after they are "
    "answered.</small>")


def rollout_widgets() -> dict[str, Any]:
    """Every field of the card, keyed by its ``DeploymentsModel.plan`` name, with the canary defaults."""
    d = CANARY_DEFAULTS
    w: dict[str, Any] = {
        "version": pn.widgets.Select(label="Version", options={}, width=170),
        "versions": pn.widgets.MultiChoice(label="Versions", options={}, width=300),
        "window": pn.widgets.TextInput(label="Rollback window", value="10m", width=130),
        "steps": pn.widgets.TextInput(label="Steps (% of traffic)", value=d["steps"], width=170),
        "interval": pn.widgets.TextInput(label="Interval per step", value=d["interval"], width=130),
        "min_samples": pn.widgets.IntInput(label="min_samples", value=d["min_samples"], start=1, width=120),
        "failure_limit": pn.widgets.IntInput(label="failure_limit", value=d["failure_limit"], start=0,
                                             width=110),
        "max_wait": pn.widgets.TextInput(label="max_wait", placeholder="3 x interval", width=120),
        "alpha": pn.widgets.FloatInput(label="alpha (error z-test)", value=d["alpha"], step=0.01, start=0,
                                       end=1, width=140),
        "max_error_rate": pn.widgets.FloatInput(label="max_error_rate", value=d["max_error_rate"], step=0.01,
                                                start=0, end=1, width=130),
        "slo_ms": pn.widgets.FloatInput(label="slo_ms (p99)", value=d["slo_ms"], start=0, width=120),
        "latency_factor": pn.widgets.FloatInput(label="latency_factor", value=d["latency_factor"], step=0.1,
                                                start=0, width=120),
        "max_psi": pn.widgets.TextInput(label="max_psi (scores)", placeholder="off", width=120),
        "min_agreement": pn.widgets.TextInput(label="min_agreement", placeholder="off, e.g. 0.95", width=130),
        "max_score_diff": pn.widgets.TextInput(label="max_score_diff (p95)", placeholder="off", width=140),
        "agreement_sample": pn.widgets.FloatInput(label="agreement_sample", value=d["agreement_sample"],
                                                  step=0.1, start=0, end=1, width=130),
        "percent": pn.widgets.FloatInput(label="Mirrored (%)", value=100.0, start=0, end=100, width=120),
        "weights": pn.widgets.TextInput(label="Weights (same order)", placeholder="equal, e.g. 50, 50",
                                        width=170),
        "key": pn.widgets.TextInput(label="Key (input field)", placeholder="x-workbench-key header",
                                    width=170),
        "policy": pn.widgets.Select(label="Policy", options=["thompson", "ucb1"], value="thompson", width=130),
    }
    for key, widget in w.items():  # stable handles for tests and styles: .wb-dep-r-min-samples, ...
        widget.css_classes = [f"wb-dep-r-{key.replace('_', '-')}"]
    return w


class RolloutCard(pn.viewable.Viewer):
    """The "New rollout" card of one :class:`DeploymentsModel`.

    >>> card = RolloutCard(DeploymentsModel(None))  # doctest: +SKIP
    >>> card.strategy.value = "shadow"; card.ask(); card.confirm()  # doctest: +SKIP
    """

    def __init__(self, model: DeploymentsModel, **params: Any) -> None:
        super().__init__(**params)
        self.model = model
        self.queued_plan: RolloutPlan | None = None  # confirmed while a read was in flight
        self.strategy = pn.widgets.RadioButtonGroup(
            options={label: key for key, label in ROLLOUTS.items()}, value="canary", color="primary",
            variant="outline", css_classes=["wb-dep-r-strategy"])
        w = self.widgets = rollout_widgets()
        self._main = pn.FlexBox(*[w[k] for k in w if k not in GATE_FIELDS], sizing_mode="stretch_width",
                                align_items="flex-end")
        self._gates = pn.Column(
            pn.FlexBox(*[w[k] for k in GATE_FIELDS], sizing_mode="stretch_width", align_items="flex-end"),
            pn.pane.HTML(GATES_HELP, sizing_mode="stretch_width", css_classes=["wb-dep-r-help"]),
            sizing_mode="stretch_width", css_classes=["wb-dep-r-gates"])
        self.start = pn.widgets.Button(label="Start rollout", color="primary", width=130,
                                       css_classes=["wb-dep-rollout-start"])
        self.start.on_click(lambda e: self.ask())
        self.confirm_bar = ConfirmBar(on_confirm=self.run, css="wb-dep-rollout-confirm")
        self.error = pn.pane.Alert("", alert_type="danger", visible=False, sizing_mode="stretch_width",
                                   css_classes=["wb-dep-rollout-error"])
        self.strategy.param.watch(lambda e: self._show_fields(), "value")
        for widget in w.values():  # a confirmation is for the plan it states: an edit withdraws it
            widget.param.watch(lambda e: self.withdraw(), "value")
        model.param.watch(lambda e: self._sync_error(), "rollout_error")
        self._show_fields()
        self._sync_error()
        self._card = pn.Card(self.strategy, self._main, self._gates, self.start, self.confirm_bar, self.error,
                             title="New rollout", collapsed=False, sizing_mode="stretch_width",
                             css_classes=["wb-dep-rollout"])

    def __panel__(self) -> pn.viewable.Viewable:
        return self._card

    # -- the form ----------------------------------------------------------------
    def _show_fields(self) -> None:
        shown = set(FIELDS[self.strategy.value])
        for key, widget in self.widgets.items():
            widget.visible = key in shown
        self._gates.visible = self.strategy.value == "canary"
        self.withdraw()

    def form(self) -> dict[str, Any]:
        """The shown fields' values, as ``DeploymentsModel.plan`` takes them."""
        return {k: self.widgets[k].value for k in FIELDS[self.strategy.value]}

    def _sync_error(self) -> None:
        self.error.object = html.escape(self.model.rollout_error)
        self.error.visible = bool(self.model.rollout_error)

    def sync(self, snap: DeploymentSnapshot | None) -> None:
        """Offer the deployment's registered versions (a canary defaults to one that is not champion)."""
        self.start.disabled = snap is None
        if snap is None:
            return
        options = snap.version_options()
        w = self.widgets
        if w["version"].options != options:
            champs = {int(v) for v, r in zip(snap.variants["version"], snap.variants["role"]) if r == "champion"}
            current = w["version"].value
            w["version"].options = options
            if current not in options.values():
                others = [v for v in options.values() if v not in champs]
                w["version"].value = others[0] if others else next(iter(options.values()), None)
        if w["versions"].options != options:
            w["versions"].options = options
            w["versions"].value = [v for v in w["versions"].value if v in options.values()]

    # -- the plan ----------------------------------------------------------------
    def ask(self) -> None:
        """Check the form and show the plan it makes for confirmation (or the reason it is refused)."""
        m = self.model
        try:
            plan = m.plan(self.strategy.value, self.form())
        except InvalidInputError as exc:
            m.rollout_error = str(exc)
            self.withdraw()
            return
        m.rollout_error = ""
        self.confirm_bar.ask(plan, f"<b>{html.escape(m.deployment)}</b>: {html.escape(plan.summary)}<br>"
                                   f"<code>dep.{html.escape(plan.call)}</code>")

    def confirm(self) -> None:
        """Start the plan that is waiting for its confirmation."""
        self.confirm_bar.confirm()

    def withdraw(self) -> None:
        """Drop the plan that is waiting for its confirmation."""
        self.confirm_bar.withdraw()

    def run(self, plan: RolloutPlan) -> None:
        """Start ``plan`` now, or queue it (``queued_plan``) when a read is in flight."""
        m = self.model
        try:
            if not m.rollout(plan):
                self.queued_plan = plan
                m.message = f"{plan.method} queued after the current read"
        except Exception as exc:
            m.rollout_error = f"the rollout was refused: {exc}"
