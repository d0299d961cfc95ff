"""Column parsers for validation: raw values to canonical dtypes, problems collected per row.

Each parser takes a column as given (strings from a CSV, typed values from
Parquet) and returns the typed column plus a mask of blanks; values that cannot
be read are recorded in a :class:`Problems` collector with a plain reason that
quotes the value. Reason texts are built only for rows that fail.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.data.schema import Column
from workbench.errors import TimezoneError

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


class Problems:
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
    # a whole number reads the same whether its column came as integers or (with gaps) as floats
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        value = int(value)
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


def _parse_datetime(series: pd.Series, name: str, tz: str | None, formats, problems: Problems):
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
    # Without a named format: ISO 8601 first (vectorised, the common case for feeds and exports),
    # then pandas' per-value guessing for whatever is left.
    formats = list(formats or ["ISO8601", None])

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


def _localize(naive: pd.Series, tz: str, name: str, problems: Problems, original: pd.Series,
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
