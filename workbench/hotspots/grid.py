"""Regular grids in metres: the lattice every surface in this package is drawn on.

A grid is ``ny`` rows by ``nx`` columns of square cells, ``cell_size`` metres
wide, lower-left corner at ``(x0, y0)`` in a projected CRS. Arrays are indexed
``[row, column]`` = ``[y, x]`` with ``y`` increasing upwards (as xarray and
datashader do). Results are ``xarray.DataArray`` with cell-centre coordinates
``x`` and ``y`` and the CRS in ``attrs["crs"]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import xarray as xr

from workbench.errors import HotspotInputError
from workbench.hotspots._checks import (Points, as_points, check_positive, finish_scan, is_dask_frame, robust_extent,
                                       warn)

try:  # numba ships with datashader; without it the NumPy path gives the same counts, slower
    from numba import njit
except ImportError:  # pragma: no cover
    njit = None


@dataclass(frozen=True)
class Grid:
    """A regular grid of square cells in a projected CRS (metres)."""

    x0: float
    y0: float
    cell_size: float
    nx: int
    ny: int
    crs: str

    @classmethod
    def from_bounds(cls, bounds, cell_size, crs, *, snap=True):
        """The grid covering ``bounds`` = (xmin, ymin, xmax, ymax).

        With ``snap`` the corner is moved to a multiple of ``cell_size`` so grids
        built from different data in one CRS line up cell for cell.
        """
        xmin, ymin, xmax, ymax = (float(v) for v in bounds)
        if not all(map(math.isfinite, (xmin, ymin, xmax, ymax))) or xmax < xmin or ymax < ymin:
            raise HotspotInputError(f"bounds must be finite (xmin, ymin, xmax, ymax); got {bounds!r}")
        if snap:
            xmin = math.floor(xmin / cell_size) * cell_size
            ymin = math.floor(ymin / cell_size) * cell_size
        nx = max(1, math.ceil((xmax - xmin) / cell_size - 1e-9))
        ny = max(1, math.ceil((ymax - ymin) / cell_size - 1e-9))
        if snap:  # a point exactly on the max edge still gets a cell
            nx += int(xmin + nx * cell_size <= xmax)
            ny += int(ymin + ny * cell_size <= ymax)
        if nx * ny > 200_000_000:
            raise HotspotInputError(
                f"a {ny} x {nx} grid of {cell_size:g} m cells is too large; "
                "are the coordinates or cell_size in the wrong units?"
            )
        return cls(xmin, ymin, float(cell_size), int(nx), int(ny), crs)

    @classmethod
    def like(cls, da: xr.DataArray):
        """The grid of an existing result (from its coordinates and attrs)."""
        try:
            cell = float(da.attrs["cell_size_m"])
            crs = da.attrs["crs"]
        except KeyError:
            raise HotspotInputError("the grid has no cell_size_m / crs attrs: it was not made here") from None
        x, y = da["x"].values, da["y"].values
        return cls(float(x[0]) - cell / 2, float(y[0]) - cell / 2, cell, x.size, y.size, crs)

    @property
    def shape(self):
        return (self.ny, self.nx)

    @property
    def bounds(self):
        return (self.x0, self.y0, self.x0 + self.nx * self.cell_size, self.y0 + self.ny * self.cell_size)

    @property
    def x(self):
        return self.x0 + (np.arange(self.nx) + 0.5) * self.cell_size

    @property
    def y(self):
        return self.y0 + (np.arange(self.ny) + 0.5) * self.cell_size

    @property
    def cell_area_km2(self):
        return self.cell_size**2 / 1e6

    def count(self, x, y, weights=None):
        """Sum of ``weights`` (or 1) per cell, and how many points fell outside (or had no location)."""
        counts, outside, _, _ = self.count_and_scan(x, y, weights)
        return counts, outside

    def count_and_scan(self, x, y, weights=None):
        """As :meth:`count`, also returning the points without finite coordinates and the others' extent.

        Returns
        -------
        counts : numpy.ndarray
        outside : int
            Points not counted (outside the grid or not finite).
        nonfinite : int
        extent : tuple of float
            (xmin, xmax, ymin, ymax) of the finite points.
        """
        counts = np.zeros(self.shape, dtype=float)
        inv = 1.0 / self.cell_size
        if njit is not None:
            x = np.ascontiguousarray(x, dtype=float)
            y = np.ascontiguousarray(y, dtype=float)
            if weights is None and x.shape[0] < 2**31:
                # int32 counts: half the memory of float64, so more of the grid stays in cache
                hits = np.zeros(self.shape, dtype=np.int32)
                scan = _bin_numba(x, y, np.ones(1), False, self.x0, self.y0, inv, self.nx, self.ny, hits)
                counts[...] = hits
            else:
                w = np.ascontiguousarray(weights, dtype=float)
                scan = _bin_numba(x, y, w, True, self.x0, self.y0, inv, self.nx, self.ny, counts)
            outside, nonfinite, *extent = scan
            return counts, int(outside), int(nonfinite), tuple(extent)
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        finite = np.isfinite(x) & np.isfinite(y)
        fx = (x - self.x0) * inv
        fy = (y - self.y0) * inv
        inside = (fx >= 0) & (fx <= self.nx) & (fy >= 0) & (fy <= self.ny)
        ix = np.minimum(fx[inside].astype(np.intp), self.nx - 1)
        iy = np.minimum(fy[inside].astype(np.intp), self.ny - 1)
        w = None if weights is None else np.asarray(weights)[inside]
        counts.ravel()[:] = np.bincount(iy * self.nx + ix, weights=w, minlength=self.nx * self.ny)
        xf, yf = x[finite], y[finite]
        extent = (xf.min(), xf.max(), yf.min(), yf.max()) if xf.size else (np.inf, -np.inf, np.inf, -np.inf)
        return counts, int(inside.size - inside.sum()), int((~finite).sum()), extent

    def data_array(self, values, name, attrs):
        """Wrap a (ny, nx) array as a DataArray with this grid's coordinates and attrs."""
        base = {"crs": self.crs, "cell_size_m": self.cell_size, "bounds": self.bounds}
        base.update(attrs)
        return xr.DataArray(values, dims=("y", "x"), coords={"y": self.y, "x": self.x}, name=name, attrs=base)


