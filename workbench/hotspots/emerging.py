"""Emerging hot spots: Gi* in a space-time cube, a Mann-Kendall trend, Esri's 17 patterns.

Steps (after Esri, "How Emerging Hot Spot Analysis works"):

1. Count events in a space-time cube: grid cells x time steps. Steps are
   aligned to end at ``end`` (default: just after the last event), so the
   final step is the most recent full period; only whole steps are used.
2. Gi* for every bin, with binary space-time neighbours: the spatial window
   (queen, rook or ``radius_m``) in this step and the ``time_window``
   preceding steps. Mean and variance are those of all bins in the cube.
   p-values are two-sided; with ``fdr`` they are Benjamini-Hochberg adjusted
   over all bins. A bin is a hot (cold) spot when significant at ``alpha``
   with z > 0 (z < 0).
3. Mann-Kendall trend test on each location's series of Gi* z-scores
   (S statistic, variance corrected for ties, continuity correction,
   two-sided at ``trend_alpha``).
4. Each location gets one pattern (codes as Esri's CATEGORY field), decided in
   this order with ``T`` steps and "90 %" meaning at least ``0.9 T`` steps:

   ====  =======================  ===========================================================
   code  pattern                  definition (cold spots mirror hot spots, with negative codes)
   ====  =======================  ===========================================================
   3     intensifying hot spot    final step hot; hot in >= 90 % of steps; significant upward trend
   4     persistent hot spot      final step hot; hot in >= 90 % of steps; no significant trend
   5     diminishing hot spot     final step hot; hot in >= 90 % of steps; significant downward trend
   1     new hot spot             final step hot; never hot before
   2     consecutive hot spot     final step hot; one uninterrupted run of >= 2 hot steps at the
                                  end, never hot before that run; < 90 % of steps hot
   7     oscillating hot spot     final step hot; < 90 % hot; cold in some earlier step
   6     sporadic hot spot        final step hot; < 90 % hot; on-and-off hot; never cold
   8     historical hot spot      final step not hot (nor cold); hot in >= 90 % of steps
   0     no pattern detected      none of the above
   ====  =======================  ===========================================================

   A final step that is cold is read with the cold definitions. Where two
   definitions both fit, the first in the table wins: a location first cold
   in the final step after years as a hot spot is a *new* cold spot (it was
   never cold before), while one cold at the end with earlier cold and hot
   steps is an *oscillating* cold spot. As in ArcGIS without an analysis
   mask, only locations with at least one event in some step are analysed
   (``cells="with_events"``); the others get code 0 and ``analysed = False``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import ndtr

from workbench.errors import HotspotInputError
from workbench.hotspots._checks import as_points, check_positive, check_duration, is_dask_frame, step_window
from workbench.hotspots.gistar import _check_alpha, _gi_star, _inference, window_half_widths, window_sum
from workbench.hotspots.grid import grid_for, report_strays

PATTERNS = {
    1: "new hot spot", 2: "consecutive hot spot", 3: "intensifying hot spot", 4: "persistent hot spot",
    5: "diminishing hot spot", 6: "sporadic hot spot", 7: "oscillating hot spot", 8: "historical hot spot",
    0: "no pattern detected",
}
PATTERNS.update({-k: v.replace("hot spot", "cold spot") for k, v in list(PATTERNS.items()) if k})


def space_time_cube(points, cell_size, time_step="7D", *, time="occurred_at", end=None, n_steps=None,
                    bounds=None, crs=None) -> xr.DataArray:
    """Count events per grid cell and time step.

    Parameters
    ----------
    points : DataFrame or GeoDataFrame
        Points (see :func:`grid_counts`) with a time column; or a dask DataFrame.
    cell_size : float
        Metres.
    time_step : str
        A pandas Timedelta string ("7D", "1D", "12h").
    time : str
        Name of the time column (timezone-aware; naive times are read as UTC).
    end : timestamp, optional
        End of the final step (exclusive). Default: just after the last event
        (Esri's "end time" alignment), so the final step is the latest full period.
    n_steps : int, optional
        Number of steps back from ``end``. Default: as many whole steps as fit
        between the first event and ``end``; a part-filled earliest step would
        look like a quiet one and turn persistent hot spots into consecutive
        ones. Events before the first step are left out and counted in
        ``attrs["n_before"]``.
    bounds, crs
        As for :func:`grid_counts`.

    Returns
    -------
    xarray.DataArray
        ``counts`` with dims (time, y, x); ``time`` holds each step's start (UTC).

    Examples
    --------
    >>> import pandas as pd
    >>> pts = pd.DataFrame({"x": [500.0, 510.0, 900.0], "y": [500.0, 520.0, 900.0],
    ...                     "occurred_at": pd.to_datetime(["2024-01-01", "2024-01-09", "2024-01-10"], utc=True)})
    >>> cube = space_time_cube(pts, 100, "7D", crs="EPSG:32616", n_steps=2)
    >>> cube.sizes["time"], int(cube.sum())
    (2, 3)
    >>> cube = space_time_cube(pts, 100, "7D", crs="EPSG:32616")  # whole steps only
    >>> cube.sizes["time"], int(cube.sum()), cube.attrs["n_before"]
    (1, 2, 1)
    """
    if is_dask_frame(points):  # beyond one machine: the same cube, binned partition by partition
        from workbench.scale import hotspots as on_dask
        return on_dask.space_time_cube(points, cell_size, time_step, time=time, end=end, n_steps=n_steps,
                                       bounds=bounds, crs=crs)
    cell_size = check_positive("cell_size", cell_size)
    step = check_duration(time_step)
    pts = as_points(points, crs, time=time)
    t = pts.times.astype("int64")
    end_ts, n_steps, start = step_window(step, end, n_steps, int(t.min()), int(t.max()))
    grid = grid_for(pts, cell_size, bounds)
    counts, facts = bin_cube(pts.x, pts.y, t, grid, start, step.value, n_steps)
    return cube_array(counts, facts, grid, start, step, n_steps, time_step, end_ts, pts, bounds)


def bin_cube(x, y, t, grid, start: int, step_ns: int, n_steps: int):
    """Counts per (step, row, column), flattened, and ``[outside, kept, before, after]`` event counts.

    ``t`` in ns since the epoch; steps start at ``start`` (ns). Used for all
    points at once, and for each partition of a dask frame.
    """
    k = np.floor((t - start) / step_ns).astype(np.int64)
    in_time = (k >= 0) & (k < n_steps)
    fx = (x - grid.x0) / grid.cell_size
    fy = (y - grid.y0) / grid.cell_size
    in_space = (fx >= 0) & (fx <= grid.nx) & (fy >= 0) & (fy <= grid.ny)
    keep = in_time & in_space
    ix = np.minimum(fx[keep].astype(np.intp), grid.nx - 1)
    iy = np.minimum(fy[keep].astype(np.intp), grid.ny - 1)
    flat = (k[keep] * grid.ny + iy) * grid.nx + ix
    counts = np.bincount(flat, minlength=n_steps * grid.ny * grid.nx).astype(float)
    facts = np.array([(~in_space).sum(), keep.sum(), (k < 0).sum(), (k >= n_steps).sum()], dtype=np.int64)
    return counts, facts


def cube_array(counts, facts, grid, start: int, step: pd.Timedelta, n_steps: int, time_step, end_ts, pts,
               bounds) -> xr.DataArray:
    """The binned counts of :func:`bin_cube` as the space-time cube, strays reported."""
    n_out, n_keep, n_before, n_after = (int(v) for v in facts)
    report_strays(n_out, pts.n_located, bounds is not None)
    starts = pd.to_datetime(start + np.arange(n_steps) * step.value, utc=True)
    return xr.DataArray(
        counts.reshape(n_steps, grid.ny, grid.nx), dims=("time", "y", "x"), name="counts",
        coords={"time": starts.tz_localize(None).to_numpy(), "y": grid.y, "x": grid.x},
        attrs={"crs": grid.crs, "cell_size_m": grid.cell_size, "bounds": grid.bounds, "time_zone": "UTC",
               "time_step": str(time_step), "end": end_ts.isoformat(), "units": "events per cell per step",
               "n_points": n_keep, "n_missing": pts.n_missing, "n_outside": n_out, "n_before": n_before,
               "n_after": n_after},
    )


def mann_kendall(series):
    """Mann-Kendall trend test along axis 0 of ``series`` (time x locations), vectorised.

    Returns S, the z-score (continuity corrected, variance corrected for ties)
    and the two-sided p-value, one per location. Values are compared after
    rounding to 1e-10 so float noise does not break ties.

    Examples
    --------
    >>> s, z, p = mann_kendall(np.array([[1.0], [2.0], [3.0], [4.0], [5.0], [6.0]]))
    >>> int(s[0]), round(float(p[0]), 4)
    (15, 0.0085)
    """
    x = np.round(np.asarray(series, dtype=float), 10)
    n = x.shape[0]
    s = np.zeros(x.shape[1:])
    for lag in range(1, n):
        s += np.sign(x[lag:] - x[:-lag]).sum(axis=0)
    flat = x.reshape(n, -1)
    ordered = np.sort(flat, axis=0)
    new = np.ones(ordered.shape, dtype=bool)
    new[1:] = ordered[1:] != ordered[:-1]
    sizes = np.bincount(np.cumsum(new.ravel(order="F")) - 1).astype(float)
    owner = np.repeat(np.arange(flat.shape[1]), new.sum(axis=0))
    ties = np.bincount(owner, weights=sizes * (sizes - 1) * (2 * sizes + 5), minlength=flat.shape[1])
    var = ((n * (n - 1) * (2 * n + 5) - ties) / 18.0).reshape(x.shape[1:])
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(var > 0, (s - np.sign(s)) / np.sqrt(var), 0.0)
    return s, z, 2.0 * ndtr(-np.abs(z))


def _trailing_run(flags):
    """Length of the run of True at the end of each series (axis 0)."""
    rev = flags[::-1]
    first_false = np.argmax(~rev, axis=0)
    return np.where(rev.all(axis=0), flags.shape[0], first_false)


def classify(hot, cold, trend):
    """Esri pattern codes (see the module docstring) from hot/cold flags (time first) and trend sign."""
    steps = hot.shape[0]
    need = 0.9 * steps
    code = np.zeros(hot.shape[1:], dtype=np.int8)
    for sign, this, other in ((1, hot, cold), (-1, cold, hot)):
        last = this[-1]
        n_this = this.sum(axis=0)
        run = _trailing_run(this)
        mostly = n_this >= need
        up = trend * sign  # "intensifying" means hotter for hot spots, colder for cold spots
        rules = [
            (last & mostly & (up > 0), 3), (last & mostly & (up < 0), 5), (last & mostly, 4),
            (last & (n_this == 1), 1), (last & (run >= 2) & (n_this == run), 2),
            (last & other[:-1].any(axis=0), 7), (last, 6),
        ]
        for rule, value in rules[::-1]:
            code[rule] = sign * value
    for sign, this in ((1, hot), (-1, cold)):
        historical = ~hot[-1] & ~cold[-1] & (this.sum(axis=0) >= need)
        code[historical] = sign * 8
    return code


def emerging_from_cube(counts: xr.DataArray, neighbours="queen", radius_m=None, time_window=1,
                       alpha=0.05, fdr=True, trend_alpha=0.05, cells="with_events") -> xr.Dataset:
    """Emerging hot spot patterns from a (time, y, x) count cube; see :func:`emerging`."""
    if counts.dims != ("time", "y", "x"):
        raise HotspotInputError(f"a space-time cube must have dims ('time', 'y', 'x'); got {counts.dims}")
    if cells not in ("with_events", "all"):
        raise HotspotInputError(f"cells must be 'with_events' or 'all'; got {cells!r}")
    alpha, trend_alpha = _check_alpha(alpha), _check_alpha(trend_alpha)
    time_window = int(time_window)
    if time_window < 0:
        raise HotspotInputError(f"time_window must be >= 0 steps; got {time_window}")
    x = np.asarray(counts.values, dtype=float)
    steps = x.shape[0]
    if steps < 2:
        raise HotspotInputError("emerging hot spots need at least 2 time steps; use a shorter time_step")
    located = np.isfinite(x).all(axis=0)
    if cells == "with_events":
        located &= np.nan_to_num(x).sum(axis=0) > 0
    if not located.any():
        raise HotspotInputError("no cell has any event: there is nothing to analyse")
    valid = np.broadcast_to(located, x.shape)
    xv = np.where(valid, x, 0.0)
    cell = float(counts.attrs.get("cell_size_m", 1.0))
    hw = window_half_widths(neighbours, radius_m, cell)
    spatial_x = window_sum(xv, hw)
    spatial_w = window_sum(valid.astype(float), hw)
    run_x, run_w = np.cumsum(spatial_x, axis=0), np.cumsum(spatial_w, axis=0)
    sum_wx, w_i = run_x.copy(), run_w.copy()
    if time_window + 1 < steps:  # subtract what lies before the window
        sum_wx[time_window + 1:] -= run_x[:-(time_window + 1)]
        w_i[time_window + 1:] -= run_w[:-(time_window + 1)]
    n = int(valid.sum())
    z, flat = _gi_star(sum_wx, w_i, xv[valid], n)
    z = np.where(valid, z, np.nan)
    p, q, bins, sig = _inference(z, valid, alpha, fdr)
    hot, cold = sig & (z > 0), sig & (z < 0)
    s, trend_z, trend_p = mann_kendall(np.where(valid, z, 0.0))
    trend = (np.sign(s) * (trend_p <= trend_alpha)).astype(np.int8)
    code = np.where(located, classify(hot, cold, trend), 0).astype(np.int8)
    names = np.vectorize(PATTERNS.get, otypes=[object])(code)
    dims3, dims2 = ("time", "y", "x"), ("y", "x")
    attrs = {k: v for k, v in counts.attrs.items() if k not in ("units",)}
    attrs.update({"neighbours": f"within {radius_m} m" if radius_m is not None else str(neighbours),
                  "time_window": time_window, "alpha": alpha, "fdr": bool(fdr), "trend_alpha": trend_alpha,
                  "cells": cells, "n_steps": steps, "zero_variance": bool(flat),
                  "patterns": "; ".join(f"{k}={v}" for k, v in sorted(PATTERNS.items()))})
    return xr.Dataset({
        "counts": (dims3, x, {"units": "events per cell per step"}),
        "z": (dims3, z, {"long_name": "space-time Gi* z-score"}),
        "p": (dims3, p, {"long_name": "two-sided p-value"}),
        "bin": (dims3, np.where(valid, bins, 0).astype(np.int8), {"long_name": "Gi_Bin per step"}),
        "pattern": (dims2, names, {"long_name": "emerging hot spot pattern"}),
        "pattern_code": (dims2, code, {"long_name": "Esri CATEGORY code (+ hot, - cold)"}),
        "trend_z": (dims2, np.where(located, trend_z, np.nan), {"long_name": "Mann-Kendall z of the Gi* z series"}),
        "trend_p": (dims2, np.where(located, trend_p, np.nan), {"long_name": "Mann-Kendall two-sided p"}),
        "n_hot": (dims2, hot.sum(axis=0).astype(np.int32)),
        "n_cold": (dims2, cold.sum(axis=0).astype(np.int32)),
        "analysed": (dims2, located),
    }, coords={"time": counts.time.values, "y": counts.y.values, "x": counts.x.values}, attrs=attrs)


def emerging(points, cell_size, time_step="7D", *, time="occurred_at", end=None, n_steps=None,
             neighbours="queen", radius_m=None, time_window=1, alpha=0.05, fdr=True, trend_alpha=0.05,
             cells="with_events", bounds=None, crs=None) -> xr.Dataset:
    """Emerging hot spot analysis: one of Esri's 17 patterns per grid cell.

    Parameters
    ----------
    points : DataFrame or GeoDataFrame
        Points with a time column (see :func:`space_time_cube`).
    cell_size : float
        Metres.
    time_step : str
        Step of the cube ("7D").
    time, end, n_steps, bounds, crs
        As for :func:`space_time_cube`.
    neighbours, radius_m
        Spatial neighbourhood, as for :func:`gistar`.
    time_window : int
        Preceding steps included in each bin's neighbourhood (Esri's
        "neighborhood time step"; 0 = this step only).
    alpha, fdr
        Significance of each bin's Gi* (FDR over all bins when ``fdr``).
    trend_alpha : float
        Level of the Mann-Kendall trend test.
    cells : {"with_events", "all"}
        Analyse only cells with an event in some step, or every cell.

    Returns
    -------
    xarray.Dataset
        Per cell (y, x): ``pattern`` (name), ``pattern_code`` (Esri code),
        ``trend_z``, ``trend_p``, ``n_hot``, ``n_cold``, ``analysed``; per bin
        (time, y, x): ``counts``, ``z``, ``p``, ``bin``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> days = rng.uniform(0, 70, 3000)
    >>> pts = pd.DataFrame({"x": rng.uniform(0, 2000, 3000), "y": rng.uniform(0, 2000, 3000),
    ...                     "occurred_at": pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(days, "D")})
    >>> res = emerging(pts, 200, "7D", crs="EPSG:32616")
    >>> res.sizes["time"], res["pattern"].dims
    (9, ('y', 'x'))
    """
    cube = space_time_cube(points, cell_size, time_step, time=time, end=end, n_steps=n_steps,
                           bounds=bounds, crs=crs)
    return emerging_from_cube(cube, neighbours, radius_m, time_window, alpha, fdr, trend_alpha, cells)
