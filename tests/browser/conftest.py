"""Browser-test harness: a real ``panel serve`` subprocess driven by headless Chromium.

Everything here runs offline. Chromium is Debian's (``/usr/bin/chromium``, override with
``$WORKBENCH_CHROMIUM``), driven through Playwright's sync API; Playwright's own browser
downloads are never used.

Fixtures (no import needed):

``browser``            session-scoped Playwright ``Browser`` (headless system Chromium).
``serve_app``          factory ``serve_app(app_file, *app_args, env=None, ...) -> ServedApp``;
                       the servers it starts are stopped when the test ends.
``serve_app_module``   the same factory, but its servers live for the whole test module.
``page``               a fresh Playwright ``Page`` (own browser context) whose console errors,
                       page errors and requests are recorded.
``recorded``           the :class:`PageRecord` of ``page``.
``open_page``          factory ``open_page(url=None, *, viewport=(1280, 800), wait=True) -> Page``
                       for further recorded pages (each in its own context).
``log_mark``           the length of the test module's ``app`` server log when the test began,
                       for ``assert_no_server_errors(app, log_mark)`` on a shared server.

Helpers, importable in test modules as ``from browser_harness import ...`` (this conftest
registers itself under that name, because several ``conftest`` modules may exist):

``assert_offline(page_or_record, allow=())``, ``assert_no_console_errors(page_or_record,
ignore=())``, ``assert_no_server_errors(served_app, since=0)``, ``screenshot(page, name) -> Path``,
``wait_for_panel(page, timeout=30_000)``, ``wait_for_idle(page, timeout=30_000)``,
``record_of(page) -> PageRecord``.

On a failing test the report gets extra sections: the tail of each running server's log
and, for each open page, its console errors, page errors, non-local requests and a
screenshot path (``test-artifacts/screenshots/FAILED-<test>.png``).

Every test collected below ``tests/browser`` is marked ``browser`` automatically
(deselect with ``-m "not browser"``).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import types
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT_DIR = REPO_ROOT / "test-artifacts" / "screenshots"
CHROMIUM_PATH = os.environ.get("WORKBENCH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
LOCAL_SCHEMES = frozenset({"data", "blob", "about", "chrome-error"})
# Variables that change how the served app loads its JS/CSS or which store it opens; the
# harness does not inherit them from the developer's shell (a test may pass them in ``env``).
_SCRUBBED_ENV_PREFIXES = ("BOKEH_", "PANEL_", "WORKBENCH_")
_HERE = Path(__file__).resolve().parent
_APP_ERROR = "Error running application handler"  # what Panel logs when the app script raises

# Things alive during the current test, reported when it fails.
_ACTIVE_SERVERS: list[ServedApp] = []
_OPEN_PAGES: list[tuple[object, PageRecord]] = []
_RECORDS: dict[int, PageRecord] = {}


# --------------------------------------------------------------------------- markers / hooks


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        try:
            item.path.resolve().relative_to(_HERE)
        except ValueError:
            continue
        item.add_marker(pytest.mark.browser)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if not report.failed or report.when not in ("call", "setup"):
        return
    for index, (page, record) in enumerate(list(_OPEN_PAGES)):
        shot = ""
        try:
            if not page.is_closed():
                suffix = f"-{index}" if index else ""
                shot = str(screenshot(page, f"FAILED-{item.nodeid}{suffix}"))
        except Exception as exc:  # the page may be wedged; the report matters more
            shot = f"(screenshot failed: {exc})"
        report.sections.append((f"browser page {index}", record.summary(screenshot=shot)))
    for server in list(_ACTIVE_SERVERS):
        report.sections.append((f"panel serve log ({server.app_file})", server.log(tail=200)))


# --------------------------------------------------------------------------- recording


def _is_local(url: str) -> bool:
    parsed = urlparse(url)
    if parsed.scheme in LOCAL_SCHEMES:
        return True
    return (parsed.hostname or "") in LOCAL_HOSTS


@dataclass
class PageRecord:
    """What a page did: filled in by listeners that ``page``/``open_page`` attach."""

    console_errors: list[str] = field(default_factory=list)  # console messages of type "error"
    page_errors: list[str] = field(default_factory=list)  # uncaught exceptions
    requests: list[str] = field(default_factory=list)  # every request URL, in order
    websockets: list[str] = field(default_factory=list)  # every websocket URL
    failed_requests: list[str] = field(default_factory=list)  # "URL (failure text)"
    console: list[str] = field(default_factory=list)  # every console message, "type: text"

    def external_requests(self) -> list[str]:
        return [u for u in [*self.requests, *self.websockets] if not _is_local(u)]

    def summary(self, screenshot: str = "") -> str:
        lines = [f"screenshot: {screenshot}"] if screenshot else []
        for title, values in (
            ("console errors", self.console_errors),
            ("page errors", self.page_errors),
            ("non-local requests", self.external_requests()),
            ("failed requests", self.failed_requests),
        ):
            lines.append(f"{title}: {len(values)}")
            lines.extend(f"  {v}" for v in values)
        lines.append(f"requests: {len(self.requests)}")
        return "\n".join(lines)


def _attach_recorder(page) -> PageRecord:
    record = PageRecord()

    def on_console(msg) -> None:
        record.console.append(f"{msg.type}: {msg.text}")
        if msg.type == "error":
            loc = msg.location or {}
            where = f" ({loc.get('url')}:{loc.get('lineNumber')})" if loc.get("url") else ""
            record.console_errors.append(f"{msg.text}{where}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: record.page_errors.append(str(exc)))
    page.on("request", lambda req: record.requests.append(req.url))
    page.on(
        "requestfailed", lambda req: record.failed_requests.append(f"{req.url} ({req.failure})")
    )
    page.on("websocket", lambda ws: record.websockets.append(ws.url))
    _RECORDS[id(page)] = record
    return record


def record_of(page_or_record) -> PageRecord:
    """The :class:`PageRecord` of a page opened by the ``page``/``open_page`` fixtures."""
    if isinstance(page_or_record, PageRecord):
        return page_or_record
    try:
        return _RECORDS[id(page_or_record)]
    except KeyError:
        raise AssertionError(
            "this page was not opened by the harness (use the page/open_page fixtures)"
        ) from None


def assert_offline(page_or_record, allow: Iterable[str] = ()) -> None:
    """Fail listing every request (and websocket) whose host is not 127.0.0.1/localhost.

    ``data:``/``blob:``/``about:`` URLs count as local. ``allow`` holds regexes of URLs to
    tolerate (use sparingly, and say why in the test).
    """
    patterns = [re.compile(p) for p in allow]
    external = [
        u
        for u in record_of(page_or_record).external_requests()
        if not any(p.search(u) for p in patterns)
    ]
    if external:
        listing = "\n  ".join(dict.fromkeys(external))
        pytest.fail(f"{len(external)} request(s) left localhost:\n  {listing}", pytrace=False)


def assert_no_console_errors(page_or_record, ignore: Iterable[str] = ()) -> None:
    """Fail listing console messages of type error and uncaught page errors.

    ``ignore`` holds regexes of messages to tolerate.
    """
    record = record_of(page_or_record)
    patterns = [re.compile(p) for p in ignore]
    problems = [
        *(f"console error: {m}" for m in record.console_errors),
        *(f"page error: {m}" for m in record.page_errors),
    ]
    problems = [m for m in problems if not any(p.search(m) for p in patterns)]
    if problems:
        pytest.fail("browser reported errors:\n  " + "\n  ".join(problems), pytrace=False)


def screenshot(page, name: str) -> Path:
    """Save a full-page PNG as ``test-artifacts/screenshots/<name>.png``; return its path."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_.") or "screenshot"
    if not safe.endswith(".png"):
        safe += ".png"
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / safe
    page.screenshot(path=str(path), full_page=True)
    return path


