"""The examples in the docstrings of the A/B modules run and print what they say."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "workbench.abtest",
    "workbench.abtest.allocation",
    "workbench.abtest.analysis",
    "workbench.abtest.bandit_eval",
    "workbench.abtest.bandits",
    "workbench.abtest.metrics",
    "workbench.abtest.bayesian",
    "workbench.abtest.checks",
    "workbench.abtest.design",
    "workbench.abtest.frequentist",
    "workbench.abtest.sample",
    "workbench.abtest.sequential",
    "workbench.abtest.store",
    "workbench.store.abtest_sql",
    "workbench.store.abtest_store",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0
