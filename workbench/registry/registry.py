"""The model registry: registered models, versions, stages, requests, gates, roles and audit.

>>> import tempfile, os, numpy as np, workbench as wb
>>> from sklearn.linear_model import LogisticRegression
>>> store = wb.Store(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
>>> X, y = np.random.default_rng(0).normal(size=(20, 2)), np.arange(20) % 2
>>> with wb.start_run(experiment="churn", store=store) as run:
...     _ = wb.log_model(LogisticRegression().fit(X, y), input_example=X[:3])
>>> reg = Registry(store, user="alice")          # the first user of a store's registry is admin
>>> v = reg.register_model("churn", run_id=run.id)
>>> v.version, v.stage
(1, 'None')
>>> reg.grant("bob", "approver")
>>> req = reg.request_transition("churn", 1, "Staging", comment="ready")
>>> Registry(store, user="bob").approve(req.id, comment="ok").status
'APPROVED'
>>> reg.get_version("churn", 1).stage
'Staging'
>>> type(reg.load_model("models:/churn/Staging")).__name__
'LogisticRegression'
"""

from __future__ import annotations

from typing import Any

from workbench.config import current_user
from workbench.registry.governance import _GovernanceMixin
from workbench.registry.loading import _LoadingMixin
from workbench.registry.models import _ModelsMixin
from workbench.registry.records import (
    ROLES,
    SETTINGS,
    ModelVersion,
    RegisteredModel,
    TransitionRequest,
)
from workbench.registry.roles import _RolesMixin
from workbench.registry.transitions import _TransitionsMixin
from workbench.registry.versions import _VersionsMixin

__all__ = [
    "ROLES", "SETTINGS", "ModelVersion", "RegisteredModel", "Registry", "TransitionRequest",
    "load_model",
]


class Registry(
    _RolesMixin, _ModelsMixin, _VersionsMixin, _TransitionsMixin, _GovernanceMixin, _LoadingMixin,
):
    """The model registry of a store, acting as ``user`` (default: the configured user).

    Every action checks the user's role, does its read-check-write inside one
    :meth:`Store.transaction` and appends one audit entry (the first write on a registry
    with no users also appends the grant that makes its writer admin); a refused
    action changes nothing and writes nothing. See ``docs/registry.md``.

    Constructing it grants nothing and writes nothing. The first admin is made by
    :meth:`init_admin` (or `workbench registry init-admin`); on a registry with no users
    yet, the first user who asks for a write action becomes its admin (audited).

    ``acted_by`` names who really operates when an app without authentication acts as
    another user (``Registry(store, user="bob", acted_by="alice")``): each audit entry
    then carries ``details.acted_by`` and ``details.authentication == "none"`` (and an
    approval of a request ``acted_by`` made says so in ``details.note``).
    """


def load_model(uri: str, store: Any = None) -> Any:
    """Load a registered model: ``wb.load_model("models:/churn/Production")``.

    Also ``"models:/churn/3"``, ``"models:/churn@champion"`` and
    ``"models:/churn/latest"``. The default store is used unless ``store`` is
    given. The sha256 is checked before unpickling; a mismatch raises
    :class:`~workbench.errors.ArtifactIntegrityError` and loads nothing.
    """
    return _Loader(store).load_model(uri)


class _Loader(Registry):
    """A registry view for loading only: no user bootstrap (loading is not a registry action)."""

    def __init__(self, store: Any) -> None:
        from workbench.tracking.fluent import resolve_store

        self.store = resolve_store(store)
        self.user = current_user()
