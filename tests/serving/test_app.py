"""The HTTP contract, in-process (httpx.ASGITransport): protocols, headers, status codes, metrics, feedback."""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import asynccontextmanager

import httpx
import numpy as np
import pytest
from conftest import columns_of, run_async, spec_of

from workbench.serving.app import create_app
from workbench.serving.loading import LoadedModel, resolve_spec
from workbench.serving.runtime import Runtime, ServerSettings
from workbench.serving.strategies import new_state


@asynccontextmanager
async def client(runtime: Runtime, load: bool = True):
    if load and not runtime.ready:
        runtime.load()
    app = create_app(runtime, load_on_start=False)
    await runtime.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
            yield c
    finally:
        await runtime.stop()


def runtime_for(store, version=1, **settings) -> Runtime:
    return Runtime(store, new_state("api", spec_of(store, version)), ServerSettings(**settings))


def run(coro):
    return run_async(coro)


def test_mlflow_invocations_match_the_model_and_carry_the_headers(model_store, rows):
    import workbench as wb

    model = wb.load_model("models:/churn/1", store=model_store)
    want = model.predict(rows).tolist()
    rt = runtime_for(model_store)

    async def main():
        async with client(rt) as c:
            r = await c.post("/invocations", json=columns_of(rows), headers={"x-request-id": "req-1"})
            csv = await c.post("/invocations", content=rows.to_csv(index=False),
                               headers={"content-type": "text/csv"})
            recs = await c.post("/invocations", json={"dataframe_records": rows.to_dict("records")})
            return r, csv, recs

    r, csv, recs = run(main())
    assert r.status_code == 200 and r.json() == {"predictions": want}
    assert r.headers["x-request-id"] == "req-1"
    assert r.headers["x-model-version"] == "1" and r.headers["x-workbench-variant"] == "v1"
    assert csv.json()["predictions"] == want and recs.json()["predictions"] == want


def test_v2_protocol(model_store, rows):
    import workbench as wb

    want = wb.load_model("models:/churn/1", store=model_store).predict(rows).tolist()
    rt = runtime_for(model_store)
    infer = {"id": "x1", "inputs": [
        {"name": c, "shape": [len(rows)], "datatype": "BYTES" if c == "region" else "FP64",
         "data": rows[c].tolist()} for c in rows.columns]}

    async def main():
        async with client(rt) as c:
            return {
                "live": await c.get("/v2/health/live"), "ready": await c.get("/v2/health/ready"),
                "meta": await c.get("/v2/models/churn"), "vmeta": await c.get("/v2/models/churn/versions/1"),
                "mready": await c.get("/v2/models/churn/versions/1/ready"),
                "missing": await c.get("/v2/models/other"), "nover": await c.get("/v2/models/churn/versions/9"),
                "infer": await c.post("/v2/models/churn/infer", json=infer),
                "vinfer": await c.post("/v2/models/churn/versions/1/infer", json=infer),
                "server": await c.get("/v2"),
            }

    r = run(main())
    assert r["live"].json() == {"live": True} and r["ready"].json() == {"ready": True}
    meta = r["meta"].json()
    assert [i["name"] for i in meta["inputs"]] == ["age", "monthly", "region"]
    assert [i["datatype"] for i in meta["inputs"]] == ["INT64", "FP64", "BYTES"]
    assert meta["versions"] == ["1"] and r["vmeta"].status_code == 200
    assert r["mready"].json() == {"name": "churn", "ready": True}
    assert r["missing"].status_code == 404 and "error" in r["missing"].json()
    assert r["nover"].status_code == 404
    body = r["infer"].json()
    assert body["id"] == "x1" and body["model_version"] == "1"
    assert body["outputs"][0]["data"] == want and body["outputs"][0]["datatype"] == "INT64"
    assert r["infer"].headers["x-request-id"] == "x1"
    assert r["vinfer"].json()["outputs"][0]["data"] == want
    assert r["server"].json()["name"] == "workbench"


