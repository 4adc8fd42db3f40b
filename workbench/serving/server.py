"""The server process: resolve what to serve, then run the app on uvicorn without holding the store.

    python -m workbench.serving.server --store s.duckdb models:/churn/Production --port 8000
    python -m workbench.serving.server --store s.duckdb --deployment churn-api --port 8000

At start it reads what it needs through the Store API (the registry version,
or the deployment's stored state) in one short read, replays any event files
not yet ingested (so a server killed with SIGKILL resumes where it was), and
from then on never opens the database: it writes the prediction log and its
events as files. It listens on 127.0.0.1 unless told otherwise, and then only
with a token.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from workbench.errors import InvalidInputError, NotFoundError
from workbench.serving.options import add_arguments
from workbench.serving.runtime import Runtime, serving_folders
from workbench.serving.settings import ServerSettings, latest_state

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def server_file(store_path: str | os.PathLike, deployment: str) -> Path:
    """Where a running server of ``deployment`` records its pid and URL."""
    return serving_folders(store_path)[1] / f"{deployment}.server.json"


def stored_state(store: Any, name: str) -> dict[str, Any] | None:
    """A deployment's state as stored (one short read through the Store API), or None."""
    from workbench.store import serving_store as ss

    with store.connection() as con:
        row = ss.get_deployment(con, name)
    return None if row is None else row["state"]


def build_runtime(store: Any, *, model: str | None = None, deployment: str | None = None,
                  settings: ServerSettings | None = None) -> Runtime:
    """The runtime for one model URI (ephemeral) or one stored deployment (resumed from its events)."""
    from workbench.serving.loading import resolve_spec
    from workbench.serving.strategies import new_state

    if (model is None) == (deployment is None):
        raise InvalidInputError("serve exactly one of a model URI or a deployment name")
    if model is not None:
        spec = resolve_spec(store, model)
        return Runtime(store, new_state(spec.name, spec), settings, ephemeral=True)
    stored = stored_state(store, deployment)
    if stored is None:
        raise NotFoundError(f"no deployment named {deployment!r} in {store.path}")
    state = latest_state(serving_folders(store.path)[1], deployment, stored)
    return Runtime(store, state, settings)


def check_host(host: str, token: str | None) -> None:
    """Refuse to listen beyond loopback without a token."""
    if host not in LOOPBACK and not token:
        raise InvalidInputError(f"serving on {host} needs a token (--token or WORKBENCH_SERVE_TOKEN); "
                                "without one the server listens on 127.0.0.1 only")


def run(runtime: Runtime, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve ``runtime`` on uvicorn until SIGTERM/SIGINT (or ``POST /admin/shutdown``)."""
    import uvicorn

    from workbench.serving.app import create_app

    check_host(host, runtime.settings.token)
    app = create_app(runtime)
    # loop/http "auto": uvloop and httptools (dependencies) where installed, else asyncio + h11
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                            lifespan="on", timeout_graceful_shutdown=5, loop="auto", http="auto")
    server = uvicorn.Server(config)
    app.state.uvicorn_server = server
    info = None
    if not runtime.ephemeral:
        info = server_file(runtime.store.path, runtime.state["deployment"])
        info.parent.mkdir(parents=True, exist_ok=True)
        info.write_text(json.dumps({"pid": os.getpid(), "host": host, "port": port,
                                    "url": f"http://{host}:{port}"}))
    try:
        server.run()
    finally:
        if info is not None:
            try:
                if json.loads(info.read_text()).get("pid") == os.getpid():
                    info.unlink()
            except (OSError, ValueError):
                pass


def settings_from_args(args: argparse.Namespace) -> ServerSettings:
    """The server's settings from ``workbench serve``'s options; ``--settings JSON`` overrides them."""
    try:
        extra = json.loads(args.settings) if args.settings else {}
    except ValueError as exc:
        raise InvalidInputError(f"--settings is a JSON object, e.g. '{{\"threads\": 4}}': {exc}") from exc
    if not isinstance(extra, dict):
        raise InvalidInputError(f"--settings is a JSON object, e.g. '{{\"threads\": 4}}', got {args.settings!r}")
    return ServerSettings.from_dict({
        "batching": not args.no_batching, "max_batch_size": args.max_batch_size,
        "max_latency_ms": args.max_latency_ms, "threads": args.threads, "timeout_s": args.timeout,
        "max_body_bytes": args.max_body_bytes, "log": not args.no_log, "log_sample_rate": args.log_sample_rate,
        "flush_interval_s": args.flush_interval, "token": args.token, **extra})


def serve_command(store: Any, args: argparse.Namespace) -> int:
    """``workbench serve``: what the CLI calls."""
    settings = settings_from_args(args)
    check_host(args.host, settings.token)
    runtime = build_runtime(store, model=args.model, deployment=args.deployment, settings=settings)
    store.close()  # never hold the file while serving
    what = args.model or f"deployment {args.deployment}"
    print(f"serving {what} on http://{args.host}:{args.port} (pid {os.getpid()})", flush=True)
    run(runtime, host=args.host, port=args.port)
    return 0


def main(argv: list[str] | None = None) -> int:
    from workbench.store.store import Store

    parser = argparse.ArgumentParser(prog="python -m workbench.serving.server", description=__doc__.split("\n")[0])
    parser.add_argument("--store", default=None)
    add_arguments(parser)
    args = parser.parse_args(argv)
    store = Store(args.store) if args.store else Store()
    try:
        return serve_command(store, args)
    except (InvalidInputError, NotFoundError) as exc:
        print(f"workbench serve: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
