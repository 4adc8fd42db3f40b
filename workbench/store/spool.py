"""The write path: an in-process buffer flushed to append-only spool files.

DuckDB lets one process at a time open a database file, so logging never
opens it. Each process buffers records in memory and a background thread
writes the buffer every ``flush_interval`` seconds as one *spool file*: an
Arrow IPC file whose table holds the metric points and whose schema metadata
holds the other records as JSON. The file is written under a temporary name,
fsync'd and renamed, so a spool file is either complete or absent. Whichever
process next holds the database ingests the waiting files in one transaction
(:mod:`workbench.store.ingest`).

A record counts as acknowledged once its spool file is renamed into place: a
process killed with SIGKILL loses at most its last ``flush_interval`` of
logging.

>>> import tempfile
>>> writer = SpoolWriter(tempfile.mkdtemp(), start_thread=False)
>>> writer.add({"kind": "tag", "run_id": "r1", "key": "team", "value": "ds"})
>>> writer.add_metrics("r1", ["loss"], [0.5], [0], [1700000000000])
>>> path = writer.flush()
>>> records, metrics = read_spool_file(path)
>>> records[0]["key"], metrics.num_rows
('team', 1)
"""

from __future__ import annotations

import gc
import json
import os
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa

SPOOL_SUFFIX = ".spool"
TMP_PREFIX = ".tmp-"
METRIC_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("key", pa.string()),
        ("value", pa.float64()),
        ("step", pa.int64()),
        ("ts", pa.int64()),
    ]
)
_RECORDS_META_KEY = b"workbench.records"
_HEARTBEAT_SECONDS = 5.0


def now_ms() -> int:
    """Milliseconds since the Unix epoch: the time unit of every record."""
    return time.time_ns() // 1_000_000


def spool_files(spool_dir: str | os.PathLike) -> list[Path]:
    """Complete spool files waiting in ``spool_dir``, oldest first."""
    try:
        names = os.listdir(spool_dir)
    except FileNotFoundError:
        return []
    # Files still being written carry TMP_PREFIX and are not ready.
    return [
        Path(spool_dir) / n
        for n in sorted(names)
        if n.endswith(SPOOL_SUFFIX) and not n.startswith(TMP_PREFIX)
    ]


