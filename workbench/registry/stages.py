"""The stage rules of a model version, as a pure state machine (no store, no I/O).

Stages: ``None`` (just registered) -> ``Staging`` -> ``Production`` ->
``Archived``. Every change goes through a transition request. The legal
moves are::

    None       -> Staging, Archived
    Staging    -> Production, Archived
    Production -> Archived
    Archived   -> Staging           (bring a retired version back for re-evaluation)

Anything else (``Archived -> Production``, ``None -> Production``, a move to
the stage the version is already in) raises :class:`StageTransitionError`.
Requests are ``PENDING`` until approved, rejected or cancelled, exactly once.

>>> check_transition("Staging", "Production")
'Production'
>>> check_transition("Archived", "Production")
Traceback (most recent call last):
...
workbench.errors.StageTransitionError: cannot move a version from Archived to Production; \
from Archived the allowed stages are: Staging
"""

from __future__ import annotations

from workbench.errors import InvalidInputError, StageTransitionError

NONE, STAGING, PRODUCTION, ARCHIVED = "None", "Staging", "Production", "Archived"
STAGES: tuple[str, ...] = (NONE, STAGING, PRODUCTION, ARCHIVED)

#: The stages each stage may move to (through an approved request).
ALLOWED: dict[str, tuple[str, ...]] = {
    NONE: (STAGING, ARCHIVED),
    STAGING: (PRODUCTION, ARCHIVED),
    PRODUCTION: (ARCHIVED,),
    ARCHIVED: (STAGING,),
}

#: Stages whose requests must pass the model's gates before approval.
GATED: tuple[str, ...] = (STAGING, PRODUCTION)

PENDING, APPROVED, REJECTED, CANCELLED = "PENDING", "APPROVED", "REJECTED", "CANCELLED"
REQUEST_STATUSES: tuple[str, ...] = (PENDING, APPROVED, REJECTED, CANCELLED)


def normalize_stage(stage: object) -> str:
    """The canonical spelling of a stage name (case-insensitive; ``None`` is the None stage).

    >>> normalize_stage("production")
    'Production'
    """
    if stage is None:
        return NONE
    if not isinstance(stage, str):
        raise InvalidInputError(f"a stage must be a string, got {type(stage).__name__}")
    for name in STAGES:
        if stage.strip().lower() == name.lower():
            return name
    raise InvalidInputError(f"unknown stage {stage!r}; the stages are {', '.join(STAGES)}")


def check_transition(current: str, target: str) -> str:
    """Return ``target`` if a version in ``current`` may move there, else raise.

    >>> check_transition("None", "Staging")
    'Staging'
    """
    current, target = normalize_stage(current), normalize_stage(target)
    if target not in ALLOWED[current]:
        if current == target:
            raise StageTransitionError(f"the version is already in {current}")
        raise StageTransitionError(
            f"cannot move a version from {current} to {target}; from {current} the allowed "
            f"stages are: {', '.join(ALLOWED[current])}"
        )
    return target


def check_pending(status: str, request_id: int) -> None:
    """Raise unless a request is still ``PENDING`` (a request is decided once).

    >>> check_pending("APPROVED", 3)
    Traceback (most recent call last):
    ...
    workbench.errors.StageTransitionError: request #3 is already APPROVED; a request is decided only once
    """
    if status != PENDING:
        raise StageTransitionError(
            f"request #{request_id} is already {status}; a request is decided only once"
        )
