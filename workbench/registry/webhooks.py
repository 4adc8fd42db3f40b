"""Registry events: in-process Python callbacks and JSON POSTs to local URLs.

Every audit entry is also an event (its ``action`` is the event name). After
the action's transaction commits:

- callbacks registered with ``Registry.on(event, fn)`` (``"*"`` for all) are
  called in the acting thread, each guarded: an exception is logged and
  swallowed;
- webhooks added with ``Registry.add_webhook(url, events)`` receive the entry
  as a JSON body, POSTed from a background thread with retries and
  exponential back-off; a hook that keeps failing is logged.

A hook never blocks or undoes the action. Only ``http(s)`` URLs on this
machine (``localhost``, ``127.0.0.1``, ``::1``) are accepted.

>>> check_webhook_url("http://127.0.0.1:8000/hook")
'http://127.0.0.1:8000/hook'
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import threading
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from workbench.errors import InvalidInputError

log = logging.getLogger("workbench.registry.webhooks")

Callback = Callable[[dict[str, Any]], Any]

_callbacks: dict[str, dict[str, list[Callback]]] = defaultdict(lambda: defaultdict(list))
_threads: list[threading.Thread] = []
_lock = threading.Lock()

RETRIES = int(os.environ.get("WORKBENCH_WEBHOOK_RETRIES", "3"))
BACKOFF_S = float(os.environ.get("WORKBENCH_WEBHOOK_BACKOFF", "0.2"))
TIMEOUT_S = float(os.environ.get("WORKBENCH_WEBHOOK_TIMEOUT", "5"))


def check_webhook_url(url: object) -> str:
    """Accept only http(s) URLs whose host is this machine."""
    if not isinstance(url, str):
        raise InvalidInputError(f"a webhook URL must be a string, got {type(url).__name__}")
    parts = urlsplit(url)
    host = parts.hostname or ""
    local = host == "localhost"
    if not local:
        try:
            local = ipaddress.ip_address(host).is_loopback
        except ValueError:
            local = False
    if parts.scheme not in ("http", "https") or not local:
        raise InvalidInputError(
            f"webhooks POST only to http(s) URLs on this machine (localhost, 127.0.0.1, ::1); "
            f"got {url!r}"
        )
    return url


def add_callback(store_key: str, event: str, fn: Callback) -> None:
    """Call ``fn(entry)`` after every ``event`` (``"*"``: every event) on the store."""
    if not callable(fn):
        raise InvalidInputError(f"a registry callback must be callable, got {fn!r}")
    with _lock:
        _callbacks[store_key][event].append(fn)


def remove_callback(store_key: str, event: str, fn: Callback) -> None:
    with _lock:
        funcs = _callbacks[store_key][event]
        if fn in funcs:
            funcs.remove(fn)


def _post(url: str, body: bytes, retries: int, backoff: float) -> bool:
    for attempt in range(1, retries + 1):
        try:
            req = urllib.request.Request(
                url, data=body, method="POST", headers={"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:  # noqa: S310 (local only)
                if 200 <= resp.status < 300:
                    return True
                raise OSError(f"HTTP {resp.status}")
        except Exception as exc:  # any failure: retry, then log; never raise
            if attempt == retries:
                log.warning("webhook %s failed after %d attempts: %s", url, attempt, exc)
                return False
            time.sleep(backoff * 2 ** (attempt - 1))
    return False


def dispatch(store_key: str, entries: list[dict[str, Any]], hooks: list[dict[str, Any]]) -> None:
    """Deliver committed audit entries to callbacks (now) and URLs (in a thread)."""
    with _lock:
        table = {k: list(v) for k, v in _callbacks.get(store_key, {}).items()}
    for entry in entries:
        for fn in table.get(entry["action"], []) + table.get("*", []):
            try:
                fn(entry)
            except Exception:
                log.exception("registry callback %r failed on %s", fn, entry["action"])
    posts = []
    for entry in entries:
        for hook in hooks:
            events = hook.get("events") or ["*"]
            if "*" not in events and entry["action"] not in events:
                continue
            if hook.get("model_name") and hook["model_name"] != entry.get("model"):
                continue
            body = json.dumps(
                {"event": entry["action"], "webhook_id": hook["webhook_id"], **entry}, default=str
            ).encode()
            posts.append((hook["url"], body))
    if not posts:
        return

    def run() -> None:
        for url, body in posts:
            _post(url, body, RETRIES, BACKOFF_S)

    thread = threading.Thread(target=run, daemon=True, name="workbench-webhooks")
    with _lock:
        _threads[:] = [t for t in _threads if t.is_alive()]
        _threads.append(thread)
    thread.start()


def wait_for_webhooks(timeout: float = 10.0) -> bool:
    """Wait until every webhook POST started so far is done; False on timeout."""
    deadline = time.monotonic() + timeout
    with _lock:
        threads = list(_threads)
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return not any(t.is_alive() for t in threads)
