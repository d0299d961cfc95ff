"""Reading the governance YAML files (roles, retention policies) with plain errors."""

from __future__ import annotations

import yaml


def read_yaml_mapping(path, what: str, error: type[Exception], expected: str = "a mapping") -> dict:
    """The mapping in a YAML file; ``error`` names ``what`` the file is when it is not valid YAML or a mapping."""
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
    except yaml.YAMLError as exc:
        raise error(f"{what} {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise error(f"{what} {path} must be {expected}")
    return data
