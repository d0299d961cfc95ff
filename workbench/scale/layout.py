"""The partitioned Parquet layout for tables too large for one machine.

One folder per table under a root, Hive-style, so Dask, DuckDB, Spark and
pyarrow all read it as one dataset::

    ROOT/alpr_reads/date=2025-12-18/bucket=07/part-00000.parquet
    ROOT/incidents/date=2025-12-18/part-00000.parquet

Every table is split by the UTC date of its time column (``read_at``,
``occurred_at`` ...). ALPR reads are also split into ``n_buckets`` buckets by a
stable hash of the plate (:func:`plate_bucket`): every read of a plate lands
in the same bucket on every date, so trip reconstruction runs one bucket per
task with no shuffle, and a plate search or a day's convoy search reads only
what it needs. The bucket count is written to ``ROOT/alpr_reads/_layout.json``
with the hash's name; a reader refuses a layout written with another hash.

Rows keep their input order inside each file, and files are numbered in the
order they were written, so reading a bucket back gives each plate's reads in
the order they were given.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from workbench.data.schema import table_spec
from workbench.errors import StoreError, WorkbenchError

HASH = "fnv1a32-utf8"  # the bucket hash, recorded in _layout.json
DEFAULT_BUCKETS = 64
_FNV_OFFSET = np.uint32(2166136261)
_FNV_PRIME = np.uint32(16777619)


def plate_bucket(plates, n_buckets=DEFAULT_BUCKETS) -> np.ndarray:
    """The bucket of each plate: 32-bit FNV-1a of its UTF-8 bytes, modulo ``n_buckets``.

    The hash is fixed (no seed, no ``hash()`` randomisation), so a plate gets the
    same bucket in every process, on every machine and in every release.
    Missing plates go to bucket 0.

    Parameters
    ----------
    plates : array-like of str, pandas Series or pyarrow Array
    n_buckets : int

    Returns
    -------
    numpy.ndarray of int16

    Examples
    --------
    >>> plate_bucket(["ABC1234", "ABC1234", "XYZ9"], 64).tolist()
    [3, 3, 59]
    """
    if not isinstance(n_buckets, (int, np.integer)) or not 1 <= n_buckets <= 4096:
        raise WorkbenchError(f"n_buckets must be a whole number from 1 to 4096; got {n_buckets!r}")
    arr = plates if isinstance(plates, (pa.Array, pa.ChunkedArray)) else pa.array(
        pd.Series(plates, dtype="str").array if not isinstance(plates, pd.Series) else plates.astype("str").array)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    arr = arr.cast(pa.large_string())
    n = len(arr)
    h = np.full(n, _FNV_OFFSET, dtype=np.uint32)
    if n:
        _, offsets_buf, data_buf = arr.buffers()
        offsets = np.frombuffer(offsets_buf, dtype=np.int64)[arr.offset: arr.offset + n + 1]
        data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(1, np.uint8)
        start, length = offsets[:-1], np.diff(offsets)
        # one vectorised pass per character position: plates are short
        for j in range(int(length.max(initial=0))):
            live = np.flatnonzero(length > j)
            h[live] = (h[live] ^ data[start[live] + j]) * _FNV_PRIME
        if arr.null_count:
            h[np.asarray(arr.is_null())] = 0
    return (h % np.uint32(n_buckets)).astype(np.int16)


def _time_column(table):
    return table_spec(table).time_column


def _layout_file(root, table):
    return Path(root) / table / "_layout.json"


def _next_part(folder: Path) -> int:
    numbers = [int(m.group(1)) for p in folder.glob("part-*.parquet") if (m := re.match(r"part-(\d+)", p.name))]
    return max(numbers, default=-1) + 1


def write_partitioned(frame, root, table, *, n_buckets=DEFAULT_BUCKETS, compression="zstd") -> dict:
    """Append a chunk of a canonical table to the partitioned layout under ``root``.

    Call it once per chunk (a day, a million rows): each call adds one file per
    (date[, bucket]) it touches, so memory stays that of a chunk.

    Parameters
    ----------
    frame : pandas.DataFrame or pyarrow.Table
        Rows of ``table`` with its time column timezone-aware (UTC is used for the date).
    root : str or Path
    table : str
        A canonical table name; ``alpr_reads`` is also bucketed by plate.
    n_buckets : int
        Plate buckets (reads only); must match an existing layout.
    compression : str

    Returns
    -------
    dict
        ``rows`` written and ``files`` created.

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> reads = pd.DataFrame({"read_id": ["R1", "R2"], "plate": ["ABC1234", "XYZ9"], "camera_id": ["C1", "C2"],
    ...                       "read_at": pd.to_datetime(["2025-01-01 10:00", "2025-01-02 11:00"], utc=True)})
    >>> write_partitioned(reads, tempfile.mkdtemp(), "alpr_reads", n_buckets=8)["files"]
    2
    """
    time_col = _time_column(table)
    bucketed = table == "alpr_reads"
    root = Path(root)
    folder = root / table
    folder.mkdir(parents=True, exist_ok=True)
    if bucketed:
        _check_or_write_layout(root, table, n_buckets)
    at = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    if time_col not in at.column_names:
        raise WorkbenchError(f"{table} needs its time column {time_col!r} to be partitioned by date")
    t = at.column(time_col)
    if not pa.types.is_timestamp(t.type) or t.type.tz is None:
        raise WorkbenchError(f"{table}.{time_col} must be timezone-aware timestamps; got {t.type}")
    days = np.asarray(t.cast(pa.timestamp("us", "UTC")).combine_chunks().cast(pa.int64()).to_numpy(
        zero_copy_only=False)) // 86_400_000_000
    keys = days.astype(np.int64)
    if bucketed:
        keys = keys * 4096 + plate_bucket(at.column("plate"), n_buckets)
    # a stable sort keeps each partition's rows in input order
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    cuts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1], True])
    at = at.take(pa.array(order))
    files = 0
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        key = int(sorted_keys[lo])
        day = key // 4096 if bucketed else key
        date = (np.datetime64("1970-01-01") + np.timedelta64(day, "D")).astype(str)
        part = folder / f"date={date}"
        if bucketed:
            part = part / f"bucket={key % 4096:0{len(str(n_buckets - 1))}d}"
        part.mkdir(parents=True, exist_ok=True)
        pq.write_table(at.slice(lo, hi - lo), part / f"part-{_next_part(part):05d}.parquet",
                       compression=compression)
        files += 1
    return {"rows": at.num_rows, "files": files}


def _check_or_write_layout(root, table, n_buckets):
    path = _layout_file(root, table)
    spec = {"hash": HASH, "n_buckets": int(n_buckets)}
    if path.exists():
        have = json.loads(path.read_text())
        if have != spec:
            raise WorkbenchError(f"{path.parent} was written with {have}; cannot append with {spec}")
    else:
        plate_bucket([], n_buckets)  # checks n_buckets
        path.write_text(json.dumps(spec))


def layout_of(root, table="alpr_reads") -> dict:
    """The layout facts of a table under ``root``: hash, n_buckets, dates and buckets present."""
    folder = Path(root) / table
    if not folder.is_dir():
        raise WorkbenchError(f"no partitioned {table} under {root}")
    facts = json.loads(_layout_file(root, table).read_text()) if _layout_file(root, table).exists() else {}
    if facts and facts.get("hash") != HASH:
        raise WorkbenchError(f"{folder} was bucketed with {facts.get('hash')!r}; this workbench uses {HASH!r}")
    facts["dates"] = sorted(p.name[5:] for p in folder.glob("date=*") if p.is_dir())
    return facts


def export_partitioned(store, table, root, *, n_buckets=DEFAULT_BUCKETS, batch_rows=1_000_000) -> dict:
    """Export a table of a :class:`~workbench.data.Store` to the partitioned layout, batch by batch.

    Rows go out in (time, key) order, as :meth:`Store.export_parquet` writes
    them, streamed from DuckDB in Arrow batches so memory stays that of a batch.

    Parameters
    ----------
    store : workbench.data.Store
    table : str
    root : str or Path
        The layout root (``root/table/date=.../``). An existing table folder is refused.
    n_buckets : int
        Plate buckets for ``alpr_reads``.
    batch_rows : int

    Returns
    -------
    dict
        ``rows`` and ``files`` written.
    """
    spec = table_spec(table)
    if (Path(root) / spec.name).exists():
        raise StoreError(f"{Path(root) / spec.name} exists: export to a new root (or remove it)")
    order = ", ".join(f'"{c}"' for c in (spec.time_column, *spec.key))
    try:
        reader = store._cursor().sql(f'SELECT * FROM "{spec.name}" ORDER BY {order}') \
            .to_arrow_reader(batch_rows)
    except Exception as exc:  # duckdb's own errors
        raise StoreError(f"cannot export {table}: {str(exc).splitlines()[0]}") from None
    total = {"rows": 0, "files": 0}
    for batch in reader:
        done = write_partitioned(pa.Table.from_batches([batch]), root, spec.name, n_buckets=n_buckets)
        total = {k: total[k] + done[k] for k in total}
    if total["rows"] == 0:
        (Path(root) / spec.name).mkdir(parents=True, exist_ok=True)
    return total


def _files(root, table, dates=None, buckets=None):
    """Parquet files of the layout, in (date, bucket, part) order, filtered."""
    folder = Path(root) / table
    out = []
    for day in sorted(folder.glob("date=*")):
        if dates is not None and day.name[5:] not in dates:
            continue
        subs = sorted(day.glob("bucket=*")) or [day]
        for sub in subs:
            if buckets is not None and sub.name.startswith("bucket=") and int(sub.name[7:]) not in buckets:
                continue
            out.extend(sorted(sub.glob("part-*.parquet")))
    return out


def read_files(files, columns=None) -> pd.DataFrame:
    """Read and concatenate layout files into one pandas DataFrame (strings stay Arrow-backed ``str``)."""
    tables = [pq.read_table(f, columns=columns) for f in files]
    if not tables:
        return pd.DataFrame(columns=columns or [])
    return pa.concat_tables(tables, promote_options="default").to_pandas()


def _date_range(start, end, dates):
    if start is None and end is None:
        return dates
    lo = pd.Timestamp(start).tz_localize(None).date().isoformat() if start is not None else "0000"
    hi = pd.Timestamp(end).tz_localize(None).date().isoformat() if end is not None else "9999"
    return [d for d in dates if lo <= d <= hi]


def read_partitioned(root, table="alpr_reads", *, by="date", start=None, end=None, buckets=None, columns=None):
    """Open a partitioned table as a dask DataFrame, one partition per date or per plate bucket.

    Parameters
    ----------
    root : str or Path
    table : str
    by : {"date", "bucket"}
        ``"date"``: one partition per day, rows in time order (convoys, vehicles
        near, hotspots, search). ``"bucket"`` (reads only): one partition per
        plate bucket across all dates, each plate wholly in one partition (trip
        reconstruction); the index is the bucket number with known divisions,
        which tells :func:`workbench.scale.reconstruct` that no shuffle is needed.
    start, end : time, optional
        Keep only the dates from ``start`` to ``end`` (whole days; filter rows after).
    buckets : iterable of int, optional
        Keep only these buckets (reads).
    columns : list of str, optional

    Returns
    -------
    dask.dataframe.DataFrame
    """
    import dask.dataframe as dd

    facts = layout_of(root, table)
    dates = _date_range(start, end, facts["dates"])
    if buckets is not None:
        buckets = {int(b) for b in buckets}
    files = _files(root, table, dates, buckets)
    if not files:
        raise WorkbenchError(f"no {table} files under {root} for the dates / buckets asked")
    meta = read_files(files[:1], columns).iloc[:0]
    if by == "date":
        groups = {}
        for f in files:
            groups.setdefault(f.relative_to(Path(root) / table).parts[0], []).append(f)
        parts = [groups[k] for k in sorted(groups)]
        time_col = _time_column(table)

        def load(paths):
            frame = read_files(paths, columns)
            # files of one date are split by bucket: restore time order (stable for ties)
            return frame.sort_values(time_col, kind="stable", ignore_index=True) if time_col in frame else frame

        return dd.from_map(load, parts, meta=meta, enforce_metadata=False)
    if by == "bucket":
        if "n_buckets" not in facts:
            raise WorkbenchError(f"{table} under {root} is not bucketed by plate")
        by_bucket = {}
        for f in files:
            by_bucket.setdefault(int(f.parent.name[7:]), []).append(f)
        keys = sorted(by_bucket)

        def load_bucket(key):
            frame = read_files(by_bucket[key], columns)
            frame.index = pd.Index(np.full(len(frame), key, dtype=np.int64), name="bucket")
            return frame

        meta = meta.set_axis(pd.Index([], dtype=np.int64, name="bucket"))
        return dd.from_map(load_bucket, keys, meta=meta, divisions=[*keys, keys[-1]], enforce_metadata=False)
    raise WorkbenchError(f"by must be 'date' or 'bucket'; got {by!r}")
