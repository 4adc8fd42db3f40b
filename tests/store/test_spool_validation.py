"""A spool file with a damaged body is quarantined and never blocks the others."""

from __future__ import annotations

import pyarrow as pa
import pytest

import workbench as wb
from workbench.store.spool import SpoolWriter, read_spool_file


def _damaged_file(spool_dir, run_id: str) -> str:
    """A spool file whose footer is intact but whose key column holds invalid UTF-8."""
    writer = SpoolWriter(spool_dir, start_thread=False)
    marker = "K" * 40  # easy to find in the file's body
    writer.add_metrics(run_id, [marker], [1.0], [0], [1_700_000_000_000])
    path = writer.flush()
    data = bytearray(path.read_bytes())
    at = data.index(marker.encode())
    data[at:at + 4] = b"\xff\xfe\xfd\xfc"
    path.write_bytes(bytes(data))
    return path.name


def test_a_damaged_body_passes_a_plain_read_but_not_validation(tmp_path):
    name = _damaged_file(tmp_path, "r1")
    read_spool_file(tmp_path / name)  # the footer is fine: a plain read succeeds
    with pytest.raises(ValueError, match="damaged metric columns"):
        read_spool_file(tmp_path / name, validate=True)


def test_a_damaged_spool_file_is_quarantined_and_everything_else_ingested(store):
    with wb.start_run(experiment="e", store=store) as before:
        before.log_metric("m", 1.0)
    store.flush()
    bad = _damaged_file(store.spool_dir, before.id)
    with wb.start_run(experiment="e", store=store) as after:
        after.log_metric("m", 2.0)
    store.flush()
    with pytest.warns(UserWarning, match=f"spool file {bad} could not be read"):
        store.sync()
    assert (store.spool_dir / "corrupt" / bad).exists()
    assert not (store.spool_dir / bad).exists()
    assert store.metric_history(before.id, "m")["value"].tolist() == [1.0]
    assert store.metric_history(after.id, "m")["value"].tolist() == [2.0]
    # Reads keep working and later records keep arriving.
    with wb.start_run(experiment="e", store=store) as later:
        later.log_metric("m", 3.0)
    assert store.count_runs("e") == 3
    assert store.metric_history(later.id, "m")["value"].tolist() == [3.0]


def test_a_file_the_checks_let_through_is_isolated_by_applying_files_one_by_one(store):
    """A record whose values DuckDB refuses fails alone; the other files go in."""
    with wb.start_run(experiment="e", store=store) as good:
        good.log_metric("m", 1.0)
    store.flush()
    writer = SpoolWriter(store.spool_dir, start_thread=False)
    writer.add({"kind": "run_update", "run_id": good.id, "end_time": "not a time"})
    bad = writer.flush().name
    with pytest.warns(UserWarning, match=f"spool file {bad} could not be read"):
        store.sync()
    assert (store.spool_dir / "corrupt" / bad).exists()
    assert store.metric_history(good.id, "m")["value"].tolist() == [1.0]
    assert store.get_run(good.id)["status"] == "FINISHED"


def test_validation_checks_the_columns(tmp_path):
    path = tmp_path / "odd.spool"
    table = pa.table({"run_id": ["r"], "key": ["k"], "value": ["text, not a number"]})
    with open(path, "wb") as fh, pa.ipc.new_file(fh, table.schema) as sink:
        sink.write_table(table)
    with pytest.raises(ValueError, match="unexpected columns"):
        read_spool_file(path, validate=True)
