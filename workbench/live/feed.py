"""``workbench feed``: replay a scenario as live agency systems, in accelerated real time.

The replay turns each table of a scenario into the stream of record versions a
real system would produce, in scenario time:

- **calls**: inserted when received (no dispatch, arrival, close or
  disposition yet), updated when closed;
- **cases**: opened (status ``open``), updated when cleared;
- **incidents**: inserted when reported; **gunshots** when detected;
  **alpr_reads** when read; **cameras** all at the start.

Scenario time runs ``speed`` times faster than the wall clock from ``start``.
Tables with an ``updated_at`` column get the wall-clock time of the write (as a
database replica stamps changes), so pollers can follow them by watermark;
gunshots and ALPR reads are append-only and are followed on ``detected_at`` /
``read_at``.

Targets: ``postgresql://…`` (tables created with primary keys, upserted),
``duckdb:PATH`` (a DuckDB file, opened per tick so readers get their turn),
``http://127.0.0.1:PORT`` (a SODA endpoint, :mod:`workbench.live.http_feed`)
and ``dir:PATH`` (CSV drops, one folder per table, written then renamed so a
poller never sees half a file).
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.data.schema import table_spec
from workbench.errors import SourceError

#: The tables the feed replays, with the scenario-time column that makes each version due.
REPLAYED = ("cameras", "incidents", "cases", "calls", "gunshots", "alpr_reads")


def record_versions(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The versions of each record a live system would write, with ``_due`` (scenario time, UTC).

    Parameters
    ----------
    table : str
    frame : pandas.DataFrame
        The canonical table as the scenario holds it (its final state).

    Returns
    -------
    pandas.DataFrame
        Canonical columns plus ``_due``, sorted by ``_due``.

    Examples
    --------
    >>> calls = pd.DataFrame({"call_id": ["c1"], "received_at": [pd.Timestamp("2025-01-01 10:00", tz="UTC")],
    ...                       "call_type": ["alarm"], "closed_at": [pd.Timestamp("2025-01-01 11:00", tz="UTC")]})
    >>> versions = record_versions("calls", calls)
    >>> versions["closed_at"].isna().tolist(), versions["_due"].dt.hour.tolist()
    ([True, False], [10, 11])
    """
    spec = table_spec(table)
    frame = frame.reset_index(drop=True)
    if table == "calls":
        opened = frame.copy()
        for col in ("dispatched_at", "arrived_at", "closed_at", "disposition"):
            if col in opened:
                opened[col] = opened[col].where(pd.Series(False, index=opened.index))
        opened["_due"] = frame["received_at"]
        ends = [frame[c] for c in ("closed_at", "arrived_at", "dispatched_at") if c in frame]
        end = ends[0].fillna(ends[1]).fillna(ends[2]) if len(ends) == 3 else (ends[0] if ends else None)
        versions = [opened]
        if end is not None:
            closed = frame[end.notna()].copy()
            closed["_due"] = end[end.notna()]
            versions.append(closed)
    elif table == "cases":
        opened = frame.copy()
        for col in ("cleared_at", "clearance_type"):
            if col in opened:
                opened[col] = opened[col].where(pd.Series(False, index=opened.index))
        if "status" in opened:
            opened["status"] = "open"
        opened["_due"] = frame["opened_at"]
        versions = [opened]
        if "cleared_at" in frame:
            cleared = frame[frame["cleared_at"].notna()].copy()
            cleared["_due"] = cleared["cleared_at"]
            versions.append(cleared)
    elif table == "incidents":
        due = frame["reported_at"].fillna(frame["occurred_at"]) if "reported_at" in frame else frame["occurred_at"]
        versions = [frame.assign(_due=due)]
    elif table == "cameras":
        versions = [frame.assign(_due=pd.Timestamp("1970-01-01", tz="UTC"))]
    else:
        versions = [frame.assign(_due=frame[spec.time_column])]
    out = pd.concat(versions, ignore_index=True)
    out["_due"] = pd.to_datetime(out["_due"], utc=True)
    return out.sort_values("_due", kind="stable").reset_index(drop=True)


