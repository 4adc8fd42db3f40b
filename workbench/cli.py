"""The ``workbench`` command: serve the app, build the demo store, search runs, inspect a store.

    workbench demo --if-missing          # build the demo store from sample_data/
    workbench app                        # serve the UI on http://localhost:5006
    workbench runs -e churn -f "metrics.auc > 0.85" -o "metrics.auc DESC"
    workbench info

Every subcommand takes ``--store PATH`` (default: ``$WORKBENCH_STORE``, else
``$WORKBENCH_HOME/workbench.duckdb``, else ``~/.workbench/workbench.duckdb``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from workbench.errors import WorkbenchError


def _store(args: argparse.Namespace):
    from workbench.store.store import Store

    return Store(args.store) if args.store else Store()


def _cmd_demo(args: argparse.Namespace) -> int:
    from workbench.demo import build_demo_store

    store = _store(args)
    if args.if_missing and store.count_runs() > 0:
        print(f"demo store {store.path} already has runs; leaving it as it is")
        return 0
    print(f"building the demo store at {store.path} (real models on sample_data/, about 30 s)")
    started = time.perf_counter()
    counts = build_demo_store(store, scale=args.scale, verbose=not args.quiet,
                              progress=False if (args.quiet or args.no_progress) else None)
    total = sum(counts.values())
    print(f"done in {time.perf_counter() - started:.0f} s: {total} runs "
          + ", ".join(f"{k}: {v}" for k, v in counts.items()))
    return 0


def _cmd_app(args: argparse.Namespace) -> int:
    from workbench.ui.app import serve

    store = _store(args)
    serve(
        store.path,
        port=args.port,
        address=args.address,
        show=args.show,
        basic_auth=args.basic_auth,
        cookie_secret=args.cookie_secret,
    )
    return 0


def _cmd_runs(args: argparse.Namespace) -> int:
    import pandas as pd

    store = _store(args)
    df = store.search_runs(
        experiment=args.experiment, filter=args.filter, order_by=args.order_by,
        max_results=args.max_results,
    )
    if df.empty:
        print("no runs match")
        return 0
    base = ["run_id", "experiment", "run_name", "status", "start_time"]
    extra = [c for c in df.columns if c.startswith(("params.", "metrics."))]
    if args.columns:
        extra = [c for c in df.columns if any(c == w or c.startswith(w + ".") or c.endswith("." + w)
                                              for w in args.columns)]
    view = df[base + extra].copy()
    view["run_id"] = view["run_id"].str[:8]
    view["start_time"] = view["start_time"].dt.strftime("%Y-%m-%d %H:%M")
    if args.format == "csv":
        view.to_csv(sys.stdout, index=False)
    else:
        with pd.option_context("display.max_columns", 30, "display.width", 200,
                               "display.max_colwidth", 30, "display.float_format", "{:.4g}".format):
            print(view.to_string(index=False))
        total = store.count_runs(experiment=args.experiment, filter=args.filter)
        print(f"\n{len(view)} of {total} matching runs")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    store = _store(args)
    info = store.info()
    width = max(len(k) for k in info)
    for key, value in info.items():
        print(f"{key:<{width}}  {value}")
    experiments = store.list_experiments()
    if not experiments.empty:
        print("\nexperiments:")
        for row in experiments.itertuples():
            print(f"  {row.experiment_id:>4}  {row.name:<30} {row.runs:>6} runs")
    return 0


def _cmd_registry_init_admin(args: argparse.Namespace) -> int:
    from workbench.registry.registry import Registry

    reg = Registry(_store(args), user=args.user)
    reg.init_admin()
    print(f"{reg.user} is now the admin of the registry of {reg.store.path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="workbench", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--store", default=None, help="store file (default: $WORKBENCH_STORE or ~/.workbench)")
        return p

    p = add("app", "serve the workbench app (Panel) on localhost")
    p.add_argument("--port", type=int, default=int(os.environ.get("WORKBENCH_PORT", "5006")))
    p.add_argument("--address", default="localhost",
                   help="interface to bind (default localhost; 0.0.0.0 serves the network: use --basic-auth)")
    p.add_argument("--show", action="store_true", help="open a browser tab")
    p.add_argument("--basic-auth", default=None,
                   help="a password, or a JSON file of user: password, required to open the app")
    p.add_argument("--cookie-secret", default=None, help="secret for auth cookies (with --basic-auth)")
    p.set_defaults(func=_cmd_app)

    p = add("demo", "build a demo store from the bundled sample data")
    p.add_argument("--if-missing", action="store_true", help="do nothing if the store already has runs")
    p.add_argument("--scale", type=float, default=1.0, help="fraction of the full demo (default 1)")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (also: WORKBENCH_PROGRESS=0)")
    p.set_defaults(func=_cmd_demo)

    p = add("runs", "search runs and print them as a table")
    p.add_argument("-e", "--experiment", default=None, help="experiment name")
    p.add_argument("-f", "--filter", default=None, help="e.g. \"metrics.auc > 0.85 and params.model = 'rf'\"")
    p.add_argument("-o", "--order-by", action="append", default=None, help="e.g. 'metrics.auc DESC'")
    p.add_argument("-n", "--max-results", type=int, default=50)
    p.add_argument("-c", "--columns", nargs="*", default=None, help="param/metric keys to show")
    p.add_argument("--format", choices=["table", "csv"], default="table")
    p.set_defaults(func=_cmd_runs)

    p = add("info", "print the store's path, schema version and counts")
    p.set_defaults(func=_cmd_info)

    p = add("registry", "model registry administration")
    reg_sub = p.add_subparsers(dest="registry_command", required=True)
    q = reg_sub.add_parser("init-admin", help="make a user the first admin of the store's registry",
                           description="make a user the first admin of the store's registry "
                           "(refused when the registry already has users; audited)")
    q.add_argument("--store", default=argparse.SUPPRESS, help="store file")
    q.add_argument("--user", default=None, help="the user (default: $WORKBENCH_USER, else the login)")
    q.set_defaults(func=_cmd_registry_init_admin)

    from workbench.serving.cli import add_serve_parser  # the serving package owns its subcommand

    add_serve_parser(add)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.store:
        args.store = str(Path(args.store).expanduser())
    try:
        return args.func(args)
    except WorkbenchError as exc:
        print(f"workbench: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