def test_bad_input_gets_400_415_413_naming_the_problem(model_store, rows):
    rt = runtime_for(model_store, max_body_bytes=2000)

    async def main():
        async with client(rt) as c:
            bad_type = await c.post("/invocations", json={"dataframe_records": [
                {"age": 3, "monthly": "high", "region": "north"}]})
            missing = await c.post("/invocations", json={"dataframe_records": [{"age": 3, "monthly": 1.0}]})
            malformed = await c.post("/invocations", content=b"{not json",
                                     headers={"content-type": "application/json"})
            ctype = await c.post("/invocations", content=b"x", headers={"content-type": "text/plain"})
            big = await c.post("/invocations", json={"dataframe_records": [
                {"age": 3, "monthly": 1.0, "region": "x" * 5000}]})
            v2bad = await c.post("/v2/models/churn/infer", json={"inputs": [
                {"name": "age", "shape": [1], "datatype": "INT64", "data": ["x"]}]})
            ok = await c.post("/invocations", json=columns_of(rows.head(1)))
            return bad_type, missing, malformed, ctype, big, v2bad, ok

    bad_type, missing, malformed, ctype, big, v2bad, ok = run(main())
    assert bad_type.status_code == 400
    assert bad_type.json() == {"error_code": "BAD_REQUEST",
                               "message": "column 'monthly' expects float64, got 'high' (str) at row 0"}
    assert missing.status_code == 400 and "missing column 'region'" in missing.json()["message"]
    assert "region (str)" in missing.json()["message"]
    assert malformed.status_code == 400 and "not valid JSON" in malformed.json()["message"]
    assert ctype.status_code == 415 and "text/plain" in ctype.json()["message"]
    assert big.status_code == 413 and "limit of 2000" in big.json()["message"] or "2000" in big.json()["message"]
    assert v2bad.status_code == 400 and "error" in v2bad.json()
    assert ok.status_code == 200  # bad requests changed nothing


class _Slow:
    def __init__(self, base, delay):
        self.base, self.delay = base, delay

    def predict(self, X):
        time.sleep(self.delay)
        return self.base.predict(X)


def test_timeout_is_504_and_not_ready_is_503_with_retry_after(model_store, rows):
    rt = runtime_for(model_store, timeout_s=0.2)

    async def main():
        async with client(rt, load=False) as c:
            not_ready = await c.post("/invocations", json=columns_of(rows.head(1)))
            ping = await c.get("/ping")
            v2ready = await c.get("/v2/health/ready")
            live = await c.get("/v2/health/live")
            rt.load()
            variant = rt.variants["v1"]
            variant.model.model = _Slow(variant.model.model, 0.6)
            slow = await c.post("/invocations", json=columns_of(rows.head(1)))
            return not_ready, ping, v2ready, live, slow

    not_ready, ping, v2ready, live, slow = run(main())
    assert not_ready.status_code == 503 and not_ready.headers["retry-after"] == "1"
    assert "warming up" in not_ready.json()["message"]
    assert ping.status_code == 503 and v2ready.status_code == 503 and live.status_code == 200
    assert slow.status_code == 504 and "longer than 0.2 s" in slow.json()["message"]
    assert slow.headers["x-model-version"] == "1"


def test_a_model_that_raises_on_some_rows_fails_only_those_requests(model_store, rows):
    rt = runtime_for(model_store, version=3)
    good = columns_of(rows.head(1))
    poisoned = columns_of(rows.head(1).assign(age=-1))

    async def main():
        async with client(rt) as c:
            # concurrent: they share a batch, which fails and is retried request by request
            return await asyncio.gather(*(c.post("/invocations", json=poisoned if i % 4 == 0 else good)
                                          for i in range(16)))

    out = run(main())
    codes = [r.status_code for r in out]
    assert codes == [500 if i % 4 == 0 else 200 for i in range(16)]
    assert "age == -1" in out[0].json()["message"]
    assert out[0].json()["error_code"] == "MODEL_ERROR"


def test_concurrent_requests_are_batched_and_answers_stay_with_their_request(model_store, rows):
    import workbench as wb

    model = wb.load_model("models:/churn/1", store=model_store)
    rt = runtime_for(model_store)

    async def main():
        async with client(rt) as c:
            return await asyncio.gather(*(c.post("/invocations", json=columns_of(rows.iloc[[i]]))
                                          for i in range(len(rows))))

    out = run(main())
    assert [r.json()["predictions"][0] for r in out] == model.predict(rows).tolist()
    assert rt.variants["v1"].batcher.batches < len(rows)  # some requests shared a predict call


def test_overload_is_503(model_store, rows):
    rt = runtime_for(model_store, max_queue=1, batching=False)

    async def main():
        async with client(rt) as c:
            rt.variants["v1"].model.model = _Slow(rt.variants["v1"].model.model, 0.2)
            return await asyncio.gather(*(c.post("/invocations", json=columns_of(rows.head(1)))
                                          for _ in range(4)))

    codes = sorted(r.status_code for r in run(main()))
    assert 503 in codes and 200 in codes


