"""Data for the dashboards: one :class:`Workspace` per server process, loaded once.

The workspace holds the canonical tables (from the sample scenario, a scenario
folder or a DuckDB store), the city's geography for the off-line basemap, and
Web Mercator coordinates of every table with lon/lat, projected once. Sessions
share it read-only; widgets and filters live in each session's views.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.errors import WorkbenchError

TABLES = ("incidents", "cases", "calls", "cameras", "alpr_reads", "gunshots")
EARTH_RADIUS_M = 6378137.0
TIME_COLUMNS = {"incidents": "occurred_at", "calls": "received_at", "gunshots": "detected_at",
                "alpr_reads": "read_at"}


def lonlat_to_mercator(lon, lat):
    """Web Mercator (EPSG:3857) metres of lon/lat degrees.

    Parameters
    ----------
    lon, lat : array-like
        Degrees (EPSG:4326); missing values stay missing.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        x and y in metres.

    Examples
    --------
    >>> x, y = lonlat_to_mercator([0.0], [0.0])
    >>> float(x[0]), float(y[0])
    (0.0, 0.0)
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.clip(np.asarray(lat, dtype=float), -85.05112878, 85.05112878)
    x = np.radians(lon) * EARTH_RADIUS_M
    y = np.log(np.tan(np.pi / 4 + np.radians(lat) / 2)) * EARTH_RADIUS_M
    return x, y


#: Web Mercator columns added to every table with lon/lat. Not ``x`` / ``y``: engines read
#: those as projected coordinates in the table's own CRS.
WEB_X, WEB_Y = "web_x", "web_y"


def with_mercator(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with ``web_x`` / ``web_y`` Web Mercator columns from its lon/lat (a copy)."""
    out = frame.copy()
    x, y = lonlat_to_mercator(out["lon"].to_numpy(float), out["lat"].to_numpy(float))
    out[WEB_X], out[WEB_Y] = x, y
    return out


@dataclass
class Workspace:
    """The tables and geography every dashboard of one server reads.

    Attributes
    ----------
    tables : dict of str to pandas.DataFrame
        Canonical tables; tables with lon/lat carry Web Mercator ``web_x`` / ``web_y``.
    roads, districts, beats : geopandas.GeoDataFrame or None
        City geography (EPSG:4326) for the basemap and district summaries.
    tz : str
        Agency time zone for display.
    truth : dict
        The sample's planted truth (empty for agency data); notebooks use it to check results.
    rollout : pandas.DataFrame or None
        District RTCC launch dates (``district``, ``rtcc_start``) when known.
    hotlist : pandas.DataFrame or None
        Plates of interest (:class:`workbench.trajectories.Hotlist` entries) screened
        by the system against every read (the sample's planted hotlist by default).
    source : str
        Where the data came from, for the page footer.
    """

    tables: dict
    roads: object = None
    districts: object = None
    beats: object = None
    tz: str = "UTC"
    truth: dict = field(default_factory=dict)
    rollout: pd.DataFrame | None = None
    source: str = ""
    live: object = None
    hotlist: pd.DataFrame | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __getattr__(self, name):
        tables = self.__dict__.get("tables", {})
        if name in tables:
            return tables[name]
        raise AttributeError(name)

    @classmethod
    def from_scenario(cls, scenario, source: str = "sample") -> "Workspace":
        """A workspace over a :class:`workbench.sample.Scenario`."""
        tables = {}
        for name in TABLES:
            frame = scenario.tables.get(name)
            if frame is None:
                continue
            tables[name] = with_mercator(frame) if {"lon", "lat"} <= set(frame.columns) else frame
        truth = getattr(scenario, "truth", {}) or {}
        return cls(tables=tables, roads=scenario.roads, districts=scenario.districts, beats=scenario.beats,
                   tz=scenario.tz, truth=truth, rollout=truth.get("rollout"), source=source,
                   hotlist=truth.get("hotlist"))

    @classmethod
    def from_store(cls, path, geography=None, rollout=None) -> "Workspace":
        """A workspace over a DuckDB store (read-only), with geography from a scenario folder.

        Parameters
        ----------
        path : str or Path
            The store file.
        geography : Scenario, optional
            Roads, districts and beats for the basemap (the store holds none).
        rollout : pandas.DataFrame, optional
            District launch dates for the evaluation.
        """
        from workbench.data import Store

        if not Path(path).exists():
            raise WorkbenchError(f"no store at {path} (load data first: workbench load TABLE FILE)")
        tables = {}
        with Store(path, read_only=True) as store:
            for name in TABLES:
                frame = store.query(name)
                tables[name] = with_mercator(frame) if {"lon", "lat"} <= set(frame.columns) else frame
        return cls(tables=tables, roads=getattr(geography, "roads", None),
                   districts=getattr(geography, "districts", None), beats=getattr(geography, "beats", None),
                   tz=getattr(geography, "tz", "UTC"), rollout=rollout, source=str(path))

    def append(self, table: str, rows: pd.DataFrame) -> None:
        """Add live rows to a table (replacing rows with the same key), projecting them once."""
        from workbench.data.schema import table_spec

        if rows is None or not len(rows):
            return
        key = table_spec(table).key
        key = [key] if isinstance(key, str) else list(key)
        if {"lon", "lat"} <= set(rows.columns):
            rows = with_mercator(rows)
        with self._lock:
            current = self.tables.get(table)
            if current is None or not len(current):
                self.tables[table] = rows.reset_index(drop=True)
                return
            merged = pd.concat([current, rows[[c for c in rows.columns if c in current.columns]]],
                               ignore_index=True)
            self.tables[table] = merged.drop_duplicates(key, keep="last").reset_index(drop=True)

    def truncate(self, before) -> None:
        """Keep only events before ``before`` (a live replay brings the rest)."""
        before = pd.Timestamp(before)
        with self._lock:
            for name, column in TIME_COLUMNS.items():
                frame = self.tables.get(name)
                if frame is not None and len(frame):
                    self.tables[name] = frame[frame[column] < before].reset_index(drop=True)

    def now(self) -> pd.Timestamp:
        """The latest event time in the data: "now" for windows like "last hour" on historical data."""
        latest = []
        for name, column in TIME_COLUMNS.items():
            frame = self.tables.get(name)
            if frame is not None and len(frame):
                latest.append(pd.Timestamp(frame[column].max()))
        return max(latest) if latest else pd.Timestamp.now(tz="UTC")


_WORKSPACES: dict = {}
_WORKSPACES_LOCK = threading.Lock()


def load_workspace(data=None, store=None) -> Workspace:
    """The process's workspace for a scenario folder or store, loaded once and shared.

    Parameters
    ----------
    data : str or Path, optional
        A scenario folder (default: the committed sample).
    store : str or Path, optional
        A DuckDB store; geography still comes from ``data`` (or the sample).

    Returns
    -------
    Workspace
    """
    key = (str(data) if data else None, str(store) if store else None)
    with _WORKSPACES_LOCK:
        if key not in _WORKSPACES:
            from workbench.sample import load_sample

            scenario = load_sample(data)
            if store:
                _WORKSPACES[key] = Workspace.from_store(store, geography=scenario, rollout=scenario.truth.get("rollout"))
            else:
                _WORKSPACES[key] = Workspace.from_scenario(scenario, source=str(data or "sample"))
        return _WORKSPACES[key]
