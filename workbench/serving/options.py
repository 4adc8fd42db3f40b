"""The options of ``workbench serve`` (shared by the CLI and ``python -m workbench.serving.server``).

>>> import argparse
>>> p = argparse.ArgumentParser(); add_arguments(p)
>>> p.parse_args(["models:/churn/1", "--port", "9000"]).port
9000
"""

from __future__ import annotations

import argparse
import os


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``workbench serve`` (also this module's command line)."""
    p.add_argument("model", nargs="?", default=None, help="a model URI, e.g. models:/churn/Production")
    p.add_argument("--deployment", default=None, help="serve a deployment (with its strategy) instead")
    p.add_argument("--port", type=int, default=int(os.environ.get("WORKBENCH_SERVE_PORT", "8000")))
    p.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1; others need --token)")
    p.add_argument("--token", default=os.environ.get("WORKBENCH_SERVE_TOKEN"),
                   help="bearer token required on every request (default $WORKBENCH_SERVE_TOKEN)")
    p.add_argument("--no-batching", action="store_true", help="predict every request on its own")
    p.add_argument("--max-batch-size", type=int, default=64)
    p.add_argument("--max-latency-ms", type=float, default=2.0)
    p.add_argument("--threads", type=int, default=2, help="predict threads (the bounded executor)")
    p.add_argument("--timeout", type=float, default=5.0, help="request timeout in seconds (504 after)")
    p.add_argument("--max-body-bytes", type=int, default=10_000_000)
    p.add_argument("--no-log", action="store_true", help="do not write the prediction log")
    p.add_argument("--log-sample-rate", type=float, default=1.0, help="share of requests logged with inputs")
    p.add_argument("--flush-interval", type=float, default=0.5, help="prediction-log flush interval (s)")
    p.add_argument("--settings", default=None, help="JSON object of further ServerSettings fields")
