"""Source profiles: small YAML files that map an agency's export onto a canonical table.

A profile says how to read the file (delimiter, encoding, null markers), which
source column feeds each canonical column (with alternatives, so one profile
fits both a CSV export and the same dataset's JSON API), timestamp formats,
the agency's time zone, value maps, constants and how to derive a key for
sources that have none.

Example (the Seattle PD public ALPR export)::

    name: spd-alpr
    table: alpr_reads
    tz: America/Los_Angeles
    csv: {delimiter: "|"}
    null_values: ["NA", ""]
    columns:
      read_at: {source: dt, format: "%m/%d/%Y - %H:%M:%S"}
      plate: plate_hash
      device: device
      lon: lon
      lat: lat
    key:
      read_id: {hash: [dt, device, plate_hash, lon, lat], prefix: "spd-"}

Source names match exactly first, then ignoring case, spaces and punctuation
("Case Number" finds ``case_number``). Canonical columns the profile does not
mention are taken from a source column of the same name when there is one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import pandas as pd
import yaml

from workbench.data.schema import table_spec
from workbench.errors import ProfileError

DEFAULT_NULLS = ["", "NA", "N/A", "n/a", "NULL", "null", "None", "NaN", "nan", "#N/A"]


@dataclass
class ColumnRule:
    """How one canonical column is fed from the source."""

    sources: list[str]
    format: list[str] | None = None
    value_map: dict | None = None
    default: object = None


@dataclass
class SourceProfile:
    """A parsed source profile; see the module docstring for the YAML layout."""

    name: str
    table: str | None = None
    description: str = ""
    format: str = "auto"
    csv: dict = field(default_factory=dict)
    null_values: list[str] = field(default_factory=lambda: list(DEFAULT_NULLS))
    tz: str | None = None
    columns: dict[str, ColumnRule] = field(default_factory=dict)
    constants: dict = field(default_factory=dict)
    key: dict = field(default_factory=dict)
    categories: dict | None = None
    path: str | None = None

    @classmethod
    def from_dict(cls, data: dict, path: str | None = None) -> "SourceProfile":
        if not isinstance(data, dict) or "name" not in data:
            raise ProfileError(f"profile {path or ''} must be a mapping with at least a 'name'")
        known = {"name", "table", "description", "format", "csv", "null_values", "tz", "columns",
                 "constants", "key", "categories"}
        unknown = set(data) - known
        if unknown:
            raise ProfileError(f"profile {data['name']!r}: unknown fields {', '.join(sorted(unknown))}; "
                               f"allowed: {', '.join(sorted(known))}")
        columns = {}
        for target, rule in (data.get("columns") or {}).items():
            if isinstance(rule, (str, list)):
                rule = {"source": rule}
            if not isinstance(rule, dict) or "source" not in rule:
                raise ProfileError(f"profile {data['name']!r}: column {target!r} needs a source")
            sources = rule["source"] if isinstance(rule["source"], list) else [rule["source"]]
            fmt = rule.get("format")
            columns[target] = ColumnRule(
                sources=[str(s) for s in sources],
                format=[fmt] if isinstance(fmt, str) else fmt,
                value_map=rule.get("map"), default=rule.get("default"))
        table = data.get("table")
        if table is not None:
            table_spec(table)
        return cls(name=data["name"], table=table, description=data.get("description", ""),
                   format=data.get("format", "auto"), csv=data.get("csv") or {},
                   null_values=data.get("null_values", list(DEFAULT_NULLS)), tz=data.get("tz"),
                   columns=columns, constants=data.get("constants") or {}, key=data.get("key") or {},
                   categories=data.get("categories"), path=path)

    def formats(self) -> dict:
        return {target: rule.format for target, rule in self.columns.items() if rule.format}

    def apply(self, frame: pd.DataFrame, table: str) -> tuple[pd.DataFrame, list[str]]:
        """Rename and derive columns of ``frame`` into canonical names for ``table``.

        Returns
        -------
        mapped : DataFrame
            Canonical columns that could be fed, in the source's row order.
        unused : list of str
            Source columns that fed nothing (reported, not kept).
        """
        spec = table_spec(table)
        lookup = _name_lookup(frame.columns)
        mapped: dict[str, pd.Series] = {}
        used: set[str] = set()
        for target, rule in self.columns.items():
            source = _find(rule.sources, frame.columns, lookup)
            if source is None:
                if rule.default is not None:
                    mapped[target] = pd.Series([rule.default] * len(frame), index=frame.index)
                continue
            used.add(source)
            values = frame[source]
            if rule.value_map:
                as_text = values.astype("str").str.strip()
                values = as_text.map(lambda v, m=rule.value_map: m.get(v, v) if isinstance(v, str) else v)
            mapped[target] = values
        for name in spec.column_names:
            if name not in mapped and name in frame.columns and name not in self.columns:
                mapped[name] = frame[name]
                used.add(name)
        for target, value in self.constants.items():
            mapped[target] = pd.Series([value] * len(frame), index=frame.index)
        for target, rule in self.key.items():
            if target in mapped and mapped[target].notna().all():
                continue
            mapped[target] = self._derive_key(frame, rule, lookup)
            used.update(s for s in rule.get("hash", []) if s in frame.columns)
        if self.categories:
            mapped.update(self._categorise(mapped))
        unused = [str(c) for c in frame.columns if c not in used]
        return pd.DataFrame(mapped, index=frame.index), unused

    def _derive_key(self, frame, rule, lookup) -> pd.Series:
        """A stable key from source columns: the same row always gets the same id, so reloads upsert."""
        columns = []
        for name in rule.get("hash", []):
            found = _find([name], frame.columns, lookup)
            if found is None:
                raise ProfileError(f"profile {self.name!r}: key column {name!r} not in the file; "
                                   f"found: {', '.join(map(str, frame.columns))}")
            columns.append(frame[found].astype("str").fillna(""))
        if not columns:
            raise ProfileError(f"profile {self.name!r}: key rule needs 'hash: [source columns]'")
        joined = columns[0]
        for col in columns[1:]:
            joined = joined + "\x1f" + col
        prefix = rule.get("prefix", "")
        digests = [hashlib.blake2b(v.encode(), digest_size=10).hexdigest() for v in joined]
        return pd.Series([prefix + d for d in digests], index=frame.index, dtype="str")

    def _categorise(self, mapped) -> dict:
        rule = self.categories
        target = rule.get("target", "offense_category")
        source = rule.get("from", "offense")
        if source not in mapped:
            return {}
        table = {str(k).upper(): v for k, v in (rule.get("map") or {}).items()}
        values = mapped[source].astype("str").str.strip().str.upper()
        out = values.map(table)
        default = rule.get("default")
        if default is not None:
            out = out.where(out.notna() | values.isna(), default)
        if target in mapped:  # a category given by the source wins
            out = mapped[target].where(mapped[target].notna(), out)
        return {target: out}


def _normal(name) -> str:
    return "".join(ch for ch in str(name).lower() if ch.isalnum())


def _name_lookup(columns) -> dict:
    lookup = {}
    for c in columns:
        lookup.setdefault(_normal(c), c)
    return lookup


def _find(candidates, columns, lookup):
    for name in candidates:
        if name in columns:
            return name
    for name in candidates:
        hit = lookup.get(_normal(name))
        if hit is not None:
            return hit
    return None


def _builtin_dir():
    return resources.files("workbench.data") / "profiles"


def list_profiles() -> dict[str, str]:
    """Built-in profiles: ``{name: description}``."""
    out = {}
    for entry in sorted(_builtin_dir().iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            data = yaml.safe_load(entry.read_text())
            out[data["name"]] = " ".join(str(data.get("description", "")).split())
    return out


def load_profile(profile) -> SourceProfile:
    """A profile by built-in name, YAML path, dict or SourceProfile.

    Examples
    --------
    >>> load_profile("spd-alpr").tz
    'America/Los_Angeles'
    """
    if isinstance(profile, SourceProfile):
        return profile
    if profile is None:
        profile = "canonical"
    if isinstance(profile, dict):
        return SourceProfile.from_dict(profile)
    text = str(profile)
    path = Path(text)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise ProfileError(f"profile {path} is not valid YAML: {exc}") from None
        return SourceProfile.from_dict(data, path=str(path))
    for entry in _builtin_dir().iterdir():
        if entry.name.endswith(".yaml"):
            data = yaml.safe_load(entry.read_text())
            if data.get("name") == text:
                return SourceProfile.from_dict(data, path=entry.name)
    names = ", ".join(list_profiles())
    raise ProfileError(f"no profile {text!r}: not a YAML file and not a built-in profile ({names})")


def empty_strings_to_null(frame: pd.DataFrame, null_values) -> pd.DataFrame:
    """Replace the profile's null markers in string columns by missing values."""
    if not null_values:
        return frame
    nulls = list(null_values)
    out = {}
    for name in frame.columns:
        col = frame[name]
        if col.dtype == object or pd.api.types.is_string_dtype(col.dtype):
            text = col.astype("str")
            mask = text.str.strip().isin(nulls).to_numpy() | text.isna().to_numpy()
            if mask.any():
                col = text.where(~mask, None)
        out[name] = col
    return pd.DataFrame(out, index=frame.index)


__all__ = ["SourceProfile", "load_profile", "list_profiles", "DEFAULT_NULLS"]
