"""Prediction-server speed (issue 16). Prints its figures; run it on a quiet machine.

    python benchmarks/bench_serving.py            # full size (a few minutes)
    python benchmarks/bench_serving.py --quick    # smaller, for a smoke test
    python benchmarks/bench_serving.py --mlflow-python /tmp/mlflow-venv/bin/python   # + MLflow side by side

Everything runs over loopback against a real ``workbench serve`` process
(uvicorn, one worker), driven by the in-repo load generator below (asyncio +
httpx, a fixed number of requests per run, a time limit, ``concurrency``
simulated users each sending single-row requests back to back over its own
keep-alive connection, through httpx's transport rather than its Client, on
uvloop's event loop, so that the generator takes as little as it can of the
CPU the server shares; its CPU per request is printed beside the server's). The model is the
sample churn model as the demo's churn pipeline template builds it
(``steps.clean`` -> ``steps.features`` -> ``steps.train``: StandardScaler +
LogisticRegression on the 26 numeric/one-hot columns of
``sample_data/churn.parquet``); batching is also measured on a 100-tree
random forest (the demo sweep's model family), where a predict call costs
more than the HTTP work.

Figures: concurrency 1 (p50/p99 ms, requests/s), concurrency 10 (requests/s,
p95), concurrency 32 with micro-batching on vs off, prediction logging on vs
off, and the time from starting a canary of a version failing 20 % of its
calls to its automatic rollback. When ``--mlflow-python`` points at a Python
with MLflow installed, ``mlflow models serve`` is measured on the same model
at concurrency 10 in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

import workbench as wb

ROOT = Path(__file__).resolve().parents[1]
FEATURES = ["age", "gender", "senior", "region", "contract", "tenure_months", "internet_service",
            "num_products", "monthly_charges", "total_charges", "payment_method", "support_calls"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the load generator ------------------------------------------------------------
async def _load(url: str, bodies: list[bytes], concurrency: int, total: int, time_limit: float,
                headers: dict[str, str] | None = None, path: str = "/invocations") -> dict[str, float]:
    latencies: list[float] = []
    failures = 0
    sent = 0
    deadline = time.perf_counter() + time_limit
    hdrs = {"content-type": "application/json", **(headers or {})}
    target = url.rstrip("/") + path
    # One keep-alive connection per simulated user, through httpx's transport: httpx's shared pool
    # cost the load generator ~2.5x more CPU per request at 32 connections than at 10, and the
    # Client layer (URL merging, cookies, auth and redirect hooks) ~0.5 ms more per request, CPU
    # that the server on the same two cores then lacks.
    transports = [httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=1)) for _ in range(concurrency)]

    async def worker(transport: httpx.AsyncHTTPTransport) -> None:
        nonlocal sent, failures
        while sent < total and time.perf_counter() < deadline:
            i = sent
            sent += 1
            t0 = time.perf_counter()
            try:
                request = httpx.Request("POST", target, content=bodies[i % len(bodies)], headers=hdrs,
                                        extensions={"timeout": {"connect": 30, "read": 30, "write": 30, "pool": 30}})
                r = await transport.handle_async_request(request)
                await r.aread()
                ok = r.status_code == 200
            except httpx.HTTPError:
                ok = False
            latencies.append((time.perf_counter() - t0) * 1000)
            if not ok:
                failures += 1

    try:
        started = time.perf_counter()
        await asyncio.gather(*(worker(t) for t in transports))
        elapsed = time.perf_counter() - started
    finally:
        await asyncio.gather(*(t.aclose() for t in transports))
    lat = np.asarray(latencies)
    return {"requests": len(lat), "failed": failures, "seconds": elapsed, "rps": len(lat) / elapsed,
            "p50": float(np.quantile(lat, 0.5)), "p95": float(np.quantile(lat, 0.95)),
            "p99": float(np.quantile(lat, 0.99))}


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _run(coro):
    """``asyncio.run`` on uvloop's event loop (a dependency; the server runs on it too): the load
    generator shares the two cores with the server, and uvloop's loop costs it less per request."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def cpu_steal() -> tuple[int, int]:
    """(steal, total) CPU ticks of the machine since boot: a VM's host taking its cores away."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return ticks[7], sum(ticks[:8])


def load(url: str, bodies: list[bytes], concurrency: int, total: int, time_limit: float = 60.0,
         warmup: int = 200, pid: int | None = None, **kw) -> dict[str, float]:
    """Warm up (not measured), then send ``total`` requests from ``concurrency`` clients.

    With ``pid``, also the server's CPU milliseconds per request (less sensitive than
    requests/s to other work on a shared machine)."""
    _run(_load(url, bodies, concurrency, warmup, time_limit, **kw))
    before = cpu_seconds(pid) if pid else 0.0
    client_before = time.process_time()
    out = _run(_load(url, bodies, concurrency, total, time_limit, **kw))
    # the load generator's own CPU: it shares the two cores with the server
    out["client_cpu_ms"] = (time.process_time() - client_before) * 1000 / out["requests"]
    if pid:
        out["server_cpu_ms"] = (cpu_seconds(pid) - before) * 1000 / out["requests"]
    return out


# -- set-up ------------------------------------------------------------------
def build_store(folder: Path) -> tuple[wb.Store, pd.DataFrame, np.ndarray]:
    """The demo's churn model, made as the churn pipeline template makes it (clean -> features -> train)."""
    import contextlib
    import io

    from workbench import steps
    from workbench.serving.faults import FaultyModel

    with contextlib.redirect_stdout(io.StringIO()):
        data = steps.features(steps.clean(pd.read_parquet(ROOT / "sample_data" / "churn.parquet")))
        lr = steps.train({"train": data})  # StandardScaler + LogisticRegression, the template's default
        rf = steps.train({"train": data}, model="random_forest", n_estimators=100, max_depth=8)
    X = data.drop(columns=["churned"])
    flaky = FaultyModel(lr, error_rate=0.2, healthy_calls=30, seed=7)
    store = wb.Store(folder / "bench.duckdb")
    for name, model in (("churn", lr), ("churn", flaky), ("churn-rf", rf)):
        with wb.start_run(experiment="bench-serving", store=store) as run:
            run.log_model(model, input_example=X.head(5))
        store.sync()
        wb.Registry(store).register_model(name, run_id=run.id)
    store.close()
    return store, X, data["churned"].to_numpy()


