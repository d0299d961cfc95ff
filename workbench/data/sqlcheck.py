"""The schema's checks as DuckDB SQL, for loading typed canonical Parquet without pandas.

:func:`~workbench.data.validate` is the reference: it reads any input and
explains every rejection. Loading a large, already typed Parquet file through
it costs more than the insert itself, so :meth:`Store.import_parquet` asks
DuckDB first, over the file, which rows are *plainly clean*: rows that
``validate`` would keep exactly as they are (no rejection, no warning, no value
changed except the derived ``location_source``). Those are inserted straight
from the file by SQL. Every other row — whatever is missing, out of range,
padded with spaces, not yet normalised, or shares a key — goes through
``validate``, which decides and gives the reason.

The SQL test is deliberately conservative: it may send a good row to
``validate`` (a plate in lower case, text ending in a non-ASCII letter), never
the reverse. So the two paths cannot disagree about what is rejected or why;
``tests/test_data_sqlcheck.py`` checks with hypothesis that loading a file
either way stores the same rows and quarantines the same rows with the same
reasons.

Only files whose columns already have the canonical types qualify
(:func:`typed_columns`); anything else (timestamps as text, ids as numbers,
timestamps without a zone) is loaded through ``validate`` in batches.
"""

from __future__ import annotations

from workbench.data.schema import TableSpec
from workbench.data.validate import TIME_ORDER