def wait_for_panel(page, timeout: float = 30_000) -> None:
    """Wait until Bokeh has a document with rendered root views (the Panel app is up).

    ``timeout`` is in milliseconds, like Playwright's.
    """
    page.wait_for_function(
        "() => window.Bokeh !== undefined && Bokeh.documents.length > 0"
        " && Bokeh.index !== undefined && Object.keys(Bokeh.index).length > 0",
        timeout=timeout,
    )


def wait_for_idle(page, timeout: float = 30_000) -> None:
    """Wait until a Panel template's busy indicator stops spinning (server callbacks done).

    Pages without a template (no ``.pn-busy-container``) count as idle. Milliseconds.
    """
    page.wait_for_function(
        "() => document.querySelector('.pn-busy-container .spin') === null", timeout=timeout
    )


# --------------------------------------------------------------------------- browser


@pytest.fixture(scope="session")
def _playwright():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(_playwright):
    """Headless Debian Chromium (``/usr/bin/chromium``), shared by the whole session."""
    if not os.path.exists(CHROMIUM_PATH):
        pytest.fail(
            f"browser tests need Chromium at {CHROMIUM_PATH}: run ./run test (installs it) or "
            "apt-get install chromium; deselect them with -m 'not browser'",
            pytrace=False,
        )
    browser = _playwright.chromium.launch(
        executable_path=CHROMIUM_PATH, headless=True, args=CHROMIUM_ARGS
    )
    yield browser
    browser.close()


