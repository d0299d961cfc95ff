"""Hot spot forecasts for the next period, and how good they were.

Methods (all use only events before ``as_of``):

``naive``
    Last period's map: events per cell in the ``lookback`` window before
    ``as_of`` (default: one horizon, i.e. "last week predicts next week").
``kde``
    A Gaussian KDE of the ``lookback`` window (default 365 days) with
    ``bandwidth_m`` (default two cells).
``prospective``
    ProMap (Bowers, Johnson & Pease 2004): every event of the ``lookback``
    window (default 8 weeks) adds ``1 / (1 + d) * 1 / (1 + w)`` to each cell
    within ``bandwidth_m`` (default 400 m), with ``d`` the distance between
    cell centres in cells and ``w`` the event's age in whole weeks. Recent,
    nearby events weigh most, which is how near-repeat risk moves.

Every surface is scaled to expected events per cell over the ``horizon``:
the events per day of the lookback window, times the horizon, shared out in
proportion to the method's surface.

Scores (:func:`score`) rank cells by the forecast, take the top ``coverage``
share of the area and count the events that followed:
hit rate ``n / N``, PAI ``(n / N) / (a / A)`` and PEI ``n / n*``, where ``n*``
is the most events any set of cells of the same area could have caught.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from workbench.errors import HotspotInputError
from workbench.hotspots._checks import as_points, check_duration, check_positive
from workbench.hotspots.grid import Grid, grid_for
from workbench.hotspots.kde import fft_convolve_same, kernel_weights

METHODS = ("prospective", "kde", "naive")
DEFAULT_LOOKBACK = {"naive": None, "kde": "365D", "prospective": "56D"}


def _utc(ts):
    ts = pd.Timestamp(ts)
    return ts.tz_localize("UTC") if ts.tz is None else ts.tz_convert("UTC")


def promap_kernel(bandwidth_m, cell_size):
    """ProMap's spatial weights ``1 / (1 + d)`` (d in cells) within ``bandwidth_m``."""
    half = int(np.floor(bandwidth_m / cell_size))
    off = np.arange(-half, half + 1)
    d = np.hypot(off[:, None], off[None, :])
    return np.where(d * cell_size <= bandwidth_m, 1.0 / (1.0 + d), 0.0)


def forecast(incidents, method="prospective", as_of=None, horizon="7D", *, cell_size=150.0, lookback=None,
             bandwidth_m=None, time="occurred_at", bounds=None, crs=None) -> xr.DataArray:
    """Forecast where events will be over the next ``horizon``.

    Parameters
    ----------
    incidents : DataFrame or GeoDataFrame
        Events with a location (see :func:`grid_counts`) and a time column.
    method : {"prospective", "kde", "naive"}
        See the module docstring.
    as_of : timestamp, optional
        Forecast made at this moment, from events before it. Default: just
        after the last event.
    horizon : str
        Period forecast ("7D").
    cell_size : float
        Metres.
    lookback : str, optional
        Window of past events used (defaults per method: horizon, 365D, 56D).
    bandwidth_m : float, optional
        KDE standard deviation (default 2 cells) or ProMap radius (default 400).
    time : str
        Time column.
    bounds : tuple, optional
        (xmin, ymin, xmax, ymax) in the working CRS; default: the robust
        extent of all incidents given (so forecasts from different methods
        share one grid).
    crs : str, optional
        Working projected CRS (for x/y input, their CRS).

    Returns
    -------
    xarray.DataArray
        ``forecast``: expected events per cell over the horizon; attrs
        ``method``, ``as_of``, ``horizon``, ``lookback``, ``n_events_used``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> ev = pd.DataFrame({"x": rng.uniform(0, 2000, 500), "y": rng.uniform(0, 2000, 500),
    ...     "occurred_at": pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(rng.uniform(0, 60, 500), "D")})
    >>> f = forecast(ev, "prospective", as_of="2024-02-20", cell_size=100, crs="EPSG:32616")
    >>> f.attrs["method"], f.dims
    ('prospective', ('y', 'x'))
    """
    if method not in METHODS:
        raise HotspotInputError(f"method must be one of {METHODS}; got {method!r}")
    cell_size = check_positive("cell_size", cell_size)
    horizon_td = check_duration(horizon, "horizon")
    lookback = lookback or DEFAULT_LOOKBACK[method] or horizon
    lookback_td = check_duration(lookback, "lookback")
    pts = as_points(incidents, crs, time=time)
    t = pd.DatetimeIndex(pts.times).tz_localize("UTC")
    as_of_ts = (t.max() + pd.Timedelta("1us")) if as_of is None else _utc(as_of)
    grid = grid_for(pts, cell_size, bounds)
    window = (t >= as_of_ts - lookback_td) & (t < as_of_ts)
    if not window.any():
        raise HotspotInputError(
            f"no events in the {lookback} before {as_of_ts.isoformat()}: nothing to forecast from"
        )
    used = pts.subset(np.asarray(window))
    if method == "naive":
        surface, _ = grid.count(used.x, used.y)
    elif method == "kde":
        h = check_positive("bandwidth_m", bandwidth_m) if bandwidth_m is not None else 2 * cell_size
        counts, _ = grid.count(used.x, used.y)
        surface = fft_convolve_same(counts, kernel_weights("gaussian", h, cell_size))
    else:
        radius = check_positive("bandwidth_m", bandwidth_m) if bandwidth_m is not None else 400.0
        age_weeks = np.floor(((as_of_ts - t[window]) / pd.Timedelta("7D")).to_numpy(dtype=float))
        recent, _ = grid.count(used.x, used.y, 1.0 / (1.0 + age_weeks))
        surface = fft_convolve_same(recent, promap_kernel(radius, cell_size))
    surface[surface < 1e-12 * surface.max(initial=0.0)] = 0.0
    total = surface.sum()
    rate = window.sum() / (lookback_td / pd.Timedelta("1D")) * (horizon_td / pd.Timedelta("1D"))
    if total > 0:
        surface *= rate / total
    return grid.data_array(surface, "forecast", {
        "units": f"expected events per cell over {horizon}", "method": method, "as_of": as_of_ts.isoformat(),
        "horizon": str(horizon), "lookback": str(lookback), "n_events_used": int(window.sum()),
    })


