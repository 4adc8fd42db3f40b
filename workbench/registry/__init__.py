"""The model registry and its governance: versions, stages, requests, gates, roles, audit.

>>> from workbench.registry import Registry, load_model
>>> sorted(ROLES)
['admin', 'approver', 'contributor', 'viewer']

See :mod:`workbench.registry.registry` and ``docs/registry.md``.
"""

from __future__ import annotations

from workbench.registry.cards import ModelCard
from workbench.registry.gates import Gate, GateResult
from workbench.registry.registry import (
    ROLES,
    SETTINGS,
    ModelVersion,
    RegisteredModel,
    Registry,
    TransitionRequest,
    load_model,
)
from workbench.registry.stages import STAGES
from workbench.registry.uri import ModelRef, parse_model_uri
from workbench.registry.webhooks import wait_for_webhooks

__all__ = [
    "ROLES",
    "SETTINGS",
    "STAGES",
    "Gate",
    "GateResult",
    "ModelCard",
    "ModelRef",
    "ModelVersion",
    "RegisteredModel",
    "Registry",
    "TransitionRequest",
    "load_model",
    "parse_model_uri",
    "wait_for_webhooks",
]
