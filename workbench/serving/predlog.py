"""The prediction log's write side: fsync'd, renamed Parquet segments the store ingests in bulk.

The server never opens the database. Each request adds one row to an
in-memory buffer (a few microseconds); a background thread writes the buffer
every ``flush_interval`` seconds as one Parquet segment in the store's
``<stem>.predictions/`` folder: written to ``.tmp-<name>``, fsync'd, renamed.
A segment is complete or absent, so a killed server loses at most its last
flush interval. Feedback (delayed labels and rewards) goes to ``*.feedback.parquet``
segments the same way; deployment events (strategy, weights, breaker states,
rollbacks, promotions) to small JSON files in ``<stem>.deployments/``.
:func:`workbench.store.serving_store.ingest_prediction_segments` reads them.

>>> import tempfile, pyarrow.parquet as pq
>>> folder = tempfile.mkdtemp()
>>> log = PredictionLog(folder, flush_interval=None)
>>> log.add({"request_id": "r1", "deployment": "d", "variant": "v1", "status": "ok", "http_status": 200})
>>> path = log.flush()
>>> pq.read_table(path).column("request_id").to_pylist()
['r1']
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
import weakref
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

TMP_PREFIX = ".tmp-"
SEGMENT_SUFFIX = ".parquet"
FEEDBACK_SUFFIX = ".feedback.parquet"
EVENT_SUFFIX = ".event.json"

PREDICTION_SCHEMA = pa.schema([
    ("request_id", pa.string()),
    ("ts", pa.int64()),  # epoch milliseconds, UTC
    ("deployment", pa.string()),
    ("variant", pa.string()),
    ("role", pa.string()),  # champion | challenger | shadow
    ("strategy", pa.string()),
    ("bucket", pa.int32()),  # 0..9999 (random, sticky = false, without a key); null on shadow rows
    ("sticky", pa.bool_()),
    ("fallback", pa.bool_()),
    ("model_name", pa.string()),
    ("model_version", pa.int32()),
    ("model_sha256", pa.string()),
    ("protocol", pa.string()),  # mlflow | v2
    ("status", pa.string()),  # ok | bad_request | error | timeout | overloaded | circuit_open
    ("http_status", pa.int16()),
    ("error_type", pa.string()),
    ("error_msg", pa.string()),
    ("total_ms", pa.float64()),
    ("queue_ms", pa.float64()),
    ("predict_ms", pa.float64()),
    ("n_rows", pa.int32()),
    ("batch_size", pa.int32()),
    ("inputs", pa.string()),  # {"columns": [...], "data": [[...]]} (sampled, size-capped)
    ("outputs", pa.string()),  # JSON list of predictions
    ("pid", pa.int32()),
    ("unit", pa.string()),  # the routing key (header or input field, <= 200 chars); null without one
])

FEEDBACK_SCHEMA = pa.schema([
    ("request_id", pa.string()),
    ("ts", pa.int64()),
    ("deployment", pa.string()),
    ("variant", pa.string()),
    ("label", pa.string()),  # JSON text of the label
    ("label_num", pa.float64()),
    ("reward", pa.float64()),
])


_ids = random.Random()


def new_request_id() -> str:
    """A random 128-bit request id as 32 hex digits (not ``uuid4``: ``os.urandom`` is slow on some VMs)."""
    return f"{_ids.getrandbits(128):032x}"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def write_atomic(path: Path, data: bytes | pa.Table, schema: pa.Schema | None = None, fsync: bool = True) -> Path:
    """Write ``data`` (bytes, or a table as Parquet) to ``path`` via a tmp name, fsync and rename."""
    tmp = path.with_name(TMP_PREFIX + path.name)
    with open(tmp, "wb") as fh:
        if isinstance(data, pa.Table):
            pq.write_table(data, fh, compression="snappy")
        else:
            fh.write(data)
        fh.flush()
        if fsync:
            os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


class _Names:
    def __init__(self) -> None:
        self._last = 0
        self._seq = 0
        self._lock = threading.Lock()

    def next(self, suffix: str) -> str:
        with self._lock:
            ts = max(time.time_ns(), self._last + 1)
            self._last = ts
            self._seq += 1
            return f"{ts:020d}-{os.getpid()}-{self._seq:08d}{suffix}"


_NAMES = _Names()


def write_event(folder: str | os.PathLike, event: dict[str, Any]) -> Path:
    """One deployment event as a small JSON file (tmp + fsync + rename); returns its path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return write_atomic(folder / _NAMES.next(EVENT_SUFFIX), json.dumps(event, default=str).encode())


