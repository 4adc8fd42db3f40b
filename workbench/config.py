"""Where the store lives and who the user is, from the environment.

>>> import os
>>> os.environ["WORKBENCH_HOME"] = "/tmp/wb-home"
>>> str(default_store_path())
'/tmp/wb-home/workbench.duckdb'
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path


def workbench_home() -> Path:
    """``$WORKBENCH_HOME`` if set, else ``~/.workbench``."""
    return Path(os.environ.get("WORKBENCH_HOME") or Path.home() / ".workbench").expanduser()


def default_store_path() -> Path:
    """``$WORKBENCH_STORE`` if set, else ``workbench.duckdb`` inside :func:`workbench_home`."""
    explicit = os.environ.get("WORKBENCH_STORE")
    if explicit:
        return Path(explicit).expanduser()
    return workbench_home() / "workbench.duckdb"


def current_user() -> str:
    """``$WORKBENCH_USER`` if set, else the operating-system user."""
    user = os.environ.get("WORKBENCH_USER")
    if user:
        return user
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (some containers)
        return "unknown"
