"""The prediction server's HTTP contract: MLflow scoring, Open Inference Protocol V2, feedback, metrics.

``create_app(runtime)`` returns a FastAPI app; ``workbench serve`` runs it on
uvicorn, and tests drive it in-process with ``httpx.ASGITransport``.

- ``POST /invocations`` (JSON: ``dataframe_split``, ``dataframe_records``,
  ``instances``, ``inputs``; or ``text/csv``) -> ``{"predictions": [...]}``;
  ``GET /ping``, ``GET /health``, ``GET /version``.
- ``GET /v2``, ``/v2/health/live``, ``/v2/health/ready``,
  ``/v2/models/{name}[/versions/{v}]``, ``.../ready``, ``POST .../infer``
  (one tensor per column).
- ``POST /v2/models/{name}/feedback`` ``{"request_id", "label" | "reward"}``.
- ``GET /metrics`` (Prometheus text format).
- ``/admin/...``: the control API a :class:`~workbench.serving.deployment.Deployment` uses.

Every prediction response carries ``x-request-id``, ``x-model-version`` and
``x-workbench-variant``. 400 bad input (naming the column), 413 body over the
limit, 415 content type, 500 the model raised, 503 overloaded / breakers open /
not ready (``Retry-After``), 504 over the timeout.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import math
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from workbench.errors import InvalidInputError, PayloadError, ServingError, WorkbenchError
from workbench.serving import router, strategies
from workbench.serving.loading import VersionSpec
from workbench.serving.predlog import new_request_id
from workbench.serving.protocol import (
    Columns,
    jsonable,
    parse_csv,
    parse_mlflow_json,
    parse_v2,
    v2_metadata,
    v2_outputs,
)
from workbench.serving.router import KEY_HEADER, champion
from workbench.serving.runtime import Runtime

_STATUS_CODES = {400: "BAD_REQUEST", 413: "PAYLOAD_TOO_LARGE", 415: "UNSUPPORTED_MEDIA_TYPE",
                 500: "MODEL_ERROR", 503: "SERVICE_UNAVAILABLE", 504: "TIMEOUT", 404: "NOT_FOUND",
                 401: "UNAUTHORIZED"}
_OPEN_PATHS = ("/ping", "/health", "/v2/health/live", "/v2/health/ready")


def _error(status: int, message: str, v2: bool = False, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": message} if v2 else {"error_code": _STATUS_CODES.get(status, "ERROR"), "message": message}
    headers = dict(headers or {})
    if status == 503:
        headers.setdefault("Retry-After", "1")
    return JSONResponse(body, status_code=status, headers=headers)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("workbench")
    except PackageNotFoundError:
        return "unknown"


def create_app(runtime: Runtime, load_on_start: bool = True) -> FastAPI:
    """The FastAPI app over ``runtime`` (loading and warm-up start in a thread at startup)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await runtime.start()
        if load_on_start and not runtime.ready:
            loop = asyncio.get_running_loop()
            app.state.loading = loop.run_in_executor(None, runtime.load)
        yield
        await runtime.stop()

    app = FastAPI(title="workbench prediction server", lifespan=lifespan)
    app.state.runtime = runtime
    token = runtime.settings.token
    max_body = runtime.settings.max_body_bytes

    if token:
        @app.middleware("http")
        async def require_token(request: Request, call_next):
            if request.url.path not in _OPEN_PATHS:
                given = request.headers.get("authorization", "")
                if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                    return _error(401, "a bearer token is required (Authorization: Bearer <token>)")
            return await call_next(request)

    async def read_body(request: Request) -> bytes:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > max_body:
            raise PayloadError(f"the body has {length} bytes; the limit is {max_body}", status=413)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_body:
                raise PayloadError(f"the body is over the limit of {max_body} bytes", status=413)
        return bytes(body)

    def _signature() -> dict[str, Any]:
        champ = champion(runtime.state)
        return (champ or {}).get("spec", {}).get("signature") or {}

    def _headers(out: dict[str, Any]) -> dict[str, str]:
        h = {"x-request-id": out["request_id"], "x-workbench-variant": str(out.get("variant"))}
        if out.get("version") is not None:
            h["x-model-version"] = str(out["version"])
        if out.get("fallback"):
            h["x-workbench-fallback"] = "true"
        return h

    def _first_row(cols: Columns) -> dict[str, Any] | None:
        key = runtime.state.get("key")
        if not key or key not in cols.arrays or cols.n_rows == 0:
            return None
        return {key: cols.arrays[key][0]}

    def _arrived(request: Request) -> None:
        # the request has reached the batcher's queue (or left): the batcher stops waiting for it
        if getattr(request.state, "arrived", False):
            request.state.arrived = False
            runtime.arriving -= 1

    async def _serve(request: Request, cols: Columns, protocol: str, request_id: str) -> dict[str, Any]:
        _arrived(request)
        key = router.request_key(runtime.state, request.headers.get(KEY_HEADER), _first_row(cols))
        return await runtime.predict(cols, key, protocol, request_id)

    def _not_ready(v2: bool) -> JSONResponse:
        msg = runtime.load_error or "the model is loading and warming up"
        return _error(503, f"not ready: {msg}", v2)

    # -- MLflow scoring protocol -------------------------------------------
    @app.get("/ping")
    @app.get("/health")
    async def ping() -> Response:
        if not runtime.ready:
            return _not_ready(False)
        return Response("\n", media_type="application/json")

    @app.get("/version")
    async def version() -> dict[str, Any]:
        return {"workbench": _version()}

    @app.post("/invocations")
    async def invocations(request: Request) -> Response:
        runtime.arriving += 1
        request.state.arrived = True
        try:
            return await _invocations(request)
        finally:
            _arrived(request)

    async def _invocations(request: Request) -> Response:
        request_id = request.headers.get("x-request-id") or new_request_id()
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        try:
            if ctype not in ("application/json", "text/csv"):
                raise PayloadError(f"content type {ctype or '(none)'!r} is not supported; send "
                                   "application/json or text/csv", status=415)
            if "charset" in request.headers.get("content-type", "").lower() and \
                    "utf-8" not in request.headers.get("content-type", "").lower():
                raise PayloadError("the JSON body must be UTF-8", status=415)
            body = await read_body(request)
            if not runtime.ready:
                return _not_ready(False)
            if ctype == "text/csv":
                cols = parse_csv(body, _signature())
            else:
                try:
                    payload = json.loads(body)
                except (ValueError, UnicodeDecodeError) as exc:
                    raise PayloadError(f"the body is not valid JSON: {exc}") from None
                cols = parse_mlflow_json(payload, _signature())
        except PayloadError as exc:
            runtime.reject(request_id, "mlflow", exc.status, str(exc))
            return _error(exc.status, str(exc), headers={"x-request-id": request_id})
        out = await _serve(request, cols, "mlflow", request_id)
        if out["status"] != "ok":
            return _error(out["http_status"], out["error"][1], headers=_headers(out))
        body = json.dumps({"predictions": jsonable(out["predictions"])})
        return Response(body, media_type="application/json", headers=_headers(out))

    # -- Open Inference Protocol V2 ----------------------------------------
    @app.get("/v2")
    async def v2_server() -> dict[str, Any]:
        return {"name": "workbench", "version": _version(), "extensions": ["feedback"]}

    @app.get("/v2/health/live")
    async def live() -> dict[str, bool]:
        return {"live": True}

    @app.get("/v2/health/ready")
    async def ready() -> Response:
        if not runtime.ready:
            return _not_ready(True)
        return JSONResponse({"ready": True})

    def _check_model(name: str, version: str | None = None) -> VersionSpec | JSONResponse:
        if name != runtime.state.get("model") and name != runtime.state.get("deployment"):
            return _error(404, f"no model named {name!r} here (this server serves {runtime.state.get('model')!r})",
                          True)
        if version is None:
            champ = champion(runtime.state)
            return VersionSpec.from_dict(champ["spec"])
        for v in runtime.state.get("variants", []):
            if str(v["spec"]["version"]) == str(version):
                return VersionSpec.from_dict(v["spec"])
        return _error(404, f"model {name!r} has no version {version} deployed here", True)

    @app.get("/v2/models/{name}")
    @app.get("/v2/models/{name}/versions/{version}")
    async def model_metadata(name: str, version: str | None = None) -> Response:
        spec = _check_model(name, version)
        if isinstance(spec, JSONResponse):
            return spec
        return JSONResponse(v2_metadata(name, spec.version, spec.signature))

    @app.get("/v2/models/{name}/ready")
    @app.get("/v2/models/{name}/versions/{version}/ready")
    async def model_ready(name: str, version: str | None = None) -> Response:
        spec = _check_model(name, version)
        if isinstance(spec, JSONResponse):
            return spec
        ok = runtime.ready and spec.variant in runtime.variants
        return JSONResponse({"name": name, "ready": ok}, status_code=200 if ok else 503)

    @app.post("/v2/models/{name}/infer")
    @app.post("/v2/models/{name}/versions/{version}/infer")
    async def infer(name: str, request: Request, version: str | None = None) -> Response:
        runtime.arriving += 1
        request.state.arrived = True
        try:
            return await _infer(name, request, version)
        finally:
            _arrived(request)

    async def _infer(name: str, request: Request, version: str | None) -> Response:
        request_id = request.headers.get("x-request-id") or new_request_id()
        spec = _check_model(name, version)
        if isinstance(spec, JSONResponse):
            return spec
        try:
            ctype = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
            if ctype != "application/json":
                raise PayloadError(f"content type {ctype!r} is not supported; send application/json", 415)
            body = await read_body(request)
            if not runtime.ready:
                return _not_ready(True)
            try:
                payload = json.loads(body)
            except (ValueError, UnicodeDecodeError) as exc:
                raise PayloadError(f"the body is not valid JSON: {exc}") from None
            cols, given_id = parse_v2(payload, spec.signature)
        except PayloadError as exc:
            runtime.reject(request_id, "v2", exc.status, str(exc))
            return _error(exc.status, str(exc), True, headers={"x-request-id": request_id})
        request_id = request.headers.get("x-request-id") or (str(given_id) if given_id else request_id)
        out = await _serve(request, cols, "v2", request_id)
        if out["status"] != "ok":
            return _error(out["http_status"], out["error"][1], True, headers=_headers(out))
        return JSONResponse({"model_name": name, "model_version": str(out["version"]),
                             "id": given_id or request_id, "parameters": {"variant": out["variant"]},
                             "outputs": v2_outputs(out["predictions"])}, headers=_headers(out))

    @app.post("/v2/models/{name}/feedback")
    async def feedback(name: str, request: Request) -> Response:
        try:
            payload = json.loads(await read_body(request))
        except PayloadError as exc:  # over the size limit: 413
            return _error(exc.status, str(exc), True)
        except ValueError as exc:
            return _error(400, f"the body is not valid JSON: {exc}", True)
        if not isinstance(payload, dict) or not payload.get("request_id"):
            return _error(400, "feedback is {'request_id': ..., 'label': ... and/or 'reward': <number>}", True)
        if "label" not in payload and "reward" not in payload:
            return _error(400, "feedback needs a 'label' or a 'reward'", True)
        reward = payload.get("reward")
        if reward is not None and (isinstance(reward, bool) or not isinstance(reward, (int, float))
                                   or not math.isfinite(reward)):  # json.loads takes NaN and Infinity
            return _error(400, f"reward must be a finite number, got {reward!r}", True)
        try:
            return JSONResponse(runtime.feedback(str(payload["request_id"]), payload.get("label"), reward))
        except InvalidInputError as exc:  # e.g. a Beta bandit given a reward other than 0 or 1
            return _error(400, str(exc), True)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(runtime.registry), media_type=CONTENT_TYPE_LATEST)

    # -- control API --------------------------------------------------------
    @app.get("/admin/status")
    async def admin_status() -> dict[str, Any]:
        return json.loads(json.dumps(runtime.status(), default=str))

    async def _admin(request: Request, make) -> Response:
        try:
            payload = json.loads(await read_body(request) or b"{}")
            if not isinstance(payload, dict):
                raise InvalidInputError(f"the body is a JSON object, got {type(payload).__name__}")
            # built under the change lock, on the state as it is then (see Runtime.change)
            state = await runtime.change(lambda: make(payload), actor=payload.get("actor") or "user")
        except PayloadError as exc:  # a body over the size limit: 413, as on the prediction routes
            return _error(exc.status, str(exc))
        except (WorkbenchError, InvalidInputError, KeyError, TypeError, ValueError) as exc:
            status = 400 if isinstance(exc, (InvalidInputError, KeyError, TypeError, ValueError)) else 409
            return _error(status, f"{type(exc).__name__}: {exc}")
        return JSONResponse(json.loads(json.dumps(state, default=str)))

    window = runtime.settings.rollback_window_s

    @app.post("/admin/switch")
    async def admin_switch(request: Request) -> Response:
        return await _admin(request, lambda p: (
            strategies.switch(runtime.state, VersionSpec.from_dict(p["spec"]), p.get("window_s", window)),
            "switch", {"version": p["spec"]["version"]}))

    @app.post("/admin/rollback")
    async def admin_rollback(request: Request) -> Response:
        return await _admin(request, lambda p: (strategies.rollback(runtime.state), "rollback",
                                                {"reason": p.get("reason", "manual")}))

    @app.post("/admin/canary")
    async def admin_canary(request: Request) -> Response:
        return await _admin(request, lambda p: (
            strategies.start_canary(runtime.state, VersionSpec.from_dict(p["spec"]), p.get("config")),
            "canary", {"version": p["spec"]["version"], "config": p.get("config")}))

    @app.post("/admin/shadow")
    async def admin_shadow(request: Request) -> Response:
        return await _admin(request, lambda p: (
            strategies.set_shadow(runtime.state, VersionSpec.from_dict(p["spec"]), p.get("percent", 100.0)),
            "shadow", {"version": p["spec"]["version"], "percent": p.get("percent", 100.0)}))

    @app.post("/admin/split")
    async def admin_split(request: Request) -> Response:
        return await _admin(request, lambda p: (
            strategies.set_split(runtime.state, {int(k): VersionSpec.from_dict(v) for k, v in p["specs"].items()},
                                 {int(k): float(v) for k, v in p["weights"].items()}, p.get("key")),
            "split", {"weights": p["weights"], "key": p.get("key")}))

    @app.post("/admin/bandit")
    async def admin_bandit(request: Request) -> Response:
        return await _admin(request, lambda p: (
            strategies.set_bandit(runtime.state, {int(k): VersionSpec.from_dict(v) for k, v in p["specs"].items()},
                                  p.get("policy", "thompson"), p.get("seed")),
            "bandit", {"versions": list(p["specs"]), "policy": p.get("policy", "thompson")}))

    @app.post("/admin/promote")
    async def admin_promote(request: Request) -> Response:
        def make(p):
            new = strategies.promote(runtime.state, window_s=window)
            champ = champion(new)["spec"]
            return new, "promoted", {"model": champ["name"], "version": champ["version"], "manual": True,
                                     "analysis": (runtime.state.get("canary") or {}).get("checks", [])}
        return await _admin(request, make)

    def _canary_status(status: str, kind: str):
        def make(p):
            canary = runtime.state.get("canary")
            if not canary or canary.get("status") in ("rolled_back", "promoted"):
                raise ServingError("there is no canary in progress")
            import time as _t
            new = {**runtime.state, "canary": {**canary, "status": status, "step_started": _t.time()}}
            return new, kind, {"step": canary["step"]}
        return make

    @app.post("/admin/pause")
    async def admin_pause(request: Request) -> Response:
        return await _admin(request, _canary_status("paused", "canary_paused"))

    @app.post("/admin/resume")
    async def admin_resume(request: Request) -> Response:
        return await _admin(request, _canary_status("running", "canary_resumed"))

    @app.post("/admin/shutdown")
    async def admin_shutdown() -> dict[str, bool]:
        server = getattr(app.state, "uvicorn_server", None)
        if server is not None:
            server.should_exit = True
        return {"stopping": server is not None}

    @app.exception_handler(PayloadError)
    async def payload_error(request: Request, exc: PayloadError) -> JSONResponse:
        return _error(exc.status, str(exc), request.url.path.startswith("/v2"))

    return app
