"""The dask path of the hotspot engine: the same grids from a dask DataFrame of points.

:func:`workbench.hotspots.grid_counts`, :func:`~workbench.hotspots.kde`,
:func:`~workbench.hotspots.gistar` and :func:`~workbench.hotspots.emerging`
hand a dask DataFrame to the functions here. Every statistic the pandas path
takes from the points is taken exactly, not approximately, so the grids are
the pandas path's (counts equal; densities to floating-point round-off):

1. One pass reads each partition's locations (lon/lat or x/y with ``crs=``),
   drops and counts unusable rows as the pandas path does, and keeps the rest
   (projected to metres) in cluster memory: 16 bytes a point.
2. The robust extent takes the pandas path's own subsample (every
   ``n // 200_000``-th located point, by global position) and exact min / max.
   The UTM zone's median and the normal-reference bandwidth's quartiles are
   exact order statistics, found by narrowing histograms over the partitions
   (a few passes) and sorting only the last few thousand candidates.
3. Each partition is binned on the one grid with the same numba kernel, and the
   partial grids are summed in a tree. The kernel convolution, Gi* and the
   emerging hot spot tests then run on the summed grid, in memory, as usual.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.data.crs import utm_crs_for
from workbench.errors import HotspotInputError
from workbench.hotspots import _checks
from workbench.hotspots._checks import check_positive, check_duration, step_window

_CANDIDATES = 200_000  # order statistics: gather the candidates once this few remain


class DaskPoints:
    """Located points of a dask DataFrame, projected, held as persisted partitions.

    Attributes
    ----------
    parts : list of dask.delayed.Delayed
        pandas DataFrames with ``x``, ``y`` and, when asked for, ``w`` and ``t`` (ns UTC).
    sizes : numpy.ndarray
        Located points per partition.
    crs : str
    n_input, n_missing : int
    """

    def __init__(self, parts, sizes, crs, n_input, n_missing, weighted):
        self.parts, self.sizes, self.crs = parts, np.asarray(sizes, dtype=np.int64), crs
        self.n_input, self.n_missing, self.weighted = n_input, n_missing, weighted

    @property
    def n_located(self) -> int:
        return self.n_input - self.n_missing


def _delayed(fn, *args):
    import dask

    return dask.delayed(fn, pure=True)(*args)


def _compute(*tasks):
    import dask

    return dask.compute(*tasks)


def _source(columns, crs):
    """(column a, column b, source CRS) as the pandas path reads them."""
    if {"x", "y"} <= set(columns):
        if crs is None:
            raise HotspotInputError("points have x/y columns: give their projected crs= (e.g. 'EPSG:32616')")
        return "x", "y", crs
    if {"lon", "lat"} <= set(columns):
        return "lon", "lat", "EPSG:4326"
    raise HotspotInputError(f"points need lon/lat columns, x/y columns with crs=, or a point geometry; "
                            f"found columns {list(columns)}")


def _read_part(frame, a_col, b_col, geographic, weights, time):
    """Usable rows of one partition and its counts (the pandas path's checks, per partition)."""
    a, b = _checks._column(frame, a_col), _checks._column(frame, b_col)
    ok = np.isfinite(a) & np.isfinite(b)
    if geographic:
        ok &= ~((a == 0) & (b == 0))  # null island: a failed geocode, not a place
    out = pd.DataFrame({"a": a[ok], "b": b[ok]})
    stats = {"n": len(frame), "bad_w": 0, "bad_t": 0}
    if weights is not None:
        w = pd.to_numeric(frame[weights], errors="coerce").to_numpy(dtype=float)
        stats["bad_w"] = int((~np.isfinite(w)).sum())
        out["w"] = w[ok]
    if time is not None:
        column = frame[time]
        if pd.api.types.is_datetime64_any_dtype(column):
            t = pd.to_datetime(column, utc=True)
        else:
            t = pd.to_datetime(column, utc=True, errors="coerce", format="mixed")
        stats["bad_t"] = int(t.isna().sum())
        out["t"] = t.dt.tz_convert("UTC").to_numpy(dtype="datetime64[ns]").astype(np.int64)[ok]
    va, vb = out["a"].to_numpy(), out["b"].to_numpy()
    stats["extent"] = (va.min(), va.max(), vb.min(), vb.max()) if len(out) else None
    return out, stats


def _first_not_degrees(frame):
    bad = (np.abs(frame["a"].to_numpy()) > 180) | (np.abs(frame["b"].to_numpy()) > 90)
    i = np.flatnonzero(bad)
    return (float(frame["a"].iloc[i[0]]), float(frame["b"].iloc[i[0]])) if i.size else None


def _project_part(frame, source, target):
    from pyproj import Transformer

    x, y = Transformer.from_crs(source, target, always_xy=True).transform(frame["a"].to_numpy(),
                                                                          frame["b"].to_numpy())
    out = frame.drop(columns=["a", "b"])
    out.insert(0, "y", np.asarray(y, dtype=float))
    out.insert(0, "x", np.asarray(x, dtype=float))
    return out


def dask_points(ddf, crs=None, *, weights=None, time=None) -> DaskPoints:
    """Read a dask DataFrame of points into projected metres, as :func:`~workbench.hotspots._checks.as_points`.

    Parameters
    ----------
    ddf : dask.dataframe.DataFrame
        lon/lat columns, or x/y with ``crs=``.
    crs : str, optional
    weights : str, optional
        A column name (arrays of weights cannot follow a dask DataFrame's partitions).
    time : str, optional

    Returns
    -------
    DaskPoints
    """
    import dask

    if weights is not None and not isinstance(weights, str):
        raise HotspotInputError("with a dask DataFrame, weights must be a column name")
    if weights is not None and weights not in ddf.columns:
        raise HotspotInputError(f"weights column {weights!r} not found in the points")
    if time is not None and time not in ddf.columns:
        raise HotspotInputError(f"time column {time!r} not found; columns are {list(ddf.columns)}")
    a_col, b_col, source = _source(ddf.columns, crs)
    geographic = _checks._is_geographic(source)
    read = [_delayed(_read_part, p, a_col, b_col, geographic, weights, time) for p in ddf.to_delayed()]
    read = dask.persist(*read)
    stats = _compute(*[_delayed(lambda r: r[1], r) for r in read])
    n = sum(s["n"] for s in stats)
    if n == 0:
        raise HotspotInputError("no points: the input is empty")
    sizes = [0 if s["extent"] is None else None for s in stats]
    extents = [s["extent"] for s in stats if s["extent"] is not None]
    if not extents:
        where = " or at 0, 0" if geographic else ""
        raise HotspotInputError(f"none of the {n} points has a usable location (all missing{where})")
    extent = (min(e[0] for e in extents), max(e[1] for e in extents),
              min(e[2] for e in extents), max(e[3] for e in extents))
    bad_w, bad_t = sum(s["bad_w"] for s in stats), sum(s["bad_t"] for s in stats)
    if bad_w:
        raise HotspotInputError(f"weights has {bad_w} missing or infinite values")
    if bad_t:
        raise HotspotInputError(f"time column {time!r} has {bad_t} missing or unparseable values")
    frames = [_delayed(lambda r: r[0], r) for r in read]
    sizes = np.array(_compute(*[_delayed(len, f) for f in frames]), dtype=np.int64)
    n_missing = int(n - sizes.sum())
    if geographic:
        if not (_checks._within(extent[0], extent[1], 180) and _checks._within(extent[2], extent[3], 90)):
            first = next(v for v in _compute(*[_delayed(_first_not_degrees, f) for f in frames]) if v)
            raise HotspotInputError(
                f"lon/lat hold values that are not degrees (e.g. lon={first[0]:.6g}, lat={first[1]:.6g}); "
                "if these are projected metres, pass them as x/y columns with crs="
            )
        target = None if crs is None or _checks._is_geographic(crs) else crs
        if target is None:
            lon0 = median(frames, sizes, "a")
            lat0 = median(frames, sizes, "b")
            target = utm_crs_for([lon0], [lat0])
        out_crs = target
        parts = [_delayed(_project_part, f, _checks._crs_string(source), target) for f in frames]
    else:
        out_crs = _checks._crs_string(source)
        # the check only needs how many points there are, not their values
        _checks._check_metres(np.broadcast_to(0.0, (int(sizes.sum()),)), None, out_crs, extent)
        if crs is not None and not _checks._is_geographic(crs) and _checks._crs_string(crs) != out_crs:
            parts = [_delayed(_project_part, f, source, crs) for f in frames]
            out_crs = _checks._crs_string(crs)
        else:
            parts = [_delayed(lambda f: f.rename(columns={"a": "x", "b": "y"}), f) for f in frames]
    parts = list(dask.persist(*parts))
    return DaskPoints(parts, sizes, _checks._crs_string(out_crs), n, n_missing, weights is not None)


# ------------------------------------------------------------------ exact statistics
def _count_ranges(frame, column, ranges, edges):
    v = frame[column].to_numpy()
    out = []
    for (lo, hi), e in zip(ranges, edges):
        inside = v[(v >= lo) & (v <= hi)]
        out.append((inside.size, np.searchsorted(np.sort(inside), e, side="left")))
    return out


def _gather_ranges(frame, column, ranges):
    v = frame[column].to_numpy()
    return [v[(v >= lo) & (v <= hi)] for lo, hi in ranges]


def order_statistics(parts, sizes, column, ranks) -> np.ndarray:
    """The values of rank ``ranks`` (0-based, ascending) of ``column`` over all partitions, exactly.

    Narrows a value interval per rank with 1024-bin counts over the partitions
    until few candidates remain, then sorts those.
    """
    n = int(np.sum(sizes))
    ranks = [int(k) for k in ranks]
    mins = _compute(*[_delayed(lambda f: f[column].min() if len(f) else np.inf, p) for p in parts])
    maxs = _compute(*[_delayed(lambda f: f[column].max() if len(f) else -np.inf, p) for p in parts])
    state = [[float(min(mins)), float(max(maxs)), 0] for _ in ranks]  # lo, hi (inclusive), rows below lo
    counts = [n] * len(ranks)
    while any(c > _CANDIDATES and s[0] < s[1] for c, s in zip(counts, state)):
        ranges = [(s[0], s[1]) for s in state]
        edges = [np.unique(np.linspace(lo, hi, 1025)[1:-1]) for lo, hi in ranges]
        per_part = _compute(*[_delayed(_count_ranges, p, column, ranges, edges) for p in parts])
        for i, (k, s) in enumerate(zip(ranks, state)):
            total = sum(pp[i][0] for pp in per_part)
            below_edge = np.sum([pp[i][1] for pp in per_part], axis=0)
            counts[i] = total
            if total <= _CANDIDATES or s[0] >= s[1]:
                continue
            r = k - s[2]
            j = int(np.searchsorted(below_edge, r, side="right"))  # first edge with more than r below it
            lo = s[0] if j == 0 else edges[i][j - 1]
            hi = s[1] if j == len(edges[i]) else np.nextafter(edges[i][j], -np.inf)
            s[2] += 0 if j == 0 else int(below_edge[j - 1])
            s[0], s[1] = float(lo), float(hi)
            counts[i] = (int(below_edge[j]) if j < len(edges[i]) else total) - (int(below_edge[j - 1]) if j else 0)
    ranges = [(s[0], s[1]) for s in state]
    gathered = _compute(*[_delayed(_gather_ranges, p, column, ranges) for p in parts])
    out = []
    for i, (k, s) in enumerate(zip(ranks, state)):
        values = np.sort(np.concatenate([g[i] for g in gathered]))
        out.append(values[k - s[2]] if s[0] < s[1] else s[0])
    return np.array(out, dtype=float)


def _lerp(a, b, t):
    """NumPy's interpolation between neighbouring order statistics (``np.percentile``, linear)."""
    diff = b - a
    return b - diff * (1 - t) if t >= 0.5 else a + diff * t


def percentiles(parts, sizes, column, qs) -> list:
    """``np.percentile(values, qs)`` (linear method) over all partitions, exactly."""
    n = int(np.sum(sizes))
    positions = [q / 100 * (n - 1) for q in qs]
    ranks = sorted({int(np.floor(p)) for p in positions} | {min(int(np.floor(p)) + 1, n - 1) for p in positions})
    values = dict(zip(ranks, order_statistics(parts, sizes, column, ranks)))
    return [_lerp(values[int(np.floor(p))], values[min(int(np.floor(p)) + 1, n - 1)], p - np.floor(p))
            for p in positions]


def median(parts, sizes, column) -> float:
    """``np.median`` over all partitions, exactly."""
    n = int(np.sum(sizes))
    ranks = [(n - 1) // 2, n // 2]
    lo, hi = order_statistics(parts, sizes, column, sorted(set(ranks)))[[0, -1]]
    return float(np.mean([lo, hi]))


def _strided(frame, offset, step):
    first = (-offset) % step
    return frame[["x", "y"]].iloc[first::step]


def robust_extent(pts: DaskPoints):
    """:func:`~workbench.hotspots._checks.robust_extent` over all partitions: the same subsample, exact min / max."""
    n = pts.n_located
    step = max(1, n // 200_000)
    offsets = np.r_[0, np.cumsum(pts.sizes)[:-1]]
    sample = pd.concat(_compute(*[_delayed(_strided, p, int(o), step) for p, o in zip(pts.parts, offsets)]))
    xs, ys = sample["x"].to_numpy(), sample["y"].to_numpy()
    qx = np.percentile(xs, [1, 99])
    qy = np.percentile(ys, [1, 99])
    sx, sy = qx[1] - qx[0], qy[1] - qy[0]
    ext = _compute(*[_delayed(lambda f: (f["x"].min(), f["x"].max(), f["y"].min(), f["y"].max())
                              if len(f) else (np.inf, -np.inf, np.inf, -np.inf), p) for p in pts.parts])
    xmin, xmax = min(e[0] for e in ext), max(e[1] for e in ext)
    ymin, ymax = min(e[2] for e in ext), max(e[3] for e in ext)
    return (max(float(xmin), qx[0] - 0.5 * sx), max(float(ymin), qy[0] - 0.5 * sy),
            min(float(xmax), qx[1] + 0.5 * sx), min(float(ymax), qy[1] + 0.5 * sy))


def nrd_bandwidth(pts: DaskPoints) -> float:
    """:func:`~workbench.hotspots.kde.nrd_bandwidth` over all partitions (exact quartiles, two-pass sd)."""
    from workbench.hotspots.kde import nrd_from_stats

    n = pts.n_located
    stats = []
    for column in ("x", "y"):
        q75, q25 = percentiles(pts.parts, pts.sizes, column, [75, 25])
        total = sum(_compute(*[_delayed(lambda f, c=column: float(f[c].sum()), p) for p in pts.parts]))
        mean = total / n
        ss = sum(_compute(*[_delayed(lambda f, c=column: float(((f[c] - mean) ** 2).sum()), p)
                            for p in pts.parts]))
        sd = float(np.sqrt(ss / (n - 1))) if n > 1 else 0.0
        stats.append((sd, q75 - q25))
    return nrd_from_stats(stats, n)


# ------------------------------------------------------------------ grids
def _add(*arrays):
    return sum(arrays[1:], arrays[0])


def tree_sum(tasks, fan_in=8):
    """Sum delayed arrays (or numbers) in a tree, so no one task holds every partial grid."""
    while len(tasks) > 1:
        tasks = [_delayed(_add, *tasks[i:i + fan_in]) for i in range(0, len(tasks), fan_in)]
    return tasks[0]


def _bin_part(frame, grid):
    w = frame["w"].to_numpy() if "w" in frame else None
    counts, outside, _, _ = grid.count_and_scan(frame["x"].to_numpy(), frame["y"].to_numpy(), w)
    return counts, outside


def grid_for(pts: DaskPoints, cell_size, bounds=None, pad_m=0.0):
    """:func:`workbench.hotspots.grid.grid_for` for dask points."""
    from workbench.hotspots.grid import Grid

    if bounds is not None:
        return Grid.from_bounds(bounds, cell_size, pts.crs, snap=False)
    xmin, ymin, xmax, ymax = robust_extent(pts)
    return Grid.from_bounds((xmin - pad_m, ymin - pad_m, xmax + pad_m, ymax + pad_m), cell_size, pts.crs)


def count_points(grid, pts: DaskPoints):
    """Bin every partition on ``grid`` and sum: (counts, located points outside the grid)."""
    binned = [_delayed(_bin_part, p, grid) for p in pts.parts]
    counts = tree_sum([_delayed(lambda r: r[0], b) for b in binned])
    outside = tree_sum([_delayed(lambda r: r[1], b) for b in binned])
    counts, outside = _compute(counts, outside)
    return counts, int(outside)


def grid_counts(points, cell_size, bounds=None, crs=None, weights=None):
    """:func:`workbench.hotspots.grid_counts` for a dask DataFrame (same parameters and result)."""
    from workbench.hotspots.grid import report_strays

    cell_size = check_positive("cell_size", cell_size)
    pts = dask_points(points, crs, weights=weights)
    grid = grid_for(pts, cell_size, bounds)
    counts, outside = count_points(grid, pts)
    report_strays(outside, pts.n_located, bounds is not None)
    return grid.data_array(counts, "counts", {
        "units": "events per cell" if not pts.weighted else "sum of weights per cell",
        "n_points": int(pts.n_located - outside), "n_missing": pts.n_missing, "n_outside": outside,
    })


def kde(points, cell_size, bandwidth="nrd", kernel="gaussian", weights=None, *, bounds=None, crs=None,
        units="per_km2"):
    """:func:`workbench.hotspots.kde` for a dask DataFrame (same parameters and result)."""
    from workbench.hotspots.kde import check_kde_args, choose_bandwidth, density_array

    cell_size = check_kde_args(cell_size, units, kernel)
    pts = dask_points(points, crs, weights=weights)
    h, bandwidth_rule, reach = choose_bandwidth(bandwidth, kernel, lambda: nrd_bandwidth(pts))
    grid = grid_for(pts, cell_size, bounds, pad_m=reach)
    counts, outside = count_points(grid, pts)
    return density_array(grid, counts, outside, pts, kernel, h, bandwidth_rule, units, bounds)


def _cube_part(frame, grid, start, step_ns, n_steps):
    from workbench.hotspots.emerging import bin_cube

    return bin_cube(frame["x"].to_numpy(), frame["y"].to_numpy(), frame["t"].to_numpy(), grid, start, step_ns,
                    n_steps)


def space_time_cube(points, cell_size, time_step="7D", *, time="occurred_at", end=None, n_steps=None,
                    bounds=None, crs=None):
    """:func:`workbench.hotspots.space_time_cube` for a dask DataFrame (same parameters and result)."""
    from workbench.hotspots.emerging import cube_array

    cell_size = check_positive("cell_size", cell_size)
    step = check_duration(time_step)
    pts = dask_points(points, crs, time=time)
    span = _compute(*[_delayed(lambda f: (f["t"].min(), f["t"].max()) if len(f) else (np.inf, -np.inf), p)
                      for p in pts.parts])
    t_min, t_max = int(min(s[0] for s in span)), int(max(s[1] for s in span))
    end_ts, n_steps, start = step_window(step, end, n_steps, t_min, t_max)
    grid = grid_for(pts, cell_size, bounds)
    binned = [_delayed(_cube_part, p, grid, start, step.value, n_steps) for p in pts.parts]
    counts, facts = _compute(tree_sum([_delayed(lambda r: r[0], b) for b in binned]),
                             tree_sum([_delayed(lambda r: r[1], b) for b in binned]))
    return cube_array(counts, facts, grid, start, step, n_steps, time_step, end_ts, pts, bounds)
