"""The store's own lock: an exclusive ``flock`` on ``<file>.lock``, held around every open.

DuckDB 2.0.1 reads a database file's header on a separate handle *before* it
takes its own file lock, and does not read it again afterwards. When another
process closes the file in between (a close writes a new header), the opener
works from the old state and its next commit overwrites the other process's
last commit: acknowledged records disappear (``docs/store.md`` has a
pure-DuckDB reproduction). So every connection the package opens is taken
under this lock, acquired before ``duckdb.connect`` and released only after
``close()`` has returned: no process can open while another is closing.

``flock`` locks belong to an open file description, so the lock is released by
the kernel when the process dies (SIGKILL included), and a forked child that
inherits the descriptor must close its copy without unlocking it
(:meth:`StoreFileLock.forget`).

>>> import tempfile, os
>>> lock = StoreFileLock(os.path.join(tempfile.mkdtemp(), "demo.duckdb.lock"))
>>> lock.try_acquire(), lock.held
(True, True)
>>> lock.release(); lock.held
False
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class StoreFileLock:
    """An exclusive, non-reentrant inter-process lock on one lock file."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._fd: int | None = None
        self.held = False

    def _descriptor(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        return self._fd

    def try_acquire(self) -> bool:
        """Take the lock if no other process holds it; never waits."""
        if self.held:
            raise RuntimeError(f"{self.path} is already held by this handle")
        try:
            fcntl.flock(self._descriptor(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        self.held = True
        return True

    def release(self) -> None:
        """Give the lock back (the descriptor stays open for the next acquire)."""
        if self.held and self._fd is not None:
            self.held = False
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def forget(self) -> None:
        """In a forked child: drop the inherited descriptor *without* unlocking.

        The parent's lock lives on the same open file description; unlocking it
        here would release the parent's hold on the store.
        """
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
        self._fd = None
        self.held = False