def test_metrics_feedback_and_the_prediction_log(model_store, rows):
    import pyarrow.parquet as pq

    rt = runtime_for(model_store, flush_interval_s=0.05)

    async def main():
        async with client(rt) as c:
            r = await c.post("/invocations", json=columns_of(rows.head(2)))
            await c.post("/invocations", json={"dataframe_records": [{"age": 1}]})
            fb = await c.post("/v2/models/churn/feedback",
                              json={"request_id": r.headers["x-request-id"], "label": 1, "reward": 1.0})
            bad_fb = await c.post("/v2/models/churn/feedback", json={"request_id": "x"})
            nan_fb = await c.post("/v2/models/churn/feedback", content=b'{"request_id": "x", "reward": NaN}',
                                  headers={"content-type": "application/json"})
            metrics = await c.get("/metrics")
            return r, fb, bad_fb, nan_fb, metrics

    r, fb, bad_fb, nan_fb, metrics = run(main())
    assert fb.status_code == 200 and fb.json()["variant"] == "v1"
    assert bad_fb.status_code == 400
    assert nan_fb.status_code == 400 and "finite number" in nan_fb.text
    text = metrics.text
    assert 'workbench_requests_total{status="ok",variant="v1"} 1.0' in text
    assert 'workbench_requests_total{status="bad_request",variant=""} 1.0' in text
    assert "workbench_request_duration_seconds_bucket" in text and "workbench_breaker_state" in text
    folder = rt.log_folder
    preds = [pq.read_table(p).to_pylist() for p in sorted(folder.glob("*.parquet"))
             if not p.name.endswith(".feedback.parquet")]
    logged = [row for seg in preds for row in seg]
    ok = next(x for x in logged if x["status"] == "ok")
    assert ok["request_id"] == r.headers["x-request-id"] and ok["model_version"] == 1
    assert ok["model_sha256"] == rt.variants["v1"].spec.sha256
    assert json.loads(ok["inputs"])["data"] == rows.head(2).values.tolist()
    assert json.loads(ok["outputs"]) == r.json()["predictions"]
    assert ok["total_ms"] > 0 and ok["n_rows"] == 2 and ok["protocol"] == "mlflow"
    bad = next(x for x in logged if x["status"] == "bad_request")
    assert bad["http_status"] == 400 and "region" in bad["error_msg"]
    feedback = [row for p in folder.glob("*.feedback.parquet") for row in pq.read_table(p).to_pylist()]
    assert len(feedback) == 1 and feedback[0]["reward"] == 1.0 and feedback[0]["label"] == "1"
    # the log writer counts what it wrote and the CPU it spent doing so (exported for Prometheus)
    from prometheus_client import generate_latest

    assert rt.log.written_rows == len(logged) and rt.log.flush_cpu_s > 0
    exported = generate_latest(rt.registry).decode()
    assert f"workbench_prediction_log_rows {float(len(logged))}" in exported
    assert "workbench_prediction_log_flush_cpu_seconds " in exported


def test_token_is_required_when_configured(model_store, rows):
    rt = runtime_for(model_store, token="s3cret")

    async def main():
        async with client(rt) as c:
            no = await c.post("/invocations", json=columns_of(rows.head(1)))
            wrong = await c.post("/invocations", json=columns_of(rows.head(1)),
                                 headers={"authorization": "Bearer nope"})
            yes = await c.post("/invocations", json=columns_of(rows.head(1)),
                               headers={"authorization": "Bearer s3cret"})
            health = await c.get("/v2/health/live")
            return no, wrong, yes, health

    no, wrong, yes, health = run(main())
    assert no.status_code == 401 and wrong.status_code == 401 and yes.status_code == 200
    assert health.status_code == 200


def test_warm_up_refuses_a_model_that_disagrees_with_its_example(model_store):
    from workbench.errors import ModelLoadError
    from workbench.serving.loading import VersionSpec, load_spec

    spec = resolve_spec(model_store, "models:/churn/1")
    wrong = VersionSpec(spec.name, spec.version, spec.sha256, spec.signature, spec.example,
                        [1 - p for p in spec.expected])
    with pytest.raises(ModelLoadError, match="differently"):
        load_spec(model_store, wrong)
    tampered = VersionSpec(spec.name, spec.version, "0" * 64, spec.signature)
    with pytest.raises(ModelLoadError, match="missing"):
        load_spec(model_store, tampered)
    loaded = LoadedModel(spec, _Slow(load_spec(model_store, spec, warm=False).model, 0))
    loaded.warm_up()
    assert loaded.warm and np.array_equal(loaded.predict(loaded.spec and _frame(spec)), spec.expected)


def _frame(spec):
    import pandas as pd

    return pd.DataFrame(spec.example["data"], columns=spec.example["columns"])
