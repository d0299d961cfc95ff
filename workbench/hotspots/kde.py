"""Kernel density surfaces by binning and FFT convolution.

Points are counted on the grid (simple binning: each point goes to the cell it
falls in), and the counts are convolved with the kernel sampled at cell-centre
offsets and normalised to sum to one. Every event therefore spreads exactly
its weight over the surface (less what falls beyond the grid edge, reported
in ``attrs["mass_outside"]``). Cost: one pass over the points plus two FFTs of
the grid, whatever the number of points.

Units
-----
``units="per_km2"`` (default): expected events per km² over the period the
points cover (the surface integrates to the number of events).
``units="per_cell"``: expected events per cell (the surface sums to it).
"""

from __future__ import annotations

import numpy as np
import scipy.fft as sfft
import xarray as xr

from workbench.errors import HotspotInputError
from workbench.hotspots._checks import as_points, check_positive, is_dask_frame
from workbench.hotspots.grid import count_points, grid_for, report_strays

KERNELS = ("gaussian", "quartic")
GAUSS_TRUNCATE = 4.0  # standard deviations; beyond this a Gaussian holds < 1e-4 of its mass


def nrd_bandwidth(x, y):
    """Normal reference bandwidth in metres (the Gaussian standard deviation).

    ``1.06 * min(sd, IQR / 1.34) * n ** (-1/5)`` per axis (Silverman's rule, as in
    R's ``MASS::bandwidth.nrd`` divided by 4, which is what ``kde2d`` uses), then
    averaged over x and y to give one isotropic bandwidth.
    """
    n = x.size
    stats = []
    for v in (x, y):
        q75, q25 = np.percentile(v, [75, 25])
        stats.append((float(np.std(v, ddof=1)) if n > 1 else 0.0, q75 - q25))
    return nrd_from_stats(stats, n)


def nrd_from_stats(stats, n: int) -> float:
    """Silverman's rule from per-axis ``(sd, IQR)`` pairs (shared by the pandas and dask paths)."""
    per_axis = []
    for sd, iqr in stats:
        spread = min(sd, iqr / 1.34)
        if spread <= 0:
            spread = sd
        per_axis.append(1.06 * spread * n ** (-0.2))
    h = float(np.mean(per_axis))
    if not np.isfinite(h) or h <= 0:
        raise HotspotInputError(
            f"bandwidth='nrd' needs points that spread out; these {n} points do not "
            "(one point, or all at the same place): give bandwidth in metres"
        )
    return h


def choose_bandwidth(bandwidth, kernel, nrd):
    """``(h, rule, reach)``: metres given, or ``"nrd"`` computed by ``nrd()``.

    The quartic kernel's support is scaled by sqrt(8) so that with ``"nrd"``
    it smooths like the Gaussian; ``reach`` is how far a point's kernel
    extends (the Gaussian is truncated at ``GAUSS_TRUNCATE`` bandwidths).
    """
    if isinstance(bandwidth, str):
        if bandwidth != "nrd":
            raise HotspotInputError(f"bandwidth must be 'nrd' or metres; got {bandwidth!r}")
        h = nrd() * (np.sqrt(8.0) if kernel == "quartic" else 1.0)
        rule = "nrd"
    else:
        h = check_positive("bandwidth", bandwidth)
        rule = "given"
    return h, rule, h * (GAUSS_TRUNCATE if kernel == "gaussian" else 1.0)


def kernel_weights(kernel, bandwidth, cell_size):
    """The kernel sampled at cell-centre offsets, normalised to sum to 1.

    ``gaussian``: ``bandwidth`` is the standard deviation, truncated at 4 sd
    along each axis (a square window, so the kernel is the outer product of
    two 1-D kernels).
    ``quartic`` (biweight, as in ArcGIS and CrimeStat): ``bandwidth`` is the
    search radius; ``K(d) ∝ (1 - d²/r²)²`` for ``d < r``. A quartic of radius r
    has the per-axis standard deviation of a Gaussian of ``r / sqrt(8)``.
    """
    if kernel not in KERNELS:
        raise HotspotInputError(f"kernel must be one of {KERNELS}; got {kernel!r}")
    reach = bandwidth * (GAUSS_TRUNCATE if kernel == "gaussian" else 1.0)
    half = int(np.floor(reach / cell_size))
    off = np.arange(-half, half + 1) * cell_size
    d2 = off[:, None] ** 2 + off[None, :] ** 2
    if kernel == "gaussian":
        g = np.exp(-0.5 * off**2 / bandwidth**2)
        k = np.outer(g, g)
    else:
        k = np.clip(1.0 - d2 / bandwidth**2, 0.0, None) ** 2
    total = k.sum()
    if total <= 0:  # radius below half a cell: the kernel is the cell itself
        k = np.zeros_like(k)
        k[half, half] = 1.0
        total = 1.0
    return k / total


def _is_outer(k):
    """The 1-D factor g with k == outer(g, g) / sum, if there is one (Gaussian), else None."""
    mid = k.shape[0] // 2
    g = k[mid] / np.sqrt(k[mid, mid])
    return g if np.allclose(np.outer(g, g), k, rtol=1e-12, atol=1e-15) else None


