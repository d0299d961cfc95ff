"""Canonical tables, validation with quarantine, readers for real formats and the store."""

from workbench.data.schema import TABLES, TableSpec, Column, table_spec, empty_frame
from workbench.data.validate import ValidationResult, validate
from workbench.data.profiles import SourceProfile, load_profile, list_profiles
from workbench.data.readers import read_table
from workbench.data.store import Store

__all__ = [
    "TABLES", "TableSpec", "Column", "table_spec", "empty_frame",
    "ValidationResult", "validate",
    "SourceProfile", "load_profile", "list_profiles",
    "read_table", "Store",
]