@pytest.fixture
def open_page(browser):
    """Factory: ``open_page(url=None, *, viewport=(1280, 800), wait=True) -> Page``.

    Each page gets its own browser context; requests to any host other than localhost are
    recorded and then aborted, so nothing ever leaves the machine. With ``url`` the page
    navigates there and (``wait=True``) waits for the Panel app to render.
    """
    contexts = []

    def _open(
        url: str | None = None, *, viewport: tuple[int, int] = (1280, 800), wait: bool = True
    ):
        context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
        contexts.append(context)
        context.route(lambda u: not _is_local(u), lambda route: route.abort("blockedbyclient"))
        page = context.new_page()
        record = _attach_recorder(page)
        _OPEN_PAGES.append((page, record))
        if url is not None:
            page.goto(url)
            if wait:
                wait_for_panel(page)
        return page

    yield _open
    for context in contexts:
        for page in context.pages:
            _RECORDS.pop(id(page), None)
        with contextlib.suppress(Exception):
            context.close()
    _OPEN_PAGES.clear()


@pytest.fixture
def page(open_page):
    """A fresh recorded page (1280x800). Navigate with ``page.goto(url)``."""
    return open_page()


@pytest.fixture
def recorded(page) -> PageRecord:
    """The :class:`PageRecord` of the ``page`` fixture."""
    return record_of(page)


# --------------------------------------------------------------------------- panel serve


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServedApp(str):
    """The app's URL (a ``str``, so ``page.goto(app)`` works) plus the server behind it.

    Attributes: ``url`` (same as the string), ``base_url`` (``http://127.0.0.1:PORT``),
    ``port``, ``app_file``, ``proc`` (the ``Popen``), ``log_path``. ``log()`` returns the
    server's combined stdout/stderr so far; ``stop()`` ends it and its children.
    """

    url: str
    base_url: str
    port: int
    app_file: Path
    proc: subprocess.Popen
    log_path: Path

    def __new__(cls, url: str, **attrs):
        obj = super().__new__(cls, url)
        obj.url = url
        for key, value in attrs.items():
            setattr(obj, key, value)
        return obj

    def log(self, tail: int | None = None) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        if tail is not None:
            text = "\n".join(text.splitlines()[-tail:])
        return text

    def stop(self, timeout: float = 10.0) -> None:
        if self in _ACTIVE_SERVERS:
            _ACTIVE_SERVERS.remove(self)
        _kill_group(self.proc, timeout)


def _kill_group(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM the process group we created (the server and its children), then SIGKILL."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout)
    with contextlib.suppress(ProcessLookupError, PermissionError):  # children may outlive it
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout)


def _http_status(url: str, timeout: float = 10.0) -> int | None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
    try:
        with opener.open(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, urllib.error.URLError):
        return None


def _child_env(overrides: Mapping[str, str | None] | None, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_ENV_PREFIXES)}
    env["WORKBENCH_HOME"] = str(home)
    env["PYTHONUNBUFFERED"] = "1"
    for key, value in (overrides or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = str(value)
    return env


class _Launcher:
    def __init__(self, tmp_dir: Path) -> None:
        self.tmp_dir = tmp_dir
        self.servers: list[ServedApp] = []

    def __call__(
        self,
        app_file: str | os.PathLike,
        *app_args: str,
        env: Mapping[str, str | None] | None = None,
        cwd: str | os.PathLike | None = None,
        timeout: float = 60.0,
        serve_args: Iterable[str] = (),
        url_path: str | None = None,
        fail_on_app_error: bool = True,
    ) -> ServedApp:
        """Start ``panel serve APP --port P --address 127.0.0.1 ... [--args APP_ARGS]``.

        ``env`` overrides the environment (``None`` deletes a variable). The inherited
        BOKEH_*/PANEL_*/WORKBENCH_* variables are dropped and ``WORKBENCH_HOME`` defaults to
        a fresh temporary directory. ``cwd`` defaults to the repo root. Waits (``timeout``
        seconds) for ``GET`` on the app URL to answer 200 and returns a :class:`ServedApp`.
        Panel answers 200 with an error page when the app script raises; with
        ``fail_on_app_error`` (default) that fails too, showing the traceback.
        """
        app_path = Path(app_file)
        if not app_path.is_absolute():
            app_path = Path(cwd or REPO_ROOT) / app_path
        path = url_path if url_path is not None else app_path.stem
        last_error = ""
        for _attempt in range(3):  # a free port can be taken between probe and bind
            served, last_error = self._start(
                app_path, app_args, env, cwd, timeout, serve_args, path, fail_on_app_error
            )
            if served is not None:
                return served
            if "Address already in use" not in last_error:
                break
        pytest.fail(last_error, pytrace=False)

    def _start(self, app_path, app_args, env, cwd, timeout, serve_args, path, fail_on_app_error):
        port = _free_port()
        n = len(self.servers)
        log_path = self.tmp_dir / f"panel-serve-{n}-{port}.log"
        home = self.tmp_dir / f"workbench-home-{n}"
        home.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "panel",
            "serve",
            str(app_path),
            "--port",
            str(port),
            "--address",
            "127.0.0.1",
            "--allow-websocket-origin",
            f"127.0.0.1:{port}",
            "--allow-websocket-origin",
            f"localhost:{port}",
            *serve_args,
        ]
        if app_args:
            cmd += ["--args", *map(str, app_args)]
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                cmd,
                cwd=str(cwd or REPO_ROOT),
                env=_child_env(env, home),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        base_url = f"http://127.0.0.1:{port}"
        url = f"{base_url}/{path.lstrip('/')}"
        served = ServedApp(
            url, base_url=base_url, port=port, app_file=app_path, proc=proc, log_path=log_path
        )
        self.servers.append(served)
        deadline = time.monotonic() + timeout
        status = None
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return None, (
                    f"panel serve exited early with code {proc.returncode}\n"
                    f"command: {' '.join(cmd)}\n--- output ---\n{served.log(tail=200)}"
                )
            status = _http_status(url, timeout=max(1.0, min(10.0, deadline - time.monotonic())))
            if status == 200 and fail_on_app_error and _APP_ERROR in served.log():
                served.stop()
                return None, (
                    f"the app raised while rendering {url} (Panel answered 200 with an error "
                    f"page)\ncommand: {' '.join(cmd)}\n--- output ---\n{served.log(tail=200)}"
                )
            if status == 200:
                _ACTIVE_SERVERS.append(served)
                return served, ""
            time.sleep(0.25)
        served.stop()
        return None, (
            f"panel serve did not answer 200 on {url} within {timeout:.0f}s "
            f"(last status: {status})\ncommand: {' '.join(cmd)}\n"
            f"--- output ---\n{served.log(tail=200)}"
        )

    def close(self) -> None:
        for served in reversed(self.servers):
            served.stop()
        self.servers.clear()


