"""Every error the workbench raises on purpose, in one place so users can catch them.

Each class names a kind of problem; the message names the exact input that caused it.

>>> from workbench.errors import WorkbenchError, FilterSyntaxError
>>> issubclass(FilterSyntaxError, WorkbenchError)
True
"""

from __future__ import annotations


class WorkbenchError(Exception):
    """Base class of every error raised on purpose by workbench."""


class StoreError(WorkbenchError):
    """The store cannot be opened or used."""


class StoreVersionError(StoreError):
    """The store's schema was written by a newer workbench than this one."""


class StoreBusyError(StoreError):
    """Another process held the store's file for longer than the configured timeout."""


class NotFoundError(WorkbenchError, KeyError):
    """A run, experiment, artifact, model or other named thing does not exist."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class InvalidInputError(WorkbenchError, ValueError):
    """An argument has the wrong type or value; the message says what was expected."""


class MetricValueError(InvalidInputError):
    """A metric value is not a number."""


class InvalidKeyError(InvalidInputError):
    """A param, metric or tag key is empty, too long or has forbidden characters."""


class ParamConflictError(InvalidInputError):
    """A param was logged twice on one run with different values."""


class FilterSyntaxError(InvalidInputError):
    """A search filter could not be parsed; the message gives the position and the problem."""

    def __init__(self, message: str, text: str = "", position: int | None = None):
        self.text = text
        self.position = position
        if position is not None and text:
            pointer = " " * position + "^"
            message = f"{message} (at position {position})\n  {text}\n  {pointer}"
        super().__init__(message)


class RunStateError(WorkbenchError):
    """An action does not fit the run's state (e.g. logging to a finished run)."""


class ArtifactPathError(InvalidInputError):
    """An artifact's logical path would leave the artifact root."""


class ArtifactIntegrityError(WorkbenchError):
    """An artifact's bytes no longer match the sha256 recorded when it was logged."""