if njit is not None:
    @njit(cache=True, nogil=True)
    def _bin_numba(x, y, w, weighted, x0, y0, inv, nx, ny, out):  # pragma: no cover - compiled
        outside = 0
        nonfinite = 0
        xmin, xmax, ymin, ymax = np.inf, -np.inf, np.inf, -np.inf
        for i in range(x.shape[0]):
            u, v = x[i], y[i]
            if not (np.isfinite(u) and np.isfinite(v)):
                nonfinite += 1
                outside += 1
                continue
            xmin, xmax = min(xmin, u), max(xmax, u)
            ymin, ymax = min(ymin, v), max(ymax, v)
            fx = (u - x0) * inv
            fy = (v - y0) * inv
            if fx >= 0 and fx <= nx and fy >= 0 and fy <= ny:
                ix = min(int(fx), nx - 1)
                iy = min(int(fy), ny - 1)
                if weighted:
                    out[iy, ix] += w[i]
                else:
                    out[iy, ix] += 1
            else:
                outside += 1
        return outside, nonfinite, xmin, xmax, ymin, ymax


def grid_for(pts: Points, cell_size, bounds=None, pad_m=0.0):
    """The grid for ``pts``: over ``bounds`` if given, else over a robust extent padded by ``pad_m``.

    Returns the grid and the number of points outside it (strays).
    """
    if bounds is not None:
        return Grid.from_bounds(bounds, cell_size, pts.crs, snap=False)
    xmin, ymin, xmax, ymax = robust_extent(pts.x, pts.y)
    return Grid.from_bounds((xmin - pad_m, ymin - pad_m, xmax + pad_m, ymax + pad_m), cell_size, pts.crs)


def count_points(grid, pts):
    """Bin ``pts`` on ``grid``, finishing the checks a deferred scan left (see ``as_points``).

    Returns the counts and the number of located points outside the grid.
    """
    counts, outside, nonfinite, extent = grid.count_and_scan(pts.x, pts.y, pts.weights)
    if not pts.scanned:
        finish_scan(pts, nonfinite, extent)
        outside -= nonfinite
    return counts, outside


def report_strays(n_outside, n_points, bounds_given):
    if n_outside:
        where = "the bounds given" if bounds_given else "the robust extent of the points"
        warn(f"{n_outside} of {n_points} points lie outside {where} and were left out "
             "(strays such as failed geocodes); see attrs['n_outside']")


def grid_counts(points, cell_size, bounds=None, crs=None, weights=None) -> xr.DataArray:
    """Count points (or sum their weights) on a regular grid in metres.

    Parameters
    ----------
    points : DataFrame, GeoDataFrame or (n, 2) array
        lon/lat columns (projected to a local UTM zone, or to ``crs``), x/y
        columns with ``crs=``, or a point GeoDataFrame; see
        :mod:`workbench.hotspots._checks`. A dask DataFrame (lon/lat or x/y)
        gives the same grid, binned on the cluster (:mod:`workbench.scale.hotspots`).
    cell_size : float
        Cell width in metres.
    bounds : tuple of float, optional
        (xmin, ymin, xmax, ymax) of the study area in the working CRS. Without
        it the extent is the robust extent of the points (1st-99th percentile
        box widened by half its span), so strays far away, such as geocoding
        failures, do not stretch the grid.
    crs : str, optional
        Working projected CRS (or, for x/y input, the CRS of x/y).
    weights : str or array-like, optional
        Column name or one weight per point; cells then hold weight sums.

    Returns
    -------
    xarray.DataArray
        ``counts`` with dims (y, x), cell-centre coordinates in metres, and
        attrs ``crs``, ``cell_size_m``, ``bounds``, ``units`` ("events per cell"),
        ``n_points`` (counted), ``n_missing`` (rows without a location) and
        ``n_outside`` (strays outside the grid, also reported by a
        :class:`~workbench.hotspots._checks.HotspotWarning`).

    Examples
    --------
    >>> import pandas as pd
    >>> pts = pd.DataFrame({"x": [10.0, 20.0, 260.0], "y": [10.0, 30.0, 90.0]})
    >>> g = grid_counts(pts, 100, crs="EPSG:32616", bounds=(0, 0, 300, 100))
    >>> g.shape, float(g.sum())
    ((1, 3), 3.0)
    """
    if is_dask_frame(points):  # beyond one machine: the same grid, binned partition by partition
        from workbench.scale import hotspots as on_dask
        return on_dask.grid_counts(points, cell_size, bounds, crs, weights)
    cell_size = check_positive("cell_size", cell_size)
    pts = as_points(points, crs, weights=weights, scan=bounds is None)
    grid = grid_for(pts, cell_size, bounds)
    counts, outside = count_points(grid, pts)
    report_strays(outside, pts.n_located, bounds is not None)
    return grid.data_array(counts, "counts", {
        "units": "events per cell" if pts.weights is None else "sum of weights per cell",
        "n_points": int(pts.n_located - outside), "n_missing": pts.n_missing,
        "n_outside": outside,
    })
