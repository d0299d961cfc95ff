"""The runnable examples in the trajectory engine's docstrings."""

import doctest
import importlib

import pytest

MODULES = ["workbench.trajectories.plates", "workbench.trajectories.hotlists"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