def bodies_for(X: pd.DataFrame, n: int = 500) -> list[bytes]:
    rows = X.sample(n, random_state=0)
    return [json.dumps({"dataframe_split": {"columns": list(rows.columns),
                                            "data": [list(map(_py, r))]}}).encode()
            for r in rows.itertuples(index=False)]


def _py(v):
    return v.item() if hasattr(v, "item") else v


class Server:
    """``workbench serve`` in its own process."""

    def __init__(self, store: wb.Store, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "workbench.cli", "serve", *args, "--port", str(self.port),
               "--store", str(store.path)]
        self.log = Path(store.path).parent / f"server-{self.port}.log"
        with open(self.log, "wb") as err:  # a file, not a pipe nobody reads (a full pipe blocks the server)
            self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(self.log.read_text())
            try:
                if httpx.get(f"{self.url}/v2/health/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("server not ready")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)
        errors = self.log.read_text()
        if "Traceback" in errors:
            print(f"  (server on port {self.port} logged errors: {errors[-1500:]})")


def log_writer_cpu(server: Server) -> dict[str, float]:
    """The prediction-log writer's own CPU so far (the server's /metrics), per row written."""
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    values = {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
              if line.startswith("workbench_prediction_log_")}
    rows = values["workbench_prediction_log_rows"]
    cpu = values["workbench_prediction_log_flush_cpu_seconds"]
    return {"rows": rows, "cpu_s": cpu, "ms_per_row": cpu * 1000 / rows if rows else float("nan")}


def server_side(store: wb.Store) -> dict[str, float]:
    """The server's own view of the requests so far, from its prediction-log segments (read with pandas)."""
    from workbench.serving.runtime import serving_folders

    folder = serving_folders(store.path)[0]
    frames = [pd.read_parquet(p, columns=["status", "total_ms", "queue_ms", "predict_ms"])
              for p in folder.glob("*.parquet") if not p.name.endswith(".feedback.parquet")]
    df = pd.concat(frames)
    df = df[df.status == "ok"]
    return {"requests": len(df), "total_p50": float(df.total_ms.quantile(0.5)),
            "total_p99": float(df.total_ms.quantile(0.99)), "predict_p50": float(df.predict_ms.quantile(0.5)),
            "queue_p50": float(df.queue_ms.quantile(0.5))}


def mlflow_server(python: str, folder: Path, X: pd.DataFrame, y: np.ndarray, port: int) -> subprocess.Popen:
    """Save the same logistic-regression pipeline as an MLflow model and run ``mlflow models serve``."""
    script = folder / "save_mlflow.py"
    data = folder / "train.csv"
    X.assign(churned=y).to_csv(data, index=False)
    script.write_text(f"""
import pandas as pd, mlflow.sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
df = pd.read_csv({str(data)!r}); y = df.pop("churned")
model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(df, y)
mlflow.sklearn.save_model(model, {str(folder / 'mlflow_model')!r}, input_example=df.head(5),
                          serialization_format='cloudpickle')
""")
    done = subprocess.run([python, str(script)], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"saving the MLflow model failed: {done.stderr[-2000:]}")
    mlflow = str(Path(python).parent / "mlflow")
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"file://{folder / 'mlruns'}",
           "PATH": f"{Path(python).parent}{os.pathsep}{os.environ.get('PATH', '')}"}  # it execs `uvicorn`
    log = folder / "mlflow-server.log"
    with open(log, "wb") as err:  # uvicorn's access log goes here: a pipe nobody reads would block it
        proc = subprocess.Popen([mlflow, "models", "serve", "-m", str(folder / "mlflow_model"), "-p", str(port),
                                 "-h", "127.0.0.1", "--env-manager", "local"], env=env,
                                stdout=err, stderr=err)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(log.read_text()[-3000:])
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ping", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("mlflow models serve was not ready")