class PredictionLog:
    """The server's prediction-log buffer and its flush thread.

    ``sample_rate`` is the share of requests whose inputs and outputs are kept
    (every request gets a row); payloads over ``max_payload_chars`` are
    dropped from the row (``inputs`` null) rather than truncated into bad JSON.
    """

    def __init__(self, folder: str | os.PathLike, flush_interval: float | None = 0.5,
                 sample_rate: float = 1.0, max_payload_chars: int = 20_000, fsync: bool = True) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.flush_interval = flush_interval
        self.sample_rate = float(sample_rate)
        self.max_payload_chars = int(max_payload_chars)
        self.fsync = fsync
        self._rows: list[dict[str, Any]] = []
        self._feedback: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self.written_rows = 0
        self.segments = 0
        self.flush_cpu_s = 0.0  # CPU time spent writing segments (what logging costs the server)
        self._pid = os.getpid()
        self._thread: threading.Thread | None = None
        if flush_interval:
            self._thread = threading.Thread(target=_flush_loop, args=(weakref.ref(self), self._wake),
                                            name="workbench-predlog", daemon=True)
            self._thread.start()

    def add(self, row: dict[str, Any]) -> None:
        """Buffer one prediction row (keys of :data:`PREDICTION_SCHEMA`; ``inputs`` may be a callable)."""
        row.setdefault("ts", now_ms())
        row.setdefault("pid", self._pid)
        with self._lock:
            self._rows.append(row)

    def add_feedback(self, row: dict[str, Any]) -> None:
        """Buffer one feedback row (keys of :data:`FEEDBACK_SCHEMA`)."""
        row.setdefault("ts", now_ms())
        with self._lock:
            self._feedback.append(row)

    def pending(self) -> int:
        with self._lock:
            return len(self._rows) + len(self._feedback)

    def _materialize(self, rows: list[dict[str, Any]]) -> None:
        cap = self.max_payload_chars
        for row in rows:
            for key in ("inputs", "outputs"):
                value = row.get(key)
                if callable(value):
                    try:
                        value = value(cap)
                    except Exception:
                        value = None
                if value is not None and not isinstance(value, str):
                    value = json.dumps(value, default=str)
                row[key] = value if value is None or len(value) <= cap else None

    def flush(self) -> Path | None:
        """Write the buffered rows as segment files now; returns the prediction segment's path."""
        with self._flush_lock:
            cpu0 = time.thread_time()
            with self._lock:
                rows, self._rows = self._rows, []
                feedback, self._feedback = self._feedback, []
            written = None
            try:
                if rows:
                    self._materialize(rows)
                    table = pa.Table.from_pylist(rows, schema=PREDICTION_SCHEMA)
                    written = write_atomic(self.folder / _NAMES.next(SEGMENT_SUFFIX), table, fsync=self.fsync)
                    self.written_rows += len(rows)
                    self.segments += 1
                    rows = []
                if feedback:
                    table = pa.Table.from_pylist(feedback, schema=FEEDBACK_SCHEMA)
                    write_atomic(self.folder / _NAMES.next(FEEDBACK_SUFFIX), table, fsync=self.fsync)
                    feedback = []
            finally:  # a failed write (disk full) keeps its rows for the next flush
                if rows or feedback:
                    with self._lock:
                        self._rows[:0] = rows
                        self._feedback[:0] = feedback
                self.flush_cpu_s += time.thread_time() - cpu0
            return written

    def close(self) -> None:
        """Flush everything and stop the thread."""
        self._closed = True
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self.flush()


def _flush_loop(ref: weakref.ref, wake: threading.Event) -> None:
    while True:
        log = ref()
        if log is None or log._closed:
            return
        interval = log.flush_interval or 0.5
        del log
        wake.wait(interval)
        log = ref()
        if log is None:
            return
        try:
            log.flush()
        except Exception as exc:  # keep the rows for the next try; never kill the thread
            import sys

            print(f"workbench.serving: prediction log flush failed: {exc}", file=sys.stderr)
        if log._closed:
            return
        del log
