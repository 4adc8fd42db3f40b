"""One process's handle on one store file: the shared connection and spool writer.

DuckDB lets a single process open a database file at a time, and opening it
costs about 20 ms. A handle therefore opens the file only while someone in
this process needs it, keeps it open for a short idle window so that a burst
of queries pays the cost once, and then closes it so that other processes can
get in. Opening retries with jittered backoff while another process holds the
file; only after ``timeout`` seconds does the caller see :class:`StoreBusyError`.

Every open is taken under the store's own inter-process lock
(:mod:`workbench.store.file_lock`), held until the connection is closed, so
that no process opens the file while another is closing it (DuckDB 2.0.1
loses commits otherwise).

Every time the file is opened, waiting spool files are ingested first, so a
reader always sees everything acknowledged before its query began.
"""

from __future__ import annotations

import atexit
import os
import random
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from workbench.errors import StoreBusyError, StoreError
from workbench.store import serving_store
from workbench.store.file_lock import StoreFileLock
from workbench.store.ingest import ingest_pending, mark_dead_runs
from workbench.store.schema import COMPONENTS, migrate
from workbench.store.spool import SpoolWriter, now_ms, spool_files

_handles: dict[str, StoreHandle] = {}
_handles_lock = threading.Lock()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc)
    return "lock" in text.lower() and ("Could not set lock" in text or "Conflicting lock" in text)


