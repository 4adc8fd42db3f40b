"""The prediction server and deployment strategies (no Panel).

>>> from workbench.serving import deploy, Deployment, sync_predictions
>>> callable(deploy)
True

``workbench serve models:/churn/Production`` serves one model (MLflow's
scoring protocol and the Open Inference Protocol V2, on FastAPI + uvicorn);
``deploy(...)`` creates a deployment whose strategy (blue-green, canary,
shadow, split, bandit) the server applies. See ``docs/serving.md``.

The names below are imported on first use, so that ``workbench serve``'s
parser (``workbench.serving.cli``) loads no server code.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Deployment": "workbench.serving.deployment",
    "deploy": "workbench.serving.deployment",
    "list_deployments": "workbench.serving.deployment",
    "sync_predictions": "workbench.serving.deployment",
    "VersionSpec": "workbench.serving.loading",
    "resolve_spec": "workbench.serving.loading",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'workbench.serving' has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
