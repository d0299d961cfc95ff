"""Canonical tables, validation with quarantine, readers for real formats and the store.

Names are imported lazily so that ``import workbench.data.schema`` stays cheap —
except ``validate``: the function shares its name with its module, and Python sets
the package attribute to the *module* whenever ``workbench.data.validate`` is first
imported, so the function is bound here eagerly to win that race.
"""

from workbench.data.validate import ValidationResult, validate  # noqa: E402  (see above)

_EXPORTS = {
    "TABLES": "workbench.data.schema",
    "TableSpec": "workbench.data.schema",
    "Column": "workbench.data.schema",
    "table_spec": "workbench.data.schema",
    "empty_frame": "workbench.data.schema",
    "SourceProfile": "workbench.data.profiles",
    "load_profile": "workbench.data.profiles",
    "list_profiles": "workbench.data.profiles",
    "read_table": "workbench.data.readers",
    "Store": "workbench.data.store",
}

__all__ = ["validate", "ValidationResult", *_EXPORTS]


def __getattr__(name):
    if name in _EXPORTS:
        import importlib

        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'workbench.data' has no attribute {name!r}")
