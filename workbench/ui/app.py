"""The workbench app: one BootstrapTemplate with a page per part of the lifecycle.

``create_app(store)`` builds the app for one browser session; ``serve(...)`` is what
``workbench app`` runs. The active page, the experiment, the filter, the opened run and the
selected runs live in :class:`AppState`, which is synced with the URL's query string, so
every view can be bookmarked and reloaded::

    /?page=runs&experiment=churn&filter=metrics.auc+%3E+0.8
    /?page=run&run=<run id>
    /?page=compare&runs=<id>,<id>,<id>
    /?page=monitoring&report=<id>            (also current=..., reference=... for a new report)
    /?page=abtests&experiment=<A/B experiment>
    /?page=deployments

``experiment`` is the Runs page's or the A/B page's, whichever page is open.
"""

from __future__ import annotations

import html
import os
import secrets
import signal
import socket
from collections.abc import Callable
from typing import Any

import panel as pn
import param

from workbench.store.store import Store
from workbench.ui.components.echart import EChart
from workbench.ui.components.format import error_message

#: page key -> label in the navigation, in order.
PAGES: dict[str, str] = {
    "runs": "Runs",
    "run": "Run detail",
    "compare": "Compare",
    "experiments": "Experiments",
    "datasets": "Datasets",
    "pipelines": "Pipelines",
    "training": "Training",
    "registry": "Registry",
    "monitoring": "Monitoring",
    "abtests": "Experiments / A-B",
    "deployments": "Deployments",
}

_URL_PARAMS = (
    "page", "experiment", "filter", "run", "runs", "report", "current", "reference", "children",
)


class AppState(param.Parameterized):
    """The app's URL-worthy state (synced with the query string when served)."""

    page = param.Selector(default="runs", objects=list(PAGES))
    experiment = param.String(default="", doc="experiment of the Runs page ('' = first)")
    filter = param.String(default="", doc="filter of the Runs page")
    run = param.String(default="", doc="run shown on the Run detail page")
    runs = param.String(default="", doc="comma-separated run ids: the selection / Compare")
    report = param.String(default="", doc="drift report shown on the Monitoring page ('' = newest)")
    children = param.String(default="", doc="child runs on the Runs page: 'flat' ('' = nested)")
    current = param.String(default="", doc="Monitoring's new-report current data, e.g. "
                           "'predictions:churn-api@24h' (a deployment's prediction log)")
    reference = param.String(default="", doc="Monitoring's new-report reference, e.g. "
                             "'model:churn:3' (that version's training data)")

    @property
    def run_ids(self) -> list[str]:
        return [r for r in (x.strip() for x in self.runs.split(",")) if r]


