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

from workbench.data.schema import CAMERA_KINDS, CLEARANCE_TYPES, Column, TableSpec, table_spec
from workbench.errors import SchemaError, TimezoneError

_TRUE = {"true", "t", "yes", "y", "1", "1.0"}
_FALSE = {"false", "f", "no", "n", "0", "0.0"}

#: Spellings agencies use, mapped to the canonical choice.
_CHOICE_ALIASES = {
    "kind": {"lpr": "alpr", "alpr": "alpr", "anpr": "alpr", "cctv": "cctv", "public": "cctv",
             "city": "cctv", "community": "community", "private": "community",
             "registered": "community"},
    "clearance_type": {
        "arrest": "arrest", "cleared by arrest": "arrest", "exceptional": "exceptional",
        "exceptionally cleared": "exceptional",
        **{code.lower(): f"exceptional_{code}" for code in "ABCDE"},
        **{f"exceptional_{code}".lower(): f"exceptional_{code}" for code in "ABCDE"},
        **{f"exceptional-{code}".lower(): f"exceptional_{code}" for code in "ABCDE"},
        **{f"exceptional {code}".lower(): f"exceptional_{code}" for code in "ABCDE"},
    },
}

_TZ_SUFFIX = r"(?:Z|z|[+-]\d{2}(?::?\d{2})?|UTC|GMT)$"


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
        r = self.report
        lines = [f"{self.table}: {r['rows']:,} rows read, {r['valid']:,} valid, {r['rejected']:,} rejected"]
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


class _Problems:
    """Collects per-row reasons (reject) and caveats (warn) without a loop over rows."""

    def __init__(self, n):
        self.n = n
        # Each reason is a fixed text or a function giving the text for some row positions,
        # so texts are only built for rows that fail.
        self.reject_masks: list[tuple[np.ndarray, object]] = []
        self.warn_records: list[pd.DataFrame] = []

    def reject(self, mask, reason):
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            self.reject_masks.append((mask, reason))

    def warn(self, mask, column, values, issue):
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            idx = np.flatnonzero(mask)
            if callable(values):
                vals = np.asarray(values(idx), dtype=object)
            else:
                vals = pd.Series(values).iloc[idx].astype(str).to_numpy()
            self.warn_records.append(pd.DataFrame({
                "source_row": idx + 1, "column": column, "value": vals, "issue": issue}))

    def rejected_mask(self):
        out = np.zeros(self.n, dtype=bool)
        for mask, _ in self.reject_masks:
            out |= mask
        return out

    def reasons(self, rows: np.ndarray) -> np.ndarray:
        """Reason text for the given row positions, problems joined with '; '."""
        text = np.full(len(rows), "", dtype=object)
        for mask, reason in self.reject_masks:
            hit = mask[rows]
            if not hit.any():
                continue
            if isinstance(reason, str):
                piece = np.full(hit.sum(), reason, dtype=object)
            else:
                piece = np.asarray(reason(rows[hit]), dtype=object)
            current = text[hit]
            joined = np.where(current == "", piece, current + "; " + piece)
            text[hit] = joined
        return text


def _all_missing(n: int, dtype: str) -> pd.Series:
    if dtype == "str":  # straight from an Arrow null array: no Python objects
        import pyarrow as pa

        return pd.Series(pa.nulls(n, pa.large_string()), dtype="str")
    return pd.Series(pd.array([None] * n, dtype=dtype)) if n < 1000 else \
        pd.Series(np.full(n, np.nan)).astype(dtype)


def _blank(series: pd.Series) -> np.ndarray:
    """True where a value is missing or an empty/whitespace string."""
    missing = series.isna().to_numpy()
    if series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
        stripped = series.astype("str").str.strip()
        missing = missing | (stripped == "").fillna(True).to_numpy()
    return missing


def _show(value) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _citing(prefix: str, series: pd.Series, suffix: str = ""):
    """A reason that quotes the offending value: ``prefix + "'value'" + suffix``."""
    def text(positions):
        values = series.iloc[positions]
        return [f"{prefix}'{_show(v)}'{suffix}" for v in values]
    return text


def _out_of_range(name: str, values: pd.Series, low, high, swapped=None):
    def text(positions):
        vals = values.iloc[positions].to_numpy(dtype=float)
        ends = [" (lon and lat swapped?)" if swapped is not None and swapped[p] else "" for p in positions]
        return [f"{name} {v:g} out of range [{low:g}, {high:g}]{e}" for v, e in zip(vals, ends)]
    return text


def _to_str(series: pd.Series) -> pd.Series:
    """Strings, stripped; integral floats lose their '.0' (ids read from numeric columns)."""
    if pd.api.types.is_float_dtype(series.dtype):
        values = series.to_numpy(dtype=float)
        integral = np.isfinite(values) & (np.mod(values, 1) == 0) & (np.abs(values) < 2**53)
        out = series.astype("str")
        out[integral] = pd.Series(values[integral].astype(np.int64), index=series.index[integral]).astype("str")
        out[~np.isfinite(values)] = None
        return out.astype("str")
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.astype("str").str.lower().astype("str")
    text = series.astype("str")
    arrow = _arrow_strings(text)
    if arrow is not None:  # Arrow-backed: trim and blank-to-missing without leaving Arrow
        import pyarrow.compute as pc

        trimmed = pc.utf8_trim_whitespace(arrow)
        cleaned = pc.if_else(pc.equal(trimmed, ""), None, trimmed)
        return pd.Series(cleaned, index=series.index, dtype="str")
    out = text.str.strip()
    return out.where(out != "", None).astype("str")


