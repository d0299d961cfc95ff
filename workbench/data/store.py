"""The embedded store: one DuckDB file holding the canonical tables.

Concurrency model
-----------------
One writer, many readers. A ``Store`` opened read-write holds DuckDB's file
lock: no other *process* can open the same file while it is open (DuckDB
refuses with "could not set lock"), so run one writer process (the poller or
``workbench load``) and let others read through it — in the same process any
number of threads may call :meth:`Store.query` at once (each call uses its own
cursor), while writes are serialised by a lock. Processes that only read may
open the file together with ``Store(path, read_only=True)`` when no writer has
it open, or read the Parquet exports.

Atomicity
---------
Every :meth:`Store.append` is one transaction: the upsert of the batch, its
quarantine rows and its load record commit together or not at all. Several
appends can be grouped with ``with store.transaction(): ...``. A failure or a
killed process halfway leaves the store as it was before the batch.

Upsert
------
Rows replace stored rows with the same key (delete-then-insert inside the
transaction), so loading the same file twice leaves one copy.

Bulk loads
----------
:meth:`Store.import_parquet` loads a canonical Parquet file without passing
every row through pandas: DuckDB checks the rows against the schema in SQL
(:mod:`workbench.data.sqlcheck`) and inserts the plainly clean ones straight
from the file; rows it cannot vouch for, and rows sharing a key, are judged by
:func:`~workbench.data.validate` as any other input. The result is the same as
``append`` of the whole file (tested with hypothesis); about 1.1M rows/s on
two cores (docs/benchmarks.md).
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from workbench.data import sqlcheck
from workbench.data.sqlcheck import q as _q
from workbench.data._parse import _to_str
from workbench.data.schema import SQL_TYPES, TABLES, TableSpec, table_spec
from workbench.data.validate import ValidationResult, validate
from workbench.errors import StoreError

SCHEMA_VERSION = 1
_TABLE_BBOX_JOIN = {"alpr_reads"}  # reads from fixed cameras take the camera's position


@dataclass
class AppendResult:
    """What an append did: ``inserted`` new keys, ``replaced`` existing ones, ``rejected`` rows."""

    table: str
    inserted: int
    replaced: int
    rejected: int
    validation: ValidationResult | None = field(default=None, repr=False)
    report: dict = field(default_factory=dict, repr=False)
    rejected_rows: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def stored(self) -> int:
        return self.inserted + self.replaced


class Store:
    """A DuckDB file with the canonical tables, a quarantine and a load log.

    Parameters
    ----------
    path : str or Path
        The DuckDB file (created if absent), or ``":memory:"``.
    read_only : bool
        Open without the write lock (other read-only processes may too).

    Examples
    --------
    >>> store = Store(":memory:")
    >>> rows = pd.DataFrame({"alert_id": ["a1"], "detected_at": ["2025-03-01T22:15:00Z"],
    ...                      "lon": [-84.5], "lat": [39.1]})
    >>> store.append("gunshots", rows).inserted
    1
    >>> store.append("gunshots", rows).replaced     # the same rows again: still one copy
    1
    >>> store.count("gunshots")
    1
    """

    def __init__(self, path=":memory:", read_only: bool = False):
        self.path = str(path)
        self.read_only = read_only
        if self.path != ":memory:":
            parent = Path(self.path).expanduser().resolve().parent
            if not parent.is_dir():
                raise StoreError(f"cannot create store {self.path}: folder {parent} does not exist")
            if read_only and not Path(self.path).exists():
                raise StoreError(f"no store at {self.path}")
        try:
            self._con = duckdb.connect(self.path, read_only=read_only)
        except duckdb.IOException as exc:
            message = str(exc)
            if "lock" in message.lower():
                raise StoreError(f"store {self.path} is open for writing in another process "
                                 "(one writer at a time; open it read_only=True after it closes)") from None
            raise StoreError(f"cannot open store {self.path}: {message.splitlines()[0]}") from None
        except duckdb.Error as exc:
            raise StoreError(f"cannot open store {self.path}: {str(exc).splitlines()[0]}") from None
        self._con.execute("SET TimeZone='UTC'")
        # Every read the workbench makes says ORDER BY; letting DuckDB write rows in any order
        # makes bulk loads faster and leaner.
        self._con.execute("SET preserve_insertion_order=false")
        self._write_lock = threading.RLock()
        self._in_transaction = 0
        if not read_only:
            self._migrate()
        else:
            self._check_version()

    # ----------------------------------------------------------------- set-up
    def _migrate(self):
        con = self._con
        con.execute("CREATE TABLE IF NOT EXISTS _schema_version (version INTEGER, applied_at TIMESTAMPTZ, "
                    "description VARCHAR)")
        current = con.execute("SELECT max(version) FROM _schema_version").fetchone()[0]
        if current is not None and current > SCHEMA_VERSION:
            raise StoreError(f"store {self.path} has schema version {current}, newer than this workbench "
                             f"understands ({SCHEMA_VERSION}); upgrade rtcc-workbench")
        if current is None:
            con.execute("BEGIN TRANSACTION")
            for spec in TABLES.values():
                con.execute(self._ddl(spec))
            con.execute("CREATE TABLE IF NOT EXISTS _quarantine (loaded_at TIMESTAMPTZ, table_name VARCHAR, "
                        "source VARCHAR, source_row BIGINT, reason VARCHAR, row_json VARCHAR)")
            con.execute("CREATE TABLE IF NOT EXISTS _loads (loaded_at TIMESTAMPTZ, table_name VARCHAR, "
                        "source VARCHAR, rows_in BIGINT, inserted BIGINT, replaced BIGINT, rejected BIGINT)")
            con.execute("CREATE TABLE IF NOT EXISTS _meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
            con.execute("INSERT INTO _schema_version VALUES (?, now(), ?)",
                        [SCHEMA_VERSION, "canonical tables, quarantine, load log, meta"])
            con.execute("COMMIT")

    def _check_version(self):
        try:
            current = self._con.execute("SELECT max(version) FROM _schema_version").fetchone()[0]
        except duckdb.CatalogException:
            raise StoreError(f"{self.path} is not a workbench store (no schema version table)") from None
        if current is None or current > SCHEMA_VERSION:
            raise StoreError(f"store {self.path} has schema version {current}; this workbench reads "
                             f"version {SCHEMA_VERSION}")

    @staticmethod
    def _ddl(spec: TableSpec) -> str:
        cols = ", ".join(f"{_q(c.name)} {SQL_TYPES[c.kind]}" for c in spec.columns)
        return f"CREATE TABLE IF NOT EXISTS {_q(spec.name)} ({cols})"

    @property
    def schema_version(self) -> int:
        return int(self._con.execute("SELECT max(version) FROM _schema_version").fetchone()[0])

    def close(self):
        self._con.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"Store({self.path!r}{', read_only=True' if self.read_only else ''})"

    # ----------------------------------------------------------- transactions
    @contextmanager
    def transaction(self):
        """Group writes: everything inside commits together or not at all."""
        self._require_writable()
        with self._write_lock:
            outer = self._in_transaction == 0
            if outer:
                self._con.execute("BEGIN TRANSACTION")
            self._in_transaction += 1
            try:
                yield self
            except BaseException:
                self._in_transaction -= 1
                if outer:
                    self._con.execute("ROLLBACK")
                raise
            self._in_transaction -= 1
            if outer:
                self._con.execute("COMMIT")

    def _require_writable(self):
        if self.read_only:
            raise StoreError(f"store {self.path} is open read-only")

    # ------------------------------------------------------------------ write
    def append(self, table: str, rows, *, tz: str | None = None, source: str = "",
               duplicates: str = "keep_last") -> AppendResult:
        """Validate ``rows`` and upsert the valid ones by key, in one transaction.

        Parameters
        ----------
        table : str
            Canonical table.
        rows : DataFrame or ValidationResult
            Canonical columns (validated here), or an already validated result
            (its rejected rows go to the quarantine too).
        tz : str, optional
            Zone for timestamps without one (see :func:`~workbench.data.validate`).
        source : str
            Where the rows came from (file name, feed URL), for the load log and
            quarantine.

        Returns
        -------
        AppendResult
        """
        spec = table_spec(table)
        self._require_writable()
        result = rows if isinstance(rows, ValidationResult) else validate(rows, table, tz=tz,
                                                                         duplicates=duplicates)
        if result.table != spec.name:
            raise StoreError(f"rows were validated as {result.table}, not {table}")
        valid = result.valid[spec.column_names] if len(result.valid.columns) != len(spec.columns) \
            else result.valid
        with self.transaction():
            replaced = self._upsert(spec, valid)
            self._quarantine(spec.name, result.rejected, source)
            self._con.execute("INSERT INTO _loads VALUES (now(), ?, ?, ?, ?, ?, ?)",
                              [spec.name, source, len(result), len(valid) - replaced, replaced,
                               len(result.rejected)])
        return AppendResult(spec.name, inserted=len(valid) - replaced, replaced=replaced,
                            rejected=len(result.rejected), validation=result)

    def _upsert(self, spec: TableSpec, valid: pd.DataFrame) -> int:
        if valid.empty:
            return 0
        import pyarrow as pa

        batch = pa.Table.from_pandas(valid, preserve_index=False)
        name = f"_batch_{threading.get_ident()}"
        con = self._con
        con.register(name, batch)
        try:
            on = " AND ".join(f"t.{_q(k)} = b.{_q(k)}" for k in spec.key)
            replaced = con.execute(f"DELETE FROM {_q(spec.name)} t USING {name} b WHERE {on}").fetchone()[0]
            cols = ", ".join(_q(c) for c in spec.column_names)
            con.execute(f"INSERT INTO {_q(spec.name)} ({cols}) SELECT {cols} FROM {name}")
        finally:
            con.unregister(name)
        return int(replaced)

    def _quarantine(self, table: str, rejected: pd.DataFrame, source: str):
        if rejected is None or rejected.empty:
            return
        cells = rejected.drop(columns=["source_row", "reason"])
        row_json = [json.dumps({k: (None if pd.isna(v) else str(v)) for k, v in rec.items()})
                    for rec in cells.to_dict("records")]
        frame = pd.DataFrame({"table_name": table, "source": source,
                              "source_row": rejected["source_row"].astype("int64"),
                              "reason": rejected["reason"].astype(str), "row_json": row_json})
        name = f"_reject_{threading.get_ident()}"
        self._con.register(name, frame)
        try:
            self._con.execute(f"INSERT INTO _quarantine SELECT now(), table_name, source, source_row, reason, "
                              f"row_json FROM {name}")
        finally:
            self._con.unregister(name)

    def delete(self, table: str, where: str, params=None) -> int:
        """Delete rows matching a SQL condition; returns how many (for retention)."""
        spec = table_spec(table)
        self._require_writable()
        with self.transaction():
            n = self._con.execute(f"DELETE FROM {_q(spec.name)} WHERE {where}", params or []).fetchone()[0]
        return int(n)

    # ------------------------------------------------------------------- read
    def query(self, table: str, start=None, end=None, bbox=None, where: str | None = None,
              params=None, columns=None, limit: int | None = None) -> pd.DataFrame:
        """Rows of ``table`` in a time window and box, ordered by time then key.

        Parameters
        ----------
        table : str
        start, end : str or Timestamp, optional
            Half-open window ``[start, end)`` on the table's time column; naive
            values are read as UTC.
        bbox : (min_lon, min_lat, max_lon, max_lat), optional
            For alpr_reads, reads from fixed cameras use the camera's position.
        where : str, optional
            Extra SQL condition, with ``?`` placeholders bound from ``params``.
        columns : list of str, optional
        limit : int, optional

        Returns
        -------
        pandas.DataFrame
            Canonical dtypes (timestamps tz-aware UTC).
        """
        spec = table_spec(table)
        conds, args = [], []
        t = _q(spec.time_column)
        if start is not None:
            conds.append(f"x.{t} >= ?")
            args.append(_utc(start))
        if end is not None:
            conds.append(f"x.{t} < ?")
            args.append(_utc(end))
        source = f"{_q(spec.name)} x"
        if bbox is not None:
            if len(bbox) != 4:
                raise StoreError("bbox must be (min_lon, min_lat, max_lon, max_lat)")
            lon, lat = "x.lon", "x.lat"
            if spec.name in _TABLE_BBOX_JOIN:
                source += " LEFT JOIN cameras c ON x.camera_id = c.camera_id"
                lon, lat = "coalesce(x.lon, c.lon)", "coalesce(x.lat, c.lat)"
            conds.append(f"{lon} BETWEEN ? AND ? AND {lat} BETWEEN ? AND ?")
            args += [bbox[0], bbox[2], bbox[1], bbox[3]]
        if where:
            conds.append(f"({where})")
            args += list(params or [])
        wanted = columns or spec.column_names
        unknown = [c for c in wanted if c not in spec.column_names]
        if unknown:
            raise StoreError(f"{table} has no column {', '.join(unknown)}")
        select = ", ".join(f"x.{_q(c)}" for c in wanted)
        sql = f"SELECT {select} FROM {source}"
        if conds:
            sql += " WHERE " + " AND ".join(conds)
        sql += f" ORDER BY x.{t}, " + ", ".join(f"x.{_q(k)}" for k in spec.key)
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        try:
            frame = _fetch(self._cursor(), sql, args)
        except duckdb.Error as exc:
            raise StoreError(f"query on {table} failed: {str(exc).splitlines()[0]}") from None
        return _canonical_dtypes(frame, spec)

    def sql(self, query: str, params=None) -> pd.DataFrame:
        """Run a read query and return a DataFrame (for analyses the API does not cover)."""
        try:
            return _fetch(self._cursor(), query, params or [])
        except duckdb.Error as exc:
            raise StoreError(f"query failed: {str(exc).splitlines()[0]}") from None

    def _cursor(self):
        return self._con.cursor()

    def count(self, table: str) -> int:
        spec = table_spec(table)
        return int(self._cursor().execute(f"SELECT count(*) FROM {_q(spec.name)}").fetchone()[0])

    def quarantine(self, table: str | None = None) -> pd.DataFrame:
        """Rejected rows kept with their reasons."""
        sql = "SELECT * FROM _quarantine"
        args = []
        if table:
            sql += " WHERE table_name = ?"
            args.append(table)
        return _fetch(self._cursor(), sql + " ORDER BY loaded_at, source_row", args)

    def loads(self) -> pd.DataFrame:
        """The load log: one row per append."""
        return _fetch(self._cursor(), "SELECT * FROM _loads ORDER BY loaded_at")

    def get_meta(self, key: str, default=None):
        row = self._cursor().execute("SELECT value FROM _meta WHERE key = ?", [key]).fetchone()
        return json.loads(row[0]) if row else default

    def set_meta(self, key: str, value):
        """Store a small JSON value (e.g. a poller's watermark), transactionally."""
        self._require_writable()
        with self.transaction():
            self._con.execute("INSERT OR REPLACE INTO _meta VALUES (?, ?)", [key, json.dumps(value)])

    def info(self) -> pd.DataFrame:
        """One row per canonical table: rows, time range, rows quarantined."""
        rows = []
        cur = self._cursor()
        quarantined = dict(cur.execute("SELECT table_name, count(*) FROM _quarantine GROUP BY 1").fetchall())
        for spec in TABLES.values():
            t = _q(spec.time_column)
            stats = _fetch(cur, f"SELECT count(*) AS n, min({t}) AS first, max({t}) AS last "
                                f"FROM {_q(spec.name)}").iloc[0]
            rows.append({"table": spec.name, "rows": int(stats["n"]), "first": stats["first"], "last": stats["last"],
                         "quarantined": int(quarantined.get(spec.name, 0))})
        return pd.DataFrame(rows)

    # ---------------------------------------------------------------- parquet
    def export_parquet(self, table: str, path) -> Path:
        """Write a table to a Parquet file (overwriting it)."""
        spec = table_spec(table)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        order = ", ".join(_q(c) for c in (spec.time_column, *spec.key))
        literal = str(path).replace("'", "''")
        self._cursor().execute(f"COPY (SELECT * FROM {_q(spec.name)} ORDER BY {order}) TO '{literal}' "
                               "(FORMAT parquet, COMPRESSION zstd)")
        return path

    def import_parquet(self, table: str, path, *, batch_rows: int = 2_000_000, tz: str | None = None,
                       duplicates: str = "keep_last") -> AppendResult:
        """Load a canonical Parquet file, every row validated, as one transaction.

        A file whose columns already have the canonical types is checked by
        DuckDB (:mod:`workbench.data.sqlcheck`): rows that plainly pass are
        inserted straight from the file, and only the others go through
        :func:`~workbench.data.validate`, which keeps or rejects them with a
        reason, in batches of ``batch_rows``. Other files are validated in
        batches of ``batch_rows`` throughout. Either way rejected rows go to
        the quarantine with their row numbers in the file, duplicate keys in
        the file are handled by ``duplicates`` (see ``validate``), and
        ``AppendResult.report`` has the validation counts.
        """
        import pyarrow.parquet as pq

        spec = table_spec(table)
        self._require_writable()
        if duplicates not in ("keep_last", "keep_first", "reject_all"):
            raise ValueError(f"duplicates must be keep_last, keep_first or reject_all, not {duplicates!r}")
        if not Path(path).is_file():
            raise StoreError(f"no such file: {path}")
        try:
            schema = pq.read_schema(path)
        except Exception as exc:
            raise StoreError(f"{path} is not a readable Parquet file: {exc}") from None
        validate(schema.empty_table().to_pandas(), spec.name)  # missing required columns: SchemaError
        literal = "'" + str(path).replace("'", "''") + "'"
        types = {row[0]: row[1] for row in
                 self._con.execute(f"DESCRIBE SELECT * FROM read_parquet({literal})").fetchall()}
        nanoseconds = any(getattr(f.type, "unit", None) == "ns" for f in schema if f.name in spec.column_names)
        if "file_row_number" in types or nanoseconds or not sqlcheck.typed_columns(spec, types):
            return self._import_parquet_batches(spec, path, batch_rows, tz, duplicates)
        return self._import_typed_parquet(spec, path, literal, types, batch_rows, duplicates)

    def _import_typed_parquet(self, spec: TableSpec, path, literal: str, types: dict, batch_rows: int,
                              duplicates: str) -> AppendResult:
        """The SQL path of :meth:`import_parquet` (see :mod:`workbench.data.sqlcheck`).

        It is optimistic: plainly clean rows are inserted straight away and the
        rest judged afterwards. In the rare case that a judged key, once
        trimmed, equals an inserted row's key, the attempt is rolled back and
        the load redone judging first (exact, one more pass over the file).
        """
        if not self._in_transaction:
            try:
                with self.transaction():
                    return self._load_typed(spec, path, literal, types, batch_rows, duplicates, judge_first=False)
            except _KeyCollision:
                pass
        with self.transaction():
            return self._load_typed(spec, path, literal, types, batch_rows, duplicates, judge_first=True)

    def _load_typed(self, spec: TableSpec, path, literal: str, types: dict, batch_rows: int, duplicates: str,
                    judge_first: bool) -> AppendResult:
        con = self._con
        t = _q(spec.name)
        src = f"read_parquet({literal}, file_row_number=true)"
        present = {c for c in spec.column_names if c in types}
        clean = sqlcheck.clean_predicate(spec, present)
        keys = [_q(k) for k in spec.key]
        key_list = ", ".join(keys)
        had_rows = bool(con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0])
        # Rows for validate to judge are copied whole into a small temporary table, _wb_rows.
        # 1. Rows sharing a key with another row are judged (validate applies `duplicates`).
        #    Keys are compared by 64-bit hash: if all hashes differ, so do the keys; a collision
        #    only sends a few more rows to validate.
        ordered = np.sort(con.execute(f"SELECT hash({key_list}) AS h FROM {src}").fetchnumpy()["h"])
        n = len(ordered)
        repeated = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
        del ordered
        con.register("_wb_hashes", pd.DataFrame({"h": repeated.astype(np.uint64)}))
        try:
            shared = f"hash({key_list}) IN (SELECT h FROM _wb_hashes)" if len(repeated) else "false"
            doubtful = f"NOT ({clean}) OR {shared}" if judge_first else shared
            con.execute(f"CREATE OR REPLACE TEMP TABLE _wb_rows AS SELECT * FROM {src} WHERE {doubtful}").fetchall()
        finally:
            con.unregister("_wb_hashes")
        judged = []
        if judge_first:
            judged = self._judge_rows(spec, src, keys, batch_rows, duplicates, close_keys=True)
        n_judged = con.execute("SELECT count(*) FROM _wb_rows").fetchall()[0][0]
        outside = "file_row_number NOT IN (SELECT file_row_number FROM _wb_rows)"
        where = f"({clean})" if not judge_first else "true"
        if n_judged:
            where += f" AND {outside}"
        # 2. Plainly clean rows: replace stored rows with the same key, then insert from the file.
        replaced = 0
        if had_rows:
            on = " AND ".join(f"{t}.{k} = f.{k}" for k in keys)
            replaced = con.execute(f"DELETE FROM {t} USING (SELECT {key_list} FROM {src} WHERE {where}) f "
                                   f"WHERE {on}").fetchall()[0][0]
        columns = sqlcheck.insert_columns(spec, present)
        names = ", ".join(_q(c) for c, _ in columns)
        exprs = ", ".join(e for _, e in columns)
        clean_rows = int(con.execute(f"INSERT INTO {t} ({names}) SELECT {exprs} FROM {src} WHERE {where}"
                                     ).fetchall()[0][0])
        if not judge_first:
            if clean_rows < n - n_judged:
                # 3. Rows that were not plainly clean: validate judges them.
                con.execute(f"INSERT INTO _wb_rows SELECT * FROM {src} WHERE NOT ({clean}) AND {outside}").fetchall()
                n_judged = n - clean_rows
            if n_judged:
                judged = self._judge_rows(spec, src, keys, batch_rows, duplicates, close_keys=False)
        # 4. Judged rows: valid ones upserted, rejected ones quarantined with their reasons.
        report = _empty_report([c for c in types if c not in spec.column_names])
        if "lon" in spec.column_names and spec.location != "required":
            lon = _q("lon") if "lon" in present else "NULL"
            camera = _q("camera_id") if "camera_id" in present else "NULL"
            inserted = f"WHERE {outside}" if n_judged else ""
            reader, camera_only = con.execute(
                f"SELECT count(*) FILTER (WHERE {lon} IS NOT NULL), "
                f"count(*) FILTER (WHERE {lon} IS NULL AND {camera} IS NOT NULL) FROM {src} {inserted}"
            ).fetchall()[0]
            report["missing_location"] = clean_rows - int(reader)
            if spec.location == "camera_or_reader":
                report["location_source"] = {"reader": int(reader), "camera": int(camera_only),
                                             "none": clean_rows - int(reader) - int(camera_only)}
        rejected = 0
        for result in judged:
            replaced += self._upsert(spec, result.valid)
            self._quarantine(spec.name, result.rejected, str(path))
            rejected += len(result.rejected)
            _merge_report(report, result.report)
        rejected_rows = _concat_rejected([r.rejected for r in judged])
        stored = n - rejected
        con.execute("INSERT INTO _loads VALUES (now(), ?, ?, ?, ?, ?, ?)",
                    [spec.name, str(path), n, stored - replaced, replaced, rejected])
        con.execute("DROP TABLE _wb_rows")
        report["rows"], report["valid"], report["rejected"] = n, stored, rejected
        return AppendResult(spec.name, inserted=stored - replaced, replaced=replaced, rejected=rejected,
                            report=report, rejected_rows=rejected_rows)

    def _judge_rows(self, spec: TableSpec, src: str, keys: list[str], batch_rows: int,
                    duplicates: str, close_keys: bool) -> list[ValidationResult]:
        """Validate the rows copied into ``_wb_rows``, in batches of ``batch_rows``.

        Rows sharing a key are kept in one batch. With ``close_keys``, a judged
        row whose key, once trimmed, equals a plainly clean row's key pulls
        that row in too, so ``duplicates`` decides between them as over the
        whole file; without it (the clean rows are in the table already) such
        a key raises ``_KeyCollision``. (Beyond ``batch_rows`` judged rows,
        copies of a trimmed key in different batches are resolved by the
        upsert: the later batch replaces the earlier.)
        """
        con = self._con
        key_list = ", ".join(keys)

        trimmed_keys = []  # every judged row's key as validate reads it (text trimmed)

        def run() -> list[ValidationResult]:
            order = con.execute(f"SELECT file_row_number FROM _wb_rows ORDER BY {key_list}, file_row_number"
                                ).fetchnumpy()["file_row_number"]
            trimmed_keys.clear()
            results = []
            for lo in range(0, len(order), batch_rows):
                rows = np.sort(np.asarray(order[lo:lo + batch_rows], dtype=np.int64))
                first, last = int(rows[0]), int(rows[-1])
                frame = _fetch(con, "SELECT * FROM _wb_rows WHERE file_row_number BETWEEN ? AND ? "
                                    "ORDER BY file_row_number", [first, last])
                if len(order) > batch_rows:
                    frame = frame[np.isin(frame["file_row_number"].to_numpy(), rows)]
                frame = frame.drop(columns=["file_row_number"]).reset_index(drop=True)
                results.append(validate(frame, spec.name, duplicates=duplicates, row_numbers=rows + 1))
                trimmed_keys.append(pd.DataFrame({
                    k: _to_str(frame[k]) if spec.column(k).kind in ("id", "str") else frame[k]
                    for k in spec.key}).dropna())
            return results

        def clean_rows_with_keys(valid_keys: pd.DataFrame, copy: bool) -> int:
            con.register("_wb_keys", valid_keys)
            try:
                on = " AND ".join(f"s.{k} = v.{k}" for k in keys)
                rows = (f"FROM {src} s SEMI JOIN _wb_keys v ON {on} "
                        "WHERE s.file_row_number NOT IN (SELECT file_row_number FROM _wb_rows)")
                if copy:
                    return con.execute(f"INSERT INTO _wb_rows SELECT s.* {rows}").fetchall()[0][0]
                return con.execute(f"SELECT count(*) {rows}").fetchall()[0][0]
            finally:
                con.unregister("_wb_keys")

        # A judged key equal, once trimmed, to a plainly clean row's key is a duplicate validate must
        # see whole: whether the judged row is kept, or rejected as that key's duplicate.
        results = run()
        if not close_keys:
            for judged_keys in trimmed_keys:
                if len(judged_keys) and clean_rows_with_keys(judged_keys, copy=False):
                    raise _KeyCollision
        elif len(results) == 1 and len(trimmed_keys[0]):
            if clean_rows_with_keys(trimmed_keys[0], copy=True):
                results = run()
        return results

    def _import_parquet_batches(self, spec: TableSpec, path, batch_rows: int, tz: str | None,
                                duplicates: str) -> AppendResult:
        """Validate every row with pandas, batch by batch (files whose columns need parsing)."""
        import pyarrow.parquet as pq

        try:
            parquet = pq.ParquetFile(path)
        except Exception as exc:
            raise StoreError(f"{path} is not a readable Parquet file: {exc}") from None
        report = _empty_report([])

        def prepare(batch, offset):
            return validate(batch.to_pandas(), spec.name, tz=tz, duplicates=duplicates,
                            row_numbers=np.arange(offset + 1, offset + batch.num_rows + 1))

        totals = {"inserted": 0, "replaced": 0, "rejected": 0}
        rejected_frames = []

        def store(result):
            res = self.append(spec.name, result, source=str(path))
            for key in totals:
                totals[key] += getattr(res, key)
            _merge_report(report, result.report)
            rejected_frames.append(result.rejected)

        # Validate the next batch in a worker while DuckDB writes this one (both release the GIL
        # for most of their work), so a load costs about max(validate, insert), not the sum.
        offset = 0
        pending = None
        with ThreadPoolExecutor(max_workers=1) as worker, self.transaction():
            for batch in parquet.iter_batches(batch_size=batch_rows):
                upcoming = worker.submit(prepare, batch, offset)
                offset += batch.num_rows
                if pending is not None:
                    store(pending.result())
                pending = upcoming
            if pending is not None:
                store(pending.result())
        return AppendResult(spec.name, **totals, report=report, rejected_rows=_concat_rejected(rejected_frames))