#: DuckDB types a Parquet column may have, per column kind, to be checked in SQL.
ACCEPTED_TYPES = {
    "id": {"VARCHAR"},
    "str": {"VARCHAR"},
    "datetime": {"TIMESTAMP WITH TIME ZONE"},
    "float": {"DOUBLE", "FLOAT", "TINYINT", "SMALLINT", "INTEGER", "BIGINT"},
    "int": {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER"},
    "bool": {"BOOLEAN"},
}

_EXACT_INT = 2 ** 53  # validate rejects whole numbers it cannot hold exactly in a float


def q(name: str) -> str:
    """Quote an identifier (DuckDB reserves words such as ``at``)."""
    return '"' + name.replace('"', '""') + '"'


def typed_columns(spec: TableSpec, file_types: dict[str, str]) -> bool:
    """True when every canonical column the file has is of a type the SQL checks cover.

    ``file_types`` maps column name to DuckDB type (from ``DESCRIBE``).
    Timestamps must carry a zone (``TIMESTAMPTZ``); naive ones need
    ``validate``'s ``tz`` handling.
    """
    for col in spec.columns:
        if col.name in spec.derived or col.name not in file_types:
            continue
        if file_types[col.name] not in ACCEPTED_TYPES[col.kind]:
            return False
    return True


def _plain_text(c: str) -> str:
    """Text that trimming leaves alone and that is not blank.

    The first and last characters are printable ASCII other than space
    (byte comparisons, so DuckDB can often decide a whole row group from its
    statistics). A value starting or ending with anything else (whitespace,
    a non-ASCII letter) is left to ``validate``.
    """
    return (f"({c} >= '!' AND {c} < chr(127) AND right({c}, 1) >= '!' AND right({c}, 1) < chr(127))")


def clean_predicate(spec: TableSpec, present: set[str]) -> str:
    """A SQL condition, never NULL, that holds only for rows ``validate`` keeps unchanged.

    ``present``: the canonical columns the file has (others are missing, i.e. NULL).
    """
    terms: list[str] = []
    for col in spec.columns:
        name = col.name
        if name in spec.derived:
            continue
        c = q(name)
        location = name in ("lon", "lat")
        if name not in present:
            if not col.nullable and not location:
                return "false"  # every row misses a required value: validate says so
            continue
        if col.kind in ("id", "str"):
            if spec.name == "alpr_reads" and name == "plate":
                value = f"regexp_full_match({c}, '[0-9A-Z]+')"  # already normalised
            elif col.choices:
                value = f"{c} IN ({', '.join(_literal(v) for v in col.choices)})"
            else:
                value = _plain_text(c)
                if spec.name == "alpr_reads" and name == "state":  # validate upper-cases states
                    value = f"regexp_full_match({c}, '[!-`{{-~]+')"  # printable ASCII, no lower case
                elif spec.name == "alpr_reads" and name == "plate_raw" and "plate" in present:
                    # most raw plates are the plate itself, which must be plain anyway: a cheap test first
                    value = f"{c} = {q('plate')} OR {value}"
        elif col.kind == "datetime":
            value = "true"  # a typed, zoned timestamp is stored as it is by either path
        elif col.kind == "float":
            # NaN is missing to validate: not plainly clean. DuckDB orders NaN above every number,
            # so two bounds exclude NaN and infinities without isfinite (one test less per row).
            bounds = [f"{c} >= {col.minimum!r}"] if col.minimum is not None and not location else []
            bounds += [f"{c} <= {col.maximum!r}"] if col.maximum is not None and not location else []
            value = " AND ".join(bounds) if len(bounds) == 2 else " AND ".join([f"isfinite({c})", *bounds])
        elif col.kind == "int":
            value = f"{c} > -{_EXACT_INT} AND {c} < {_EXACT_INT}"
            if col.minimum is not None:
                value += f" AND {c} >= {col.minimum!r}"
            if col.maximum is not None:
                value += f" AND {c} <= {col.maximum!r}"
        else:  # bool
            value = "true"
        if location:
            continue  # lon/lat are judged as a pair below
        if col.nullable:
            terms.append(f"({c} IS NULL OR ({value}))")
        else:
            terms.append(f"({c} IS NOT NULL AND {value})")
    terms.extend(_location_terms(spec, present))
    for later, earlier, _ in TIME_ORDER.get(spec.name, []):
        if later in present and earlier in present:
            terms.append(f"({q(later)} IS NULL OR {q(earlier)} IS NULL OR {q(later)} >= {q(earlier)})")
    if not terms:
        return "true"
    return "coalesce(" + "\n  AND ".join(terms) + ", false)"


def _location_terms(spec: TableSpec, present: set[str]) -> list[str]:
    if "lon" not in {c.name for c in spec.columns}:
        return []
    has = {"lon", "lat"} & present
    if spec.location == "required" and has != {"lon", "lat"}:
        return ["false"]
    if not has:
        return []
    if has != {"lon", "lat"}:  # one of the pair: validate warns and clears it where it is set
        only = q(next(iter(has)))
        return [f"({only} IS NULL)"]
    lon, lat = q("lon"), q("lat")
    point = (f"(isfinite({lon}) AND isfinite({lat}) AND {lon} BETWEEN -180 AND 180 "
             f"AND {lat} BETWEEN -90 AND 90 AND NOT ({lon} = 0 AND {lat} = 0))")
    if spec.location == "required":
        return [f"({lon} IS NOT NULL AND {lat} IS NOT NULL AND {point})"]
    return [f"(({lon} IS NULL AND {lat} IS NULL) OR ({lon} IS NOT NULL AND {lat} IS NOT NULL AND {point}))"]


def insert_columns(spec: TableSpec, present: set[str]) -> list[tuple[str, str]]:
    """(column, SQL expression) for inserting plainly clean rows: as they are, derived ones computed."""
    out = []
    for col in spec.columns:
        if col.name == "location_source":
            lon = q("lon") if "lon" in present else "NULL"
            camera = q("camera_id") if "camera_id" in present else "NULL"
            out.append((col.name, f"CASE WHEN {lon} IS NOT NULL THEN 'reader' "
                                  f"WHEN {camera} IS NOT NULL THEN 'camera' ELSE 'none' END"))
        elif col.name in present:
            out.append((col.name, q(col.name)))
    return out


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


__all__ = ["ACCEPTED_TYPES", "typed_columns", "clean_predicate", "insert_columns", "q"]