def fft_convolve_same(a, k, workers=-1):
    """Convolve ``a`` with the odd-sized, centred kernel ``k``; output has ``a``'s shape.

    A separable kernel (an outer product, as the Gaussian is) has its
    transform built from two 1-D transforms, saving a third 2-D FFT.
    """
    if k.shape == (1, 1):
        return a * k[0, 0]
    shape = [sfft.next_fast_len(a.shape[i] + k.shape[i] - 1, real=True) for i in (0, 1)]
    fa = sfft.rfft2(a, shape, workers=workers)
    g = _is_outer(k) if k.shape[0] == k.shape[1] else None
    if g is not None:
        fa *= sfft.fft(g, shape[0])[:, None] * sfft.rfft(g, shape[1])[None, :]
    else:
        fa *= sfft.rfft2(k, shape, workers=workers)
    full = sfft.irfft2(fa, shape, workers=workers)
    hy, hx = k.shape[0] // 2, k.shape[1] // 2
    return full[hy:hy + a.shape[0], hx:hx + a.shape[1]]


def kde(points, cell_size, bandwidth="nrd", kernel="gaussian", weights=None, *,
        bounds=None, crs=None, units="per_km2") -> xr.DataArray:
    """Kernel density surface of points on a regular grid, by binning and FFT convolution.

    Parameters
    ----------
    points : DataFrame, GeoDataFrame or (n, 2) array
        As for :func:`grid_counts` (lon/lat, x/y with ``crs=``, or points; or a dask DataFrame).
    cell_size : float
        Cell width in metres.
    bandwidth : "nrd" or float
        Metres: the standard deviation for ``gaussian``, the search radius for
        ``quartic``. ``"nrd"`` picks the normal reference bandwidth
        (:func:`nrd_bandwidth`; for quartic, scaled by sqrt(8) to the radius
        with the same spread).
    kernel : {"gaussian", "quartic"}
    weights : str or array-like, optional
        Per-point weights (column name or values).
    bounds : tuple of float, optional
        (xmin, ymin, xmax, ymax) in the working CRS. Default: the robust extent
        of the points widened by the kernel's reach.
    crs : str, optional
        Working projected CRS (for x/y input, their CRS).
    units : {"per_km2", "per_cell"}
        Expected events per km², or per cell, over the period of the input.

    Returns
    -------
    xarray.DataArray
        ``density`` with dims (y, x); attrs ``units``, ``bandwidth_m``,
        ``kernel``, ``crs``, ``cell_size_m``, ``n_points``, ``n_outside``,
        ``mass_outside`` (events' kernel mass beyond the grid edge).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> pts = pd.DataFrame({"x": rng.normal(5000, 300, 1000), "y": rng.normal(5000, 300, 1000)})
    >>> d = kde(pts, 50, bandwidth=100, crs="EPSG:32616", units="per_cell")
    >>> round(float(d.sum()))
    1000
    """
    if is_dask_frame(points):  # beyond one machine: the same surface from a grid binned on the cluster
        from workbench.scale import hotspots as on_dask
        return on_dask.kde(points, cell_size, bandwidth, kernel, weights, bounds=bounds, crs=crs, units=units)
    cell_size = check_kde_args(cell_size, units, kernel)
    pts = as_points(points, crs, weights=weights, scan=bounds is None or bandwidth == "nrd")
    h, bandwidth_rule, reach = choose_bandwidth(bandwidth, kernel, lambda: nrd_bandwidth(pts.x, pts.y))
    grid = grid_for(pts, cell_size, bounds, pad_m=reach)
    counts, outside = count_points(grid, pts)
    return density_array(grid, counts, outside, pts, kernel, h, bandwidth_rule, units, bounds)


def check_kde_args(cell_size, units, kernel) -> float:
    """The cell size, once ``units`` and ``kernel`` are known ones (or a HotspotInputError)."""
    cell_size = check_positive("cell_size", cell_size)
    if units not in ("per_km2", "per_cell"):
        raise HotspotInputError(f"units must be 'per_km2' or 'per_cell'; got {units!r}")
    if kernel not in KERNELS:
        raise HotspotInputError(f"kernel must be one of {KERNELS}; got {kernel!r}")
    return cell_size


def density_array(grid, counts, outside, pts, kernel, h, bandwidth_rule, units, bounds):
    """The density surface of binned ``counts`` as a DataArray, with what went into it in its attrs."""
    report_strays(outside, pts.n_located, bounds is not None)
    surface = fft_convolve_same(counts, kernel_weights(kernel, h, grid.cell_size))
    # FFT round-off leaves values of ~1e-17 of the peak where the true density is 0
    surface[surface < 1e-12 * surface.max(initial=0.0)] = 0.0
    mass_outside = float(max(counts.sum() - surface.sum(), 0.0))
    if units == "per_km2":
        surface /= grid.cell_area_km2
    return grid.data_array(surface, "density", {
        "units": "expected events per km2 over the input period" if units == "per_km2"
        else "expected events per cell over the input period",
        "kernel": kernel, "bandwidth_m": float(h), "bandwidth_rule": bandwidth_rule,
        "n_points": int(pts.n_located - outside), "n_missing": pts.n_missing, "n_outside": outside,
        "mass_outside": mass_outside,
    })
