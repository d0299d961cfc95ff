"""The RTCC scenario: generate it, save and load it, and load the committed sample.

:func:`generate` builds the city, rolls the RTCC out, generates crime, cameras,
calls, gunshot alerts, cases and (for the last ``alpr_days`` days, when the RTCC
is live everywhere it launches) vehicles and ALPR reads. Everything is
deterministic by ``seed``.

On disk (:meth:`Scenario.save`) a scenario is a directory of Parquet files: one
per canonical table, GeoParquet for ``roads``, ``districts``, ``beats`` and
``river``, ``nodes.parquet``, ``truth/<name>.parquet`` per truth table, and
``scenario.json`` (time zone, CRS, generation parameters). ``data/sample`` is
one such directory; see its README for every table and column.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.data.schema import TABLES, empty_frame, table_spec
from workbench.errors import ReadError, WorkbenchError
from workbench.sample import places
from workbench.sample.city import DEFAULT_ORIGIN, City, build_city, road_graph

CANONICAL = ("incidents", "cases", "calls", "cameras", "alpr_reads", "gunshots", "units")
GEO = ("roads", "districts", "beats", "river")
DEFAULT_START = "2025-01-01"
DEFAULT_TZ = "America/New_York"
FORMAT_VERSION = 1


def canonical(df: pd.DataFrame, table: str) -> pd.DataFrame:
    """Exactly the canonical columns of ``table``, in order, with the canonical dtypes."""
    spec = table_spec(table)
    out = {}
    for col in spec.columns:
        if col.name not in df:
            out[col.name] = pd.Series(pd.array([None] * len(df), dtype=col.dtype)
                                      if col.kind != "datetime" else pd.NaT, index=df.index,
                                      dtype=col.dtype)
            continue
        s = df[col.name]
        if str(s.dtype) == col.dtype:
            pass
        elif col.kind == "datetime":
            s = pd.to_datetime(s, utc=True).astype(col.dtype)
        elif col.kind in ("id", "str"):
            s = s.astype(object).where(s.notna(), None).astype(col.dtype)
        else:
            s = s.astype(col.dtype)
        out[col.name] = s
    return pd.DataFrame(out).reset_index(drop=True)


@dataclass
class Scenario:
    """A synthetic city with its canonical tables and planted truth.

    Attributes
    ----------
    incidents, cases, calls, cameras, alpr_reads, gunshots, units : DataFrame
        Canonical tables (columns and dtypes of :mod:`workbench.data.schema`).
    roads : GeoDataFrame
        Street segments (EPSG:4326), see :mod:`workbench.sample.city`.
    nodes : DataFrame
        Intersections with land use and anchor weights.
    districts, beats : GeoDataFrame
        Police areas with population, median income and race/ethnicity shares.
    river : GeoDataFrame
        The river's centre line.
    truth : dict of DataFrame
        Planted truths (see ``data/sample/README.md``).
    tz : str
        Agency time zone.
    crs : str
        Local UTM CRS of the city.
    params : dict
        Generation parameters (``generate(**params)`` rebuilds the scenario).
    """

    incidents: pd.DataFrame
    cases: pd.DataFrame
    calls: pd.DataFrame
    cameras: pd.DataFrame
    alpr_reads: pd.DataFrame
    gunshots: pd.DataFrame
    units: pd.DataFrame
    roads: object
    nodes: pd.DataFrame
    districts: object
    beats: object
    river: object
    truth: dict = field(default_factory=dict)
    tz: str = DEFAULT_TZ
    crs: str = ""
    params: dict = field(default_factory=dict)

    @property
    def tables(self) -> dict:
        """The canonical tables by name."""
        return {name: getattr(self, name) for name in CANONICAL}

    @property
    def city(self) -> City:
        """The city (nodes, roads, routable graph, districts, beats) rebuilt from the tables."""
        return City(nodes=self.nodes, roads=self.roads, graph=road_graph(self.nodes, self.roads),
                    districts=self.districts, beats=self.beats, river=self.river.geometry,
                    crs=self.crs, origin=tuple(self.params.get("origin", DEFAULT_ORIGIN)),
                    size_km=float(self.params.get("size_km", 10.0)),
                    seed=int(self.params.get("seed", 0)), params=dict(self.params))

    def save(self, path) -> Path:
        """Write the scenario to directory ``path`` (created; existing files are replaced).

        Returns
        -------
        pathlib.Path
        """
        path = Path(path)
        (path / "truth").mkdir(parents=True, exist_ok=True)
        for name in CANONICAL:
            getattr(self, name).to_parquet(path / f"{name}.parquet", index=False,
                                           compression="zstd")
        for name in GEO:
            getattr(self, name).to_parquet(path / f"{name}.parquet", index=False,
                                           compression="zstd")
        self.nodes.to_parquet(path / "nodes.parquet", index=False, compression="zstd")
        for old in (path / "truth").glob("*.parquet"):
            if old.stem not in self.truth:
                old.unlink()
        for name, frame in self.truth.items():
            frame.to_parquet(path / "truth" / f"{name}.parquet", index=False, compression="zstd")
        meta = {"format_version": FORMAT_VERSION, "tz": self.tz, "crs": self.crs,
                "params": self.params, "tables": list(CANONICAL), "geo": list(GEO),
                "truth": sorted(self.truth),
                "rows": {name: int(len(getattr(self, name))) for name in CANONICAL}}
        (path / "scenario.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
        return path

    @classmethod
    def load(cls, path) -> "Scenario":
        """Read a scenario written by :meth:`save`.

        Raises
        ------
        ReadError
            When ``path`` holds no ``scenario.json``.
        """
        import geopandas as gpd

        path = Path(path)
        meta_file = path / "scenario.json"
        if not meta_file.is_file():
            raise ReadError(f"no scenario at {path}: scenario.json not found")
        meta = json.loads(meta_file.read_text())
        tables = {name: _read_canonical(path / f"{name}.parquet", name) for name in CANONICAL}
        geo = {name: gpd.read_parquet(path / f"{name}.parquet") for name in meta.get("geo", GEO)}
        truth = {name: pd.read_parquet(path / "truth" / f"{name}.parquet")
                 for name in meta.get("truth", [])}
        return cls(**tables, **geo, nodes=pd.read_parquet(path / "nodes.parquet"), truth=truth,
                   tz=meta["tz"], crs=meta["crs"], params=meta["params"])


def _read_canonical(file: Path, table: str) -> pd.DataFrame:
    if not file.is_file():
        return empty_frame(table)
    return canonical(pd.read_parquet(file), table)


def sample_path(path=None) -> Path:
    """Where the committed sample lives: ``path``, else ``$WORKBENCH_SAMPLE``, else ``data/sample``."""
    if path is not None:
        return Path(path)
    env = os.environ.get("WORKBENCH_SAMPLE")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "data" / "sample"


def load_sample(path=None) -> Scenario:
    """Load the committed sample scenario (``data/sample``).

    Parameters
    ----------
    path : str or Path, optional
        A scenario directory; defaults to ``$WORKBENCH_SAMPLE`` or the repository's ``data/sample``.

    Returns
    -------
    Scenario

    Examples
    --------
    >>> scenario = load_sample()
    >>> sorted(scenario.tables)[:3]
    ['alpr_reads', 'calls', 'cameras']
    """
    where = sample_path(path)
    if not (where / "scenario.json").is_file():
        raise ReadError(f"the sample scenario was not found at {where}; set WORKBENCH_SAMPLE to a "
                        "directory written by Scenario.save or run `workbench sample --out DIR`")
    return Scenario.load(where)


def _check(days, alpr_days, scale):
    if int(days) < 7:
        raise WorkbenchError(f"days must be at least 7, got {days!r}")
    if not 0 <= int(alpr_days) <= int(days):
        raise WorkbenchError(f"alpr_days must be between 0 and days ({days}), got {alpr_days!r}")
    if not float(scale) > 0:
        raise WorkbenchError(f"scale must be positive, got {scale!r}")


def generate(seed: int = 0, days: int = 365, alpr_days: int = 14, start=DEFAULT_START,
             origin=DEFAULT_ORIGIN, tz: str = DEFAULT_TZ, scale: float = 1.0, *,
             size_km: float = 10.0, n_districts: int = 8, near_repeat_ratio: float = 0.2,
             alpr_scale: float | None = None, **alpr_rates) -> Scenario:
    """Generate the synthetic RTCC scenario.

    Parameters
    ----------
    seed : int
        Same seed, same scenario.
    days : int
        Length of the period (local days from ``start``).
    alpr_days : int
        ALPR reads cover the last ``alpr_days`` days of the period (0: none).
    start : str
        First local date, e.g. ``"2025-01-01"``.
    origin : (float, float)
        lon, lat of the city centre (default: Columbus, Ohio).
    tz : str
        Agency time zone.
    scale : float
        Multiplies every volume (incidents, calls, alerts, reads) linearly.
    size_km : float
    n_districts : int
    near_repeat_ratio : float
        Expected share of burglaries triggered by an earlier one.
    alpr_scale : float, optional
        Scale of the ALPR volume alone (default ``scale``).
    **alpr_rates
        Passed to :func:`workbench.sample.vehicles.simulate_alpr`.

    Returns
    -------
    Scenario

    Examples
    --------
    >>> s = generate(seed=1, days=30, alpr_days=0, scale=0.2)
    >>> s.incidents["incident_id"].is_unique
    True
    """
    from workbench.sample.calls import generate_calls, generate_gunshots
    from workbench.sample.cameras import place_cameras
    from workbench.sample.cases import open_cases, plan_rollout
    from workbench.sample.crime import generate_incidents

    _check(days, alpr_days, scale)
    days, alpr_days, seed = int(days), int(alpr_days), int(seed)
    params = dict(seed=seed, days=days, alpr_days=alpr_days, start=str(start),
                  origin=[float(origin[0]), float(origin[1])], tz=tz, scale=float(scale),
                  size_km=float(size_km), n_districts=int(n_districts),
                  near_repeat_ratio=float(near_repeat_ratio),
                  alpr_scale=None if alpr_scale is None else float(alpr_scale), **alpr_rates)
    city = build_city(seed, origin, size_km, n_districts=n_districts)
    dates = places.period_dates(start, days)
    start_utc = places.local_to_utc(pd.DatetimeIndex([dates[0]]), tz).iloc[0]
    end_utc = places.local_to_utc(pd.DatetimeIndex([dates[-1] + pd.Timedelta(days=1)]), tz).iloc[0]
    rng = np.random.default_rng([seed, 404])

    rollout = plan_rollout(city, start=start, days=days, tz=tz, rng=rng)
    incidents, truth = generate_incidents(city, rollout, start=start, days=days, tz=tz, seed=seed,
                                          scale=scale, near_repeat_ratio=near_repeat_ratio)
    streets = places.streets(city)
    cameras, camera_edges = place_cameras(city, streets, start=start_utc, rng=rng)
    gunshots, truth_gs, shots_calls = generate_gunshots(city, incidents, streets, dates, tz, rng,
                                                        scale=scale)
    calls = generate_calls(city, incidents, streets, dates, tz, rng, scale=scale, extra=shots_calls)
    cases, truth_cases = open_cases(incidents, cameras, rollout, end_utc=end_utc, seed=seed)

    arrested = cases["clearance_type"].eq("arrest").fillna(False).to_numpy()
    incidents["arrest"] = arrested
    incidents["updated_at"] = np.maximum(incidents["reported_at"], cases["updated_at"])
    truth.update(truth_gs)
    truth.update(truth_cases)
    truth["camera_edges"] = camera_edges
    truth["rollout"] = rollout

    inc_c = _seconds(canonical(incidents, "incidents"))
    cam_c = canonical(cameras, "cameras")
    reads = empty_frame("alpr_reads")
    if alpr_days:
        reads, alpr_truth = _simulate_alpr(city, cam_c, inc_c, dates[days - alpr_days], alpr_days,
                                           seed, scale if alpr_scale is None else alpr_scale, tz,
                                           alpr_rates)
        truth.update(alpr_truth)
    return Scenario(
        incidents=inc_c, cases=_seconds(canonical(cases, "cases")),
        calls=_seconds(canonical(calls, "calls")), cameras=cam_c,
        alpr_reads=canonical(reads, "alpr_reads"), gunshots=canonical(gunshots, "gunshots"),
        units=empty_frame("units"), roads=city.roads, nodes=city.nodes, districts=city.districts,
        beats=city.beats, river=_river_frame(city),
        truth={k: _tidy(v) for k, v in truth.items()}, tz=tz, crs=city.crs, params=params)


def _seconds(df):
    """Records systems keep whole seconds (and whole seconds compress far better)."""
    for col in df.columns:
        if isinstance(df[col].dtype, pd.DatetimeTZDtype):
            df[col] = df[col].dt.floor("s")
    return df


def _tidy(frame):
    """Truth tables as they come back from Parquet: string columns as ``str``, a fresh index."""
    frame = frame.reset_index(drop=True)
    for col in frame.columns:
        s = frame[col]
        if s.dtype == object and s.map(lambda v: v is None or isinstance(v, str)).all():
            frame[col] = s.astype("str")
    return frame


def _river_frame(city):
    import geopandas as gpd

    return gpd.GeoDataFrame({"name": ["river"]}, geometry=city.river.to_numpy(), crs=city.river.crs)


def _simulate_alpr(city, cameras, incidents, first_day, days, seed, scale, tz, rates):
    """Reads and truth from the vehicle simulator, or none if it is not installed."""
    try:
        from workbench.sample.vehicles import simulate_alpr
    except ImportError:
        return empty_frame("alpr_reads"), {}
    rates = {"tz": tz, "directions": "heading", **rates}
    return simulate_alpr(city, cameras, incidents, start=first_day.strftime("%Y-%m-%d"), days=days,
                         seed=seed, scale=scale, **rates)


__all__ = ["Scenario", "generate", "load_sample", "sample_path", "canonical", "TABLES"]