def canary_rollback(store: wb.Store, X: pd.DataFrame, interval: float, min_samples: int) -> dict[str, float]:
    """Seconds from a canary's start (v2 failing 20 % of calls) to its automatic rollback, under load."""
    dep = wb_deploy(store)
    port = free_port()
    dep.start(port=port, settings={"tick_s": 0.05})
    bodies = bodies_for(X, 200)
    try:
        t0 = time.perf_counter()
        dep.canary(2, steps=[25, 50, 100], interval=interval, min_samples=min_samples, failure_limit=0,
                   max_wait=interval * 10)
        started = time.perf_counter()

        async def drive():
            async with httpx.AsyncClient(base_url=dep.url, timeout=30) as c:
                i = 0
                while time.perf_counter() - started < 60:
                    await asyncio.gather(*(c.post("/invocations", content=bodies[(i + k) % 200],
                                                  headers={"content-type": "application/json",
                                                           "x-workbench-key": f"u{i + k}"}) for k in range(8)))
                    i += 8
                    if i % 64 == 0:
                        st = (await c.get("/admin/status")).json()
                        if st["state"]["canary"]["status"] != "running":
                            return st, time.perf_counter()
            return None, time.perf_counter()

        st, ended = _run(drive())
        check = st["state"]["canary"]["checks"][-1]
        return {"seconds": ended - started, "setup_s": started - t0, "interval_s": interval,
                "min_samples": min_samples, "canary_n": check["canary_n"], "status": st["state"]["canary"]["status"],
                "gate": "; ".join(f"{g['name']}: {g['detail']}" for g in check["checks"]) or check["decision"]}
    finally:
        dep.stop()


