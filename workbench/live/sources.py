"""Live sources: where a poller reads new and changed records from.

A source hands a poller *pages* of raw records, oldest change first, starting
from a persisted position (``state``, a small JSON-able dict the poller keeps in
the store next to the data). Three kinds cover how agencies expose their
systems:

:class:`SqlSource`
    A table or view in a database (a CAD or RMS replica in PostgreSQL; DuckDB
    files for tests and small set-ups), read incrementally on an "updated"
    column with keyset paging.
:class:`~workbench.live.http_source.HttpJsonSource`
    A JSON API: Socrata SODA conventions (``$where``, ``$order``, ``$limit``,
    ``$offset``), plain JSON arrays and GeoJSON.
:class:`DirectorySource`
    A folder where a vendor drops CSV (or JSON / Parquet) files.

Incremental reading
-------------------
Keyset sources keep ``state = {"updated": <ISO time>}``: the latest change
stored so far (the watermark). A cycle starts at ``updated - overlap`` so rows
committed late at the source with an earlier timestamp are still seen; the
rows re-read that way are harmless because the store upserts by key. Within a
cycle, pages continue after the last ``(updated, key)`` seen, so a row that
changes while a cycle pages through the table is neither skipped nor read
twice by the paging itself.
"""

from __future__ import annotations

import fnmatch
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pandas as pd

from workbench.errors import SourceError


@dataclass
class Page:
    """One batch of records from a source.

    Attributes
    ----------
    rows : pandas.DataFrame
        Raw records with canonical column names (sources rename), values as
        the source gave them.
    state : dict
        The source position to persist once this page is stored.
    origin : str
        Where the rows came from (URL, table, file), for the load log and
        quarantine.
    result : ValidationResult, optional
        Set by sources that validate themselves (files read through a
        profile); the poller then skips its own validation.
    """

    rows: pd.DataFrame
    state: dict
    origin: str
    result: object = None
    files: list = field(default_factory=list)


class Source:
    """Base class: a named reader of pages. Subclasses implement :meth:`pages`.

    Attributes
    ----------
    key : str or None
        The key column (canonical name) used to de-duplicate within a page.
    updated_col : str or None
        The canonical column that orders changes (the watermark column).
    tz : str or None
        Zone of timestamps that carry none.
    """

    key: str | None = None
    updated_col: str | None = None
    tz: str | None = None
    name: str = "source"

    def pages(self, state: dict | None, *, table: str, overlap: pd.Timedelta) -> Iterator[Page]:
        """Yield pages of records changed since ``state`` (minus ``overlap``)."""
        raise NotImplementedError

    def close(self):
        """Release connections (a no-op for stateless sources)."""


def watermark_start(state: dict | None, overlap: pd.Timedelta):
    """The first ``updated`` value a cycle reads: the watermark minus the overlap, or None."""
    if not state or not state.get("updated"):
        return None
    return pd.Timestamp(state["updated"]) - overlap


def advance_state(state: dict | None, rows: pd.DataFrame, updated_col: str, tz: str | None = None) -> dict:
    """The state after storing ``rows``: the watermark moves to their latest change, never back."""
    state = dict(state or {})
    latest = latest_change(rows, updated_col, tz)
    if latest is not None:
        current = pd.Timestamp(state["updated"]) if state.get("updated") else None
        if current is None or latest > current:
            state["updated"] = latest.isoformat()
    return state


def latest_change(rows: pd.DataFrame, updated_col: str, tz: str | None = None):
    """The latest parseable value of ``updated_col`` in ``rows`` as a UTC Timestamp, or None."""
    if updated_col not in rows.columns or rows.empty:
        return None
    values = as_utc(rows[updated_col], tz)
    latest = values.max()
    return None if pd.isna(latest) else latest


