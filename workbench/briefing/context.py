"""What a call briefing needs that does not change from one call to the next, built once.

A briefing must be ready before the first unit arrives, so the slow parts are
done here, once, and refreshed on a schedule rather than per call: the current
hot spot map (Getis-Ord Gi* over the last weeks, and Esri's emerging hot spot
class over a longer run of weeks), the camera registry with positions in
metres, and the road graph for the escape routes. A briefing is then a few
store queries plus array look-ups in this context.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.data.crs import utm_crs_for
from workbench.errors import BriefingError

#: Compass points for a camera's view direction (degrees from north).
COMPASS = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")


def compass(heading) -> np.ndarray:
    """Compass point (N, NE, ...) of headings in degrees; empty string where unknown.

    Examples
    --------
    >>> list(compass([0.0, 44.0, 181.0, float("nan")]))
    ['N', 'NE', 'S', '']
    """
    h = np.asarray(heading, dtype=float)
    names = np.array(COMPASS, dtype=object)[np.round(np.nan_to_num(h) / 45.0).astype(int) % 8]
    return np.where(np.isfinite(h), names, "")


def _utc(value) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


class BriefingContext:
    """The per-store state a briefing looks things up in: hot spot map, cameras, roads, hotlist.

    Configured in ``__init__`` (nothing computed there), learned in :meth:`fit`
    from the store; call :meth:`fit` again to refresh (the live service does,
    once a day of data by default).

    Parameters
    ----------
    roads : geopandas.GeoDataFrame, optional
        Road segments (as for :func:`workbench.trajectories.reachable`); without
        them a briefing cannot list the plate readers on the escape routes.
    hotlist : pandas.DataFrame or workbench.trajectories.Hotlist, optional
        Plates of interest; without it a briefing cannot report hotlist hits.
    cell_size : float
        Hot spot grid cell width in metres.
    hotspot_weeks : int
        Gi* is computed over the incidents of the last ``hotspot_weeks`` weeks.
    emerging_weeks : int
        Weekly steps of the emerging hot spot analysis.
    crs : str, optional
        Metric CRS (the local UTM zone of the cameras by default).

    Attributes
    ----------
    as_of_ : pandas.Timestamp
        The time the hot spot map describes.
    hotspots_ : xarray.Dataset or None
        :func:`workbench.hotspots.gistar` of the last weeks (None when too few incidents).
    emerging_ : xarray.Dataset or None
        :func:`workbench.hotspots.emerging` of the last ``emerging_weeks`` weeks.
    cameras_ : pandas.DataFrame
        The camera registry with ``x``, ``y`` in ``crs_`` and ``facing`` (compass point).
    network_ : workbench.trajectories.CameraNetwork or None
    hotlist_ : workbench.trajectories.Hotlist or None
    crs_ : str

    Examples
    --------
    >>> s = workbench.load_sample()                                           # doctest: +SKIP
    >>> ctx = BriefingContext(roads=s.roads, hotlist=s.truth["hotlist"]).fit(store)   # doctest: +SKIP
    >>> ctx.hotspot_at(-83.0089, 39.9609)["gi_bin"]                           # doctest: +SKIP
    3
    """

    def __init__(self, roads=None, hotlist=None, *, cell_size: float = 200.0, hotspot_weeks: int = 8,
                 emerging_weeks: int = 16, crs: str | None = None):
        self.roads = roads
        self.hotlist = hotlist
        self.cell_size = cell_size
        self.hotspot_weeks = hotspot_weeks
        self.emerging_weeks = emerging_weeks
        self.crs = crs

    # ------------------------------------------------------------------ fit
    def fit(self, store, as_of=None) -> "BriefingContext":
        """Read the cameras and recent incidents from ``store`` and build the hot spot map.

        Parameters
        ----------
        store : workbench.data.Store
        as_of : str or Timestamp, optional
            The moment the map describes (default: the newest incident or call in the store).

        Returns
        -------
        BriefingContext
            ``self``.
        """
        from pyproj import Transformer

        if self.cell_size is None or not self.cell_size > 0:
            raise BriefingError(f"cell_size must be a positive number of metres, got {self.cell_size!r}")
        cameras = store.query("cameras")
        if as_of is None:
            latest = store.sql("SELECT greatest((SELECT max(occurred_at) FROM incidents), "
                               "(SELECT max(received_at) FROM calls)) AS t")["t"].iloc[0]
            as_of = latest if pd.notna(latest) else pd.Timestamp.now("UTC")
        self.as_of_ = _utc(as_of)
        crs = self.crs
        if crs is None:
            frame = cameras if len(cameras) else store.query("incidents", columns=["lon", "lat"], limit=10_000)
            crs = utm_crs_for(frame["lon"], frame["lat"]) if len(frame) else None
        if crs is None:
            raise BriefingError("cannot pick a metric CRS: the store holds no cameras or incidents; pass crs=")
        if getattr(self, "crs_", None) != crs:
            self.network_ = None
        self.crs_ = crs
        self._to_metric = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
        x, y = self._to_metric.transform(cameras["lon"].to_numpy(float), cameras["lat"].to_numpy(float))
        self.cameras_ = cameras.assign(x=np.asarray(x, float), y=np.asarray(y, float),
                                       facing=compass(cameras["heading"]))
        self._fit_hotspots(store)
        self.hotlist_ = None
        if self.hotlist is not None:  # parsed once: checking each entry's plate costs more than a briefing
            from workbench.trajectories import Hotlist

            self.hotlist_ = self.hotlist if isinstance(self.hotlist, Hotlist) else Hotlist(self.hotlist)
        if self.roads is not None and getattr(self, "network_", None) is None:
            from workbench.trajectories import CameraNetwork

            self.network_ = CameraNetwork(self.roads, cameras, crs=crs)
        elif self.roads is None:
            self.network_ = None
        return self

    def _fit_hotspots(self, store):
        from workbench import hotspots

        weeks = max(self.hotspot_weeks, self.emerging_weeks)
        recent = store.query("incidents", start=self.as_of_ - pd.Timedelta(weeks=weeks), end=self.as_of_,
                             columns=["occurred_at", "lon", "lat"]).dropna(subset=["lon", "lat"])
        x, y = self._to_metric.transform(recent["lon"].to_numpy(float), recent["lat"].to_numpy(float))
        points = pd.DataFrame({"x": x, "y": y, "occurred_at": recent["occurred_at"].to_numpy()})
        gi_points = points[points["occurred_at"] >= self.as_of_ - pd.Timedelta(weeks=self.hotspot_weeks)]
        self.hotspots_ = self.emerging_ = None
        if len(gi_points) >= 30:  # Gi* on a handful of points says nothing
            self.hotspots_ = hotspots.gistar(gi_points[["x", "y"]], self.cell_size, crs=self.crs_)
        if len(points) >= 30 and self.emerging_weeks >= 2:
            self.emerging_ = hotspots.emerging(points, self.cell_size, "7D", end=self.as_of_,
                                               n_steps=self.emerging_weeks, crs=self.crs_)
        self.n_hotspot_incidents_ = int(len(gi_points))

    def _check_fitted(self):
        if not hasattr(self, "as_of_"):
            raise BriefingError("this BriefingContext is not fitted yet: call .fit(store) first")

    # -------------------------------------------------------------- look-ups
    def to_metric(self, lon: float, lat: float) -> tuple:
        """``(x, y)`` metres in ``crs_`` of one lon/lat point."""
        self._check_fitted()
        x, y = self._to_metric.transform(lon, lat)
        return float(x), float(y)

    def hotspot_at(self, lon: float, lat: float) -> dict:
        """The hot spot map at one point.

        Returns
        -------
        dict
            ``gi_bin`` (-3..3, Esri's Gi_Bin; 0 outside the grid), ``z``,
            ``confidence`` ("99 %", "95 %", "90 %" or ""), ``emerging`` (the
            pattern name, or None), ``in_hot_spot`` (Gi* bin >= 2, or an
            emerging hot spot pattern other than "historical"), ``as_of``,
            ``weeks``, ``cell_size_m``.
        """
        self._check_fitted()
        x, y = self.to_metric(lon, lat)
        out = {"gi_bin": 0, "z": float("nan"), "confidence": "", "emerging": None, "in_hot_spot": False,
               "as_of": self.as_of_, "weeks": self.hotspot_weeks, "cell_size_m": float(self.cell_size)}
        cell = _cell(self.hotspots_, x, y)
        if cell is not None:
            out["gi_bin"] = int(self.hotspots_["bin"].values[cell])
            out["z"] = float(self.hotspots_["z"].values[cell])
            out["confidence"] = {3: "99 %", 2: "95 %", 1: "90 %"}.get(abs(out["gi_bin"]), "")
        cell = _cell(self.emerging_, x, y)
        if cell is not None:
            code = int(self.emerging_["pattern_code"].values[cell])
            out["emerging"] = str(self.emerging_["pattern"].values[cell]) if code else None
            out["emerging_code"] = code
        hot_pattern = out.get("emerging_code", 0) in (1, 2, 3, 4, 5, 6, 7)
        out["in_hot_spot"] = out["gi_bin"] >= 2 or hot_pattern
        return out


def _cell(grid, x, y):
    """(row, col) of the grid cell holding (x, y), or None outside the grid."""
    if grid is None:
        return None
    xs, ys = grid["x"].values, grid["y"].values
    if len(xs) < 1 or len(ys) < 1:
        return None
    step_x = xs[1] - xs[0] if len(xs) > 1 else np.inf
    step_y = ys[1] - ys[0] if len(ys) > 1 else np.inf
    col = int(np.floor((x - xs[0]) / step_x + 0.5)) if np.isfinite(step_x) else 0
    row = int(np.floor((y - ys[0]) / step_y + 0.5)) if np.isfinite(step_y) else 0
    if not (0 <= row < len(ys) and 0 <= col < len(xs)):
        return None
    return row, col
