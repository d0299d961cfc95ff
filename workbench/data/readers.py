"""Readers for the formats agencies actually send: CSV (any delimiter, common encodings,
compressed or not), Parquet, GeoParquet, GeoJSON and JSON record arrays.

``read_table(path, table, profile=...)`` reads the file, maps it onto the
canonical table through a source profile and validates it. Every record of the
file ends up in ``.valid`` or ``.rejected``; a CSV line with the wrong number of
fields is a rejected row with that reason, not a crash and not a silent skip.

Row numbers (``source_row``) count data records from 1, header excluded.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import json
import lzma
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.data.profiles import SourceProfile, empty_strings_to_null, load_profile
from workbench.data.schema import table_spec
from workbench.data.validate import ValidationResult, validate
from workbench.errors import ProfileError, ReadError, SchemaError

_COMPRESSED = {".gz": gzip.decompress, ".bz2": bz2.decompress, ".xz": lzma.decompress}
_CSV_SUFFIXES = {".csv", ".txt", ".tsv", ".psv", ".dat"}


@dataclass
class LoadResult(ValidationResult):
    """A :class:`ValidationResult` plus how the file was read (``.source``)."""

    source: dict = field(default_factory=dict)

    def summary(self) -> str:
        s = self.source
        how = ", ".join(f"{k} {s[k]!r}" for k in ("format", "encoding", "delimiter") if s.get(k))
        head = f"{s.get('path')} ({how}; profile {s.get('profile')})"
        return head + "\n" + super().summary()


def detect_format(path: Path, profile: SourceProfile) -> str:
    if profile.format and profile.format != "auto":
        return profile.format
    suffixes = [s.lower() for s in path.suffixes]
    while suffixes and (suffixes[-1] in _COMPRESSED or suffixes[-1] == ".zip"):
        suffixes.pop()
    last = suffixes[-1] if suffixes else ""
    if last in _CSV_SUFFIXES:
        return "csv"
    if last in (".parquet", ".pq", ".geoparquet"):
        return "parquet"
    if last in (".geojson", ".json"):
        return "json"
    raise ReadError(f"cannot tell the format of {path.name}: expected .csv/.txt/.tsv, .parquet, "
                    ".geojson or .json (optionally .gz/.bz2/.xz/.zip), or a profile with 'format'")


def _read_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ReadError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise ReadError(f"{path} is a folder, not a file") from None
    except OSError as exc:
        raise ReadError(f"cannot read {path}: {exc.strerror or exc}") from None
    suffix = path.suffix.lower()
    try:
        if suffix in _COMPRESSED or data[:2] == b"\x1f\x8b":
            opener = _COMPRESSED.get(suffix, gzip.decompress)
            return opener(data)
        if suffix == ".zip":
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = [n for n in archive.namelist() if not n.endswith("/")]
                if len(names) != 1:
                    raise ReadError(f"{path.name} holds {len(names)} files; expected exactly one")
                return archive.read(names[0])
    except (OSError, EOFError, lzma.LZMAError, zipfile.BadZipFile) as exc:
        raise ReadError(f"{path.name} is not a readable {suffix or 'compressed'} file: {exc}") from None
    return data


def decode(data: bytes, encoding: str | None = None) -> tuple[str, str]:
    """Bytes to text: the named encoding, or the first of UTF-8 (with or without BOM), UTF-16
    (by BOM), Windows-1252 and Latin-1 that decodes the whole file."""
    if encoding:
        try:
            return data.decode(encoding), encoding
        except (UnicodeDecodeError, LookupError) as exc:
            raise ReadError(f"file is not valid {encoding}: {exc}") from None
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="strict"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "utf-16"
    for candidate in ("utf-8", "cp1252"):
        try:
            return data.decode(candidate), candidate
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1"), "latin-1"


def sniff_delimiter(text: str) -> str:
    """The delimiter of a CSV sample among , ; | tab (csv.Sniffer, then the most consistent count)."""
    sample = text[:65536]
    lines = [ln for ln in sample.splitlines()[:50] if ln.strip()]
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=",;|\t").delimiter
    except csv.Error:
        pass
    best, best_score = ",", -1
    for delim in [",", ";", "|", "\t"]:
        counts = [ln.count(delim) for ln in lines]
        if counts and min(counts) > 0:
            score = min(counts) * (1 if len(set(counts)) == 1 else 0.5)
            if score > best_score:
                best, best_score = delim, score
    return best


def _read_csv_text(text: str, delimiter: str, quotechar: str = '"'):
    """All cells as strings. Returns (frame, bad) where bad lists (record_number, fields, expected)."""
    try:
        frame = pd.read_csv(io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False,
                            na_filter=False, quotechar=quotechar, engine="c", skip_blank_lines=True)
        return frame, []
    except pd.errors.ParserError:
        pass
    # The fast parser stops at a malformed line; the csv module reads each record so we can
    # keep the good ones and quarantine the bad ones with their record numbers.
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, quotechar=quotechar)
    header = next(reader, [])
    rows, bad = [], []
    number = 0
    for record in reader:
        if not record or (len(record) == 1 and record[0] == ""):
            continue
        number += 1
        if len(record) == len(header):
            rows.append((number, record))
        else:
            bad.append((number, record, len(header)))
    frame = pd.DataFrame([r for _, r in rows], columns=header, dtype=str)
    frame.index = pd.Index([n - 1 for n, _ in rows])
    return frame, bad


def _points_from_geojson(obj) -> pd.DataFrame:
    features = obj.get("features", []) if obj.get("type") == "FeatureCollection" else [obj]
    props = pd.DataFrame([f.get("properties") or {} for f in features])
    lon = np.full(len(features), np.nan)
    lat = np.full(len(features), np.nan)
    kind = []
    for i, feat in enumerate(features):  # one loop over features: JSON is already Python objects
        geom = feat.get("geometry") or {}
        kind.append(geom.get("type"))
        coords = geom.get("coordinates")
        if geom.get("type") == "Point" and isinstance(coords, (list, tuple)) and len(coords) >= 2:
            lon[i], lat[i] = coords[0], coords[1]
    if "lon" not in props.columns:
        props["lon"] = lon
    if "lat" not in props.columns:
        props["lat"] = lat
    props["_geometry_type"] = kind
    return props


def _read_json(data: bytes, encoding) -> pd.DataFrame:
    text, _ = decode(data, encoding)
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReadError(f"not valid JSON: {exc}") from None
    if isinstance(obj, dict) and obj.get("type") in ("FeatureCollection", "Feature"):
        return _points_from_geojson(obj)
    if isinstance(obj, dict):
        for key in ("data", "records", "results", "rows"):
            if isinstance(obj.get(key), list):
                obj = obj[key]
                break
    if not isinstance(obj, list):
        raise ReadError("JSON must be an array of records, a GeoJSON FeatureCollection, "
                        "or an object with a 'data'/'records'/'results' array")
    return pd.DataFrame.from_records([r if isinstance(r, dict) else {"_value": r} for r in obj])


def _read_parquet(path: Path) -> pd.DataFrame:
    import pyarrow.parquet as pq

    try:
        meta = pq.read_metadata(path).metadata or {}
    except Exception as exc:
        raise ReadError(f"{path.name} is not a readable Parquet file: {exc}") from None
    if b"geo" in meta:
        import geopandas as gpd

        gdf = gpd.read_parquet(path)
        return _geo_to_lonlat(gdf)
    return pq.read_table(path).to_pandas()


def _geo_to_lonlat(gdf) -> pd.DataFrame:
    """Point geometries to lon/lat columns (EPSG:4326); other geometries are reported per row."""
    if gdf.crs is not None and not gdf.crs.equals("EPSG:4326"):
        gdf = gdf.to_crs("EPSG:4326")
    geom = gdf.geometry
    kind = geom.geom_type
    frame = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    is_point = (kind == "Point").to_numpy()
    xs = np.full(len(gdf), np.nan)
    ys = np.full(len(gdf), np.nan)
    if is_point.any():
        xs[is_point] = geom[is_point].x.to_numpy()
        ys[is_point] = geom[is_point].y.to_numpy()
    if "lon" not in frame:
        frame["lon"] = xs
    if "lat" not in frame:
        frame["lat"] = ys
    frame["_geometry_type"] = kind.to_numpy()
    return frame


def read_raw(path, profile: SourceProfile) -> tuple[pd.DataFrame, list, dict]:
    """Read a file as it is (no mapping): the frame, malformed CSV records, and how it was read."""
    path = Path(path)
    fmt = detect_format(path, profile)
    info = {"path": str(path), "format": fmt, "profile": profile.name}
    bad: list = []
    if fmt == "csv":
        text, encoding = decode(_read_bytes(path), profile.csv.get("encoding"))
        delimiter = profile.csv.get("delimiter") or sniff_delimiter(text)
        info.update(encoding=encoding, delimiter=delimiter)
        frame, bad = _read_csv_text(text, delimiter, profile.csv.get("quotechar", '"'))
    elif fmt == "parquet":
        frame = _read_parquet(path)
    elif fmt == "json":
        frame = _read_json(_read_bytes(path), profile.csv.get("encoding"))
    else:
        raise ProfileError(f"profile {profile.name!r}: unknown format {fmt!r} (csv, parquet or json)")
    frame = empty_strings_to_null(frame, profile.null_values)
    return frame, bad, info


def map_and_validate(frame: pd.DataFrame, table: str, profile: SourceProfile, tz=None, *,
                     duplicates="keep_last", bad=(), info=None) -> LoadResult:
    """Apply ``profile`` to a raw frame, validate, and fold malformed records into ``rejected``."""
    tz = tz or profile.tz
    mapped, unused = profile.apply(frame, table)
    non_point = None
    if "_geometry_type" in frame.columns:
        kinds = frame["_geometry_type"].astype("str")
        non_point = kinds.notna() & (kinds != "Point")
        unused = [c for c in unused if c != "_geometry_type"]
    # records are numbered in the file, so a row's number survives the malformed lines set aside
    record_numbers = np.asarray(frame.index, dtype=np.int64) + 1
    try:
        result = validate(mapped, table, tz=tz, formats=profile.formats(), duplicates=duplicates,
                          row_numbers=record_numbers)
    except SchemaError as exc:
        found = [str(c) for c in frame.columns if c != "_geometry_type"]
        raise SchemaError(
            f"{table}: missing required column{'s' if len(exc.missing) > 1 else ''} "
            f"{', '.join(exc.missing)} (profile {profile.name!r}); the file has: "
            f"{', '.join(found) if found else '(no columns)'}", missing=exc.missing, found=found) from None
    rejected = result.rejected  # numbered by record in the file (malformed lines skipped)
    positions = np.searchsorted(record_numbers, rejected["source_row"].to_numpy())
    originals = frame.iloc[positions].reset_index(drop=True)
    rejected = pd.concat([rejected[["source_row", "reason"]], originals], axis=1)
    warnings = result.warnings.copy()
    valid = result.valid
    if non_point is not None and non_point.any():
        # A line or polygon is not an event location: keep the record, without a location, and say so.
        geom_rows = np.flatnonzero(non_point.to_numpy())
        extra = pd.DataFrame({"source_row": record_numbers[geom_rows], "column": "geometry",
                              "value": frame["_geometry_type"].iloc[geom_rows].astype(str).to_numpy(),
                              "issue": "geometry is not a point; location left missing"})
        warnings = pd.concat([warnings, extra], ignore_index=True)
    if len(bad):
        columns = list(frame.columns)
        bad_rows = pd.DataFrame({
            "source_row": [n for n, _, _ in bad],
            "reason": [f"malformed line: {len(fields)} fields, expected {expected}" for _, fields, expected in bad],
        })
        cells = pd.DataFrame([(fields + [None] * len(columns))[:len(columns)] for _, fields, _ in bad],
                             columns=columns)
        rejected = pd.concat([rejected, pd.concat([bad_rows, cells], axis=1)], ignore_index=True)
        rejected = rejected.sort_values("source_row", kind="stable").reset_index(drop=True)
    report = dict(result.report)
    report["rows"] = len(frame) + len(bad)
    report["rejected"] = len(rejected)
    if len(bad):
        reasons = dict(report.get("rejected_by_reason", {}))
        reasons["malformed line (wrong number of fields)"] = len(bad)
        report["rejected_by_reason"] = reasons
    report["warnings_by_issue"] = warnings["issue"].value_counts().to_dict() if len(warnings) else {}
    report["dropped_columns"] = unused
    source = dict(info or {})
    return LoadResult(table=result.table, valid=valid, rejected=rejected, warnings=warnings,
                      report=report, source=source)


def read_table(path, table: str | None = None, profile="canonical", tz: str | None = None, *,
               duplicates: str = "keep_last") -> LoadResult:
    """Read a file into a canonical table, validated, with the rejects and why.

    Parameters
    ----------
    path : str or Path
        CSV (any of , ; | tab; UTF-8, UTF-16, Windows-1252 or Latin-1; plain,
        .gz, .bz2, .xz or single-file .zip), Parquet, GeoParquet, GeoJSON or
        a JSON array of records.
    table : str, optional
        Canonical table; defaults to the profile's table.
    profile : str, path or SourceProfile
        Built-in name (see ``workbench.data.list_profiles()``), a YAML file,
        or a profile object. ``"canonical"`` expects canonical column names.
    tz : str, optional
        Zone of timestamps that carry none; defaults to the profile's ``tz``.
    duplicates : {"keep_last", "keep_first", "reject_all"}

    Returns
    -------
    LoadResult
        ``.valid``, ``.rejected``, ``.warnings``, ``.report`` and ``.source``.
        ``len(valid) + len(rejected)`` equals the number of records in the file.

    Examples
    --------
    >>> result = read_table("spd-alpr-pub.csv.gz", profile="spd-alpr")  # doctest: +SKIP
    >>> print(result.summary())                                          # doctest: +SKIP
    """
    profile = load_profile(profile)
    table = table or profile.table
    if table is None:
        raise ProfileError(f"profile {profile.name!r} fits any table: name the table (e.g. incidents)")
    table_spec(table)
    if profile.table is not None and profile.table != table:
        raise ProfileError(f"profile {profile.name!r} is for table {profile.table!r}, not {table!r}")
    frame, bad, info = read_raw(path, profile)
    return map_and_validate(frame, table, profile, tz, duplicates=duplicates, bad=bad, info=info)
