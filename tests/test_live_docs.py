"""The examples in the live modules' docstrings run and say what they show."""

import doctest
import importlib

import pytest

MODULES = ["sources", "http_source", "poller", "subscriptions", "http_feed", "feed", "service"]


@pytest.mark.parametrize("name", MODULES)
def test_live_docstring_examples_run(name):
    module = importlib.import_module(f"workbench.live.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    if name in ("poller", "subscriptions", "http_feed", "feed"):
        assert result.attempted > 0