class WorkbenchApp(pn.viewable.Viewer):
    """The app's layout and page switching; ``template`` is what gets served."""

    def __init__(self, store: Store, state: AppState | None = None) -> None:
        super().__init__()
        self.store = store
        self.state = state or AppState()
        self._pages: dict[str, Any] = {}
        self._compare_for: str | None = None
        self.nav = pn.widgets.RadioButtonGroup(
            options={label: key for key, label in PAGES.items()}, value=self.state.page,
            orientation="vertical", color="light", variant="outline",
            sizing_mode="stretch_width", css_classes=["wb-nav"],
        )
        self.nav.param.watch(lambda e: setattr(self.state, "page", e.new), "value")
        self.main = pn.Column(sizing_mode="stretch_width", css_classes=["wb-main"])
        self.state.param.watch(self._on_page, "page")
        self.state.param.watch(self._on_run, "run")
        self.state.param.watch(self._on_runs, "runs")
        self.state.param.watch(self._on_experiment, "experiment")
        self._show(self.state.page)

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Row(pn.Column(self.nav, width=200), self.main, sizing_mode="stretch_width")

    # -- navigation ------------------------------------------------------------
    def open_run(self, run_id: str) -> None:
        self.state.param.update(run=run_id, page="run")

    def compare(self, run_ids: list[str]) -> None:
        self.state.param.update(runs=",".join(run_ids), page="compare")

    def _on_page(self, event: Any) -> None:
        # ``experiment`` in the URL is the Runs page's tracking experiment, or the A/B page's
        # experiment: on a page change it takes the value of the page now shown (never the other's)
        owner = {"abtests": "abtests", "runs": "runs"}.get(event.new)
        view = self._pages.get(owner) if owner else None
        if view is not None and hasattr(view, "model"):
            self.state.experiment = view.model.experiment or ""
        elif owner == "runs" and event.old == "abtests":
            self.state.experiment = ""
        self.nav.value = event.new
        self._show(event.new)

    def _on_run(self, event: Any) -> None:
        detail = self._pages.get("run")
        if detail is not None and hasattr(detail, "model"):
            detail.model.run_id = event.new

    def _on_runs(self, event: Any) -> None:
        if self.state.page == "compare":
            self._show("compare")

    def _on_experiment(self, event: Any) -> None:
        if self.state.page == "abtests":  # ?page=abtests&experiment=<A/B experiment>
            ab_view = self._pages.get("abtests")
            if ab_view is not None and hasattr(ab_view, "model") and event.new and \
                    ab_view.model.experiment != event.new:
                ab_view.model.experiment = event.new
            return
        table = self._pages.get("runs")
        if table is not None and hasattr(table, "model") and table.model.experiment != event.new:
            table.model.experiment = event.new

    def _show(self, page: str) -> None:
        with self.main.param.update(loading=True):
            try:
                view = self._page(page)
            except Exception as exc:  # a readable message, never a traceback or a blank page
                import traceback

                traceback.print_exc()
                view = pn.pane.Alert(
                    f"The {PAGES.get(page, page)} page could not be shown: {html.escape(error_message(exc))}",
                    alert_type="danger", css_classes=["wb-error"], sizing_mode="stretch_width",
                )
            if self.main.objects and self.main.objects[-1] is view:
                return  # already shown (a page and its runs can change in one update)
            heading = pn.pane.Markdown(f"## {PAGES[page]}", margin=(0, 10))
            has_own_title = page == "compare" and len(self.state.run_ids) >= 2
            self.main.objects = [view] if has_own_title else [heading, view]

    def _page(self, page: str) -> Any:
        if page == "compare":
            key = self.state.runs
            if self._compare_for != key or "compare" not in self._pages:
                current = self._pages.get("compare")
                ids = self.state.run_ids
                if len(ids) >= 2 and current is not None and hasattr(current, "run_ids"):
                    current.run_ids = ids  # the Compare view follows new ids in place
                else:
                    self._pages["compare"] = self._build_compare()
                self._compare_for = key
            return self._pages["compare"]
        if page not in self._pages:
            builder: Callable[[], Any] = getattr(self, f"_build_{page}")  # one per page of PAGES
            self._pages[page] = builder()
        return self._pages[page]

    # -- pages -------------------------------------------------------------------
    def _build_runs(self) -> Any:
        from workbench.ui.runs.table import RunTable

        st = self.state
        table = RunTable(
            self.store, on_open=self.open_run, on_compare=self.compare,
            experiment=st.experiment, filter=st.filter, selected=st.run_ids,
            child_runs="flat" if st.children == "flat" else "nested",
        )
        m = table.model
        if st.experiment != m.experiment:
            st.experiment = m.experiment
        m.param.watch(lambda e: setattr(st, "experiment", e.new), "experiment")
        m.param.watch(lambda e: setattr(st, "filter", e.new), "filter")
        m.param.watch(lambda e: setattr(st, "children", "" if e.new == "nested" else e.new),
                      "child_runs")
        m.param.watch(lambda e: setattr(st, "runs", ",".join(e.new)), "selected")
        return table

    def _build_run(self) -> Any:
        from workbench.ui.runs.detail import RunDetail

        return RunDetail(self.store, run_id=self.state.run, on_open=self.open_run)

    def _build_compare(self) -> Any:
        ids = self.state.run_ids
        if len(ids) < 2:
            return pn.pane.Alert(
                "Select between 2 and 50 runs in the Runs table and click Compare.",
                alert_type="info", sizing_mode="stretch_width",
            )
        from workbench.ui.compare.view import RunComparison  # built in parallel; imported lazily

        return RunComparison(self.store, run_ids=ids)

    def _build_experiments(self) -> Any:
        df = self.store.list_experiments()
        view = df[["name", "runs", "running", "last_run", "created_at", "description"]].copy()
        for col in ("last_run", "created_at"):
            view[col] = view[col].dt.strftime("%Y-%m-%d %H:%M")
        table = pn.widgets.Tabulator(view, disabled=True, show_index=False,
                                     sizing_mode="stretch_width", layout="fit_data_table",
                                     css_classes=["wb-experiments-table"])

        def on_click(event: Any) -> None:
            if event.row is not None and event.row < len(view):
                self.state.param.update(experiment=str(view.iloc[event.row]["name"]), page="runs")

        table.on_click(on_click)
        return pn.Column(pn.pane.Markdown("Click an experiment to see its runs."), table,
                         sizing_mode="stretch_width")

    def _build_datasets(self) -> Any:
        df = self.store.list_datasets()
        if df.empty:
            return pn.pane.Markdown("No datasets are recorded in this store yet (runs record "
                                    "them with `run.log_dataset(...)`).")
        df = df.assign(created_at=df["created_at"].dt.strftime("%Y-%m-%d %H:%M"))
        return pn.widgets.Tabulator(df, disabled=True, show_index=False,
                                    sizing_mode="stretch_width", layout="fit_data_table")

    # The lifecycle screens share one contract: ``View(store, on_open=..., on_compare=...)``,
    # a Viewer that opens a run or compares runs through the app's navigation.
    def _build_pipelines(self) -> Any:
        from workbench.ui.pipelines.view import PipelineEditor

        return PipelineEditor(self.store, on_open=self.open_run, on_compare=self.compare)

    def _build_training(self) -> Any:
        from workbench.ui.training.view import TrainingView

        return TrainingView(self.store, on_open=self.open_run, on_compare=self.compare)

    def _build_registry(self) -> Any:
        from workbench.ui.registry.view import RegistryView

        # signed in (``--basic-auth``): the registry acts as that login and only as it
        signed_in = pn.state.user or None
        return RegistryView(self.store, user=signed_in, authenticated=signed_in is not None,
                            on_open=self.open_run, on_compare=self.compare)

    def _build_monitoring(self) -> Any:
        from workbench.ui.monitoring.view import MonitoringView

        view = MonitoringView(self.store, report_id=self.state.report)
        m, st = view.model, self.state
        m.param.watch(lambda e: setattr(st, "report", e.new), "report_id")
        st.param.watch(lambda e: e.new and e.new != m.report_id and m.open_report(e.new), "report")
        view.preset(current=st.current, reference=st.reference)
        st.param.watch(lambda *e: view.preset(current=st.current, reference=st.reference),
                       ["current", "reference"])
        if m.report_id and st.report != m.report_id:
            st.report = m.report_id
        return view

    def _build_abtests(self) -> Any:
        from workbench.ui.abtests.view import ABTestView

        st = self.state
        view = ABTestView(self.store, experiment=st.experiment)
        m = view.model
        if st.page == "abtests" and m.experiment and st.experiment != m.experiment:
            st.experiment = m.experiment

        def to_url(event: Any) -> None:
            if st.page == "abtests":
                st.experiment = event.new

        m.param.watch(to_url, "experiment")
        return view

    def _build_deployments(self) -> Any:
        from workbench.ui.deployments.view import DeploymentsView

        return DeploymentsView(self.store)