class StoreHandle:
    """Per-process state for one store path. Use :func:`get_handle`."""

    def __init__(self, db_path: Path, spool_dir: Path) -> None:
        self.db_path = db_path
        self.spool_dir = spool_dir
        self.timeout = float(os.environ.get("WORKBENCH_LOCK_TIMEOUT", "120"))
        self.keepalive = float(os.environ.get("WORKBENCH_KEEPALIVE", "0.25"))
        self.flush_interval = float(os.environ.get("WORKBENCH_FLUSH_INTERVAL", "0.2"))
        self.ingest_interval = float(os.environ.get("WORKBENCH_INGEST_INTERVAL", "2"))
        self._lock = threading.RLock()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._depth = 0
        self._idle_since = 0.0
        self._closer: threading.Thread | None = None
        self._migrated_components = 0  # how many schema components were migrated
        self._closed_at = 0.0
        self.waiting_dir = spool_dir / "waiting"
        self.file_lock = StoreFileLock(db_path.with_name(db_path.name + ".lock"))
        # Spool files this connection committed: kept until a later open sees
        # their names recorded (the two-phase rule in ingest.py).
        self._unconfirmed: set[str] = set()
        self._shut = False  # set at interpreter exit: no background DuckDB work after it
        self._writer: SpoolWriter | None = None
        self.experiment_ids: dict[str, int] = {}
        self.last_dead_check = 0.0

    # -- the writer ------------------------------------------------------
    @property
    def writer(self) -> SpoolWriter:
        if self._writer is None:
            with self._lock:
                if self._writer is None:
                    self._writer = SpoolWriter(
                        self.spool_dir,
                        flush_interval=self.flush_interval,
                        on_idle=self._background_ingest,
                        idle_every=self.ingest_interval,
                    )
        return self._writer

    def _background_ingest(self) -> None:
        if spool_files(self.spool_dir):
            self.try_ingest()

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    # -- the connection --------------------------------------------------
    @contextmanager
    def connect(self, ingest: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
        """The open connection, for the duration of the ``with`` block.

        Re-entrant within a thread; other threads of this process wait.
        """
        with self._lock:
            outermost = self._depth == 0
            if self._con is None:
                self.flush()
                self._con = self._open()
            elif outermost:
                self.flush()
            self._depth += 1
            try:
                self._migrate_if_needed(self._con)  # a part may have registered late
                if outermost and ingest:
                    self._ingest(self._con)
                yield self._con
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._release()

    def _ingest(self, con: duckdb.DuckDBPyConnection) -> None:
        if spool_files(self.spool_dir):
            ingest_pending(con, self.spool_dir, self._unconfirmed)
        if serving_store.has_waiting_segments(self.db_path):
            self._ingest_prediction_log(con)
        now = time.monotonic()
        if now - self.last_dead_check > 1.0:
            self.last_dead_check = now
            mark_dead_runs(con, self.spool_dir)

    def _ingest_prediction_log(self, con: duckdb.DuckDBPyConnection) -> None:
        """Bulk-ingest the prediction servers' log segments and events, as the spool is."""
        log_folder, events_folder = serving_store.serving_folders(self.db_path)
        con.execute("BEGIN TRANSACTION")
        try:
            serving_store.ingest_prediction_segments(con, log_folder, events_folder, now_ms())
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def _others_waiting(self) -> bool:
        try:
            names = os.listdir(self.waiting_dir)
        except FileNotFoundError:
            return False
        mine = f"{os.getpid()}-"
        for name in names:
            if name.startswith(mine):
                continue
            pid = name.split("-", 1)[0]
            if pid.isdigit() and _pid_alive(int(pid)):
                return True
            try:  # left by a process that died while waiting
                os.unlink(self.waiting_dir / name)
            except OSError:
                pass
        return False

    def _connect_locked(self, wait: bool) -> duckdb.DuckDBPyConnection | None:
        """Take the store lock, then open the file; ``None`` if busy and not ``wait``.

        The lock is held until :meth:`_disconnect` has closed the connection, so
        no other process opens the file while this one is closing it.
        """
        deadline = time.monotonic() + self.timeout
        delay = 0.002
        marker: Path | None = None
        # Fairness: a process that just let go of the file waits a moment
        # when others are queued, so that a busy reader cannot starve them.
        if wait and time.monotonic() - self._closed_at < 0.05 and self._others_waiting():
            time.sleep(0.03 * (0.5 + random.random()))
        try:
            while True:
                busy: Exception | None = None
                if self.file_lock.try_acquire():
                    try:
                        con = duckdb.connect(str(self.db_path))
                    except duckdb.Error as exc:
                        self.file_lock.release()
                        if not _is_lock_error(exc):  # not another program holding the file
                            raise StoreError(f"cannot open store {self.db_path}: {exc}") from exc
                        busy = exc
                    else:
                        self._unconfirmed = set()
                        return con
                if not wait:
                    return None
                if time.monotonic() > deadline:
                    raise StoreBusyError(
                        f"store {self.db_path} stayed locked by another process for "
                        f"{self.timeout:.0f} s (set WORKBENCH_LOCK_TIMEOUT to wait longer)"
                        + (f": {busy}" if busy else "")
                    )
                if marker is None:
                    self.waiting_dir.mkdir(exist_ok=True)
                    marker = self.waiting_dir / f"{os.getpid()}-{threading.get_ident()}"
                    marker.touch()
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 1.5, 0.02)
        finally:
            if marker is not None:
                marker.unlink(missing_ok=True)

    def _disconnect(self, con: duckdb.DuckDBPyConnection) -> None:
        """Close ``con``, and only then give the store lock back."""
        try:
            con.close()
        finally:
            self.file_lock.release()
            self._closed_at = time.monotonic()
            self._unconfirmed = set()

    def _migrate_if_needed(self, con: duckdb.DuckDBPyConnection) -> None:
        if self._migrated_components != len(COMPONENTS):
            migrate(con)
            self._migrated_components = len(COMPONENTS)

    def _open(self) -> duckdb.DuckDBPyConnection:
        con = self._connect_locked(wait=True)
        assert con is not None
        try:
            self._migrate_if_needed(con)
        except BaseException:
            self._disconnect(con)
            raise
        return con

    def check_schema(self) -> None:
        """Migrate (or refuse) the file now if it is free; otherwise leave it for later."""
        if self._migrated_components == len(COMPONENTS) or not self._lock.acquire(blocking=False):
            return
        try:
            if self._con is not None or self._shut:
                return
            if not self.db_path.exists():
                with self.connect(ingest=False):
                    return
            con = self._connect_locked(wait=False)
            if con is None:
                return
            try:
                self._migrate_if_needed(con)
            finally:
                self._disconnect(con)
        finally:
            self._lock.release()

    def try_ingest(self) -> bool:
        """Ingest waiting spool files if the file is free right now; never waits.

        Writers call this now and then so that spool files do not pile up
        when nobody reads. It closes the file at once rather than keeping it
        for the idle window, to stay out of readers' way.
        """
        if not self._lock.acquire(blocking=False):
            return False
        try:
            if self._shut:
                return False
            if self._con is not None:
                if self._depth == 0:
                    self._ingest(self._con)
                return True
            con = self._connect_locked(wait=False)
            if con is None:
                return False
            try:
                self._migrate_if_needed(con)
                self._ingest(con)
            finally:
                self._disconnect(con)
            return True
        finally:
            self._lock.release()

    def _release(self) -> None:
        # Keep the file for a short idle window only when nobody else waits.
        if self.keepalive <= 0 or self._shut or self._others_waiting():
            self.close()
            return
        self._idle_since = time.monotonic()
        if self._closer is None or not self._closer.is_alive():
            self._closer = threading.Thread(target=self._close_when_idle, daemon=True,
                                            name="workbench-store-closer")
            self._closer.start()

    def _close_when_idle(self) -> None:
        while True:
            time.sleep(min(self.keepalive / 2, 0.02))
            with self._lock:
                if self._con is None:
                    return
                idle = time.monotonic() - self._idle_since
                if self._depth == 0 and (idle >= self.keepalive or self._others_waiting()):
                    self.close()
                    return

    def close(self) -> None:
        """Close the connection now (the file is free for other processes)."""
        with self._lock:
            if self._con is not None and self._depth == 0:
                con, self._con = self._con, None
                self._disconnect(con)

    def shutdown(self, timeout: float = 60.0) -> None:
        """At interpreter exit: close the file and keep background threads out of DuckDB.

        Takes the handle's lock (waiting for a query in flight on another
        thread to end) and never gives it back: a daemon thread that tries to
        use the store afterwards blocks on a Python lock, which is harmless
        while the interpreter tears down, instead of running DuckDB code then
        (the cause of the "terminate called ... exception not rethrown" aborts).
        """
        if not self._lock.acquire(timeout=timeout):
            return
        self._shut = True
        self.close()  # the idle closer, if alive, now blocks on the lock for good

    # -- fork safety -----------------------------------------------------
    def before_fork(self) -> None:
        # A forked child must not inherit an open DuckDB instance: it would
        # share the file without holding the lock.
        self._lock.acquire()
        if self._con is not None and self._depth == 0:
            con, self._con = self._con, None
            self._disconnect(con)

    def after_fork_parent(self) -> None:
        self._lock.release()

    def after_fork_child(self) -> None:
        self._lock = threading.RLock()
        self._con = None
        self._depth = 0
        self._closer = None
        self._unconfirmed = set()
        self.file_lock.forget()  # the parent's lock: close our copy, never unlock it
        if self._writer is not None:
            self._writer.after_fork_in_child()


