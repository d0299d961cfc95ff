"""Validation with quarantine: every input row ends up valid or rejected with a plain reason.

``validate(df, table)`` types the canonical columns, converts timestamps to UTC,
checks coordinates, ranges and choices, and reports duplicate keys. It never
raises on bad *values*; it raises :class:`~workbench.errors.SchemaError` only
when required *columns* are missing, and
:class:`~workbench.errors.TimezoneError` when timestamps carry no zone and no
``tz`` was given.

The invariant: ``len(result.valid) + len(result.rejected) == len(df)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from workbench.data._parse import (
    Problems, _all_missing, _citing, _parse_bool, _parse_choice, _parse_datetime, _parse_number,
    _range_check, _to_str, _arrow_strings, _out_of_range,
)
from workbench.data.schema import TableSpec, table_spec
from workbench.errors import SchemaError


@dataclass
class ValidationResult:
    """What became of each input row.

    Attributes
    ----------
    table : str
    valid : pandas.DataFrame
        Canonical columns in schema order with canonical dtypes (timestamps
        ``datetime64[us, UTC]``), one row per accepted input row.
    rejected : pandas.DataFrame
        ``source_row`` (1-based position in the input), ``reason`` (plain
        text; several problems are joined by ``"; "``), then the original
        row's columns as given.
    warnings : pandas.DataFrame
        Rows kept with a caveat: ``source_row``, ``column``, ``value``,
        ``issue`` (for example a location at 0, 0 treated as missing).
    report : dict
        Counts: ``rows``, ``valid``, ``rejected``, ``rejected_by_reason``,
        ``warnings_by_issue``, ``duplicate_keys``, ``missing_location`` and
        ``location_source`` (alpr_reads), ``dropped_columns``.
    """

    table: str
    valid: pd.DataFrame
    rejected: pd.DataFrame
    warnings: pd.DataFrame
    report: dict = field(default_factory=dict)

    def __len__(self):
        return len(self.valid) + len(self.rejected)

    def summary(self) -> str:
        """A few plain lines for a load report."""
        return summarize(self.table, self.report)


def summarize(table: str, report: dict) -> str:
    """A validation report's counts as a few plain lines."""
    r = report
    lines = [f"{table}: {r['rows']:,} rows read, {r['valid']:,} valid, {r['rejected']:,} rejected"]
    for reason, n in r.get("rejected_by_reason", {}).items():
        lines.append(f"  rejected  {n:>9,}  {reason}")
    for issue, n in r.get("warnings_by_issue", {}).items():
        lines.append(f"  warning   {n:>9,}  {issue}")
    if "missing_location" in r:
        lines.append(f"  {r['missing_location']:,} valid rows have no coordinates "
                     "(kept; lon/lat left missing)")
    if "location_source" in r:
        parts = ", ".join(f"{k} {v:,}" for k, v in r["location_source"].items())
        lines.append(f"  location source: {parts}")
    if r.get("dropped_columns"):
        lines.append(f"  columns not in the canonical table (not kept): {', '.join(r['dropped_columns'])}")
    return "\n".join(lines)


