"""Input checks shared by the hotspot engines: points in, metres out.

Every engine accepts points in one of three forms and turns them into
projected metres here, once, at the door:

* a DataFrame with ``lon`` / ``lat`` columns (EPSG:4326 degrees), projected to
  ``crs`` or, if ``crs`` is None, to the local UTM zone picked by
  :func:`workbench.data.crs.utm_crs_for`;
* a DataFrame with ``x`` / ``y`` columns already in metres, with ``crs=`` naming
  their projected CRS (required);
* a GeoDataFrame of points: geographic CRS is projected like lon/lat, a
  projected CRS is used as it is (or reprojected to ``crs`` when given).

A NumPy array of shape (n, 2) is read as x/y and needs ``crs=``.

Rows without a usable location (NaN, or exactly 0, 0 in lon/lat, the
"null island" of failed geocoding) are dropped and counted, never silently.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from workbench.data.crs import project
from workbench.errors import HotspotInputError


class HotspotWarning(UserWarning):
    """Something about the input was handled in a documented way (strays dropped, a flat grid)."""


@dataclass
class Points:
    """Points in a projected metric CRS, as every engine uses them.

    Attributes
    ----------
    x, y : numpy.ndarray
        Metres in ``crs``.
    crs : str
    weights : numpy.ndarray or None
    times : numpy.ndarray or None
        ``datetime64[ns]`` in UTC when a time column was asked for.
    kept_rows : numpy.ndarray or None
        Positions (0-based) of the kept points in the input; None when every
        row was kept (see :attr:`rows`).
    n_input, n_missing : int
        Rows given, and rows dropped for lacking a location.
    """

    x: np.ndarray
    y: np.ndarray
    crs: str
    weights: np.ndarray | None
    times: np.ndarray | None
    kept_rows: np.ndarray | None
    n_input: int
    n_missing: int
    scanned: bool = True

    @property
    def n_located(self) -> int:
        """Points with a usable location."""
        return self.n_input - self.n_missing

    @property
    def rows(self) -> np.ndarray:
        """Positions (0-based) of the kept points in the input."""
        return np.arange(self.n_input) if self.kept_rows is None else self.kept_rows

    def subset(self, keep: np.ndarray) -> "Points":
        """The points where ``keep`` (a boolean mask over the kept points) is true."""
        return Points(
            self.x[keep], self.y[keep], self.crs,
            None if self.weights is None else self.weights[keep],
            None if self.times is None else self.times[keep],
            self.rows[keep], self.n_input, self.n_missing,
        )


def _is_geographic(crs) -> bool:
    return _crs_facts(crs)[0]


def _crs_string(crs) -> str:
    return _crs_facts(crs)[1]


def _crs_facts(crs):
    """(is geographic, "EPSG:n" or WKT) of a CRS, parsed once per distinct CRS."""
    key = crs if isinstance(crs, str) else getattr(crs, "to_wkt", lambda: None)()
    if key is None:
        raise HotspotInputError(f"crs={crs!r} is not a coordinate reference system pyproj knows")
    return _parse_crs(key)


@functools.lru_cache(maxsize=64)
def _parse_crs(key):
    from pyproj import CRS

    try:
        c = CRS.from_user_input(key)
    except Exception as exc:  # pyproj raises its own CRSError
        raise HotspotInputError(f"crs={key!r} is not a coordinate reference system pyproj knows") from exc
    epsg = c.to_epsg()
    return c.is_geographic, f"EPSG:{epsg}" if epsg else c.to_wkt()


def _times_of(frame, time):
    if time is None:
        return None
    if time not in frame.columns:
        raise HotspotInputError(f"time column {time!r} not found; columns are {list(frame.columns)}")
    column = frame[time]
    if pd.api.types.is_datetime64_any_dtype(column):
        t = pd.to_datetime(column, utc=True)
    else:
        t = pd.to_datetime(column, utc=True, errors="coerce", format="mixed")
    if t.isna().any():
        bad = int(t.isna().sum())
        raise HotspotInputError(f"time column {time!r} has {bad} missing or unparseable values")
    return t.dt.tz_convert("UTC").to_numpy(dtype="datetime64[ns]")


def _weights_of(frame, weights, n):
    if weights is None:
        return None
    if isinstance(weights, str):
        if frame is None or weights not in frame.columns:
            raise HotspotInputError(f"weights column {weights!r} not found in the points")
        w = pd.to_numeric(frame[weights], errors="coerce").to_numpy(dtype=float)
    else:
        w = np.asarray(weights, dtype=float).ravel()
    if w.shape[0] != n:
        raise HotspotInputError(f"weights has {w.shape[0]} values for {n} points")
    if not np.isfinite(w).all():
        raise HotspotInputError(f"weights has {int((~np.isfinite(w)).sum())} missing or infinite values")
    return w


def _all_usable(a, b, geographic):
    """Whether every row has finite coordinates (and, for lon/lat, is not 0, 0), and the extent.

    One pass with numba. Returns (usable, (amin, amax, bmin, bmax)); the
    extent is None unless every row is usable.
    """
    if njit is None or a.dtype != np.float64 or b.dtype != np.float64:
        ok = bool(np.isfinite(a).all() and np.isfinite(b).all())
        ok = ok and not (geographic and bool(((a == 0) & (b == 0)).any()))
        return ok, ((a.min(), a.max(), b.min(), b.max()) if ok else None)
    ok, amin, amax, bmin, bmax = _scan_usable(a, b, geographic)
    return bool(ok), ((amin, amax, bmin, bmax) if ok else None)


try:
    from numba import njit
except ImportError:  # pragma: no cover
    njit = None

if njit is not None:
    @njit(cache=True, nogil=True)
    def _scan_usable(a, b, geographic):  # pragma: no cover - compiled
        amin, amax, bmin, bmax = np.inf, -np.inf, np.inf, -np.inf
        for i in range(a.shape[0]):
            u, v = a[i], b[i]
            if not (np.isfinite(u) and np.isfinite(v)) or (geographic and u == 0 and v == 0):
                return False, amin, amax, bmin, bmax
            amin, amax = min(amin, u), max(amax, u)
            bmin, bmax = min(bmin, v), max(bmax, v)
        return True, amin, amax, bmin, bmax


def _extent(a, b):
    return (a.min(), a.max(), b.min(), b.max()) if a.size else (0.0, 0.0, 0.0, 0.0)


def _within(lo, hi, limit):
    return lo >= -limit and hi <= limit


def _check_degrees(lon, lat, extent):
    if not (_within(extent[0], extent[1], 180) and _within(extent[2], extent[3], 90)):
        bad = (np.abs(lon) > 180) | (np.abs(lat) > 90)
        i = int(np.flatnonzero(bad)[0])
        raise HotspotInputError(
            f"lon/lat hold values that are not degrees (e.g. lon={lon[i]:.6g}, lat={lat[i]:.6g}); "
            "if these are projected metres, pass them as x/y columns with crs="
        )


def _check_metres(xs, ys, crs, extent):
    if xs.size > 1 and _within(extent[0], extent[1], 180) and _within(extent[2], extent[3], 90):
        raise HotspotInputError(
            f"x/y look like lon/lat degrees (all within +-180, +-90) but crs={crs!r} is projected "
            "in metres; pass lon/lat columns (or crs='EPSG:4326') to have them projected"
        )


def _column(frame, name):
    column = frame[name]
    if pd.api.types.is_float_dtype(column.dtype) and not isinstance(column.dtype, pd.ArrowDtype):
        return np.asarray(column.to_numpy(), dtype=float)  # no copy for float64
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def finish_scan(pts: Points, nonfinite: int, extent) -> Points:
    """Complete the checks :func:`as_points` left to the binning pass (``scan=False``).

    ``nonfinite`` is the number of points without finite coordinates and
    ``extent`` (xmin, xmax, ymin, ymax) that of the others, both found while binning.
    """
    if pts.scanned:
        return pts
    if nonfinite == pts.n_input:
        raise HotspotInputError(f"none of the {pts.n_input} points has a usable location (all missing)")
    _check_metres(pts.x, pts.y, pts.crs, extent)
    pts.n_missing = int(nonfinite)
    pts.scanned = True
    return pts


def as_points(points, crs=None, *, weights=None, time=None, scan=True) -> Points:
    """Read points in any accepted form (see the module docstring) into projected metres.

    Parameters
    ----------
    points : DataFrame, GeoDataFrame or numpy.ndarray
    crs : str, optional
        Target projected CRS; for x/y input, the CRS they are in.
    weights : str or array-like, optional
        Column name or one value per input row.
    time : str, optional
        Name of a time column to carry along (as UTC ``datetime64[ns]``).
    scan : bool
        With False, points already in metres are not scanned here for missing
        values; the binning pass does it and :func:`finish_scan` completes the
        checks (one pass over 10M points instead of two).

    Returns
    -------
    Points

    Examples
    --------
    >>> import pandas as pd
    >>> p = as_points(pd.DataFrame({"lon": [-87.63, -87.62], "lat": [41.88, 41.89]}))
    >>> p.crs, len(p.x)
    ('EPSG:32616', 2)
    """
    frame = None
    if isinstance(points, np.ndarray):
        arr = np.asarray(points, dtype=float)
        if arr.ndim != 2 or arr.shape[1] != 2:
            raise HotspotInputError(f"a points array must have shape (n, 2); got {arr.shape}")
        if crs is None:
            raise HotspotInputError("a points array is read as x/y metres: give its projected crs=")
        a, b, source = arr[:, 0], arr[:, 1], crs
    elif isinstance(points, pd.DataFrame):
        frame = points
        geometry = getattr(points, "geometry", None) if hasattr(points, "set_geometry") else None
        if geometry is not None and getattr(points, "_geometry_column_name", None) in points.columns:
            kinds = set(geometry.geom_type.dropna().unique())
            if kinds - {"Point"}:
                raise HotspotInputError(
                    f"points expected, got geometries of type {sorted(kinds)}; "
                    "for polygons (districts, beats) use gistar(polygons, value=...)"
                )
            a = np.array(geometry.x, dtype=float) if len(geometry) else np.empty(0)
            b = np.array(geometry.y, dtype=float) if len(geometry) else np.empty(0)
            empty = geometry.isna().to_numpy() | geometry.is_empty.to_numpy()
            a[empty] = np.nan
            b[empty] = np.nan
            if points.crs is None:
                if crs is None:
                    raise HotspotInputError("the GeoDataFrame has no crs; set it or pass crs=")
                source = crs
            else:
                source = points.crs
        elif {"x", "y"} <= set(points.columns):
            if crs is None:
                raise HotspotInputError("points have x/y columns: give their projected crs= (e.g. 'EPSG:32616')")
            a, b = _column(points, "x"), _column(points, "y")
            source = crs
        elif {"lon", "lat"} <= set(points.columns):
            a, b = _column(points, "lon"), _column(points, "lat")
            source = "EPSG:4326"
        else:
            raise HotspotInputError(
                f"points need lon/lat columns, x/y columns with crs=, or a point geometry; "
                f"found columns {list(points.columns)}"
            )
    else:
        raise HotspotInputError(
            f"points must be a DataFrame, GeoDataFrame or (n, 2) array; got {type(points).__name__}"
        )

    n = a.shape[0]
    if n == 0:
        raise HotspotInputError("no points: the input is empty")
    geographic = _is_geographic(source)
    deferred = not scan and not geographic and (crs is None or _crs_string(crs) == _crs_string(source))
    every, extent = (True, None) if deferred else _all_usable(a, b, geographic)
    if not every:  # only look row by row, and copy, when rows must go
        ok = np.isfinite(a) & np.isfinite(b)
        if geographic:
            ok &= ~((a == 0) & (b == 0))  # null island: a failed geocode, not a place
        if not ok.any():
            where = " or at 0, 0" if geographic else ""
            raise HotspotInputError(f"none of the {n} points has a usable location (all missing{where})")
        a, b = a[ok], b[ok]
        extent = _extent(a, b)
    if geographic:
        _check_degrees(a, b, extent)
        target = None if crs is None or _is_geographic(crs) else crs
        x, y, out_crs = project(a, b, target, source=_crs_string(source))
    else:
        out_crs = _crs_string(source)
        if not deferred:
            _check_metres(a, b, out_crs, extent)
        x, y = a, b
        if crs is not None and not _is_geographic(crs) and _crs_string(crs) != out_crs:
            from pyproj import Transformer

            t = Transformer.from_crs(source, crs, always_xy=True)
            x, y = (np.asarray(v, dtype=float) for v in t.transform(a, b))
            out_crs = _crs_string(crs)
    if time is not None and frame is None:
        raise HotspotInputError("a time column needs the points as a DataFrame")
    w = _weights_of(frame, weights, n)
    t = _times_of(frame, time) if frame is not None else None
    kept = None if every else np.flatnonzero(ok)
    if not every:
        w = None if w is None else w[ok]
        t = None if t is None else t[ok]
    return Points(
        x=np.ascontiguousarray(x), y=np.ascontiguousarray(y), crs=_crs_string(out_crs), weights=w, times=t,
        kept_rows=kept, n_input=n, n_missing=0 if every else int(n - kept.size), scanned=not deferred,
    )


def robust_extent(x, y, *, sample=200_000):
    """An extent that holds the bulk of the points and ignores far strays.

    The 1st-99th percentile box, widened by half its span on each side (and
    never beyond the points' own min / max). A geocoding failure thousands of
    kilometres away falls outside; a real, if rare, outlying incident does not.

    Returns
    -------
    tuple of float
        (xmin, ymin, xmax, ymax) in the points' CRS.
    """
    step = max(1, x.size // sample)
    xs, ys = x[::step], y[::step]
    qx = np.percentile(xs, [1, 99])
    qy = np.percentile(ys, [1, 99])
    sx, sy = qx[1] - qx[0], qy[1] - qy[0]
    return (
        max(float(x.min()), qx[0] - 0.5 * sx), max(float(y.min()), qy[0] - 0.5 * sy),
        min(float(x.max()), qx[1] + 0.5 * sx), min(float(y.max()), qy[1] + 0.5 * sy),
    )


def is_dask_frame(obj) -> bool:
    """Whether ``obj`` is a dask DataFrame (the engines hand those to :mod:`workbench.scale.hotspots`)."""
    return type(obj).__module__.split(".")[0] in ("dask", "dask_expr") and hasattr(obj, "to_delayed")


def check_positive(name, value, unit="m"):
    """Raise unless ``value`` is a finite number > 0."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise HotspotInputError(f"{name} must be a number of {unit}; got {value!r}") from None
    if not np.isfinite(v) or v <= 0:
        raise HotspotInputError(f"{name} must be > 0 {unit}; got {value!r}")
    return v


def warn(message):
    """Emit a HotspotWarning pointing at the caller's caller."""
    warnings.warn(message, HotspotWarning, stacklevel=3)


def check_duration(value, name: str = "time_step") -> pd.Timedelta:
    """A positive duration such as ``"7D"`` or ``"12h"``, or a HotspotInputError naming ``name``."""
    try:
        td = pd.Timedelta(value)
    except (ValueError, TypeError):
        raise HotspotInputError(f"{name} must be a duration like '7D' or '12h'; got {value!r}") from None
    if td <= pd.Timedelta(0):
        raise HotspotInputError(f"{name} must be positive; got {value!r}")
    return td


def step_window(step: pd.Timedelta, end, n_steps, t_min: int, t_max: int):
    """The time steps of a space-time cube: ``(end timestamp, n_steps, start in ns)``.

    ``end`` defaults to just after the last event (``t_max``, ns) so the final
    step is the latest full period; without ``n_steps``, as many whole steps
    as fit after the first event (``t_min``): a part-filled first step would
    look like a quiet one.
    """
    if end is None:
        end_ts = pd.Timestamp(int(t_max) + 1000, tz="UTC")
    else:
        end_ts = pd.Timestamp(end)
        end_ts = end_ts.tz_localize("UTC") if end_ts.tz is None else end_ts.tz_convert("UTC")
    if n_steps is None:
        n_steps = max(1, int((end_ts.value - t_min) // step.value))
    n_steps = int(n_steps)
    if n_steps < 1:
        raise HotspotInputError(f"n_steps must be >= 1; got {n_steps}")
    return end_ts, n_steps, end_ts.value - n_steps * step.value