def get_handle(db_path: Path, spool_dir: Path) -> StoreHandle:
    """The process-wide handle for ``db_path`` (created on first use)."""
    key = str(db_path)
    with _handles_lock:
        handle = _handles.get(key)
        if handle is None:
            handle = _handles[key] = StoreHandle(db_path, spool_dir)
        return handle


def _before_fork() -> None:
    for handle in list(_handles.values()):
        handle.before_fork()


def _after_fork_parent() -> None:
    for handle in list(_handles.values()):
        handle.after_fork_parent()


def _after_fork_child() -> None:
    for handle in list(_handles.values()):
        handle.after_fork_child()


def _flush_all_at_exit() -> None:
    for handle in list(_handles.values()):
        try:
            if handle._writer is not None:
                handle._writer.close()  # a final flush; joins the flush thread
                # Leave nothing behind for the next reader when the file is free.
                if spool_files(handle.spool_dir):
                    handle.try_ingest()
        except Exception as exc:
            warnings.warn(f"workbench: could not ingest at exit ({exc}); the next "
                          "reader of the store will", stacklevel=1)
        finally:
            handle.shutdown()


os.register_at_fork(
    before=_before_fork, after_in_parent=_after_fork_parent, after_in_child=_after_fork_child
)
atexit.register(_flush_all_at_exit)
