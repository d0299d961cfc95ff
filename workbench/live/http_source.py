"""HTTP JSON sources: Socrata SODA APIs, plain JSON arrays and GeoJSON.

Socrata (the open-data portals many agencies publish CAD calls and incidents
on) pages with ``$limit`` / ``$offset``, filters with a SoQL ``$where`` and
orders with ``$order``. :class:`HttpJsonSource` reads incrementally the same
way as :class:`~workbench.live.sources.SqlSource`: from the watermark minus
an overlap, then by keyset (``$where`` on the last ``(updated, key)`` seen),
which stays correct when rows change while a cycle pages. ``paging="offset"``
uses ``$offset`` instead, for endpoints that cannot filter on the key.
"""

from __future__ import annotations

import http.client
import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from typing import Iterator

import pandas as pd

from workbench.errors import SourceError
from workbench.live.sources import Page, Source, advance_state, as_utc, watermark_start


class HttpJsonSource(Source):
    """Records from an HTTP endpoint returning JSON.

    Parameters
    ----------
    url : str
        Endpoint, e.g. ``https://data.city.gov/resource/abcd-1234.json`` or
        ``http://127.0.0.1:8765/resource/calls.json`` (``workbench feed``).
    key : str
        Key column (canonical name).
    updated_col : str, optional
        Column that grows with each change; without it every cycle reads the
        whole endpoint (upserts keep that harmless).
    paging : {"soda", "offset", "none"}
        ``"soda"``: SoQL ``$where`` keyset paging with ``$order`` and
        ``$limit``. ``"offset"``: ``$limit`` / ``$offset``. ``"none"``: one
        document per cycle (a plain JSON array or GeoJSON), filtered here.
    page_size : int
        ``$limit`` per request.
    timeout : float
        Seconds to wait for a response (connect and each read).
    columns : dict, optional
        ``{source field: canonical column}`` renames (before validation).
    headers : dict, optional
        Extra request headers, e.g. ``{"X-App-Token": "..."}``.
    records_path : str, optional
        Dotted path to the record list inside a JSON object (``"data.items"``).
    floating_tz : str, optional
        Render watermark literals as floating timestamps (no zone) in this
        zone, as Socrata ``floating_timestamp`` columns expect; timestamps
        without a zone in the records are read in it too.
    name : str, optional

    Examples
    --------
    >>> source = HttpJsonSource("http://127.0.0.1:8765/resource/gunshots.json",
    ...                         key="alert_id", updated_col="detected_at")
    >>> source.request_url({"$limit": 10})
    'http://127.0.0.1:8765/resource/gunshots.json?%24limit=10'
    """

    def __init__(self, url: str, key: str, updated_col: str | None = None, *, paging: str = "soda",
                 page_size: int = 50_000, timeout: float = 10.0, columns: dict | None = None,
                 headers: dict | None = None, records_path: str | None = None,
                 floating_tz: str | None = None, name: str | None = None):
        if paging not in ("soda", "offset", "none"):
            raise SourceError(f"paging must be soda, offset or none, not {paging!r}")
        if paging != "none" and updated_col is None:
            raise SourceError("SODA paging needs updated_col (the column to order and filter changes on)")
        self.url = url
        self.key = key
        self.updated_col = updated_col
        self.paging = paging
        self.page_size = int(page_size)
        self.timeout = float(timeout)
        self.columns = dict(columns or {})
        self.headers = dict(headers or {})
        self.records_path = records_path
        self.tz = floating_tz
        self.name = name or url

    def __repr__(self):
        return f"HttpJsonSource({self.url!r}, key={self.key!r}, updated_col={self.updated_col!r})"

    def _field(self, canonical: str) -> str:
        for src, dst in self.columns.items():
            if dst == canonical:
                return src
        return canonical

    def request_url(self, params: dict) -> str:
        """The URL for one request with SODA parameters."""
        sep = "&" if "?" in self.url else "?"
        return self.url + (sep + urllib.parse.urlencode(params) if params else "")

    def _literal(self, ts: pd.Timestamp) -> str:
        ts = pd.Timestamp(ts)
        if self.tz:
            return ts.tz_convert(self.tz).tz_localize(None).isoformat(timespec="microseconds")
        return ts.tz_convert("UTC").isoformat(timespec="microseconds").replace("+00:00", "Z")

    def fetch(self, params: dict | None = None) -> pd.DataFrame:
        """One request: the records as a DataFrame (canonical names), or SourceError."""
        url = self.request_url(params or {})
        request = urllib.request.Request(url, headers={"Accept": "application/json", **self.headers})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read(300).decode("utf-8", "replace").strip().splitlines()
            raise SourceError(f"HTTP {exc.code} from {self.url}" + (f": {detail[0]}" if detail else "")) from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, (socket.timeout, TimeoutError)):
                raise SourceError(f"no answer from {self.url} within {self.timeout:g} s") from None
            raise SourceError(f"cannot reach {self.url}: {getattr(reason, 'strerror', None) or reason}") from None
        except (socket.timeout, TimeoutError):
            raise SourceError(f"no answer from {self.url} within {self.timeout:g} s") from None
        except http.client.IncompleteRead as exc:
            raise SourceError(f"truncated response from {self.url} ({len(exc.partial)} bytes received)") from None
        except (http.client.HTTPException, ConnectionError, OSError) as exc:
            raise SourceError(f"connection to {self.url} failed: {exc}") from None
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise SourceError(f"truncated or invalid JSON from {self.url} ({len(body)} bytes)") from None
        return self._records(document).rename(columns=self.columns)

    def _records(self, document) -> pd.DataFrame:
        if self.records_path:
            for part in self.records_path.split("."):
                if not isinstance(document, dict) or part not in document:
                    raise SourceError(f"{self.url}: no {self.records_path!r} in the response")
                document = document[part]
        if isinstance(document, dict) and document.get("type") == "FeatureCollection":
            rows = []
            for feature in document.get("features") or []:
                props = dict(feature.get("properties") or {})
                geometry = feature.get("geometry") or {}
                if geometry.get("type") == "Point" and len(geometry.get("coordinates") or []) >= 2:
                    props.setdefault("lon", geometry["coordinates"][0])
                    props.setdefault("lat", geometry["coordinates"][1])
                rows.append(props)
            return pd.DataFrame.from_records(rows)
        if not isinstance(document, list) or not all(isinstance(r, dict) for r in document):
            raise SourceError(f"{self.url} did not return a JSON array of records or GeoJSON")
        return pd.DataFrame.from_records(document)

    def pages(self, state: dict | None, *, table: str, overlap: pd.Timedelta) -> Iterator[Page]:
        """Yield pages of records changed since the watermark minus ``overlap``."""
        start = watermark_start(state, overlap)
        if self.paging == "none":
            frame = self.fetch()
            if start is not None and self.updated_col in frame.columns:
                frame = frame[~(as_utc(frame[self.updated_col], self.tz) < start)].reset_index(drop=True)
            if not frame.empty:
                yield Page(frame, self._advance(state, frame), self.url)
            return
        u, k = self._field(self.updated_col), self._field(self.key)
        first = f"{u} >= '{self._literal(start)}'" if start is not None else f"{u} IS NOT NULL"
        order = f"{u} ASC, {k} ASC"
        offset, last = 0, None
        while True:
            params = {"$order": order, "$limit": self.page_size}
            if self.paging == "offset" or last is None:
                params["$where"] = first
                if self.paging == "offset":
                    params["$offset"] = offset
            else:
                lu, lk = last
                params["$where"] = f"{u} > '{lu}' OR ({u} = '{lu}' AND {k} > '{_soql_escape(lk)}')"
            frame = self.fetch(params)
            if frame.empty:
                return
            state = self._advance(state, frame)
            last = self._last(frame)
            offset += len(frame)
            yield Page(frame, state, self.url)
            if len(frame) < self.page_size or last is None:
                return

    def _advance(self, state, frame) -> dict:
        if not self.updated_col:
            return dict(state or {})
        return advance_state(state, frame, self.updated_col, self.tz)

    def _last(self, frame):
        """The page's greatest (updated, key), robust to records shuffled within the page."""
        if self.updated_col not in frame.columns or self.key not in frame.columns:
            return None
        times = as_utc(frame[self.updated_col], self.tz)
        latest = times.max()
        if pd.isna(latest):
            return None
        at_latest = frame.loc[(times == latest).to_numpy(), self.key].astype(str)
        return self._literal(latest), at_latest.max()


def _soql_escape(value) -> str:
    return str(value).replace("'", "''")


__all__ = ["HttpJsonSource"]
