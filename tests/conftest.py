"""Fixtures shared by every test: small real stores in tmp_path."""

from __future__ import annotations

import pytest

import workbench as wb


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    # Never touch the user's ~/.workbench from a test.
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("WORKBENCH_STORE", raising=False)
    monkeypatch.setenv("WORKBENCH_USER", "tester")
    yield
    wb.set_store(None)


@pytest.fixture
def store(tmp_path) -> wb.Store:
    """An empty store in a fresh temporary folder."""
    return wb.Store(tmp_path / "store.duckdb")
