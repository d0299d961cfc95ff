"""Getis-Ord Gi* hot spots on grids (by convolution) and on polygons (libpysal weights).

With binary weights that include the cell itself (``w_ii = 1``), for each
location i among n::

    z_i = (sum_j w_ij x_j - xbar W_i) / (S * sqrt((n W_i - W_i**2) / (n - 1)))

where ``W_i = sum_j w_ij``, ``xbar`` the mean and ``S**2`` the population
variance of x over all n locations (Ord & Getis 1995; ArcGIS "Hot Spot
Analysis"). This is exactly esda's ``G_Local(y, w, transform="B", star=True).Zs``.
``p`` is two-sided from the standard normal. ``q`` is the Benjamini-Hochberg
adjusted p-value over all locations. ``bin`` is Esri's Gi_Bin: +-3, +-2, +-1
for significance at 99, 95, 90 % (on ``q`` when ``fdr=True``, else on ``p``),
signed like z; 0 otherwise.

On a grid, the neighbourhood is a window of cells: ``"queen"`` (3 x 3),
``"rook"`` (the cell and its 4 edge neighbours) or every cell whose centre is
within ``radius_m`` of the cell's centre. Window sums are taken with running
sums along rows, exact for counts. Cells holding NaN are outside the study
area: they are not locations and not neighbours.

A grid with zero variance (every cell equal, e.g. no events at all) has no hot
spots: the documented result is ``z = 0``, ``p = q = 1``, ``bin = 0`` with
``attrs["zero_variance"] = True`` and a HotspotWarning.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import ndtr

from workbench.errors import HotspotInputError
from workbench.hotspots._checks import check_positive, warn
from workbench.hotspots.grid import grid_counts

LEVELS = ((0.01, 3), (0.05, 2), (0.10, 1))


def bh_adjust(p):
    """Benjamini-Hochberg adjusted p-values (q) of a 1-D array; NaN stays NaN."""
    p = np.asarray(p, dtype=float)
    q = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = ok.size
    if m == 0:
        return q
    order = np.argsort(p[ok], kind="stable")
    ranked = p[ok][order] * m / np.arange(1, m + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    q[ok[order]] = np.minimum(ranked, 1.0)
    return q


def window_half_widths(neighbours, radius_m, cell_size):
    """Half-width in cells of the neighbourhood window on each row offset -R..R."""
    if radius_m is not None:
        r = check_positive("radius_m", radius_m) / cell_size
        rows = int(np.floor(r))
        dy = np.arange(-rows, rows + 1)
        return np.floor(np.sqrt(np.maximum(r * r - dy * dy, 0.0)) + 1e-9).astype(int)
    if neighbours == "queen":
        return np.array([1, 1, 1])
    if neighbours == "rook":
        return np.array([0, 1, 0])
    raise HotspotInputError(
        f"on a grid, neighbours must be 'queen' or 'rook' (or give radius_m); got {neighbours!r}"
    )


def window_sum(a, half_widths):
    """Sum of ``a`` over the window (row offset dy, columns within half_widths[dy]) of each cell.

    ``a`` has dims (..., y, x); leading dims (time steps) are carried along.
    Zero padding outside the array. Running sums along rows make each row of
    the window one subtraction, so the cost is O(cells x window rows).
    """
    ny, nx = a.shape[-2:]
    lead = a.shape[:-2]
    big = int(half_widths.max())
    run = np.zeros(lead + (ny, nx + 2 * big + 1))
    np.cumsum(a, axis=-1, out=run[..., big + 1:big + 1 + nx])
    run[..., big + 1 + nx:] = run[..., big + nx:big + nx + 1]
    out = np.zeros(lead + (ny, nx))
    rows = len(half_widths) // 2
    for i, h in enumerate(half_widths):
        dy = i - rows
        band = run[..., big + h + 1:big + h + 1 + nx] - run[..., big - h:big - h + nx]
        if dy >= 0:
            out[..., :ny - dy, :] += band[..., dy:, :]
        else:
            out[..., -dy:, :] += band[..., :ny + dy, :]
    return out


def _gi_star(sum_wx, w_i, x_valid, n):
    """z-scores from window sums; returns z and whether the variance is zero."""
    mean = x_valid.sum() / n
    variance = (x_valid**2).sum() / n - mean**2
    if n < 2 or variance <= 1e-12 * max(mean**2, 1e-300):
        return np.zeros_like(sum_wx), True
    denom = np.sqrt(variance * w_i * (n - w_i) / (n - 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(denom > 0, (sum_wx - mean * w_i) / denom, 0.0)
    return z, False


def _inference(z, valid, alpha, fdr):
    p = np.where(valid, 2.0 * ndtr(-np.abs(z)), np.nan)
    q = bh_adjust(p.ravel()).reshape(p.shape)
    test = q if fdr else p
    level = np.zeros(z.shape, dtype=np.int8)
    for a, b in LEVELS[::-1]:
        level[test <= a] = b
    bins = (np.sign(np.nan_to_num(z)) * level).astype(np.int8)
    return p, q, bins, np.where(valid, test <= alpha, False)


def _check_alpha(alpha):
    a = float(alpha)
    if not 0 < a < 1:
        raise HotspotInputError(f"alpha must be between 0 and 1; got {alpha!r}")
    return a


def gistar_grid(values: xr.DataArray, neighbours="queen", radius_m=None, alpha=0.05, fdr=True):
    """Gi* on a grid DataArray (dims y, x); see :func:`gistar`."""
    if values.dims != ("y", "x"):
        raise HotspotInputError(f"a grid must have dims ('y', 'x'); got {values.dims}")
    spacing = abs(float(values.x[1] - values.x[0])) if values.sizes["x"] > 1 else 0.0
    cell = float(values.attrs.get("cell_size_m", spacing))
    if radius_m is not None and not cell > 0:
        raise HotspotInputError("radius_m needs the grid's cell size (attrs['cell_size_m'])")
    alpha = _check_alpha(alpha)
    x = np.asarray(values.values, dtype=float)
    valid = np.isfinite(x)
    n = int(valid.sum())
    if n == 0:
        raise HotspotInputError("the grid has no cells with values (all NaN)")
    xv = np.where(valid, x, 0.0)
    hw = window_half_widths(neighbours, radius_m, cell)
    sum_wx = window_sum(xv, hw)
    w_i = window_sum(valid.astype(float), hw)
    z, flat = _gi_star(sum_wx, w_i, xv[valid], n)
    if flat:
        warn("the grid has zero variance (every cell holds the same value): no hot or cold spots; "
             "z = 0, p = 1, bin = 0")
    z = np.where(valid, z, np.nan)
    p, q, bins, sig = _inference(z, valid, alpha, fdr)
    attrs = {k: v for k, v in values.attrs.items() if k in ("crs", "cell_size_m", "bounds")}
    attrs.update({
        "statistic": "Getis-Ord Gi* (binary weights, self included)",
        "neighbours": f"within {radius_m} m" if radius_m is not None else neighbours,
        "alpha": alpha, "fdr": bool(fdr), "n": n, "zero_variance": bool(flat),
    })
    dims = ("y", "x")
    return xr.Dataset({
        "value": (dims, x, {"units": values.attrs.get("units", "")}),
        "z": (dims, z, {"units": "standard deviations", "long_name": "Gi* z-score"}),
        "p": (dims, p, {"long_name": "two-sided p-value (normal)"}),
        "q": (dims, q, {"long_name": "Benjamini-Hochberg adjusted p-value"}),
        "bin": (dims, np.where(valid, bins, 0).astype(np.int8),
                {"long_name": "Gi_Bin: +-3/2/1 = hot/cold at 99/95/90 %"}),
        "significant": (dims, sig, {"long_name": f"significant at alpha={alpha} ({'FDR' if fdr else 'per test'})"}),
        "n_neighbours": (dims, np.where(valid, w_i, 0).astype(np.int32), {"long_name": "W_i incl. self"}),
    }, coords={"y": values.y.values, "x": values.x.values}, attrs=attrs)


def _polygon_weights(polygons, neighbours, radius_m):
    import libpysal

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if hasattr(neighbours, "sparse"):
            w = neighbours
        elif radius_m is not None:
            pts = polygons.geometry.centroid
            coords = np.column_stack([pts.x, pts.y])
            w = libpysal.weights.DistanceBand(coords, threshold=check_positive("radius_m", radius_m),
                                              binary=True, silence_warnings=True)
        elif neighbours == "queen":
            w = libpysal.weights.Queen.from_dataframe(polygons, use_index=False, silence_warnings=True)
        elif neighbours == "rook":
            w = libpysal.weights.Rook.from_dataframe(polygons, use_index=False, silence_warnings=True)
        else:
            raise HotspotInputError(
                f"for polygons, neighbours must be 'queen', 'rook', a libpysal W/Graph, or give radius_m; "
                f"got {neighbours!r}"
            )
    del caught  # libpysal's notes on islands are reported as n_islands instead
    a = w.sparse.tocsr().astype(float)
    if a.shape[0] != len(polygons):
        raise HotspotInputError(f"the weights cover {a.shape[0]} areas but there are {len(polygons)} polygons")
    a.data[:] = 1.0  # binary: any neighbour counts once
    a.setdiag(1.0)  # Gi*: the area is its own neighbour
    return a.tocsr()


def gistar_polygons(polygons, value, neighbours="queen", radius_m=None, alpha=0.05, fdr=True):
    """Gi* on polygons (districts, beats) with libpysal contiguity or distance weights."""
    if value is None or value not in polygons.columns:
        raise HotspotInputError(
            f"for polygons, give value= naming a numeric column; columns are {list(polygons.columns)}"
        )
    if len(polygons) < 2:
        raise HotspotInputError("Gi* needs at least 2 polygons")
    x = pd.to_numeric(polygons[value], errors="coerce").to_numpy(dtype=float)
    if not np.isfinite(x).all():
        raise HotspotInputError(f"column {value!r} has {int((~np.isfinite(x)).sum())} missing values; "
                                "fill them or drop those polygons first")
    alpha = _check_alpha(alpha)
    a = _polygon_weights(polygons, neighbours, radius_m)
    n = x.size
    w_i = np.asarray(a.sum(axis=1)).ravel()
    z, flat = _gi_star(a @ x, w_i, x, n)
    if flat:
        warn(f"column {value!r} has zero variance: no hot or cold spots; z = 0, p = 1, bin = 0")
    valid = np.ones(n, dtype=bool)
    p, q, bins, sig = _inference(z, valid, alpha, fdr)
    dim = polygons.index.name or "area"
    return xr.Dataset({
        "value": (dim, x), "z": (dim, z, {"units": "standard deviations"}),
        "p": (dim, p), "q": (dim, q), "bin": (dim, bins), "significant": (dim, sig),
        "n_neighbours": (dim, w_i.astype(np.int32)),
    }, coords={dim: polygons.index.to_numpy(), "geometry": (dim, polygons.geometry.to_numpy())},
        attrs={"crs": str(polygons.crs) if polygons.crs is not None else "", "value": value,
               "statistic": "Getis-Ord Gi* (binary weights, self included)",
               "neighbours": f"within {radius_m}" if radius_m is not None else str(neighbours),
               "alpha": alpha, "fdr": bool(fdr), "n": n, "zero_variance": bool(flat),
               "n_islands": int((w_i == 1).sum())})


def _is_polygons(obj):
    if not hasattr(obj, "geometry") or not hasattr(obj, "set_geometry"):
        return False
    kinds = set(obj.geometry.geom_type.dropna().unique())
    return bool(kinds) and not kinds <= {"Point"}


def gistar(points_or_grid, cell_size=None, radius_m=None, neighbours="queen", alpha=0.05, fdr=True, *,
           value=None, bounds=None, crs=None, weights=None) -> xr.Dataset:
    """Getis-Ord Gi* hot and cold spots, with Esri's Gi_Bin and optional FDR.

    Parameters
    ----------
    points_or_grid : DataFrame, GeoDataFrame, or xarray.DataArray
        Points (as for :func:`grid_counts`; counted on a grid of ``cell_size``),
        a grid DataArray with dims (y, x) (NaN = outside the study area), or a
        GeoDataFrame of polygons with a numeric column ``value``.
    cell_size : float, optional
        Cell width in metres; required for points.
    radius_m : float, optional
        Neighbourhood: cells (or polygon centroids) within this distance.
    neighbours : {"queen", "rook"} or libpysal W / Graph
        Neighbourhood when ``radius_m`` is None. A W must follow the rows'
        order; its weights are used as binary (any weight > 0 counts once).
    alpha : float
        Level for the ``significant`` variable.
    fdr : bool
        Judge significance (``bin``, ``significant``) on Benjamini-Hochberg
        adjusted p-values.
    value : str, optional
        Column of the polygons to test.
    bounds, crs, weights
        Passed to :func:`grid_counts` for points.

    Returns
    -------
    xarray.Dataset
        Variables ``value``, ``z``, ``p`` (two-sided), ``q`` (BH), ``bin``
        (-3..3), ``significant`` and ``n_neighbours``; dims (y, x) for grids,
        one dim over the polygons (with a ``geometry`` coordinate) otherwise.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> counts = np.zeros((9, 9)); counts[3:6, 3:6] = 10; counts[0, 0] = 1
    >>> grid = xr.DataArray(counts, dims=("y", "x"), coords={"y": np.arange(9.0), "x": np.arange(9.0)})
    >>> res = gistar(grid, fdr=False)
    >>> int(res["bin"][4, 4]), int(res["bin"][0, 8])
    (3, 0)
    """
    if isinstance(points_or_grid, xr.DataArray):
        return gistar_grid(points_or_grid, neighbours, radius_m, alpha, fdr)
    if _is_polygons(points_or_grid):
        return gistar_polygons(points_or_grid, value, neighbours, radius_m, alpha, fdr)
    if cell_size is None:
        raise HotspotInputError("gistar on points needs cell_size= (metres) to count them on a grid")
    counts = grid_counts(points_or_grid, cell_size, bounds=bounds, crs=crs, weights=weights)
    out = gistar_grid(counts, neighbours, radius_m, alpha, fdr)
    out.attrs.update({k: counts.attrs[k] for k in ("n_points", "n_missing", "n_outside")})
    return out
