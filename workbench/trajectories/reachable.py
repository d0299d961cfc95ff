"""Where can the vehicle be in N minutes? The reachable area and the cameras in it.

One Dijkstra run from the road node nearest the point, limited to the time
budget, at posted speeds times ``speed_factor`` (a fleeing vehicle may drive
faster than posted). Segments whose start is reachable are cut where the
budget runs out; the area is those pieces buffered by ``buffer_m``.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from workbench.data.crs import WGS84, project, unproject
from workbench.errors import TrajectoryError
from workbench.trajectories.network import CameraNetwork


@dataclass
class Reachable:
    """What :func:`reachable` found.

    Attributes
    ----------
    area : shapely Polygon or MultiPolygon
        lon/lat (EPSG:4326).
    cameras : pandas.DataFrame
        camera_id, kind, lon, lat, seconds (earliest arrival), sorted by seconds.
    edges : geopandas.GeoDataFrame
        edge_id, seconds (to the nearer end), fraction (of the segment reachable), geometry.
    origin_node : int
    minutes : float
    """

    area: object
    cameras: pd.DataFrame
    edges: gpd.GeoDataFrame
    origin_node: int
    minutes: float


def reachable(point, minutes, roads, cameras=None, speed_factor=1.0, buffer_m=30.0, network=None) -> Reachable:
    """The area a vehicle can reach from ``point`` in ``minutes``, and the cameras in it.

    Parameters
    ----------
    point : (lon, lat)
    minutes : float
        Time budget.
    roads : geopandas.GeoDataFrame
        Road segments (see :class:`~workbench.trajectories.CameraNetwork`).
    cameras : pandas.DataFrame, optional
        Camera registry; cameras are listed with their earliest arrival.
    speed_factor : float
        Multiplier of posted speeds (1.2: driving 20 % above the limit).
    buffer_m : float
        Width added around reachable road pieces to draw the area.
    network : CameraNetwork, optional
        Prebuilt from the same roads and cameras.

    Returns
    -------
    Reachable

    Examples
    --------
    >>> s = workbench.load_sample()                                        # doctest: +SKIP
    >>> r = reachable((-83.0, 39.96), 5, s.roads, s.cameras)               # doctest: +SKIP
    >>> r.cameras.head()                                                   # doctest: +SKIP
    """
    try:
        lon, lat = float(point[0]), float(point[1])
    except (TypeError, ValueError, IndexError):
        raise TrajectoryError(f"point must be (lon, lat), got {point!r}") from None
    if not (minutes and minutes > 0):
        raise TrajectoryError(f"minutes must be positive, got {minutes!r}")
    if not speed_factor or speed_factor <= 0:
        raise TrajectoryError(f"speed_factor must be positive, got {speed_factor!r}")
    cams = cameras if cameras is not None else pd.DataFrame({"camera_id": [], "lon": [], "lat": []})
    net = network or CameraNetwork(roads, cams)
    x, y, _ = project([lon], [lat], net.crs)
    budget = minutes * 60.0
    t, start = net.times_from_point(x[0], y[0], speed_factor, budget)

    u, v = net._edge_u, net._edge_v
    secs = net._edge_s / speed_factor
    t_u, t_v = t[u], t[v]
    oneway = roads["oneway"].fillna(False).to_numpy(bool) if "oneway" in roads else np.zeros(len(u), bool)
    best = np.where(oneway, t_u, np.minimum(t_u, t_v))
    frac = np.clip((budget - best) / np.maximum(secs, 1e-9), 0, 1)
    both_ends = ~oneway & np.isfinite(t_u) & np.isfinite(t_v)
    frac = np.where(both_ends, np.clip((2 * budget - t_u - t_v) / np.maximum(secs, 1e-9), 0, 1), frac)
    keep = np.isfinite(best) & (best <= budget)
    geoms = net.geometry[keep]
    from_v = (~oneway & (t_v < t_u))[keep]
    pieces = []
    for g, f, rev in zip(geoms, frac[keep], from_v):  # reachable segments are at most a few thousand
        if f >= 1:
            pieces.append(g)
        else:
            a, b = (1 - f, 1.0) if rev else (0.0, f)
            pieces.append(shapely.ops.substring(g, a, b, normalized=True))
    edges = gpd.GeoDataFrame({"edge_id": net.edge_ids[keep], "seconds": best[keep], "fraction": frac[keep]},
                             geometry=pieces, crs=WGS84)
    if len(edges):
        metric = edges.to_crs(net.crs).buffer(buffer_m).union_all()
        area = shapely.transform(metric, lambda xx, yy: unproject(xx, yy, net.crs), interleaved=False)
    else:
        area = shapely.Point(lon, lat).buffer(1e-9)

    found = pd.DataFrame(columns=["camera_id", "kind", "lon", "lat", "seconds"])
    if cameras is not None and len(net.camera_ids):
        arrive = t[net._entry] + net._pre_s / speed_factor
        ok = arrive <= budget
        table = cameras.drop_duplicates("camera_id").set_index("camera_id").reindex(net.camera_ids[ok])
        found = pd.DataFrame({"camera_id": net.camera_ids[ok],
                              "kind": table["kind"].to_numpy() if "kind" in table else None,
                              "lon": table["lon"].to_numpy(float), "lat": table["lat"].to_numpy(float),
                              "seconds": arrive[ok]}).sort_values("seconds", ignore_index=True)
    return Reachable(area=area, cameras=found, edges=edges, origin_node=int(net.node_ids[start]), minutes=minutes)