@pytest.fixture
def serve_app(tmp_path):
    """Factory: ``serve_app(app_file, *app_args, env=None, cwd=None, timeout=60,
    serve_args=(), url_path=None) -> ServedApp``; servers stop when the test ends."""
    launcher = _Launcher(tmp_path / "serve")
    launcher.tmp_dir.mkdir(parents=True, exist_ok=True)
    yield launcher
    launcher.close()


@pytest.fixture(scope="module")
def serve_app_module(tmp_path_factory):
    """Like ``serve_app`` but the servers live until the end of the test module."""
    launcher = _Launcher(tmp_path_factory.mktemp("serve"))
    yield launcher
    launcher.close()


# Tornado logs a traceback when a page closes while the server still writes to its websocket
# (``WebSocketClosedError``): the page going away, not an app error, so those blocks are left out.
# (with or without Bokeh's "Failed sending" line before it)
_CLOSED_SOCKET = re.compile(
    r"(?:Failed sending message as connection was closed\n[^\n]*)?Task exception was never retrieved\n"
    r"future: <Task finished[^\n]*WebSocketClosedError\(\)>\n(?:(?!\n\d{4}-\d\d-\d\d ).)*",
    re.S,
)


def assert_no_server_errors(served: ServedApp, since: int = 0) -> None:
    """Fail if the server's log holds a Python traceback, an app error or a 500 response.

    ``since`` (a length of ``served.log()``, e.g. the ``log_mark`` fixture) checks only what
    was logged after it: a module-scoped server is shared by several tests.
    """
    text = _CLOSED_SOCKET.sub("", served.log()[since:])
    if (
        "Traceback (most recent call last)" in text
        or _APP_ERROR in text
        or re.search(r"\b500 (GET|POST)\b", text)
    ):
        pytest.fail(f"panel serve logged errors:\n{text[-6000:]}", pytrace=False)


@pytest.fixture
def log_mark(app):
    """How long the test module's ``app`` server log was when the test began."""
    return len(app.log())


# --------------------------------------------------------------------------- import alias

__all__ = [
    "CHROMIUM_ARGS",
    "CHROMIUM_PATH",
    "REPO_ROOT",
    "SCREENSHOT_DIR",
    "PageRecord",
    "ServedApp",
    "assert_no_console_errors",
    "assert_no_server_errors",
    "assert_offline",
    "record_of",
    "screenshot",
    "wait_for_idle",
    "wait_for_panel",
]

_alias = types.ModuleType("browser_harness", "Helpers of tests/browser/conftest.py.")
_alias.__dict__.update({name: globals()[name] for name in __all__})
_alias.__all__ = list(__all__)
sys.modules["browser_harness"] = _alias