def _arrow_strings(series: pd.Series):
    """The Arrow array behind a pandas ``str`` Series, or None if it is not Arrow-backed."""
    try:
        import pyarrow as pa

        array = pa.array(series.array)
    except Exception:
        return None
    return array if pa.types.is_string(array.type) or pa.types.is_large_string(array.type) else None


def _parse_datetime(series: pd.Series, name: str, tz: str | None, formats, problems: _Problems):
    """Parse to datetime64[us, UTC]; unparseable values reject the row."""
    blank = _blank(series)
    n = len(series)
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return series.dt.tz_convert("UTC").dt.as_unit("us"), blank
    if pd.api.types.is_datetime64_dtype(series.dtype):
        if tz is None:
            raise TimezoneError(
                f"{name} has timestamps without a time zone; pass tz= (the agency's zone, "
                "e.g. 'America/Chicago') so they can be converted to UTC")
        return _localize(series.dt.as_unit("us"), tz, name, problems, series), blank
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        unit = None
        for fmt in formats or ():
            if fmt in ("epoch_s", "epoch_ms", "epoch_us"):
                unit = {"epoch_s": "s", "epoch_ms": "ms", "epoch_us": "us"}[fmt]
        if unit is None:
            problems.reject(~blank, _citing(name + " is a number, not a timestamp: ", series,
                                            " (name an epoch format in the profile)"))
            return pd.Series(pd.NaT, index=series.index, dtype="datetime64[us, UTC]"), blank
        out = pd.to_datetime(series, unit=unit, utc=True, errors="coerce").dt.as_unit("us")
        return out, blank

    text = series.astype("str").str.strip()
    text = text.where(~blank, None)
    has_zone = text.str.contains(_TZ_SUFFIX, regex=True).fillna(False).to_numpy(dtype=bool)
    result = pd.Series(pd.NaT, index=series.index, dtype="datetime64[us, UTC]")
    formats = list(formats or [None])

    def parse(values: pd.Series, utc: bool):
        out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[us, UTC]" if utc else "datetime64[us]")
        todo = values.notna().to_numpy().copy()
        for fmt in formats:
            if not todo.any():
                break
            kwargs = {"format": fmt} if fmt not in (None, "auto") else {"format": "mixed"}
            if fmt in ("epoch_s", "epoch_ms", "epoch_us"):
                numbers = pd.to_numeric(values[todo], errors="coerce")
                unit = {"epoch_s": "s", "epoch_ms": "ms", "epoch_us": "us"}[fmt]
                got = pd.to_datetime(numbers, unit=unit, utc=True, errors="coerce")
                if not utc:
                    got = got.dt.tz_localize(None)
            else:
                got = pd.to_datetime(values[todo], errors="coerce", utc=utc, **kwargs)
            got = got.dt.as_unit("us")
            ok = got.notna().to_numpy()
            idx = values.index[todo][ok]
            out.loc[idx] = got[ok]
            todo[np.flatnonzero(todo)[ok]] = False
        return out

    if has_zone.any():
        result[has_zone] = parse(text[has_zone], utc=True)
    naive = ~has_zone & ~blank
    if naive.any():
        parsed = parse(text[naive], utc=False)
        if tz is None and parsed.notna().any():
            example = text[naive][parsed.notna()].iloc[0]
            raise TimezoneError(
                f"{name} has timestamps without a time zone (e.g. {example!r}); "
                "pass tz= (the agency's zone, e.g. 'America/Los_Angeles') so they can be converted to UTC")
        if parsed.notna().any():
            result[naive] = _localize(parsed, tz, name, problems, series, positions=np.flatnonzero(naive), n=n)
    bad = ~blank & result.isna().to_numpy()
    problems.reject(bad, _citing(name + " unparseable: ", series))
    return result, blank


def _localize(naive: pd.Series, tz: str, name: str, problems: _Problems, original: pd.Series,
              positions=None, n=None):
    """Local wall-clock times to UTC; DST gaps shift forward and overlaps take the first, with warnings."""
    try:
        strict = naive.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    except Exception as exc:  # an unknown zone name
        raise TimezoneError(f"unknown time zone {tz!r}: {exc}") from None
    lenient = naive.dt.tz_localize(tz, ambiguous=np.ones(len(naive), dtype=bool), nonexistent="shift_forward")
    shifted = (strict.isna() & naive.notna()).to_numpy()
    if shifted.any():
        full = np.zeros(n if n is not None else len(naive), dtype=bool)
        full[positions[shifted] if positions is not None else np.flatnonzero(shifted)] = True
        problems.warn(full, name, original,
                      "local time falls in a daylight-saving change; ambiguous times read as the first "
                      "(daylight) occurrence, skipped times moved forward")
    return lenient.dt.tz_convert("UTC").dt.as_unit("us")