_HV_LOADED = False


def _load_holoviews() -> None:
    global _HV_LOADED
    if not _HV_LOADED:
        import holoviews as hv

        hv.extension("bokeh", logo=False)
        _HV_LOADED = True


def _without_mathjax() -> None:
    """Panel sends Bokeh's MathJax bundle (1.8 MB of JavaScript to parse) to any page with an HTML
    pane, in case it holds TeX, and its WebGL bundle to every page; no workbench page renders TeX
    or draws with WebGL, so the app's pages go without both (~1.2 s sooner on this machine)."""
    import panel.io.resources as resources
    import panel.io.server as server

    resources._panel_use_mathjax = lambda roots: False
    bundle = resources.bundle_resources

    def without_gl(roots: Any, res: Any, *args: Any, **kwargs: Any) -> Any:
        # nor WebGL (no plot here asks for output_backend="webgl")
        if res is not None and "bokeh-gl" in getattr(res, "components", ()):
            res = res.clone()
            res.components.remove("bokeh-gl")
        return bundle(roots, res, *args, **kwargs)

    if getattr(server.bundle_resources, "__name__", "") != "without_gl":
        server.bundle_resources = without_gl


def create_app(store: Store | str | os.PathLike | None = None, sync_url: bool = True):
    """Build the app for one session: a ``BootstrapTemplate`` (offline) with every page.

    ``store`` is a :class:`Store` or a path (default: ``$WORKBENCH_STORE`` / ``~/.workbench``).
    """
    pn.extension("tabulator", design="bootstrap")
    _load_holoviews()
    _without_mathjax()
    if not isinstance(store, Store):
        store = Store(store)
    state = AppState()
    location = pn.state.location if sync_url else None
    if location is not None:
        # read the query string before building, so the first render is the bookmarked view
        query = dict(location.query_params or {})
        values = {k: str(v) for k, v in query.items() if k in _URL_PARAMS}
        if values.get("page") not in PAGES:
            values.pop("page", None)
        state.param.update(**values)
        location.sync(state, {k: k for k in _URL_PARAMS})
    app = WorkbenchApp(store, state)
    template = pn.template.BootstrapTemplate(
        title="workbench", sidebar=[app.nav, EChart.preload()], main=[app.main],
        sidebar_width=220,
        header_background="#212529",
    )
    template.header.append(
        pn.pane.HTML(f"<span style='color:#adb5bd'>{html.escape(str(store.path))}</span>",
                     margin=(12, 10), css_classes=["wb-store-path"])
    )
    template.app = app  # for tests and scripts
    return template