class Replay:
    """Record versions of a scenario, released as scenario time passes.

    Parameters
    ----------
    tables : dict
        ``{table name: canonical DataFrame}`` (e.g. ``scenario.tables``).
    start : str or Timestamp, optional
        Scenario time at which the replay begins (default: the start of the
        ALPR period, so every table is active). Versions due before it are
        released on the first tick when ``backfill`` is true, else skipped.
    speed : float
        Scenario seconds per wall-clock second.
    backfill : bool
    """

    def __init__(self, tables: dict, start=None, speed: float = 60.0, backfill: bool = False):
        if speed <= 0:
            raise SourceError(f"speed must be positive, not {speed}")
        self.versions = {name: record_versions(name, frame) for name, frame in tables.items()
                         if name in REPLAYED and frame is not None and len(frame)}
        if start is None:
            reads = self.versions.get("alpr_reads")
            start = reads["_due"].iloc[0].floor("D") if reads is not None else \
                min(v["_due"].iloc[-1] for v in self.versions.values()).floor("D")
        self.start = _utc(start)
        self._due = {name: v["_due"].dt.tz_localize(None).to_numpy("datetime64[us]")
                     for name, v in self.versions.items()}
        self.speed = float(speed)
        self.backfill = backfill
        first = np.datetime64(self.start.tz_localize(None), "us")
        self._position = {name: 0 if backfill else int(np.searchsorted(due, first, side="right"))
                          for name, due in self._due.items()}
        if "cameras" in self._position:
            self._position["cameras"] = 0
        self.end = max(v["_due"].iloc[-1] for v in self.versions.values())

    def done(self) -> bool:
        return all(self._position[n] >= len(v) for n, v in self.versions.items())

    def release(self, until) -> dict:
        """Versions due up to scenario time ``until`` not released before: ``{table: frame}``."""
        until = np.datetime64(_utc(until).tz_localize(None), "us")
        out = {}
        for name, versions in self.versions.items():
            begin = self._position[name]
            stop = int(np.searchsorted(self._due[name], until, side="right"))
            if stop > begin:
                out[name] = versions.iloc[begin:stop].drop(columns="_due")
                self._position[name] = stop
        return out


@dataclass
class FeedStats:
    """What a feed run wrote: ticks, rows per table, wall seconds."""

    ticks: int = 0
    rows: dict = None
    seconds: float = 0.0

    def __post_init__(self):
        self.rows = self.rows or {}


def stamp_updates(table: str, frame: pd.DataFrame, now: pd.Timestamp) -> pd.DataFrame:
    """Set ``updated_at`` to the wall-clock write time, as the agency's database would."""
    if "updated_at" in table_spec(table).column_names:
        frame = frame.copy()
        frame["updated_at"] = pd.Series(now, index=frame.index).astype("datetime64[us, UTC]")
    return frame


def run_feed(replay: Replay, target, *, tick_s: float = 0.25, duration_s: float | None = None,
             on_tick=None, stop=None) -> FeedStats:
    """Release the replay's versions into ``target`` every ``tick_s`` until done, ``duration_s`` or ``stop``.

    Parameters
    ----------
    replay : Replay
    target : object with ``write(table, frame)``
        See :func:`open_target`.
    tick_s : float
    duration_s : float, optional
    on_tick : callable, optional
        ``on_tick(sim_time, written: dict)`` after each tick.
    stop : threading.Event, optional

    Returns
    -------
    FeedStats
    """
    stats = FeedStats()
    began = time.monotonic()
    while True:
        elapsed = time.monotonic() - began
        sim_now = replay.start + pd.Timedelta(seconds=elapsed * replay.speed)
        written = {}
        for table, frame in replay.release(sim_now).items():
            frame = stamp_updates(table, frame, pd.Timestamp.now(tz="UTC"))
            target.write(table, frame)
            written[table] = len(frame)
            stats.rows[table] = stats.rows.get(table, 0) + len(frame)
        stats.ticks += 1
        if on_tick:
            on_tick(sim_now, written)
        if replay.done() or (duration_s is not None and elapsed >= duration_s) or (stop is not None and stop.is_set()):
            break
        time.sleep(max(0.0, tick_s - (time.monotonic() - began - elapsed)))
    stats.seconds = time.monotonic() - began
    return stats


# ------------------------------------------------------------------ targets
class HttpTarget:
    """Serve the replay on a SODA endpoint (``http://127.0.0.1:PORT``)."""

    def __init__(self, url: str):
        from workbench.live.http_feed import FeedServer

        rest = url.split("://", 1)[1].rstrip("/")
        host, _, port = rest.partition(":")
        if host not in ("127.0.0.1", "localhost"):
            raise SourceError(f"the feed serves on localhost only, not {host}")
        self.server = FeedServer("127.0.0.1", int(port or 0)).start()
        for name in REPLAYED:
            self.server.ensure_table(name)

    def write(self, table: str, frame: pd.DataFrame):
        self.server.upsert(table, frame)

    def close(self):
        self.server.stop()


class DirectoryTarget:
    """Write each tick's rows as a CSV per table (``PATH/TABLE/TABLE-NNNNNN.csv``), atomically."""

    def __init__(self, path):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._seq = 0

    def write(self, table: str, frame: pd.DataFrame):
        folder = self.path / table
        folder.mkdir(exist_ok=True)
        self._seq += 1
        final = folder / f"{table}-{time.strftime('%Y%m%dT%H%M%S')}-{self._seq:06d}.csv"
        partial = final.with_name(final.name + ".part")
        frame.to_csv(partial, index=False, date_format="%Y-%m-%dT%H:%M:%S.%fZ")
        partial.rename(final)

    def close(self):
        pass


