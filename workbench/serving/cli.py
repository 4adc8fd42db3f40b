"""``workbench serve``: the subcommand, kept here so that ``workbench/cli.py`` only registers it.

Importing this module is cheap (no FastAPI, numpy or model code), so building
the ``workbench`` parser stays fast.

    workbench serve models:/churn/Production --port 8000
    workbench serve --deployment churn-api --port 8000
"""

from __future__ import annotations

import argparse
from typing import Any

from workbench.serving.options import add_arguments


def add_serve_parser(add: Any) -> argparse.ArgumentParser:
    """Register ``serve`` with the CLI's ``add(name, help)`` helper (which adds ``--store``)."""
    p = add("serve", "serve a model or a deployment over HTTP (MLflow and V2 protocols) on 127.0.0.1")
    add_arguments(p)
    p.set_defaults(func=_cmd_serve)
    return p


def _cmd_serve(args: argparse.Namespace) -> int:
    from workbench.serving.server import serve_command
    from workbench.store.store import Store

    store = Store(args.store) if args.store else Store()
    return serve_command(store, args)
