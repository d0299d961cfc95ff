"""The road network as the trajectory engine sees it: travel times and routes between cameras.

Cameras are few, so shortest paths between all of them are computed once
(:mod:`scipy.sparse.csgraph`) when a :class:`CameraNetwork` is built, and
every leg of every trip is then a table look-up. A fixed ALPR camera watches
one direction of one road segment (``cameras.road_edge`` and ``heading``): a
vehicle seen there leaves by the segment's head node, so the network knows the
direction of travel. Cameras without a segment (CCTV, community) are snapped
to the nearest node.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from workbench.data.crs import project
from workbench.errors import TrajectoryError

_REQUIRED_ROADS = ("edge_id", "u", "v", "length_m", "speed_kmh", "geometry")


def _bearing(x0, y0, x1, y1):
    return np.degrees(np.arctan2(x1 - x0, y1 - y0)) % 360


class CameraNetwork:
    """Shortest travel times, distances and routes between cameras on a road graph.

    Parameters
    ----------
    roads : geopandas.GeoDataFrame
        ``edge_id``, ``u``, ``v`` (node ids; one-way traffic flows u -> v),
        ``length_m``, ``speed_kmh``, ``oneway`` (optional, default False), geometry in lon/lat.
    cameras : pandas.DataFrame
        ``camera_id``, ``lon``, ``lat``; optional ``road_edge`` and ``heading``.
    crs : str, optional
        Metric CRS; the local UTM zone by default.

    Attributes
    ----------
    camera_ids : numpy.ndarray of str
    travel_s : numpy.ndarray, shape (n_cameras, n_cameras)
        Fastest time at posted speeds from one camera to another (inf if unreachable).
    distance_m : numpy.ndarray, shape (n_cameras, n_cameras)
        Shortest road distance between them (the lower bound an impossible-travel check needs).

    Examples
    --------
    >>> s = workbench.load_sample()                               # doctest: +SKIP
    >>> net = CameraNetwork(s.roads, s.cameras)                   # doctest: +SKIP
    >>> net.route("ALPR-001", "ALPR-009")                         # doctest: +SKIP
    ['e03062', ...]
    """

    def __init__(self, roads, cameras, crs=None):
        missing = [c for c in _REQUIRED_ROADS if c not in roads.columns]
        if missing:
            raise TrajectoryError(f"roads lack column(s) {', '.join(missing)}; expected {', '.join(_REQUIRED_ROADS)}")
        self.crs = crs
        self._build_graph(roads)
        self._place_cameras(cameras)
        self._all_pairs()

    # -- graph -----------------------------------------------------------------------------------
    def _build_graph(self, roads):
        node_ids, inv = np.unique(np.r_[roads["u"].to_numpy(), roads["v"].to_numpy()], return_inverse=True)
        n_edges = len(roads)
        u, v = inv[:n_edges], inv[n_edges:]
        geom = roads.geometry
        x0, y0, self.crs = project(geom.apply(lambda g: g.coords[0][0]), geom.apply(lambda g: g.coords[0][1]), self.crs)
        x1, y1, _ = project(geom.apply(lambda g: g.coords[-1][0]), geom.apply(lambda g: g.coords[-1][1]), self.crs)
        self.node_ids = node_ids
        self.node_xy = np.zeros((len(node_ids), 2))
        self.node_xy[u] = np.c_[x0, y0]
        self.node_xy[v] = np.c_[x1, y1]
        length = roads["length_m"].to_numpy(float)
        seconds = length / np.maximum(roads["speed_kmh"].to_numpy(float), 1.0) * 3.6
        oneway = roads["oneway"].fillna(False).to_numpy(bool) if "oneway" in roads else np.zeros(n_edges, bool)
        two = ~oneway
        src = np.r_[u, v[two]]
        dst = np.r_[v, u[two]]
        edge = np.r_[np.arange(n_edges), np.flatnonzero(two)]
        # parallel segments: keep the fastest (csr_matrix would add them up)
        order = np.lexsort((seconds[edge], dst, src))
        src, dst, edge = src[order], dst[order], edge[order]
        first = np.r_[True, (src[1:] != src[:-1]) | (dst[1:] != dst[:-1])]
        src, dst, edge = src[first], dst[first], edge[first]
        n = len(node_ids)
        self._time_graph = csr_matrix((seconds[edge] + 1e-6, (src, dst)), shape=(n, n))
        self._length_graph = csr_matrix((length[edge] + 1e-6, (src, dst)), shape=(n, n))
        self._edge_of = {(int(a), int(b)): int(e) for a, b, e in zip(src, dst, edge)}
        self.edge_ids = roads["edge_id"].astype(str).to_numpy()
        self._edge_u, self._edge_v = u, v
        self._edge_len, self._edge_s = length, seconds
        self._edge_bearing = _bearing(x0, y0, x1, y1)
        self._edge_index = {e: i for i, e in enumerate(self.edge_ids)}
        self.geometry = geom.to_numpy()

    def _place_cameras(self, cameras):
        if "camera_id" not in cameras or "lon" not in cameras or "lat" not in cameras:
            raise TrajectoryError("cameras need camera_id, lon and lat")
        cams = cameras.drop_duplicates("camera_id").reset_index(drop=True)
        if not len(cams):
            cams = pd.DataFrame({"camera_id": pd.Series([], dtype=str), "lon": pd.Series([], dtype=float),
                                 "lat": pd.Series([], dtype=float)})
        self.camera_ids = cams["camera_id"].astype(str).to_numpy()
        self.camera_index = pd.Index(self.camera_ids)
        cx, cy, _ = project(cams["lon"], cams["lat"], self.crs)
        self.camera_xy = np.c_[cx, cy]
        n = len(cams)
        entry = np.empty(n, np.int64)
        exit_ = np.empty(n, np.int64)
        pre_s = np.zeros(n)
        post_s = np.zeros(n)
        pre_m = np.zeros(n)
        post_m = np.zeros(n)
        self.camera_edge = np.full(n, -1)
        road_edge = cams["road_edge"] if "road_edge" in cams else pd.Series([None] * n)
        heading = cams["heading"] if "heading" in cams else pd.Series([np.nan] * n)
        for i in range(n):  # cameras are few
            e = self._edge_index.get(road_edge.iloc[i]) if isinstance(road_edge.iloc[i], str) else None
            if e is None:
                d = np.hypot(*(self.node_xy - self.camera_xy[i]).T)
                entry[i] = exit_[i] = int(np.argmin(d))
                continue
            self.camera_edge[i] = e
            a, b = self._edge_u[e], self._edge_v[e]
            h = heading.iloc[i]
            if pd.notna(h) and abs((h - self._edge_bearing[e] + 180) % 360 - 180) > 90:
                a, b = b, a  # the camera watches traffic flowing v -> u
            entry[i], exit_[i] = a, b
            pre_s[i] = post_s[i] = self._edge_s[e] / 2
            pre_m[i] = post_m[i] = self._edge_len[e] / 2
        self._entry, self._exit = entry, exit_
        self._pre_s, self._post_s, self._pre_m, self._post_m = pre_s, post_s, pre_m, post_m

    def _all_pairs(self):
        self._routes = {}
        if not len(self.camera_ids):
            self.travel_s = self.distance_m = np.zeros((0, 0))
            return
        sources = np.unique(self._exit)
        t, pred = dijkstra(self._time_graph, indices=sources, return_predecessors=True)
        d = dijkstra(self._length_graph, indices=sources)
        row = np.searchsorted(sources, self._exit)
        self._pred, self._pred_row = pred, row
        tt = t[row][:, self._entry]
        dd = d[row][:, self._entry]
        self.travel_s = self._post_s[:, None] + tt + self._pre_s[None, :]
        self.distance_m = self._post_m[:, None] + dd + self._pre_m[None, :]
        same_edge = (self.camera_edge[:, None] == self.camera_edge[None, :]) & (self.camera_edge[:, None] >= 0)
        same_dir = self._entry[:, None] == self._entry[None, :]
        np.fill_diagonal(self.travel_s, 0.0)
        np.fill_diagonal(self.distance_m, 0.0)
        both = same_edge & same_dir & ~np.eye(len(self.camera_ids), dtype=bool)
        self.travel_s[both] = 0.0
        self.distance_m[both] = 0.0

    # -- look-ups --------------------------------------------------------------------------------
    def index(self, camera_ids) -> np.ndarray:
        """Positions of camera ids in :attr:`camera_ids` (-1 for unknown or missing ones)."""
        return self.camera_index.get_indexer(pd.Index(camera_ids).astype(object))

    def route_edges(self, i: int, j: int) -> tuple:
        """Edge ids of the fastest route from camera position ``i`` to ``j`` (cached)."""
        key = (int(i), int(j))
        if key in self._routes:
            return self._routes[key]
        path = []
        if i >= 0 and j >= 0 and i != j and np.isfinite(self.travel_s[i, j]):
            pred = self._pred[self._pred_row[i]]
            node, target = self._entry[j], self._exit[i]
            while node != target and node >= 0:
                p = pred[node]
                path.append(self._edge_of[(int(p), int(node))])
                node = p
            path = path[::-1]
            if self.camera_edge[i] >= 0:
                path.insert(0, self.camera_edge[i])
            if self.camera_edge[j] >= 0 and (not path or path[-1] != self.camera_edge[j]):
                path.append(self.camera_edge[j])
        route = tuple(self.edge_ids[path]) if path else ()
        self._routes[key] = route
        return route

    def route(self, from_camera: str, to_camera: str) -> list:
        """Edge ids of the fastest route between two cameras (by camera id)."""
        i, j = self.index([from_camera, to_camera])
        if i < 0 or j < 0:
            raise TrajectoryError(f"unknown camera: {from_camera if i < 0 else to_camera!r}")
        return list(self.route_edges(i, j))

    def times_from_point(self, x: float, y: float, speed_factor: float = 1.0, limit_s: float = np.inf):
        """Seconds to every node from the node nearest ``(x, y)`` (metres), and that node."""
        start = int(np.argmin(np.hypot(self.node_xy[:, 0] - x, self.node_xy[:, 1] - y)))
        t = dijkstra(self._time_graph, indices=start, limit=limit_s * speed_factor) / speed_factor
        return t, start