def _empty_report(dropped_columns: list[str]) -> dict:
    """A load report with nothing counted yet (validation reports are added with _merge_report)."""
    return {"rows": 0, "valid": 0, "rejected": 0, "rejected_by_reason": {}, "warnings_by_issue": {},
            "duplicate_keys": 0, "dropped_columns": dropped_columns}


def _concat_rejected(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Rejected rows of several batches, in file order."""
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame({"source_row": pd.Series([], dtype="int64"), "reason": pd.Series([], dtype="str")})
    return pd.concat(frames, ignore_index=True).sort_values("source_row", kind="stable").reset_index(drop=True)


class _KeyCollision(Exception):
    """A judged row's key equals a row already inserted by SQL: redo the load judging first."""


def _merge_report(total: dict, part: dict):
    """Add one validation report's counts into a running total."""
    for key in ("rows", "valid", "rejected", "duplicate_keys", "missing_location"):
        if key in part:
            total[key] = total.get(key, 0) + part[key]
    for key in ("rejected_by_reason", "warnings_by_issue", "location_source"):
        if key in part:
            bucket = total.setdefault(key, {})
            for name, count in part[key].items():
                bucket[name] = bucket.get(name, 0) + count
    for name in part.get("dropped_columns", []):
        if name not in total.setdefault("dropped_columns", []):
            total["dropped_columns"].append(name)


def _fetch(cursor, sql: str, params=None) -> pd.DataFrame:
    """A query's rows as a DataFrame, through Arrow (fast, and keeps tz-aware UTC timestamps)."""
    return cursor.sql(sql, params=list(params) if params else None).to_arrow_table().to_pandas()


def _utc(value) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _canonical_dtypes(frame: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    for name in frame.columns:
        try:
            col = spec.column(name)
        except KeyError:
            continue
        if str(frame[name].dtype) != col.dtype:
            frame[name] = frame[name].astype(col.dtype)
    return frame


__all__ = ["Store", "AppendResult", "SCHEMA_VERSION"]
