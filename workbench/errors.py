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


class RegistryError(WorkbenchError):
    """A model-registry action cannot be done as asked."""


class StageTransitionError(RegistryError):
    """A stage change or a transition request does not follow the stage rules.

    Raised for illegal transitions (e.g. Archived -> Production), for a
    request that was already approved, rejected or cancelled, and for a second
    pending request on one version. Nothing is changed when it is raised.
    """


class PermissionDeniedError(RegistryError):
    """The acting user's role does not allow the action (or they would approve their own request)."""


class GateFailedError(RegistryError):
    """A gate of the registered model failed and the approval gave no override reason.

    ``results`` holds the gate results (see ``Registry.gate_results``).
    """

    def __init__(self, message: str, results: list | None = None):
        super().__init__(message)
        self.results = list(results or [])


class SearchSpaceError(InvalidInputError):
    """A hyper-parameter search space or a sweep setting is not usable (e.g. an infinite grid)."""


class SweepError(WorkbenchError):
    """A sweep could not run, resume or re-run (the message says which trial and why)."""


class TrialCancelledError(WorkbenchError):
    """Raised inside a trial that checks in (``trial.report``) after its sweep was cancelled."""


class PipelineError(WorkbenchError):
    """A pipeline cannot be loaded, saved or run as asked."""


class PipelineValidationError(PipelineError, InvalidInputError):
    """A pipeline graph is invalid; nothing was saved or run.

    ``problems`` lists every problem found (one message each); ``cycle`` holds
    the step names of a dependency cycle when there is one (first step
    repeated at the end, e.g. ``["a", "b", "a"]``).
    """

    def __init__(self, problems: list[str] | str, cycle: list[str] | None = None):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.cycle = list(cycle) if cycle else None
        if len(self.problems) == 1:
            message = self.problems[0]
        else:
            message = f"{len(self.problems)} problems:\n" + "\n".join(f"- {p}" for p in self.problems)
        super().__init__(message)


class StepTimeoutError(PipelineError, TimeoutError):
    """A pipeline step ran longer than its ``timeout`` (seconds)."""


class PipelineRunError(PipelineError):
    """A pipeline run failed (raised by ``PipelineResult.raise_for_status``); names the failed steps."""


# -- workbench.abtest: A/B testing, allocation and bandits -----------------------------
class ABTestError(WorkbenchError):
    """An A/B-testing action (design, allocation, analysis, bandit) cannot be done as asked."""


class AllocationError(ABTestError, InvalidInputError):
    """Variant weights, coverage or a namespace are not usable, or would move assigned users.

    Raised for weights that do not sum to 1 (within 1e-9), coverage outside [0, 1], an
    invalid namespace range, and a stored experiment redefined with other variants or salt.
    """


class ExperimentDataError(ABTestError, InvalidInputError):
    """The events of an experiment cannot be analysed as asked; the message names the column.

    Raised for an unknown variant or control name, a metric column that is missing or not
    numeric, a proportion metric with values outside {0, 1}, an arm with fewer than 2 units,
    and units seen in two variants when ``duplicates="refuse"``. Nothing is saved.
    """


class BanditError(ABTestError, InvalidInputError):
    """A bandit policy got an unknown arm, a bad reward or a state it cannot restore."""


# -- workbench.serving: the prediction server and deployments -----------------


class ServingError(WorkbenchError):
    """A deployment or the prediction server cannot do what was asked (the message says why)."""


class PayloadError(InvalidInputError):
    """A prediction request's body cannot be used; ``status`` is the HTTP status it gets.

    400 for a bad shape, a missing column or a value of the wrong type (the
    message names the column and the expected type), 413 for a body over the
    size limit, 415 for a content type other than JSON or CSV.
    """

    def __init__(self, message: str, status: int = 400, column: str | None = None):
        super().__init__(message)
        self.status = status
        self.column = column


class ModelLoadError(ServingError):
    """A model version could not be loaded, warmed up or checked against its input example."""


class ServerOverloadedError(ServingError):
    """A variant's queue is full or every breaker is open (the server answers 503 with Retry-After)."""


# -- workbench.monitoring (drift and data quality) ----------------------------------
class MonitoringError(WorkbenchError):
    """A drift report, reference profile or alert rule cannot be made or saved as asked."""


class MonitoringInputError(MonitoringError, InvalidInputError):
    """The reference or current data is unusable: empty, no shared columns, a bad column or type."""


class UnknownMethodError(MonitoringInputError):
    """A drift method or column type is unknown, or does not apply to the column's type."""
