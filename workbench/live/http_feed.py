"""A SODA-compatible HTTP endpoint on localhost, with faults on demand.

``workbench feed --to http://127.0.0.1:PORT`` serves the replayed scenario
here, the way an open-data portal (Socrata) or a vendor API would:

- ``GET /resource/{table}.json`` with ``$where`` (a SoQL subset: comparisons,
  ``AND``, ``OR``, ``NOT``, parentheses, ``IS [NOT] NULL``), ``$order``,
  ``$limit`` (default 1000) and ``$offset``; ``.geojson`` for a
  FeatureCollection of points; ``GET /`` lists the tables and row counts.

:class:`Faults` makes the server misbehave for the next requests, with real
sockets: an HTTP 500, a response that hangs past the client's timeout, a body
cut off half way, records duplicated or shuffled, or a dropped connection.
The tests and the demo use it to show the poller survives all of them.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
import urllib.parse
from collections import Counter, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import duckdb
import pandas as pd

from workbench.data.schema import SQL_TYPES, table_spec
from workbench.errors import SourceError

FAULT_KINDS = ("error500", "hang", "truncate", "duplicate", "shuffle", "drop")


class Faults:
    """Faults to apply to the next requests, in order; thread-safe.

    Examples
    --------
    >>> faults = Faults()
    >>> faults.add("error500", times=2); faults.add("truncate")
    >>> faults.pending()
    3
    """

    def __init__(self, hang_s: float = 5.0, seed: int = 0):
        self.hang_s = hang_s
        self._queue: deque = deque()
        self._lock = threading.Lock()
        self.applied: Counter = Counter()
        self.random = random.Random(seed)

    def add(self, kind: str, times: int = 1):
        """Queue ``kind`` (one of ``FAULT_KINDS``) for the next ``times`` data requests."""
        if kind not in FAULT_KINDS:
            raise SourceError(f"unknown fault {kind!r}; choose from {', '.join(FAULT_KINDS)}")
        with self._lock:
            self._queue.extend([kind] * times)

    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    def next(self) -> str | None:
        with self._lock:
            kind = self._queue.popleft() if self._queue else None
            if kind:
                self.applied[kind] += 1
            return kind


class FeedServer:
    """Serve canonical tables over a SODA-style HTTP API from an in-memory DuckDB.

    Parameters
    ----------
    host : str
    port : int
        0 picks a free port (see :attr:`url`).
    faults : Faults, optional

    Examples
    --------
    >>> server = FeedServer().start()
    >>> server.upsert("gunshots", pd.DataFrame({"alert_id": ["a1"], "detected_at": [pd.Timestamp("2025-01-01", tz="UTC")],
    ...                                         "lon": [-83.0], "lat": [39.9]}))
    1
    >>> server.url("gunshots").endswith("/resource/gunshots.json")
    True
    >>> server.stop()
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, faults: Faults | None = None):
        self.host = host
        self.port = port
        self.faults = faults or Faults()
        self.requests: Counter = Counter()
        self._db = duckdb.connect(":memory:")
        self._db.execute("SET TimeZone='UTC'")
        self._write = threading.Lock()
        self._tables: set[str] = set()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- data
    def ensure_table(self, table: str):
        spec = table_spec(table)
        if spec.name in self._tables:
            return spec
        cols = ", ".join(f'"{c.name}" {SQL_TYPES[c.kind]}' for c in spec.columns)
        keys = ", ".join(f'"{k}"' for k in spec.key)
        with self._write:
            self._db.execute(f'CREATE TABLE IF NOT EXISTS "{spec.name}" ({cols}, PRIMARY KEY ({keys}))')
        self._tables.add(spec.name)
        return spec

    def upsert(self, table: str, rows: pd.DataFrame) -> int:
        """Insert or replace ``rows`` (canonical columns; missing ones are null) by key."""
        spec = self.ensure_table(table)
        if rows.empty:
            return 0
        frame = rows.reindex(columns=spec.column_names).drop_duplicates(list(spec.key), keep="last")
        for col in spec.columns:  # all-null columns need their canonical type, not object
            if frame[col.name].isna().all():
                frame[col.name] = pd.Series(None, index=frame.index, dtype=col.dtype)
        with self._write:
            self._db.register("_rows", frame)
            try:
                self._db.execute(f'INSERT OR REPLACE INTO "{spec.name}" SELECT * FROM _rows')
            finally:
                self._db.unregister("_rows")
        return len(frame)

    def execute(self, sql: str, params=None):
        """Run SQL on the feed's database (tests use it to plant malformed rows)."""
        with self._write:
            return self._db.execute(sql, params or [])

    def table(self, table: str) -> pd.DataFrame:
        """Everything the source holds for ``table`` (the oracle the store is compared with)."""
        spec = self.ensure_table(table)
        return self._db.cursor().sql(f'SELECT * FROM "{spec.name}" ORDER BY ALL').to_arrow_table().to_pandas()

    def count(self, table: str) -> int:
        spec = self.ensure_table(table)
        return int(self._db.cursor().execute(f'SELECT count(*) FROM "{spec.name}"').fetchone()[0])

    def _query(self, table, where, order, limit, offset):
        spec = self.ensure_table(table)
        kinds = {c.name: c.kind for c in spec.columns}
        sql, params = f'SELECT * FROM "{spec.name}"', []
        if where:
            clause, params = _SoqlWhere(where, kinds).parse()
            sql += f" WHERE {clause}"
        keys = ", ".join(f'"{k}"' for k in spec.key)
        sql += f" ORDER BY {_soql_order(order, kinds) if order else keys}"
        sql += f" LIMIT {int(limit)} OFFSET {int(offset)}"
        return spec, sql, params

    def select(self, table: str, where: str | None = None, order: str | None = None, limit: int = 1000,
               offset: int = 0) -> pd.DataFrame:
        """A SODA query: ``$where`` / ``$order`` in SoQL, translated to parameterised SQL."""
        _, sql, params = self._query(table, where, order, limit, offset)
        return self._db.cursor().sql(sql, params=params or None).to_arrow_table().to_pandas()

    def select_json(self, table: str, where: str | None = None, order: str | None = None, limit: int = 1000,
                    offset: int = 0) -> bytes:
        """The same query as a JSON array, built inside DuckDB (timestamps ISO 8601, UTC, microseconds)."""
        spec, sql, params = self._query(table, where, order, limit, offset)
        fields = ", ".join(
            f"\"{c.name}\" := strftime(r.\"{c.name}\", '%Y-%m-%dT%H:%M:%S.%fZ')" if c.kind == "datetime"
            else f'"{c.name}" := r."{c.name}"' for c in spec.columns)
        wrapped = f"SELECT coalesce('[' || string_agg(to_json(struct_pack({fields})), ',') || ']', '[]') FROM ({sql}) r"
        return self._db.cursor().sql(wrapped, params=params or None).fetchall()[0][0].encode()

    # --------------------------------------------------------------- serving
    def url(self, table: str | None = None, fmt: str = "json") -> str:
        base = f"http://{self.host}:{self.port}"
        return base if table is None else f"{base}/resource/{table}.{fmt}"

    def start(self) -> "FeedServer":
        handler = type("Handler", (_Handler,), {"feed": self})
        self._server = ThreadingHTTPServer((self.host, self.port), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="feed-http", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    feed: FeedServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet: the feed reports its own progress
        pass

    def _send(self, status: int, body: bytes, content_type="application/json", *, truncate=False):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if truncate:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def _error(self, status: int, message: str):
        self._send(status, json.dumps({"error": True, "message": message}).encode())

    def do_GET(self):  # noqa: N802 (http.server's naming)
        feed = self.feed
        parsed = urllib.parse.urlsplit(self.path)
        if parsed.path in ("/", ""):
            body = {t: feed.count(t) for t in sorted(feed._tables)}
            return self._send(200, json.dumps(body).encode())
        match = re.fullmatch(r"/resource/([a-z_]+)\.(json|geojson)", parsed.path)
        if not match:
            return self._error(404, f"no such resource {parsed.path}")
        table, fmt = match.groups()
        feed.requests[table] += 1
        fault = feed.faults.next()
        if fault == "error500":
            return self._error(500, "internal server error (injected)")
        if fault == "drop":
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if fault == "hang":
            time.sleep(feed.faults.hang_s)
        query = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
        try:
            body = feed.select_json(table, where=query.get("$where"), order=query.get("$order"),
                                    limit=int(query.get("$limit", 1000)), offset=int(query.get("$offset", 0)))
        except (SourceError, ValueError, duckdb.Error) as exc:
            return self._error(400, f"query.soql.error: {str(exc).splitlines()[0]}")
        if fault in ("duplicate", "shuffle") or fmt == "geojson":
            records = json.loads(body)
            if fault == "duplicate" and records:
                records += feed.faults.random.sample(records, max(1, len(records) // 3))
            if fault in ("duplicate", "shuffle"):
                feed.faults.random.shuffle(records)
            body = _geojson(records) if fmt == "geojson" else json.dumps(records).encode()
        try:
            self._send(200, body, "application/geo+json" if fmt == "geojson" else "application/json",
                       truncate=fault == "truncate")
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timed out)
            pass


def _geojson(records: list) -> bytes:
    features = []
    for rec in records:
        lon, lat = rec.pop("lon", None), rec.pop("lat", None)
        geometry = None if lon is None or lat is None else {"type": "Point", "coordinates": [lon, lat]}
        features.append({"type": "Feature", "geometry": geometry, "properties": rec})
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)|(?P<op>>=|<=|!=|<>|=|>|<)"
                    r"|(?P<lp>\()|(?P<rp>\))|(?P<word>[A-Za-z_][A-Za-z0-9_]*))")