def _parse_number(series, col: Column, problems):
    blank = _blank(series)
    if pd.api.types.is_bool_dtype(series.dtype):
        values = pd.Series(np.nan, index=series.index)
        problems.reject(~blank, f"{col.name} is true/false, expected a number")
        return values, blank
    values = pd.to_numeric(series, errors="coerce")
    if not pd.api.types.is_numeric_dtype(values.dtype):
        values = pd.to_numeric(series.astype("str").str.strip(), errors="coerce")
    values = values.astype(float)
    unparseable = ~blank & values.isna().to_numpy()
    problems.reject(unparseable, _citing(col.name + " is not a number: ", series))
    infinite = np.isinf(values.to_numpy())
    problems.reject(infinite, f"{col.name} is infinite")
    values[infinite] = np.nan
    return values, blank


def _range_check(values: pd.Series, col: Column, problems, skip=None):
    v = values.to_numpy(dtype=float)
    bad = np.zeros(len(v), dtype=bool)
    with np.errstate(invalid="ignore"):
        if col.minimum is not None:
            bad |= v < col.minimum
        if col.maximum is not None:
            bad |= v > col.maximum
    if skip is not None:
        bad &= ~skip
    low = col.minimum if col.minimum is not None else -np.inf
    high = col.maximum if col.maximum is not None else np.inf
    problems.reject(bad, _out_of_range(col.name, values, low, high))


def _parse_bool(series, col: Column, problems):
    blank = _blank(series)
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.astype("boolean"), blank
    text = series.astype("str").str.strip().str.lower()
    out = pd.Series(pd.NA, index=series.index, dtype="boolean")
    is_true = text.isin(_TRUE).to_numpy()
    is_false = text.isin(_FALSE).to_numpy()
    out[is_true] = True
    out[is_false] = False
    problems.reject(~blank & ~is_true & ~is_false, _citing(col.name + " is not true/false: ", series))
    return out, blank


def _parse_choice(series, col: Column, problems):
    text = _to_str(series)
    aliases = _CHOICE_ALIASES.get(col.name, {})
    canonical = {c.lower(): c for c in col.choices}
    # map the few distinct spellings, not every row
    codes, uniques = pd.factorize(text.str.lower())
    targets = np.array([aliases.get(u, canonical.get(u)) for u in uniques] + [None], dtype=object)
    mapped = pd.Series(targets[codes], index=text.index, dtype="str")
    blank = text.isna().to_numpy()
    bad = ~blank & mapped.isna().to_numpy()
    problems.reject(bad, _citing(col.name + " ", series, f" is not one of {', '.join(col.choices)}"))
    return mapped.astype("str"), blank


def validate(df: pd.DataFrame, table: str, tz: str | None = None, *, formats: dict | None = None,
             duplicates: str = "keep_last", keep_extra: bool = False) -> ValidationResult:
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
    problems = _Problems(n)
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
    dup_rejects = _duplicate_keys(spec, out, rejected_mask, duplicates)
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
    rejected.insert(0, "source_row", rows + 1)

    warnings = (pd.concat(problems.warn_records, ignore_index=True) if problems.warn_records
                else pd.DataFrame({"source_row": pd.Series([], dtype=int), "column": pd.Series([], dtype="str"),
                                   "value": pd.Series([], dtype="str"), "issue": pd.Series([], dtype="str")}))
    warnings = warnings[~np.isin(warnings["source_row"].to_numpy() - 1, rows)].reset_index(drop=True)

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


def _check_location(spec: TableSpec, source, out, problems: _Problems, report):
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


def _check_times(spec: TableSpec, out, source, problems: _Problems):
    """Order checks between timestamps of one row: warnings, since real systems break them."""
    pairs = {
        "incidents": [("reported_at", "occurred_at", "reported before it occurred")],
        "cases": [("cleared_at", "opened_at", "cleared before the case was opened")],
        "calls": [("dispatched_at", "received_at", "dispatched before the call was received"),
                  ("arrived_at", "dispatched_at", "arrived before dispatch"),
                  ("closed_at", "received_at", "closed before the call was received")],
    }.get(spec.name, [])
    for later, earlier, issue in pairs:
        a, b = out.get(later), out.get(earlier)
        if a is None or b is None:
            continue
        bad = (a < b).fillna(False).to_numpy(dtype=bool)
        problems.warn(bad, later, source[later] if later in source else a, issue)


def _normalize_plates(plates: pd.Series) -> pd.Series:
    """Upper case, letters and digits only (spaces, dashes and dots are not part of a plate)."""
    return plates.str.upper().str.replace(r"[^0-9A-Z]", "", regex=True).astype("str")


def _duplicate_keys(spec: TableSpec, out, rejected_mask, policy):
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
        return [f"duplicate {name} '{lookup[r][0]}' (row {lookup[r][1] + 1} kept)" for r in rows]
    return mask, text
