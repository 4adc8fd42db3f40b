"""Registry events reach Python callbacks and local URLs; failing hooks never block or undo."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import workbench as wb
from workbench.errors import InvalidInputError
from workbench.registry import webhooks


class _Recorder(BaseHTTPRequestHandler):
    received: list[dict] = []
    fail_first = 0
    event = threading.Event()

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        cls = type(self)
        if cls.fail_first > 0:
            cls.fail_first -= 1
            self.send_response(500)
            self.end_headers()
            return
        cls.received.append(body)
        cls.event.set()
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    handler = type(
        "Handler", (_Recorder,), {"received": [], "fail_first": 0, "event": threading.Event()}
    )
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield handler, f"http://127.0.0.1:{httpd.server_address[1]}/hook"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def fast_retries(monkeypatch):
    monkeypatch.setattr(webhooks, "BACKOFF_S", 0.01)
    monkeypatch.setattr(webhooks, "TIMEOUT_S", 2.0)


def test_post_json_to_local_url_with_retries(reg, reg_bob, make_run, server, fast_retries):
    handler, url = server
    handler.fail_first = 2  # the first two attempts get HTTP 500; the third succeeds
    hook_id = reg.add_webhook(url, events=["approve"], model=None)
    v = reg.register_model("churn", run_id=make_run())
    req = reg.request_transition("churn", v.version, "Staging")
    reg_bob.approve(req.id, comment="lgtm")
    assert wb.registry.wait_for_webhooks(10)
    assert len(handler.received) == 1  # register and request were not subscribed
    body = handler.received[0]
    assert body["event"] == "approve" and body["webhook_id"] == hook_id
    assert (body["model"], body["version"], body["user"]) == ("churn", 1, "bob")
    assert body["after"]["stages"] == {"1": "Staging"}
    assert body["details"]["comment"] == "lgtm"


def test_failing_hooks_are_logged_and_never_undo(reg, make_run, caplog, fast_retries):
    calls = []

    def broken(entry):
        raise RuntimeError("callback exploded")

    reg.on("register", broken)
    reg.on("*", calls.append)
    reg.add_webhook("http://127.0.0.1:9/nobody-listens")  # all events, connection refused
    with caplog.at_level(logging.WARNING, logger="workbench.registry.webhooks"):
        v = reg.register_model("churn", run_id=make_run())
        assert wb.registry.wait_for_webhooks(10)
    assert reg.get_version("churn", v.version).stage == "None"  # the action stands
    assert [c["action"] for c in calls] == ["webhook", "register"]
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "callback exploded" in caplog.text or "failed on register" in messages
    assert "failed after 3 attempts" in messages
    reg.off("register", broken)
    reg.off("*", calls.append)


def test_webhook_urls_must_be_local(reg):
    for bad in ("http://example.com/hook", "ftp://127.0.0.1/x", "http://10.0.0.1/x", 5):
        with pytest.raises(InvalidInputError):
            reg.add_webhook(bad)
    assert reg.webhooks().empty
    reg.add_webhook("http://localhost:8080/x")
    reg.add_webhook("http://[::1]:8080/x")
    assert len(reg.webhooks()) == 2