class _SoqlWhere:
    """A small SoQL ``$where`` parser emitting parameterised SQL (no text is pasted into SQL)."""

    def __init__(self, text: str, kinds: dict):
        self.kinds = kinds
        self.tokens = []
        pos, text = 0, text.strip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise SourceError(f"cannot parse $where near {text[pos:pos + 20]!r}")
            kind = m.lastgroup
            self.tokens.append((kind, m.group(kind)))
            pos = m.end()
        self.i = 0
        self.params: list = []

    def parse(self):
        sql = self._or()
        if self.i != len(self.tokens):
            raise SourceError(f"unexpected {self.tokens[self.i][1]!r} in $where")
        return sql, self.params

    def _peek_word(self, *words):
        if self.i < len(self.tokens) and self.tokens[self.i][0] == "word" and self.tokens[self.i][1].upper() in words:
            self.i += 1
            return True
        return False

    def _take(self, kind):
        if self.i >= len(self.tokens) or self.tokens[self.i][0] != kind:
            raise SourceError(f"$where: expected {kind} at token {self.i + 1}")
        self.i += 1
        return self.tokens[self.i - 1][1]

    def _or(self):
        parts = [self._and()]
        while self._peek_word("OR"):
            parts.append(self._and())
        return " OR ".join(parts) if len(parts) == 1 else "(" + " OR ".join(parts) + ")"

    def _and(self):
        parts = [self._not()]
        while self._peek_word("AND"):
            parts.append(self._not())
        return "(" + " AND ".join(parts) + ")" if len(parts) > 1 else parts[0]

    def _not(self):
        if self._peek_word("NOT"):
            return f"(NOT {self._not()})"
        if self.i < len(self.tokens) and self.tokens[self.i][0] == "lp":
            self.i += 1
            inner = self._or()
            self._take("rp")
            return f"({inner})"
        column = self._take("word")
        if column not in self.kinds:
            raise SourceError(f"$where: no column {column!r}")
        if self._peek_word("IS"):
            negate = self._peek_word("NOT")
            if not self._peek_word("NULL"):
                raise SourceError("$where: expected NULL after IS")
            return f'"{column}" IS {"NOT " if negate else ""}NULL'
        op = self._take("op")
        op = "!=" if op == "<>" else op
        if self.i < len(self.tokens) and self.tokens[self.i][0] == "num":
            value = float(self._take("num"))
        else:
            value = self._take("str")[1:-1].replace("''", "'")
        kind = self.kinds[column]
        if kind == "datetime":
            ts = pd.Timestamp(value)
            value = (ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")).to_pydatetime()
        elif kind in ("float", "int") and isinstance(value, str):
            value = float(value)
        elif kind in ("id", "str"):
            value = str(value)
        self.params.append(value)
        return f'"{column}" {op} ?'


def _soql_order(order: str, kinds: dict) -> str:
    parts = []
    for item in order.split(","):
        words = item.split()
        if not words or words[0] not in kinds or len(words) > 2 or (len(words) == 2 and words[1].upper()
                                                                       not in ("ASC", "DESC")):
            raise SourceError(f"cannot use $order {order!r}")
        parts.append(f'"{words[0]}" {words[1].upper() if len(words) == 2 else "ASC"}')
    return ", ".join(parts)


__all__ = ["FeedServer", "Faults", "FAULT_KINDS"]
