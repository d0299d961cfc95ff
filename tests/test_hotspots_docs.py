"""The Examples in the hotspot engine's docstrings run and give what they show."""

import doctest
import importlib
import pkgutil

import pytest

import workbench.hotspots as hotspots

MODULES = sorted(m.name for m in pkgutil.iter_modules(hotspots.__path__, "workbench.hotspots."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