def wb_deploy(store: wb.Store):
    from workbench.serving import deploy

    return deploy("bench-canary", "churn", 1, store=store, replace=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--mlflow-python", default=None, help="a Python with mlflow installed")
    args = parser.parse_args()
    n = 400 if args.quick else 2000
    folder = Path(tempfile.mkdtemp(prefix="bench_serving_"))
    print(f"bench_serving: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}, data in {folder}")
    steal0 = cpu_steal()
    store, X, y = build_store(folder)
    bodies = bodies_for(X)
    results: dict[str, dict] = {}
    rounds = 2 if args.quick else 3

    def interleaved(servers: dict[str, Server], concurrency: int, total: int) -> None:
        """Alternate short runs on servers up at the same time (a busy machine hits both alike); keep the
        run with the median requests/s of each."""
        runs: dict[str, list[dict]] = {k: [] for k in servers}
        for _ in range(rounds):
            for key, server in servers.items():
                runs[key].append(load(server.url, bodies, concurrency, total, pid=server.proc.pid))
        for key, rs in runs.items():
            results[key] = sorted(rs, key=lambda r: r["rps"])[len(rs) // 2]
            cpu = sorted(r["server_cpu_ms"] for r in rs)[len(rs) // 2]
            results[key]["server_cpu_ms"] = cpu
            results[key]["client_cpu_ms"] = sorted(r["client_cpu_ms"] for r in rs)[len(rs) // 2]
            print(f"  measured {key}: {results[key]['rps']:.0f} req/s, p50 {results[key]['p50']:.2f} ms, "
                  f"p99 {results[key]['p99']:.2f} ms, server CPU {cpu:.2f} ms/request "
                  f"(median of {rounds} runs)", flush=True)

    try:
        with Server(store, "models:/churn/1") as on, Server(store, "models:/churn/1", "--no-log") as off:
            interleaved({"c1": on, "c1_nolog": off}, 1, n // 2)
            time.sleep(1.5)  # > the flush interval: every c1 request is in a segment now
            results["c1_server_side"] = server_side(store)
            interleaved({"c10": on, "c10_nolog": off}, 10, n)
            results["log_writer"] = log_writer_cpu(on)
        with Server(store, "models:/churn/1") as on, Server(store, "models:/churn/1", "--no-batching") as off:
            interleaved({"c32_lr_batching": on, "c32_lr_nobatching": off}, 32, n)
        with Server(store, "models:/churn-rf/1") as on, Server(store, "models:/churn-rf/1", "--no-batching") as off:
            interleaved({"c32_rf_batching": on, "c32_rf_nobatching": off}, 32, n // 3)
        proc = None
        if args.mlflow_python:
            port = free_port()
            try:
                proc = mlflow_server(args.mlflow_python, folder, X, y, port)
            except RuntimeError as exc:
                print(f"  mlflow models serve could not run: {str(exc)[-500:]}")
        if proc is not None:
            try:
                results["mlflow_c10"] = load(f"http://127.0.0.1:{port}", bodies, 10, n // 3)
                results["mlflow_c1"] = load(f"http://127.0.0.1:{port}", bodies, 1, n // 3)
                with Server(store, "models:/churn/1") as s:  # side by side, right after
                    results["c10_beside_mlflow"] = load(s.url, bodies, 10, n)
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)
        results["canary"] = canary_rollback(store, X, interval=1.0 if args.quick else 2.0, min_samples=200)
    finally:
        store.close()

    def row(name: str, r: dict) -> str:
        cpu = f"  cpu {r['server_cpu_ms']:.2f} ms/req" if "server_cpu_ms" in r else ""
        cpu += f" (client {r['client_cpu_ms']:.2f})" if "client_cpu_ms" in r else ""
        return (f"  {name:<34} {r['requests']:>6} req  {r['rps']:>7.0f} req/s  p50 {r['p50']:6.2f} ms  "
                f"p95 {r['p95']:6.2f} ms  p99 {r['p99']:6.2f} ms  failed {r['failed']}{cpu}")

    print("\nsingle-row requests over loopback (workbench serve, 1 uvicorn worker):")
    for key, label in [("c1", "concurrency 1"), ("c10", "concurrency 10"), ("c1_nolog", "concurrency 1, log off"),
                       ("c10_nolog", "concurrency 10, log off"),
                       ("c32_lr_batching", "c32 logistic, batching on"),
                       ("c32_lr_nobatching", "c32 logistic, batching off"),
                       ("c32_rf_batching", "c32 forest, batching on"),
                       ("c32_rf_nobatching", "c32 forest, batching off"),
                       ("mlflow_c1", "mlflow models serve, c1"), ("mlflow_c10", "mlflow models serve, c10"),
                       ("c10_beside_mlflow", "workbench c10, right after mlflow")]:
        if key in results:
            print(row(label, results[key]))
    r = results
    ss_ = r["c1_server_side"]
    print(f"\n  server side at concurrency 1 (from the prediction log, {ss_['requests']} requests): request "
          f"p50 {ss_['total_p50']:.2f} ms, p99 {ss_['total_p99']:.2f} ms, of which predict p50 "
          f"{ss_['predict_p50']:.2f} ms, queue p50 {ss_['queue_p50']:.3f} ms")
    print("\nratios:")
    print(f"  batching on/off, c32 logistic: {r['c32_lr_batching']['rps'] / r['c32_lr_nobatching']['rps']:.2f}x")
    print(f"  batching on/off, c32 forest:   {r['c32_rf_batching']['rps'] / r['c32_rf_nobatching']['rps']:.2f}x")
    print(f"  logging cost, c10: {100 * (1 - r['c10']['rps'] / r['c10_nolog']['rps']):+.1f} % of throughput "
          f"(c1: {100 * (1 - r['c1']['rps'] / r['c1_nolog']['rps']):+.1f} %); server CPU per request "
          f"{r['c10']['server_cpu_ms']:.3f} vs {r['c10_nolog']['server_cpu_ms']:.3f} ms "
          f"({100 * (r['c10']['server_cpu_ms'] / r['c10_nolog']['server_cpu_ms'] - 1):+.1f} %)")
    w = r["log_writer"]
    print(f"  the log writer's own CPU: {w['ms_per_row']:.3f} ms per logged request ({w['rows']:.0f} rows) = "
          f"{100 * w['ms_per_row'] / r['c10']['server_cpu_ms']:.1f} % of the server's CPU per request at c10, "
          f"{100 * w['ms_per_row'] / r['c1']['server_cpu_ms']:.1f} % at c1")
    if "mlflow_c10" in r:
        print(f"  workbench / mlflow at c10: {r['c10_beside_mlflow']['rps'] / r['mlflow_c10']['rps']:.1f}x requests/s")
    c = r["canary"]
    print(f"\ncanary rollback (v2 fails 20 % of calls; steps 25/50/100 %, interval {c['interval_s']} s, "
          f"min_samples {c['min_samples']}, failure_limit 0): {c['status']} {c['seconds']:.2f} s after the "
          f"canary started ({c['canary_n']} canary requests; {c['gate']})")
    steal1 = cpu_steal()
    results["cpu_steal_pct"] = 100 * (steal1[0] - steal0[0]) / max(1, steal1[1] - steal0[1])
    print(f"\nCPU steal during the run (the VM's host using its cores): {results['cpu_steal_pct']:.1f} %")
    print("\n" + json.dumps(results, default=str))
    shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