def score(forecast, actual_points, coverage=0.05, *, crs=None, seed=0) -> dict:
    """Hit rate, PAI and PEI of a forecast against the events that followed.

    Parameters
    ----------
    forecast : xarray.DataArray
        A grid from :func:`forecast` (or :func:`kde`, :func:`grid_counts`);
        NaN cells are outside the study area.
    actual_points : DataFrame, GeoDataFrame or (n, 2) array
        The events of the forecast period (see :func:`grid_counts`).
    coverage : float
        Share of the study area flagged (0.05 = the top 5 % of cells).
    crs : str, optional
        CRS of x/y input if it is not the forecast's.
    seed : int
        Cells tied at the cut-off are taken in a random order from this seed.

    Returns
    -------
    dict
        ``hit_rate`` (n/N), ``pai`` ((n/N)/(a/A)), ``pei`` (n/n*), and the
        parts: ``n``, ``N``, ``n_star``, ``cells_flagged``, ``area_km2`` (a),
        ``study_area_km2`` (A), ``coverage`` (a/A as achieved), ``n_outside``
        (events off the grid, not counted in N).

    Examples
    --------
    >>> import numpy as np, pandas as pd, xarray as xr
    >>> f = xr.DataArray(np.arange(100.0).reshape(10, 10), dims=("y", "x"),
    ...     coords={"y": np.arange(10) * 100 + 50.0, "x": np.arange(10) * 100 + 50.0},
    ...     attrs={"crs": "EPSG:32616", "cell_size_m": 100.0})
    >>> s = score(f, pd.DataFrame({"x": [950.0, 950.0, 50.0, 150.0], "y": [950.0, 950.0, 50.0, 50.0]}), 0.05)
    >>> s["hit_rate"], s["pai"], s["pei"]
    (0.5, 10.0, 0.5)
    """
    if not isinstance(forecast, xr.DataArray) or forecast.dims != ("y", "x"):
        raise HotspotInputError("forecast must be a (y, x) grid DataArray from forecast() or kde()")
    coverage = float(coverage)
    if not 0 < coverage <= 1:
        raise HotspotInputError(f"coverage must be in (0, 1]; got {coverage!r}")
    grid = Grid.like(forecast)
    pts = as_points(actual_points, crs if crs is not None else grid.crs)
    if pts.crs != grid.crs:
        raise HotspotInputError(f"actual points are in {pts.crs} but the forecast grid is in {grid.crs}")
    counts, outside = grid.count(pts.x, pts.y)
    values = np.asarray(forecast.values, dtype=float).ravel()
    valid = np.flatnonzero(np.isfinite(values))
    actual = counts.ravel()[valid]
    total = actual.sum()
    if total == 0:
        raise HotspotInputError("none of the actual events falls on the forecast grid: nothing to score")
    k = max(1, int(round(coverage * valid.size)))
    tiebreak = np.random.default_rng(seed).random(valid.size)
    order = np.lexsort((tiebreak, -values[valid]))
    caught = actual[order[:k]].sum()
    best = np.sort(actual)[::-1][:k].sum()
    cell_km2 = grid.cell_area_km2
    hit_rate = caught / total
    return {
        "hit_rate": float(hit_rate), "pai": float(hit_rate / (k / valid.size)), "pei": float(caught / best),
        "n": int(caught), "N": int(total), "n_star": int(best), "cells_flagged": k,
        "area_km2": k * cell_km2, "study_area_km2": valid.size * cell_km2, "coverage": k / valid.size,
        "n_outside": outside,
    }
