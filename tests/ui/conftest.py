"""A small real store with two experiments, shared read-only by a test module; a fresh copy
for tests that change it."""

from __future__ import annotations

import pytest

import workbench as wb
from workbench.ui._fixtures import build_ui_store, copy_store_folder


@pytest.fixture(scope="session")
def _ui_store_template(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ui-store")
    store = build_ui_store(folder / "ui.duckdb")
    store.close()
    return folder


@pytest.fixture
def ui_store(_ui_store_template, tmp_path) -> wb.Store:
    """A private copy of the UI test store (tests may delete runs and edit tags)."""
    dest = tmp_path / "copy"
    copy_store_folder(_ui_store_template, dest)
    return wb.Store(dest / "ui.duckdb")