def read_spool_file(
    path: str | os.PathLike, validate: bool = False
) -> tuple[list[dict[str, Any]], pa.Table]:
    """The records and metric points of one spool file.

    ``validate=True`` reads the whole file and checks it before anything uses
    it: the column types, every offset and every string's UTF-8 (a file whose
    footer is intact but whose body is damaged passes a plain read and would
    only fail, or worse, inside the ingest), and that the records are a JSON
    list of objects. It raises ``ValueError`` naming what is wrong.
    """
    with pa.memory_map(str(path), "r") as source:
        table = pa.ipc.open_file(source).read_all()
    meta = table.schema.metadata or {}
    with gc_paused():
        records = json.loads(meta.get(_RECORDS_META_KEY, b"[]"))
    table = table.replace_schema_metadata(None)
    if validate:
        if not table.schema.equals(METRIC_SCHEMA):
            raise ValueError(f"unexpected columns {table.schema} (expected {METRIC_SCHEMA})")
        try:
            table.validate(full=True)
        except pa.ArrowInvalid as exc:
            raise ValueError(f"damaged metric columns: {exc}") from exc
        if not isinstance(records, list) or not all(
            isinstance(r, dict) and isinstance(r.get("kind"), str) for r in records
        ):
            raise ValueError("the records are not a list of objects with a 'kind'")
    return records, table


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the block (re-entrant).

    Decoding and applying 2,000 runs' records makes ~10,000 dicts and lists,
    none of them in a cycle; in a process with a large heap the collections
    their allocation triggers cost 30-40 ms, more than the decoding itself.

    >>> with gc_paused():
    ...     records = json.loads('[{"kind": "tag"}]')
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class SpoolWriter:
    """Buffers one process's records for one store and writes them as spool files.

    Thread-safe. ``add`` and ``add_metrics`` only append to lists under a lock,
    which is what makes unbatched ``log_metric`` cost about a microsecond.
    """

    def __init__(
        self,
        spool_dir: str | os.PathLike,
        flush_interval: float = 0.2,
        fsync: bool = True,
        start_thread: bool = True,
        on_idle: Callable[[], None] | None = None,
        idle_every: float = 2.0,
    ) -> None:
        self.spool_dir = Path(spool_dir)
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        self.flush_interval = flush_interval
        self.fsync = fsync
        self.on_idle = on_idle
        self.idle_every = idle_every
        self._last_idle = time.monotonic()
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._reset_buffers()
        self._seq = 0
        self._last_name_ns = 0
        self._pid = os.getpid()
        self._active_runs: set[str] = set()
        self._last_heartbeat = 0.0
        self._closed = False
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        if start_thread:
            self._start_thread()

    # -- buffering -------------------------------------------------------
    def _reset_buffers(self) -> None:
        self._records: list[dict[str, Any]] = []
        self._m_run: list[str] = []
        self._m_key: list[str] = []
        self._m_value: list[float] = []
        self._m_step: list[int] = []
        self._m_ts: list[int] = []

    def add(self, record: dict[str, Any]) -> None:
        """Buffer one JSON-serialisable record (``kind`` says what it is)."""
        with self._lock:
            self._records.append(record)

    def add_metric(self, run_id: str, key: str, value: float, step: int, ts: int) -> None:
        """Buffer one metric point."""
        with self._lock:
            self._m_run.append(run_id)
            self._m_key.append(key)
            self._m_value.append(value)
            self._m_step.append(step)
            self._m_ts.append(ts)

    def add_metrics(
        self, run_id: str, keys: list[str], values: list[float], steps: list[int], ts: list[int]
    ) -> None:
        """Buffer many metric points of one run (parallel lists)."""
        n = len(keys)
        with self._lock:
            self._m_run.extend([run_id] * n)
            self._m_key.extend(keys)
            self._m_value.extend(values)
            self._m_step.extend(steps)
            self._m_ts.extend(ts)

    def add_metric_table(self, table: pa.Table) -> None:
        """Buffer a ready-made Arrow table of points (the bulk-import path)."""
        self.add({"kind": "metric_table", "_table": table.cast(METRIC_SCHEMA)})

    def run_started(self, run_id: str) -> None:
        with self._lock:
            self._active_runs.add(run_id)

    def run_ended(self, run_id: str) -> None:
        with self._lock:
            self._active_runs.discard(run_id)

    @property
    def pending(self) -> int:
        """How many records and points wait in memory."""
        with self._lock:
            return len(self._records) + len(self._m_run)

    # -- flushing --------------------------------------------------------
    def flush(self) -> Path | None:
        """Write what is buffered as one spool file; returns its path (None if empty)."""
        with self._flush_lock:
            with self._lock:
                heartbeat_due = self._active_runs and (
                    time.monotonic() - self._last_heartbeat >= _HEARTBEAT_SECONDS
                )
                if not self._records and not self._m_run and not heartbeat_due:
                    return None
                records, columns = self._records, self._metric_columns()
                active = sorted(self._active_runs)
                self._reset_buffers()
            if active:
                self._last_heartbeat = time.monotonic()
                records.append({"kind": "heartbeat", "run_ids": active, "ts": now_ms()})
            try:
                return self._write(records, columns)
            except BaseException:
                # Nothing is lost on a failed write (disk full, say): put the
                # records back in front of whatever arrived meanwhile.
                with self._lock:
                    self._records[:0] = [r for r in records if r.get("kind") != "heartbeat"]
                    for mine, theirs in zip(columns, self._metric_columns()):
                        theirs[:0] = mine
                raise

    def _metric_columns(self) -> tuple[list, ...]:
        return (self._m_run, self._m_key, self._m_value, self._m_step, self._m_ts)

    def _write(self, records: list[dict[str, Any]], columns: tuple[list, ...]) -> Path:
        tables = [pa.Table.from_arrays([pa.array(c, t.type) for c, t in zip(columns, METRIC_SCHEMA)],
                                       schema=METRIC_SCHEMA)]
        plain = []
        for record in records:
            if record.get("kind") == "metric_table":
                tables.append(record["_table"])
            else:
                plain.append(record)
        table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
        schema = METRIC_SCHEMA.with_metadata({_RECORDS_META_KEY: json.dumps(plain).encode()})
        name = self._next_name()
        tmp = self.spool_dir / (TMP_PREFIX + name)
        final = self.spool_dir / name
        with open(tmp, "wb") as fh:
            with pa.ipc.new_file(fh, schema) as sink:
                sink.write_table(table.replace_schema_metadata(schema.metadata))
            fh.flush()
            if self.fsync:
                os.fsync(fh.fileno())
        os.replace(tmp, final)
        return final

    def _next_name(self) -> str:
        # Names sort in write order: wall-clock nanoseconds made monotonic per
        # process, then the pid and a sequence number to break ties.
        ts = max(time.time_ns(), self._last_name_ns + 1)
        self._last_name_ns = ts
        self._seq += 1
        return f"{ts:020d}-{self._pid}-{self._seq:010d}{SPOOL_SUFFIX}"

    # -- background thread ----------------------------------------------
    def _start_thread(self) -> None:
        ref = weakref.ref(self)
        self._thread = threading.Thread(
            target=_flush_loop, args=(ref, self._wake), name="workbench-spool", daemon=True
        )
        self._thread.start()

    def close(self, timeout: float = 30.0) -> None:
        """Stop the background thread (waiting for its round in progress), then flush."""
        self._closed = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self.flush()

    def after_fork_in_child(self) -> None:
        """A forked child starts with an empty buffer and its own file names and thread."""
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._reset_buffers()
        self._active_runs = set()
        self._pid = os.getpid()
        self._seq = 0
        self._wake = threading.Event()
        if self._thread is not None and not self._closed:
            self._start_thread()


def _flush_loop(ref: weakref.ref, wake: threading.Event) -> None:
    while True:
        writer = ref()
        if writer is None or writer._closed or writer._wake is not wake:
            return
        interval = writer.flush_interval
        try:
            writer.flush()
            if writer._closed:
                return
            if writer.on_idle is not None and time.monotonic() - writer._last_idle > writer.idle_every:
                writer._last_idle = time.monotonic()
                writer.on_idle()
        except Exception as exc:  # keep buffering; the next round retries
            warnings.warn(f"workbench: background spool work failed: {exc}", stacklevel=1)
        del writer
        wake.wait(interval)