def validate(df: pd.DataFrame, table: str, tz: str | None = None, *, formats: dict | None = None,
             duplicates: str = "keep_last", keep_extra: bool = False, row_numbers=None) -> ValidationResult:
    """Type and check ``df`` as the canonical ``table``; quarantine what fails, with a reason.

    Parameters
    ----------
    df : pandas.DataFrame
        Rows whose columns already carry canonical names (readers and source
        profiles do the renaming). Values may be strings or typed.
    table : str
        One of ``workbench.data.TABLES``.
    tz : str, optional
        IANA zone of timestamps that carry none (the agency's local time).
        Required when such timestamps occur.
    formats : dict, optional
        ``{column: strptime format or list of formats}``; ``"epoch_s"`` /
        ``"epoch_ms"`` for numbers since 1970. Unlisted columns are parsed
        as ISO 8601 and other common layouts.
    duplicates : {"keep_last", "keep_first", "reject_all"}
        What to do with rows sharing a key. Rows not kept are rejected with a
        reason naming the row that was kept; nothing is dropped silently.
    keep_extra : bool
        Keep non-canonical columns (after the canonical ones) instead of
        listing them in ``report["dropped_columns"]``.
    row_numbers : array of int, optional
        The 1-based number of each input row in its source (a file's record
        numbers when ``df`` holds some of its rows). Used for ``source_row``
        and in reasons that name another row; by default 1, 2, ... in order.

    Returns
    -------
    ValidationResult

    Raises
    ------
    SchemaError
        When required columns are missing (names them and lists what was found).
    TimezoneError
        When timestamps carry no zone and ``tz`` is None.

    Examples
    --------
    >>> import pandas as pd
    >>> rows = pd.DataFrame({"incident_id": ["1", "2"], "occurred_at": ["2024-05-01T10:00Z", "soon"],
    ...                      "offense": ["robbery", "burglary"], "lon": [-87.6, -87.7], "lat": [41.8, 41.9]})
    >>> result = validate(rows, "incidents")
    >>> len(result.valid), result.rejected["reason"].tolist()
    (1, ["occurred_at unparseable: 'soon'"])
    """
    spec = table_spec(table)
    if not isinstance(df, pd.DataFrame):
        raise SchemaError(f"validate expects a pandas DataFrame, got {type(df).__name__}")
    if duplicates not in ("keep_last", "keep_first", "reject_all"):
        raise ValueError(f"duplicates must be keep_last, keep_first or reject_all, not {duplicates!r}")
    found = [str(c) for c in df.columns]
    missing = [c for c in spec.required if c not in df.columns and c not in spec.derived]
    if missing:
        raise SchemaError(
            f"{table}: missing required column{'s' if len(missing) > 1 else ''} {', '.join(missing)}; "
            f"found: {', '.join(found) if found else '(no columns)'}",
            missing=missing, found=found)
    if df.columns.duplicated().any():
        dupes = sorted(set(df.columns[df.columns.duplicated()].astype(str)))
        raise SchemaError(f"{table}: column names appear more than once: {', '.join(dupes)}",
                          found=found)

    source = df.reset_index(drop=True)
    n = len(source)
    numbers = np.arange(1, n + 1, dtype=np.int64) if row_numbers is None else \
        np.asarray(row_numbers, dtype=np.int64)
    if len(numbers) != n:
        raise ValueError(f"row_numbers has {len(numbers)} entries for {n} rows")
    problems = Problems(n)
    formats = formats or {}
    out: dict[str, pd.Series] = {}
    blanks: dict[str, np.ndarray] = {}

    for col in spec.columns:
        if col.name in spec.derived:  # recomputed from the other columns below
            continue
        if col.name not in source.columns:
            out[col.name] = _all_missing(n, col.dtype)
            blanks[col.name] = np.ones(n, dtype=bool)
            continue
        raw = source[col.name]
        if col.kind == "datetime":
            fmts = formats.get(col.name)
            fmts = [fmts] if isinstance(fmts, str) else fmts
            values, blank = _parse_datetime(raw, col.name, tz, fmts, problems)
        elif col.kind in ("float", "int"):
            values, blank = _parse_number(raw, col, problems)
            if col.name not in ("lon", "lat"):
                _range_check(values, col, problems)
            if col.kind == "int":
                v = values.to_numpy()
                with np.errstate(invalid="ignore"):
                    fractional = np.isfinite(v) & (np.mod(v, 1) != 0)
                    huge = np.isfinite(v) & (np.abs(v) >= 2.0**53)
                problems.reject(fractional, _citing(col.name + " is not a whole number: ", raw))
                problems.reject(huge, _citing(col.name + " is too large: ", raw))
                values = values.where(~fractional & ~huge).round().astype("Int64")
        elif col.kind == "bool":
            values, blank = _parse_bool(raw, col, problems)
        elif col.choices:
            values, blank = _parse_choice(raw, col, problems)
        else:
            values = _to_str(raw)
            blank = values.isna().to_numpy()
        if not col.nullable and col.name not in ("lon", "lat"):  # locations: see _check_location
            problems.reject(blank, f"{col.name} missing")
        out[col.name] = values
        blanks[col.name] = blank

    report: dict = {"rows": n}
    _check_location(spec, source, out, problems, report)
    _check_times(spec, out, source, problems)
    if spec.name == "alpr_reads":
        out["plate"] = _normalize_plates(out["plate"])
        problems.reject((out["plate"].fillna("") == "").to_numpy() & ~blanks["plate"],
                        _citing("plate has no letters or digits: ", source["plate"]))
        if "state" in out:
            out["state"] = out["state"].str.upper().astype("str")

    rejected_mask = problems.rejected_mask()
    dup_rejects = _duplicate_keys(spec, out, rejected_mask, duplicates, numbers)
    report["duplicate_keys"] = int(dup_rejects[0].sum()) if dup_rejects else 0
    if dup_rejects:
        problems.reject(*dup_rejects)
        rejected_mask = problems.rejected_mask()

    keep = ~rejected_mask
    valid = pd.DataFrame({c.name: out[c.name] for c in spec.columns if c.name in out})
    valid = valid.loc[keep].reset_index(drop=True)
    for col in spec.columns:
        if col.name in valid.columns:
            valid[col.name] = valid[col.name].astype(col.dtype)
    extra = [c for c in source.columns if c not in spec.column_names]
    if keep_extra and extra:
        valid = pd.concat([valid, source.loc[keep, extra].reset_index(drop=True)], axis=1)
    report["dropped_columns"] = [] if keep_extra else [str(c) for c in extra]

    rows = np.flatnonzero(rejected_mask)
    rejected = source.iloc[rows].reset_index(drop=True)
    rejected.insert(0, "reason", pd.Series(problems.reasons(rows), dtype="str"))
    rejected.insert(0, "source_row", numbers[rows])

    warnings = (pd.concat(problems.warn_records, ignore_index=True) if problems.warn_records
                else pd.DataFrame({"source_row": pd.Series([], dtype=int), "column": pd.Series([], dtype="str"),
                                   "value": pd.Series([], dtype="str"), "issue": pd.Series([], dtype="str")}))
    warnings = warnings[~np.isin(warnings["source_row"].to_numpy() - 1, rows)].reset_index(drop=True)
    warnings["source_row"] = numbers[warnings["source_row"].to_numpy(dtype=np.int64) - 1]

    report["valid"] = len(valid)
    report["rejected"] = len(rejected)
    report["rejected_by_reason"] = _reason_counts(rejected["reason"])
    report["warnings_by_issue"] = warnings["issue"].value_counts().to_dict() if len(warnings) else {}
    if spec.location != "required" and "lon" in valid.columns:
        report["missing_location"] = int(valid["lon"].isna().sum())
    if "location_source" in valid.columns:
        report["location_source"] = valid["location_source"].value_counts().to_dict()
    assert len(valid) + len(rejected) == n
    return ValidationResult(table=spec.name, valid=valid, rejected=rejected, warnings=warnings, report=report)


