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


def source_file() -> str | None:
    """The script or notebook that started this process, if there is one."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if path and not str(path).startswith("<"):
        return str(Path(path).resolve())
    if sys.argv and sys.argv[0] and sys.argv[0] not in ("-c", "-"):
        return sys.argv[0]
    return None


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
