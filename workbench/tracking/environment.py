"""What a run records about where it ran: Python, packages, git, source file.

Captured once per process and cached, so starting a run stays cheap.

>>> env = capture_environment()
>>> env["python_version"].count(".") >= 2
True
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any


@functools.lru_cache(maxsize=1)
def capture_environment() -> dict[str, Any]:
    """Python version, platform and installed package versions, with a content id."""
    packages: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata.get("Name")
        if name:
            packages[name.lower()] = dist.version
    env = {
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "packages": dict(sorted(packages.items())),
    }
    env["env_id"] = hashlib.sha256(json.dumps(env, sort_keys=True).encode()).hexdigest()[:32]
    return env


#: Environment variable holding the source of the process that started this one: worker
#: processes (joblib/loky, multiprocessing) inherit it and record it as their runs' source.
SOURCE_ENV = "WORKBENCH_SOURCE"

# Packages whose modules start worker processes: a ``__main__`` inside one of them is the
# bootstrap of a worker (e.g. joblib's ``popen_loky_posix.py``), never the user's code.
_WORKER_PACKAGES = ("joblib", "loky", "multiprocessing", "concurrent", "dask", "distributed")


@functools.lru_cache(maxsize=1)
def _worker_package_dirs() -> tuple[str, ...]:
    import importlib.util

    dirs: list[str] = []
    for name in _WORKER_PACKAGES:
        try:
            spec = importlib.util.find_spec(name)  # finds the package without importing it
        except (ImportError, ValueError):
            continue
        for location in (spec.submodule_search_locations or []) if spec else []:
            dirs.append(str(Path(location).resolve()))
    return tuple(dirs)


def _is_worker_bootstrap(path: str) -> bool:
    resolved = str(Path(path).resolve())
    return any(resolved.startswith(d + os.sep) for d in _worker_package_dirs())


def _own_source() -> str | None:
    """This process's script or notebook, or None (a worker bootstrap, ``python -c``, a REPL)."""
    if "ipykernel" in sys.modules and os.environ.get("JPY_SESSION_NAME"):
        # in a kernel IPython replaces __main__ with a module without __file__, and argv[0] is the
        # launcher: Jupyter names the notebook in JPY_SESSION_NAME
        return os.environ["JPY_SESSION_NAME"]
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if path and not str(path).startswith("<"):
        path = str(Path(path).resolve())
        if _is_worker_bootstrap(path):
            return None
        return path
    argv0 = sys.argv[0] if sys.argv else ""
    if argv0 and argv0 not in ("-c", "-") and not _is_worker_bootstrap(argv0):
        return argv0
    return None


def source_file() -> str | None:
    """The script or notebook that started this process, if there is one.

    In a worker process (joblib/loky, multiprocessing) that is the script or notebook of the
    process that started the workers (the one running the sweep or pipeline), passed down in
    ``WORKBENCH_SOURCE``; the worker's own bootstrap module is never recorded. A process with
    a script of its own (``python step.py`` started by a pipeline) records that script.

    >>> source_file() is None or isinstance(source_file(), str)
    True
    """
    own = _own_source()
    inherited = os.environ.get(SOURCE_ENV) or None
    if own is None:
        return inherited
    return own


def export_source() -> None:
    """Pass this process's source down to the worker processes it starts (through
    ``WORKBENCH_SOURCE``, which they inherit); a worker keeps what its parent set.

    >>> export_source()  # done once when workbench is imported
    """
    own = _own_source()
    if own is not None:
        os.environ[SOURCE_ENV] = own


@functools.lru_cache(maxsize=64)
def git_state(directory: str) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the git work tree holding ``directory``; (None, None) outside git."""
    try:
        commit = subprocess.run(
            ["git", "-C", directory, "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", directory, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout
        return commit or None, bool(status.strip())
    except (OSError, subprocess.SubprocessError):
        return None, None


def git_state_for_source(source: str | None) -> tuple[str | None, bool | None]:
    directory = os.path.dirname(source) if source and os.path.exists(source) else os.getcwd()
    return git_state(directory)


export_source()  # at import: before any worker process can be started