def _reason_counts(reasons: pd.Series) -> dict:
    """Counts by kind of reason: the text before any quoted value ("lat 91.2 out of range" -> "lat out of range")."""
    if not len(reasons):
        return {}
    parts = reasons.str.split("; ").explode()
    kinds = (parts.str.replace(r"'.*?'", "…", regex=True)
             .str.replace(r"-?\d+(\.\d+)?(e[-+]?\d+)?", "#", regex=True))
    return kinds.value_counts().to_dict()


def _check_location(spec: TableSpec, source, out, problems: Problems, report):
    if "lon" not in out or "lat" not in out:
        return
    lon, lat = out["lon"], out["lat"]
    lon_v = lon.to_numpy(dtype=float)
    lat_v = lat.to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        lon_bad = np.abs(lon_v) > 180
        lat_bad = np.abs(lat_v) > 90
    swapped = lat_bad & ~lon_bad & (np.abs(lat_v) <= 180) & (np.abs(lon_v) <= 90)
    problems.reject(lon_bad, _out_of_range("lon", lon, -180, 180))
    problems.reject(lat_bad, _out_of_range("lat", lat, -90, 90, swapped=swapped))
    has_lon, has_lat = np.isfinite(lon_v), np.isfinite(lat_v)
    null_island = (lon_v == 0) & (lat_v == 0)
    half = has_lon ^ has_lat
    if spec.location == "required":
        problems.reject(~has_lon & ~has_lat, "no location: lon and lat missing")
        problems.reject(half & ~has_lon, "lon missing")
        problems.reject(half & ~has_lat, "lat missing")
        problems.reject(null_island, "location is 0, 0 (a geocoding failure, not a place)")
    else:
        def pair(idx):
            return [f"{a}, {b}" for a, b in zip(lon.iloc[idx], lat.iloc[idx])]
        problems.warn(null_island, "lon/lat", pair,
                      "location is 0, 0 (a geocoding failure); kept with location missing")
        problems.warn(half, "lon/lat", pair, "only one of lon/lat present; kept with location missing")
        clear = null_island | half
        out["lon"] = lon.where(~clear)
        out["lat"] = lat.where(~clear)
    if spec.location == "camera_or_reader":
        has_point = np.isfinite(out["lon"].to_numpy(dtype=float))
        has_camera = out["camera_id"].notna().to_numpy()
        import pyarrow as pa

        codes = np.where(has_point, 0, np.where(has_camera, 1, 2)).astype(np.int8)
        labels = pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(["reader", "camera", "none"]))
        out["location_source"] = pd.Series(labels.cast(pa.large_string()), dtype="str")


