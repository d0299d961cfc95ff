"""Density-based clusters of events as hot spot polygons (HDBSCAN or DBSCAN).

Each cluster becomes the convex hull of its events, widened by ``buffer_m``
so that a cluster of collinear or identical points still has an area. Density
is events per km² of that polygon.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from workbench.errors import HotspotInputError
from workbench.hotspots._checks import as_points, check_positive

METHODS = ("hdbscan", "dbscan")


def cluster_labels(points, method="hdbscan", *, min_cluster_size=15, min_samples=None, eps_m=150.0,
                   crs=None):
    """Cluster label per input row (-1 = noise or no location) and the working CRS.

    Parameters are those of :func:`clusters`.

    Returns
    -------
    labels : numpy.ndarray of int
        One per input row, in input order.
    crs : str
    points : Points
        The projected points (kept rows only).
    """
    if method not in METHODS:
        raise HotspotInputError(f"method must be one of {METHODS}; got {method!r}")
    min_cluster_size = int(min_cluster_size)
    if min_cluster_size < 2:
        raise HotspotInputError(f"min_cluster_size must be >= 2; got {min_cluster_size}")
    pts = as_points(points, crs)
    xy = np.column_stack([pts.x, pts.y])
    labels = np.full(pts.n_input, -1, dtype=int)
    if xy.shape[0] < min_cluster_size:
        return labels, pts.crs, pts
    if method == "hdbscan":
        from sklearn.cluster import HDBSCAN

        model = HDBSCAN(min_cluster_size=min_cluster_size, min_samples=min_samples, copy=True)
    else:
        from sklearn.cluster import DBSCAN

        model = DBSCAN(eps=check_positive("eps_m", eps_m), min_samples=min_samples or min_cluster_size)
    labels[pts.rows] = model.fit_predict(xy)
    return labels, pts.crs, pts


def clusters(points, method="hdbscan", *, min_cluster_size=15, min_samples=None, eps_m=150.0,
             buffer_m=25.0, crs=None) -> gpd.GeoDataFrame:
    """Hot spot polygons from density-based clustering of events.

    Parameters
    ----------
    points : DataFrame, GeoDataFrame or (n, 2) array
        As for :func:`grid_counts`.
    method : {"hdbscan", "dbscan"}
        ``hdbscan`` (scikit-learn's HDBSCAN) finds clusters of varying density
        with no distance to choose; ``dbscan`` needs ``eps_m``.
    min_cluster_size : int
        Fewest events a cluster may have (HDBSCAN), and the default
        ``min_samples`` of DBSCAN.
    min_samples : int, optional
        Core-point neighbourhood size (defaults as in scikit-learn / above).
    eps_m : float
        DBSCAN neighbourhood radius in metres.
    buffer_m : float
        Widening of each convex hull, metres (>= 0).
    crs : str, optional
        Working projected CRS (for x/y input, their CRS).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per cluster, largest first: ``cluster_id`` (1 = most events),
        ``n_events``, ``area_km2``, ``density_per_km2``, ``centroid_x``,
        ``centroid_y`` and the polygon, in the working CRS. ``attrs`` holds
        ``n_noise`` (events in no cluster); each event's label comes from
        :func:`cluster_labels`.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> xy = np.vstack([rng.normal(1000, 30, (60, 2)), rng.uniform(0, 3000, (100, 2))])
    >>> hs = clusters(pd.DataFrame(xy, columns=["x", "y"]), "dbscan", eps_m=40, min_cluster_size=10,
    ...               crs="EPSG:32616")
    >>> int(hs["n_events"].iloc[0]) >= 50, hs.crs.to_epsg()
    (True, 32616)
    """
    buffer_m = float(buffer_m)
    if not np.isfinite(buffer_m) or buffer_m < 0:
        raise HotspotInputError(f"buffer_m must be >= 0 metres; got {buffer_m!r}")
    labels, working_crs, pts = cluster_labels(points, method, min_cluster_size=min_cluster_size,
                                              min_samples=min_samples, eps_m=eps_m, crs=crs)
    kept = labels[pts.rows]
    member = kept >= 0
    columns = ["cluster_id", "n_events", "area_km2", "density_per_km2", "centroid_x", "centroid_y"]
    if not member.any():
        out = gpd.GeoDataFrame({c: pd.Series(dtype=float) for c in columns}, geometry=[], crs=working_crs)
        out.attrs["n_noise"] = int(pts.x.size)
        return out
    _, inverse, n_events = np.unique(kept[member], return_inverse=True, return_counts=True)
    xy = np.column_stack([pts.x[member], pts.y[member]])
    order = np.argsort(inverse, kind="stable")
    hulls = shapely.convex_hull(shapely.multipoints(xy[order], indices=inverse[order]))
    polygons = shapely.buffer(hulls, buffer_m) if buffer_m > 0 else hulls
    area_km2 = shapely.area(polygons) / 1e6
    sums_x = np.bincount(inverse, weights=xy[:, 0])
    sums_y = np.bincount(inverse, weights=xy[:, 1])
    with np.errstate(divide="ignore", invalid="ignore"):
        density = np.where(area_km2 > 0, n_events / area_km2, np.inf)
    out = gpd.GeoDataFrame({
        "n_events": n_events, "area_km2": area_km2, "density_per_km2": density,
        "centroid_x": sums_x / n_events, "centroid_y": sums_y / n_events,
    }, geometry=polygons, crs=working_crs)
    out = out.sort_values(["n_events", "density_per_km2"], ascending=False, ignore_index=True)
    out.insert(0, "cluster_id", np.arange(1, len(out) + 1))
    out.attrs["n_noise"] = int((~member).sum())
    out.attrs["method"] = method
    return out
