"""Small real stores for the UI's tests, browser tests and benchmarks (not part of the API)."""

from __future__ import annotations

import io
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.store.file_lock import StoreFileLock
from workbench.store.store import Store
from workbench.tracking.run import Run


def copy_store_folder(src: str | os.PathLike, dest: str | os.PathLike, timeout: float = 30.0) -> None:
    """Copy a folder holding stores while holding each store's lock, so that no open or close
    (which checkpoints and deletes the ``.wal``) runs mid-copy in this or another process."""
    locks = [StoreFileLock(p) for p in sorted(Path(src).glob("*.duckdb.lock"))]
    deadline = time.monotonic() + timeout
    held = []
    try:
        for lock in locks:
            while not lock.try_acquire():
                if time.monotonic() > deadline:
                    raise TimeoutError(f"store lock {lock} stayed busy for {timeout} s")
                time.sleep(0.01)
            held.append(lock)
        shutil.copytree(src, dest)
    finally:
        for lock in held:
            lock.release()


def _png(colour: tuple[int, int, int] = (13, 110, 253)) -> bytes:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (160, 100), "white")
    ImageDraw.Draw(img).rectangle([20, 20, 140, 80], fill=colour)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def build_ui_store(path: str | os.PathLike, n_runs: int = 30) -> Store:
    """Two experiments: ``alpha`` (``n_runs`` runs, a parent with two children, a failed run,
    artifacts of every previewable kind, a dataset) and ``beta`` (3 runs)."""
    store = Store(path)
    rng = np.random.default_rng(0)
    models = ["rf", "gbm", "logreg"]
    ids: list[str] = []
    for i in range(n_runs):
        run = Run.create(store, "alpha", run_name=f"run-{i:03d}",
                         tags={"team": "red" if i % 2 else "blue"})
        run.log_params({"model": models[i % 3], "lr": round(0.01 * (i + 1), 3), "depth": i % 5})
        for step in range(5):
            run.log_metrics({"auc": 0.6 + 0.01 * i + 0.02 * step, "loss": 1.0 / (step + 1 + i)},
                            step=step)
        if i == 0:
            run.log_bytes(_png(), "plots/confusion.png")
            run.log_text("hello from run-000\nsecond line\n", "notes.txt")
            run.log_dict({"model": "rf", "depth": 0}, "config.json")
            frame = pd.DataFrame({"x": np.arange(50), "y": rng.normal(size=50)})
            run.log_bytes(frame.to_csv(index=False).encode(), "data/predictions.csv")
            buf = io.BytesIO()
            frame.to_parquet(buf)
            run.log_bytes(buf.getvalue(), "data/predictions.parquet")
            run.log_bytes(bytes(range(256)) * 4, "model.bin")
            run.log_dataset(frame, "train-set", role="train")
        run.end("FAILED" if i == 3 else "FINISHED")
        ids.append(run.id)
    parent = Run.create(store, "alpha", run_name="cv-parent")
    parent.log_param("model", "rf")
    parent.log_metric("auc", 0.9)
    for k in range(2):
        child = Run.create(store, "alpha", run_name=f"cv-parent/fold-{k}", parent_run_id=parent.id)
        child.log_param("fold", k)
        child.log_metric("auc", 0.88 + 0.01 * k)
        child.end()
    parent.end()
    for i in range(3):
        run = Run.create(store, "beta", run_name=f"beta-{i}")
        run.log_param("model", "svm")
        run.log_metric("acc", 0.7 + 0.05 * i)
        run.end()
    store.sync()
    return store


def build_big_store(path: str | os.PathLike, n_runs: int = 10_000, n_metrics: int = 5,
                    experiment: str = "big") -> Store:
    """``n_runs`` runs in one experiment, each with 3 params and ``n_metrics`` latest metrics."""
    store = Store(path)
    for i in range(n_runs):
        run = Run.create(store, experiment, run_name=f"r{i:05d}")
        run.log_params({"model": ("rf", "gbm", "logreg")[i % 3], "lr": f"{(i % 97) / 100:.2f}",
                        "seed": i})
        run.log_metrics({f"m{k:04d}": float((i * (k + 7)) % 1000) / 1000 for k in range(n_metrics)})
        run.end()
    store.sync()
    return store