def serve(
    store_path: str | os.PathLike | None = None,
    port: int = 5006,
    address: str = "localhost",
    show: bool = False,
    basic_auth: str | None = None,
    cookie_secret: str | None = None,
    **kwargs: Any,
) -> None:
    """Serve the app on ``address:port`` (localhost by default) until interrupted.

    ``basic_auth`` is a password or a JSON file of ``{user: password}`` (Panel's basic auth);
    use it whenever ``address`` is not localhost.
    """
    store = Store(store_path)
    local = address in ("localhost", "127.0.0.1", "::1")
    hosts = {address, "localhost", "127.0.0.1"}
    if not local:
        hosts |= {socket.gethostname(), socket.getfqdn()}
        try:
            hosts |= set(socket.gethostbyname_ex(socket.gethostname())[2])
        except OSError:
            pass
        hosts |= {h.strip() for h in os.environ.get("WORKBENCH_ALLOWED_HOSTS", "").split(",") if h.strip()}
        if not basic_auth:
            print(f"workbench: WARNING: serving on {address} without --basic-auth: anyone who "
                  "can reach this port can read and change the store")
    if basic_auth and not cookie_secret:
        cookie_secret = secrets.token_hex(32)
    origins = [f"{h}:{port}" for h in sorted(hosts) if h not in ("0.0.0.0", "::")]
    print(f"workbench: serving {store.path} on http://{'localhost' if local else address}:{port}/")
    previous = _stop_on_sigterm()
    try:
        pn.serve(
            lambda: create_app(store),
            port=port,
            address=address,
            show=show,
            title="workbench",
            websocket_origin=origins,
            basic_auth=basic_auth,
            cookie_secret=cookie_secret,
            **kwargs,
        )
    finally:
        stop_workers()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _stop_on_sigterm() -> Any:
    """SIGTERM stops the server as Ctrl-C does (Panel's SIGINT handler), so cleanup runs."""
    def on_term(signum: int, frame: Any) -> None:
        handler = signal.getsignal(signal.SIGINT)
        if callable(handler) and handler is not on_term:
            handler(signal.SIGINT, frame)
        else:
            raise KeyboardInterrupt

    try:
        return signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # not the main thread
        return None


def stop_workers() -> None:
    """Stop what the app started: running sweeps (KILLED), their workers, pipeline workers."""
    from workbench.pipelines.backends import shutdown_workers as stop_pipeline_workers
    from workbench.training.sweep import stop_all

    try:
        stop_all()
    finally:
        stop_pipeline_workers()