#: Timestamps of one row that should come in order: (later, earlier, the warning when they do not).
TIME_ORDER = {
    "incidents": [("reported_at", "occurred_at", "reported before it occurred")],
    "cases": [("cleared_at", "opened_at", "cleared before the case was opened")],
    "calls": [("dispatched_at", "received_at", "dispatched before the call was received"),
              ("arrived_at", "dispatched_at", "arrived before dispatch"),
              ("closed_at", "received_at", "closed before the call was received")],
}


def _check_times(spec: TableSpec, out, source, problems: Problems):
    """Order checks between timestamps of one row: warnings, since real systems break them."""
    for later, earlier, issue in TIME_ORDER.get(spec.name, []):
        a, b = out.get(later), out.get(earlier)
        if a is None or b is None:
            continue
        bad = (a < b).fillna(False).to_numpy(dtype=bool)
        problems.warn(bad, later, source[later] if later in source else a, issue)


def _normalize_plates(plates: pd.Series) -> pd.Series:
    """Upper case, letters and digits only (spaces, dashes and dots are not part of a plate)."""
    return plates.str.upper().str.replace(r"[^0-9A-Z]", "", regex=True).astype("str")


def _duplicate_keys(spec: TableSpec, out, rejected_mask, policy, numbers):
    """Rows to reject because another row has the same key; the reason names the row kept."""
    keys = pd.DataFrame({k: out[k] for k in spec.key})
    candidates = ~rejected_mask
    if not candidates.any():
        return None
    sub = keys[candidates]
    if len(spec.key) == 1:  # fast path: Arrow counts distinct keys; most batches have no duplicates
        arrow = _arrow_strings(sub[spec.key[0]])
        if arrow is not None:
            import pyarrow.compute as pc

            if pc.count_distinct(arrow, mode="all").as_py() == len(arrow):
                return None
    dup_any = sub.duplicated(keep=False).to_numpy()
    if not dup_any.any():
        return None
    positions = np.flatnonzero(candidates)[dup_any]
    dup_keys = sub[dup_any].reset_index(drop=True)
    group = dup_keys.groupby(list(spec.key), sort=False, dropna=False).ngroup().to_numpy()
    frame = pd.DataFrame({"pos": positions, "group": group})
    if policy == "keep_last":
        kept = frame.groupby("group")["pos"].transform("max").to_numpy()
    elif policy == "keep_first":
        kept = frame.groupby("group")["pos"].transform("min").to_numpy()
    else:
        kept = np.full(len(frame), -1)
    drop = positions != kept
    mask = np.zeros(len(rejected_mask), dtype=bool)
    mask[positions[drop]] = True
    key_text = dup_keys.astype(str).agg("/".join, axis=1).to_numpy()
    name = "/".join(spec.key)
    lookup = dict(zip(positions[drop], zip(key_text[drop], kept[drop])))

    def text(rows):
        if policy == "reject_all":
            return [f"duplicate {name} '{lookup[r][0]}' (every copy rejected)" for r in rows]
        return [f"duplicate {name} '{lookup[r][0]}' (row {numbers[lookup[r][1]]} kept)" for r in rows]
    return mask, text
