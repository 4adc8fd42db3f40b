"""The demo store: real models trained on the bundled sample data, tracked.

``workbench demo`` calls :func:`build_demo_store`. Every number in it comes
from a real fit of a scikit-learn model, so every screen has something true
to show: three experiments, over 200 runs with metric histories, nested
cross-validation runs, dataset versions and artifacts.

>>> import tempfile, os, workbench as wb
>>> store = wb.Store(os.path.join(tempfile.mkdtemp(), "demo.duckdb"))
>>> counts = build_demo_store(store, scale=0.1)  # doctest: +SKIP
"""

from __future__ import annotations

import io
import itertools
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from workbench.samples import load_sample, sample_data_dir
from workbench.store.store import Store
from workbench.tracking.fluent import start_run


def _confusion_png(cm: np.ndarray, labels: list[str]) -> bytes:
    """A small confusion-matrix image drawn with Pillow (no plotting backend needed)."""
    from PIL import Image, ImageDraw

    cell, pad = 90, 40
    n = cm.shape[0]
    img = Image.new("RGB", (pad + n * cell + 10, pad + n * cell + 10), "white")
    draw = ImageDraw.Draw(img)
    top = cm.max() or 1
    for i, j in itertools.product(range(n), range(n)):
        shade = int(235 - 180 * cm[i, j] / top)
        x0, y0 = pad + j * cell, pad + i * cell
        draw.rectangle([x0, y0, x0 + cell - 2, y0 + cell - 2], fill=(shade, shade, 255))
        draw.text((x0 + cell // 3, y0 + cell // 2 - 6), str(int(cm[i, j])), fill="black")
    for k, label in enumerate(labels):
        draw.text((pad + k * cell + 10, 12), f"pred {label}", fill="black")
        draw.text((2, pad + k * cell + cell // 2), str(label), fill="black")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _churn_features(df: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    num = ["age", "tenure_months", "num_products", "monthly_charges", "total_charges", "support_calls"]
    cat = ["contract", "internet_service", "payment_method", "region", "gender"]
    x = pd.get_dummies(df[num + cat].assign(senior=df["senior"].astype(int)), columns=cat, dtype=float)
    x = x.fillna(x.median(numeric_only=True))
    return x, df["churned"].to_numpy()


def _churn_experiment(store: Store, scale: float, progress: Callable[[str], None]) -> int:
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, log_loss, roc_auc_score
    from sklearn.model_selection import StratifiedKFold, train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    raw = load_sample("churn")
    early = raw[raw["timestamp"] < "2025-07-01"].sample(n=min(4000, len(raw)), random_state=0)
    x, y = _churn_features(early)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    configs: list[dict[str, Any]] = (
        [{"model": "logreg", "C": c} for c in (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)]
        + [{"model": "rf", "n_estimators": n, "max_depth": d} for n in (20, 60) for d in (3, 6, 10)]
        + [{"model": "gbm", "n_estimators": n, "learning_rate": lr} for n in (30, 60) for lr in (0.05, 0.2)]
    )
    configs = configs[: max(2, int(round(len(configs) * scale)))]

    def make(cfg: dict[str, Any]):
        if cfg["model"] == "logreg":
            return make_pipeline(StandardScaler(), LogisticRegression(C=cfg["C"], max_iter=500))
        if cfg["model"] == "rf":
            return RandomForestClassifier(n_estimators=cfg["n_estimators"], max_depth=cfg["max_depth"],
                                          random_state=0, n_jobs=1)
        return GradientBoostingClassifier(n_estimators=cfg["n_estimators"],
                                          learning_rate=cfg["learning_rate"], random_state=0)

    count = 0
    for i, cfg in enumerate(configs):
        progress(f"churn: fitting {cfg} ({i + 1}/{len(configs)})")
        name = "-".join(f"{v}" for v in cfg.values())
        with start_run(experiment="churn", run_name=name, store=store,
                       tags={"team": "retention", "family": cfg["model"], "data": "churn-h1"}) as run:
            run.log_params({**cfg, "test_size": 0.25, "cv_folds": 3})
            run.log_dataset(x_train.assign(churned=y_train), name="churn-train", role="train",
                            source="sample_data/churn.parquet")
            run.log_dataset(x_test.assign(churned=y_test), name="churn-test", role="test",
                            source="sample_data/churn.parquet")
            folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
            cv_auc = []
            for k, (tr, va) in enumerate(folds.split(x_train, y_train)):
                with start_run(run_name=f"{name}/fold-{k}", nested=True,
                               tags={"fold": str(k)}) as child:
                    model = make(cfg).fit(x_train.iloc[tr], y_train[tr])
                    p = model.predict_proba(x_train.iloc[va])[:, 1]
                    cv_auc.append(roc_auc_score(y_train[va], p))
                    child.log_params({**cfg, "fold": k})
                    child.log_metrics({"auc": cv_auc[-1], "log_loss": log_loss(y_train[va], p)})
                count += 1
            model = make(cfg).fit(x_train, y_train)
            # A learning curve over the ensemble's stages (or the regularisation path).
            if cfg["model"] == "gbm":
                for step, proba in enumerate(model.staged_predict_proba(x_test)):
                    run.log_metrics({"test_log_loss": log_loss(y_test, proba[:, 1]),
                                     "test_auc_curve": roc_auc_score(y_test, proba[:, 1])}, step=step)
            elif cfg["model"] == "rf":
                votes = np.zeros(len(x_test))
                for step, tree in enumerate(model.estimators_):
                    votes += tree.predict_proba(x_test.to_numpy())[:, 1]
                    run.log_metric("test_auc_curve", roc_auc_score(y_test, votes / (step + 1)), step=step)
            proba = model.predict_proba(x_test)[:, 1]
            pred = (proba >= 0.5).astype(int)
            run.log_metrics({
                "auc": roc_auc_score(y_test, proba),
                "accuracy": accuracy_score(y_test, pred),
                "f1": f1_score(y_test, pred),
                "log_loss": log_loss(y_test, proba),
                "cv_auc_mean": float(np.mean(cv_auc)),
                "cv_auc_std": float(np.std(cv_auc)),
            })
            cm = confusion_matrix(y_test, pred)
            run.log_bytes(_confusion_png(cm, ["stay", "churn"]), "plots/confusion.png")
            run.log_text(pd.DataFrame(cm, index=["stay", "churn"], columns=["pred_stay", "pred_churn"])
                         .to_csv(), "confusion.csv")
            if hasattr(model, "feature_importances_"):
                imp = pd.DataFrame({"feature": x.columns, "importance": model.feature_importances_})
                buf = io.BytesIO()
                imp.sort_values("importance", ascending=False).to_parquet(buf, index=False)
                run.log_bytes(buf.getvalue(), "feature_importance.parquet")
            run.log_text(f"model: {model!r}\ntrain rows: {len(x_train)}\n", "model.txt")
        count += 1
    return count


def _mlp_experiment(store: Store, scale: float, progress: Callable[[str], None]) -> int:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import accuracy_score
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    df = load_sample("breast_cancer")
    x = StandardScaler().fit_transform(df.drop(columns="target"))
    y = df["target"].to_numpy()
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.3, random_state=1, stratify=y)
    grid = list(itertools.product((1e-4, 1e-3, 1e-2), ((16,), (64,), (32, 16)), (1e-4, 1e-2), (32, 128),
                                  ("relu", "tanh")))
    rng = np.random.default_rng(0)
    rng.shuffle(grid)
    grid = grid[: max(2, int(round(72 * scale)))]
    count = 0
    with start_run(experiment="breast-cancer-mlp", run_name="mlp-grid", store=store,
                   tags={"team": "research", "kind": "sweep"}) as sweep:
        sweep.log_params({"strategy": "grid", "n_trials": len(grid)})
        sweep.log_dataset(df, name="breast-cancer", role="train", source="sklearn.datasets")
        best = 0.0
        for i, (lr, layers, alpha, batch, activation) in enumerate(grid):
            if i % 10 == 0:
                progress(f"breast-cancer-mlp: trial {i + 1}/{len(grid)}")
            with start_run(run_name=f"trial-{i:03d}", nested=True,
                           tags={"team": "research", "arch": "x".join(map(str, layers))}) as trial:
                trial.log_params({"learning_rate_init": lr, "hidden_layers": str(layers),
                                  "alpha": alpha, "batch_size": batch, "activation": activation,
                                  "epochs": 25})
                model = MLPClassifier(hidden_layer_sizes=layers, learning_rate_init=lr, alpha=alpha,
                                      batch_size=batch, activation=activation, random_state=i)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    for epoch in range(25):
                        model.partial_fit(x_train, y_train, classes=[0, 1])
                        pv = np.clip(model.predict_proba(x_val)[:, 1], 1e-12, 1 - 1e-12)
                        # numpy rather than sklearn.metrics: its input checks cost more than the fit
                        trial.log_metrics({
                            "train_loss": model.loss_,
                            "val_loss": float(-np.mean(y_val * np.log(pv) + (1 - y_val) * np.log(1 - pv))),
                            "val_accuracy": float(np.mean((pv >= 0.5) == y_val)),
                        }, step=epoch)
                acc = accuracy_score(y_val, model.predict(x_val))
                best = max(best, acc)
                trial.log_metric("final_val_accuracy", acc)
            count += 1
        sweep.log_metric("best_val_accuracy", best)
    return count + 1


def _diabetes_experiment(store: Store, scale: float, progress: Callable[[str], None]) -> int:
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.linear_model import Lasso, Ridge
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
    from sklearn.model_selection import train_test_split

    df = load_sample("diabetes")
    x, y = df.drop(columns="target"), df["target"]
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=2)
    configs = (
        [{"model": "ridge", "alpha": a} for a in np.logspace(-3, 3, 12)]
        + [{"model": "lasso", "alpha": a} for a in np.logspace(-3, 1, 10)]
        + [{"model": "rf", "n_estimators": n, "max_depth": d} for n in (25, 100) for d in (2, 4, 8, None)]
    )
    configs = configs[: max(2, int(round(len(configs) * scale)))]
    progress(f"diabetes: fitting {len(configs)} regressors")
    for cfg in configs:
        if cfg["model"] == "ridge":
            model = Ridge(alpha=cfg["alpha"])
        elif cfg["model"] == "lasso":
            model = Lasso(alpha=cfg["alpha"], max_iter=20_000)
        else:
            model = RandomForestRegressor(n_estimators=cfg["n_estimators"], max_depth=cfg["max_depth"],
                                          random_state=0, n_jobs=1)
        name = f"{cfg['model']}-" + "-".join(f"{v:.3g}" if isinstance(v, float) else str(v)
                                             for k, v in cfg.items() if k != "model")
        with start_run(experiment="diabetes", run_name=name, store=store,
                       tags={"team": "clinical", "family": cfg["model"]}) as run:
            run.log_params(cfg)
            run.log_dataset(x_train.assign(target=y_train), name="diabetes-train", role="train",
                            save=True)
            model.fit(x_train, y_train)
            pred = model.predict(x_test)
            run.log_metrics({"rmse": float(np.sqrt(mean_squared_error(y_test, pred))),
                             "mae": mean_absolute_error(y_test, pred), "r2": r2_score(y_test, pred)})
            run.log_dict({"model": repr(model), "features": list(x.columns)}, "model.json")
    return len(configs)


def _wine_experiment(store: Store, scale: float, progress: Callable[[str], None]) -> int:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.model_selection import StratifiedKFold
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    df = load_sample("wine")
    x, y = df.drop(columns="target").to_numpy(), df["target"].to_numpy()
    configs = (
        [{"model": "knn", "n_neighbors": k} for k in (1, 5, 15)]
        + [{"model": "svc", "C": c} for c in (0.1, 1.0, 10.0)]
        + [{"model": "logreg", "C": c} for c in (0.1, 1.0)]
    )
    configs = configs[: max(2, int(round(len(configs) * scale)))]
    progress(f"wine: {len(configs)} models x 5 folds")
    count = 0
    for cfg in configs:
        est = {"knn": lambda c: KNeighborsClassifier(n_neighbors=c["n_neighbors"]),
               "svc": lambda c: SVC(C=c["C"]),
               "logreg": lambda c: LogisticRegression(C=c["C"], max_iter=2000)}[cfg["model"]]
        with start_run(experiment="wine", run_name=f"{cfg['model']}-{list(cfg.values())[1]}",
                       store=store, tags={"team": "research", "family": cfg["model"]}) as run:
            run.log_params({**cfg, "cv_folds": 5})
            run.log_dataset(df, name="wine", role="train", source="sklearn.datasets")
            scores = []
            folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=3)
            for k, (tr, va) in enumerate(folds.split(x, y)):
                with start_run(run_name=f"fold-{k}", nested=True, tags={"fold": str(k)}) as child:
                    model = make_pipeline(StandardScaler(), est(cfg)).fit(x[tr], y[tr])
                    pred = model.predict(x[va])
                    scores.append(accuracy_score(y[va], pred))
                    child.log_metrics({"accuracy": scores[-1],
                                       "macro_f1": f1_score(y[va], pred, average="macro")})
                    run.log_metric("fold_accuracy", scores[-1], step=k)
                count += 1
            run.log_metrics({"accuracy": float(np.mean(scores)), "accuracy_std": float(np.std(scores))})
        count += 1
    return count


_EXPERIMENTS = {
    "churn": _churn_experiment,
    "breast-cancer-mlp": _mlp_experiment,
    "diabetes": _diabetes_experiment,
    "wine": _wine_experiment,
}


def _build_one(path: str, name: str, scale: float, verbose: bool) -> int:
    say = print if verbose else (lambda message: None)
    return _EXPERIMENTS[name](Store(path), scale, say)


def _build_named(path: str, name: str, scale: float, verbose: bool) -> tuple[str, int]:
    return name, _build_one(path, name, scale, verbose)


def _lifecycle(store: Store, n_jobs: int, progress: Callable[[str], None],
               bar: Any = None) -> dict[str, int]:
    """A pipeline run, a sweep, registry decisions, drift reports and an A/B analysis.

    The churn template runs end to end (it registers ``churn`` version 1), a random
    sweep trains 8 forests, its best model becomes version 2; version 1 is approved into
    Staging by a second user and version 2 waits in the approval inbox behind a gate.
    Drift reports on ``churn.parquet`` (with its built-in shift) and the analysed sample
    A/B experiment give the Monitoring and A/B pages real content.
    """
    from workbench.pipelines.api import churn_template
    from workbench.registry import Registry
    from workbench.training import choice, int_range, sweep
    from workbench.training.examples import random_forest_churn

    progress("demo: the churn pipeline template")
    pipe = churn_template(path=str(sample_data_dir() / "churn.parquet"))
    pipe.save(store, message="the lifecycle template on the sample churn data")
    pipe.run(store, n_jobs=n_jobs, progress=False).raise_for_status()
    _advance(bar, "sweep")
    progress("demo: a random sweep of 8 random forests")
    result = sweep(
        random_forest_churn,
        space={"n_estimators": int_range(20, 120), "max_depth": choice([4, 8, 12]),
               "min_samples_leaf": int_range(1, 20)},
        strategy="random", n_trials=8, n_jobs=n_jobs, metric="auc", mode="max",
        experiment="churn-sweep", store=store, seed=0, run_name="rf-random-8", progress=False,
    )
    store.sync()
    _advance(bar, "registry")
    progress("demo: registry versions, a review and a pending request")
    owner = Registry(store)  # the store's creator is its admin
    reviewer = f"{owner.user}-reviewer"
    owner.grant(reviewer, "approver")
    best = owner.register_model("churn", run_id=result.best_run_id, artifact="model",
                                description="best trial of the rf-random-8 sweep")
    request = owner.request_transition("churn", 1, "Staging", comment="first pipeline model")
    Registry(store, user=reviewer).approve(request.id, comment="evaluated on the held-out split")
    owner.set_alias("churn", "champion", 1)
    owner.set_gate("churn", "metrics.auc >= 0.8")
    owner.request_transition("churn", best.version, "Staging", comment="the sweep's best forest")
    _advance(bar, "drift and A/B")
    progress("demo: drift reports on the churn data, the sample A/B experiment analysed")
    from workbench.abtest.sample import analyze_sample
    from workbench.monitoring.sample import build_sample_reports

    build_sample_reports(store)
    analyze_sample(store)
    return {"churn-sweep": 1 + len(result.results)}


def _advance(bar: Any, what: str) -> None:
    if bar is not None:
        bar.update(1)
        bar.set_postfix_str(what)


def build_demo_store(
    store: Store, scale: float = 1.0, n_jobs: int = 2, verbose: bool = False,
    lifecycle: bool = True, progress: bool | None = None,
) -> dict[str, int]:
    """Fill ``store`` with the demo experiments; returns runs created per experiment.

    The experiments train in parallel joblib processes, all logging into one
    store. ``scale`` < 1 makes a smaller store (the tests use it). ``lifecycle``
    adds a pipeline run, a sweep and registry activity (see :func:`_lifecycle`).
    ``progress`` shows a bar of the parts (default: in a terminal or notebook, unless
    ``$WORKBENCH_PROGRESS=0``).
    """
    from joblib import Parallel, delayed

    from workbench.pipelines.progress import progress_bar

    names = list(_EXPERIMENTS)
    bar = progress_bar(len(names) + (4 if lifecycle else 0), "demo store", "part",
                       enabled=progress)
    done = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
        delayed(_build_named)(str(store.path), name, scale, verbose) for name in names
    )
    counts: dict[str, int] = {}
    for name, count in done:
        counts[name] = count
        _advance(bar, name)
    store.sync()
    counts = {name: counts[name] for name in names}
    try:
        if lifecycle:
            counts.update(_lifecycle(store, n_jobs, print if verbose else (lambda message: None),
                                     bar))
            _advance(bar, "done")
            store.sync()
    finally:
        if bar is not None:
            bar.close()
    return counts