def as_utc(values: pd.Series, tz: str | None = None) -> pd.Series:
    """Parse timestamps (typed or ISO text) to UTC; unparseable values become NaT."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC")
    if pd.api.types.is_datetime64_dtype(values.dtype):
        return values.dt.tz_localize(tz or "UTC").dt.tz_convert("UTC")
    parsed = pd.to_datetime(values, errors="coerce", format="ISO8601", utc=False)
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        return parsed.dt.tz_convert("UTC")
    if pd.api.types.is_datetime64_dtype(parsed.dtype):
        return parsed.dt.tz_localize(tz or "UTC").dt.tz_convert("UTC")
    # mixed offsets come back as objects: parse again straight to UTC
    return pd.to_datetime(values, errors="coerce", format="ISO8601", utc=True)


def _quote(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


class SqlSource(Source):
    """A database table or view, read incrementally on an updated-at column.

    PostgreSQL (and any database SQLAlchemy reaches) goes through SQLAlchemy
    with the psycopg driver; ``duckdb:`` URLs are read with DuckDB's own
    driver, opened read-only per cycle so the process that writes the file is
    only locked out for the moment of a read.

    Parameters
    ----------
    url : str
        ``postgresql://user@host:port/db`` (any SQLAlchemy URL), or
        ``duckdb:///path/to/file.duckdb`` / ``duckdb:path``.
    table : str
        Table or view at the source (``schema.table`` allowed).
    key : str
        Key column at the source (its canonical name after ``columns``).
    updated_col : str
        Column that grows when a row is inserted or changed (``updated_at``;
        ``detected_at`` / ``read_at`` for append-only feeds).
    columns : dict, optional
        ``{source column: canonical column}`` renames.
    page_size : int
        Rows per page.
    timeout : float
        Seconds allowed to connect and to run one page's query.
    tz : str, optional
        Zone of timestamps without one.
    name : str, optional

    Examples
    --------
    >>> source = SqlSource("postgresql://rtcc@127.0.0.1:5432/cad", "calls",
    ...                    key="call_id", updated_col="updated_at")
    >>> source.dialect
    'postgresql'
    """

    def __init__(self, url: str, table: str, key: str, updated_col: str, *, columns: dict | None = None,
                 page_size: int = 50_000, timeout: float = 10.0, tz: str | None = None,
                 name: str | None = None):
        self.url = str(url)
        self.table = table
        self.columns = dict(columns or {})
        self.key = key
        self.updated_col = updated_col
        self.page_size = int(page_size)
        self.timeout = float(timeout)
        self.tz = tz
        self.name = name or f"{self.dialect}:{table}"
        self._engine = None
        if self.page_size < 1:
            raise SourceError(f"page_size must be at least 1, not {page_size}")

    @property
    def dialect(self) -> str:
        return self.url.split(":", 1)[0].split("+", 1)[0].lower()

    def __repr__(self):
        return f"SqlSource({_redact(self.url)!r}, {self.table!r}, key={self.key!r}, updated_col={self.updated_col!r})"

    # ------------------------------------------------------------ connecting
    def _duckdb_path(self) -> str:
        rest = self.url.split(":", 1)[1]
        return rest[3:] if rest.startswith("///") else rest.lstrip("/") if rest.startswith("//") else rest

    def _source_name(self, canonical: str) -> str:
        for src, dst in self.columns.items():
            if dst == canonical:
                return src
        return canonical

    def _get_engine(self):
        if self._engine is None:
            try:
                import sqlalchemy as sa
            except ImportError:
                raise SourceError("SqlSource needs SQLAlchemy and psycopg: pip install 'rtcc-workbench[postgres]'") \
                    from None
            url = self.url
            if url.startswith("postgresql://") or url.startswith("postgres://"):
                url = "postgresql+psycopg://" + url.split("://", 1)[1]
            connect_args = {}
            if self.dialect == "postgresql":
                connect_args = {"connect_timeout": max(1, int(round(self.timeout))),
                                "options": f"-c statement_timeout={int(self.timeout * 1000)} -c TimeZone=UTC"}
            try:
                self._engine = sa.create_engine(url, connect_args=connect_args, pool_pre_ping=True)
            except Exception as exc:  # bad URL, unknown dialect, missing driver
                raise SourceError(f"cannot use database URL {_redact(self.url)}: {_first_line(exc)}") from None
        return self._engine

    def _run(self, sql: str, params: list) -> pd.DataFrame:
        if self.dialect == "duckdb":
            import duckdb

            path = self._duckdb_path()
            if not Path(path).exists():
                raise SourceError(f"no DuckDB database at {path}")
            try:
                con = duckdb.connect(path, read_only=True)
            except duckdb.Error as exc:
                raise SourceError(f"cannot open {path}: {_first_line(exc)}") from None
            try:
                con.execute("SET TimeZone='UTC'")
                return con.sql(sql.replace("%s", "?"), params=params or None).to_arrow_table().to_pandas()
            except duckdb.Error as exc:
                raise SourceError(f"query on {self.table} in {path} failed: {_first_line(exc)}") from None
            finally:
                con.close()
        engine = self._get_engine()
        try:
            raw = engine.raw_connection()
        except Exception as exc:
            raise SourceError(f"cannot reach {_redact(self.url)}: {_first_line(exc)}") from None
        try:
            cursor = raw.cursor()
            if self.dialect == "postgresql":
                frame = self._copy_csv(raw.driver_connection, sql, params)
                raw.commit()
                return frame
            cursor.execute(sql, params)
            names = [d[0] for d in cursor.description]
            records = cursor.fetchall()
            raw.commit()
        except Exception as exc:
            try:
                raw.invalidate() if hasattr(raw, "invalidate") else None
            except Exception:
                pass
            raise SourceError(f"query on {self.table} at {_redact(self.url)} failed: {_first_line(exc)}") from None
        finally:
            try:
                raw.close()
            except Exception:
                pass
        return pd.DataFrame.from_records(records, columns=names, coerce_float=True)

    def _copy_csv(self, connection, sql: str, params: list) -> pd.DataFrame:
        """Run a query through PostgreSQL's COPY and parse the CSV with Arrow (several times faster
        than fetching Python tuples). Canonical columns get their types; anything else stays text so
        a malformed value reaches validation (and quarantine) instead of failing the page."""
        import io

        import pyarrow as pa
        import pyarrow.csv as pacsv

        from workbench.data.schema import TABLES

        buffer = io.BytesIO()
        with connection.cursor() as cur:
            with cur.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv, HEADER)", params) as copy:
                for block in copy:
                    buffer.write(block)
        if not buffer.tell():
            return pd.DataFrame()
        kinds = {c.name: c.kind for spec in TABLES.values() for c in spec.columns}
        arrow_types = {"id": pa.string(), "str": pa.string(), "float": pa.float64(), "int": pa.int64(),
                       "datetime": pa.timestamp("us", tz="UTC") if self.tz is None else pa.string()}
        header = buffer.getvalue().split(b"\n", 1)[0].decode().split(",")
        names = [h.strip('"') for h in header]
        typed = {n: arrow_types.get(kinds.get(self.columns.get(n, n)), pa.string()) for n in names}
        for n, t in typed.items():
            if kinds.get(self.columns.get(n, n)) == "bool":
                typed[n] = pa.bool_()
        options = dict(strings_can_be_null=True, quoted_strings_can_be_null=False,
                       true_values=["t"], false_values=["f"])
        for column_types in (typed, {n: pa.string() for n in names}):
            try:
                buffer.seek(0)
                table = pacsv.read_csv(buffer, convert_options=pacsv.ConvertOptions(
                    column_types=column_types, **options))
                break
            except pa.ArrowInvalid:  # a value that does not fit its type: let validation say which
                continue
        return table.to_pandas(types_mapper={pa.string(): pd.StringDtype(na_value=float("nan"))}.get)

    # ----------------------------------------------------------------- pages
    def pages(self, state: dict | None, *, table: str, overlap: pd.Timedelta) -> Iterator[Page]:
        """Yield pages ordered by (updated, key) from the watermark minus ``overlap``."""
        u = _quote(self._source_name(self.updated_col))
        k = _quote(self._source_name(self.key))
        target = ".".join(_quote(p) for p in self.table.split("."))
        base = f"SELECT * FROM {target}"
        start = watermark_start(state, overlap)
        last = None
        while True:
            if last is not None:
                where, params = f" WHERE {u} > %s OR ({u} = %s AND {k} > %s)", [last[0], last[0], last[1]]
            elif start is not None:
                where, params = f" WHERE {u} >= %s", [start.to_pydatetime()]
            else:
                where, params = f" WHERE {u} IS NOT NULL", []
            sql = f"{base}{where} ORDER BY {u}, {k} LIMIT {self.page_size}"
            frame = self._run(sql, params)
            frame = frame.rename(columns=self.columns)
            if frame.empty:
                return
            state = advance_state(state, frame, self.updated_col, self.tz)
            tail = frame.iloc[-1]
            last_u = tail[self.updated_col]
            last_u = last_u.to_pydatetime() if isinstance(last_u, pd.Timestamp) else last_u
            last = (last_u, _py(tail[self.key]))
            yield Page(rows=frame, state=state, origin=f"{_redact(self.url)} {self.table}")
            if len(frame) < self.page_size:
                return

    def close(self):
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


class DirectorySource(Source):
    """A folder of vendor file drops, each file ingested once.

    A file is read only when its name matches ``pattern``, it is not hidden or
    a temporary name (``.part``, ``.tmp``, ``~``), and it has not changed for
    ``settle_s`` seconds, so a file still being written is never read half
    way. Which files were ingested (name, size, modification time) is kept in
    the poller's state, committed with the file's rows: a restart neither
    skips nor re-reads a file; a file replaced by a new version is read again
    (its rows are upserted).

    Parameters
    ----------
    path : str or Path
        The drop folder.
    pattern : str
        Glob for file names, e.g. ``"*.csv"``.
    profile : str or SourceProfile
        Source profile mapping the vendor's columns (see
        ``workbench.data.list_profiles()``).
    settle_s : float
        Seconds a file must be unchanged before it is read.
    tz : str, optional
        Zone of timestamps without one (default: the profile's).

    Examples
    --------
    >>> DirectorySource("/srv/drops/alpr", "*.csv", profile="canonical").pattern
    '*.csv'
    """

    _TEMPORARY = (".part", ".tmp", ".partial", ".crdownload", "~")

    def __init__(self, path, pattern: str = "*.csv", *, profile="canonical", settle_s: float = 1.0,
                 tz: str | None = None, name: str | None = None, key: str | None = None,
                 updated_col: str | None = None):
        self.path = Path(path)
        self.pattern = pattern
        self.profile = profile
        self.settle_s = float(settle_s)
        self.tz = tz
        self.key = key
        self.updated_col = updated_col
        self.name = name or f"dir:{self.path}"

    def __repr__(self):
        return f"DirectorySource({str(self.path)!r}, {self.pattern!r})"

    def ready_files(self, state: dict | None) -> list[Path]:
        """Files to read now: matching, settled, and not ingested in this version before."""
        if not self.path.is_dir():
            raise SourceError(f"drop folder {self.path} does not exist")
        seen = (state or {}).get("files", {})
        now = time.time()
        ready = []
        for entry in sorted(os.scandir(self.path), key=lambda e: e.name):
            name = entry.name
            if name.startswith(".") or name.endswith(self._TEMPORARY) or not fnmatch.fnmatch(name, self.pattern):
                continue
            try:
                stat = entry.stat()
            except FileNotFoundError:  # moved away between listing and stat
                continue
            if not entry.is_file() or now - stat.st_mtime < self.settle_s:
                continue
            if seen.get(name) == [stat.st_size, stat.st_mtime_ns]:
                continue
            ready.append(Path(entry.path))
        return ready

    def pages(self, state: dict | None, *, table: str, overlap: pd.Timedelta) -> Iterator[Page]:
        """One page per settled, new file, in name order."""
        from workbench.data.readers import read_table

        state = {"files": dict((state or {}).get("files", {}))}
        for path in self.ready_files(state):
            stat = path.stat()
            try:
                result = read_table(path, table, profile=self.profile, tz=self.tz)
            except FileNotFoundError:
                continue
            if path.stat().st_mtime_ns != stat.st_mtime_ns:  # rewritten while we read: next cycle
                continue
            state = {"files": {**state["files"], path.name: [stat.st_size, stat.st_mtime_ns]}}
            yield Page(rows=result.valid, state=state, origin=str(path), result=result, files=[path.name])


def _py(value):
    """A NumPy / pandas scalar as a plain Python value (for driver parameters)."""
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value.item() if hasattr(value, "item") else value


def _redact(url: str) -> str:
    """A URL without its password, for messages and logs."""
    if "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}@{host}"


def _first_line(exc) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


__all__ = ["Source", "Page", "SqlSource", "DirectorySource", "advance_state", "watermark_start", "as_utc"]
