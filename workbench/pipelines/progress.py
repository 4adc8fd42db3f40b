"""Progress bars for long work from Python and the CLI (tqdm), switchable off.

A bar is shown when ``enabled`` is True, or when it is None (the default) and
``$WORKBENCH_PROGRESS`` is not ``0``/``false``/``off`` and the output is a
terminal or a notebook. In a notebook the bar is tqdm's widget when ipywidgets
is installed, else text. ``progress_bar`` returns None when no bar is shown, so
callers write ``if bar is not None: bar.update(1)``.

>>> progress_bar(3, "demo", "step", enabled=False) is None
True
"""

from __future__ import annotations

import os
import sys
from typing import Any

_OFF = {"0", "false", "off", "no"}


def progress_enabled(enabled: bool | None = None) -> bool:
    """Whether to show a bar: ``enabled`` if given, else ``$WORKBENCH_PROGRESS`` and a tty/notebook."""
    if enabled is not None:
        return bool(enabled)
    if os.environ.get("WORKBENCH_PROGRESS", "").strip().lower() in _OFF:
        return False
    if "ipykernel" in sys.modules and _in_notebook():
        return True
    stream = sys.stderr
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):
        return False


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython

        shell = get_ipython()
        return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"
    except Exception:
        return False


def progress_bar(total: int | None, desc: str, unit: str = "it", enabled: bool | None = None,
                 **options: Any) -> Any:
    """A tqdm bar (``tqdm.auto``: a widget in notebooks) or None when progress is off."""
    if not progress_enabled(enabled):
        return None
    try:
        if "ipykernel" in sys.modules and _in_notebook():
            from tqdm.auto import tqdm
        else:
            from tqdm import tqdm
    except ImportError:  # tqdm comes with Optuna; without it there is no bar
        return None
    return tqdm(total=total, desc=desc, unit=unit, leave=True, dynamic_ncols=True, **options)