class SqlTarget:
    """Upsert into database tables named after the canonical ones, created with primary keys."""

    _PG_TYPES = {"id": "TEXT", "str": "TEXT", "datetime": "TIMESTAMPTZ", "float": "DOUBLE PRECISION",
                 "int": "BIGINT", "bool": "BOOLEAN"}

    def __init__(self, url: str):
        self.url = url
        self.dialect = url.split(":", 1)[0].split("+", 1)[0]
        self._created: set[str] = set()
        if self.dialect == "duckdb":
            rest = url.split(":", 1)[1]
            self.path = rest[3:] if rest.startswith("///") else rest
        elif self.dialect in ("postgresql", "postgres"):
            import psycopg

            self._psycopg = psycopg
            self.conninfo = "postgresql://" + url.split("://", 1)[1]
            try:
                self._con = psycopg.connect(self.conninfo, connect_timeout=10)
            except psycopg.Error as exc:
                raise SourceError(f"cannot reach {url}: {str(exc).splitlines()[0]}") from None
        else:
            raise SourceError(f"feed target {url!r}: use postgresql://, duckdb:PATH, http://127.0.0.1:PORT or dir:PATH")

    def _ddl(self, table: str, types: dict) -> str:
        spec = table_spec(table)
        cols = ", ".join(f'"{c.name}" {types[c.kind]}' for c in spec.columns)
        keys = ", ".join(f'"{k}"' for k in spec.key)
        return f'CREATE TABLE IF NOT EXISTS "{spec.name}" ({cols}, PRIMARY KEY ({keys}))'

    def write(self, table: str, frame: pd.DataFrame):
        spec = table_spec(table)
        # a record opened and updated within one tick: the database keeps its latest version
        frame = frame.reindex(columns=spec.column_names).drop_duplicates(list(spec.key), keep="last")
        if self.dialect == "duckdb":
            return self._write_duckdb(spec, frame)
        return self._write_postgres(spec, frame)

    def _write_duckdb(self, spec, frame):
        import duckdb
        from workbench.data.schema import SQL_TYPES

        for attempt in range(200):  # a reader holds the file for a moment: wait for it
            try:
                con = duckdb.connect(self.path)
                break
            except duckdb.IOException:
                time.sleep(0.05)
        else:
            raise SourceError(f"could not open {self.path} for writing (held by another process)")
        try:
            con.execute(self._ddl(spec.name, SQL_TYPES))
            for col in spec.columns:
                if frame[col.name].isna().all():
                    frame[col.name] = pd.Series(None, index=frame.index, dtype=col.dtype)
            con.register("_rows", frame)
            con.execute(f'INSERT OR REPLACE INTO "{spec.name}" SELECT * FROM _rows')
        finally:
            con.close()

    def _write_postgres(self, spec, frame):
        con = self._con
        cols = ", ".join(f'"{c}"' for c in spec.column_names)
        keys = ", ".join(f'"{k}"' for k in spec.key)
        updates = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in spec.column_names if c not in spec.key)
        buffer = io.StringIO()
        frame.to_csv(buffer, index=False, header=False, date_format="%Y-%m-%dT%H:%M:%S.%f+00:00")
        with con.transaction(), con.cursor() as cur:
            if spec.name not in self._created:
                cur.execute(self._ddl(spec.name, self._PG_TYPES))
                self._created.add(spec.name)
            cur.execute(f'CREATE TEMP TABLE IF NOT EXISTS "_feed_{spec.name}" (LIKE "{spec.name}") ON COMMIT DELETE ROWS')
            with cur.copy(f'COPY "_feed_{spec.name}" ({cols}) FROM STDIN (FORMAT csv)') as copy:
                copy.write(buffer.getvalue())
            cur.execute(f'INSERT INTO "{spec.name}" ({cols}) SELECT {cols} FROM "_feed_{spec.name}" '
                        f"ON CONFLICT ({keys}) DO UPDATE SET {updates}")

    def close(self):
        if self.dialect != "duckdb":
            self._con.close()


def open_target(to: str):
    """A feed target from ``--to``: ``postgresql://…``, ``duckdb:PATH``, ``http://127.0.0.1:PORT``, ``dir:PATH``."""
    if to.startswith("http://"):
        return HttpTarget(to)
    if to.startswith("dir:"):
        return DirectoryTarget(to[4:])
    return SqlTarget(to)


def _utc(value) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


__all__ = ["Replay", "record_versions", "run_feed", "open_target", "HttpTarget", "DirectoryTarget", "SqlTarget",
           "FeedStats", "stamp_updates", "REPLAYED"]
