"""Routing the synthetic fleet: fastest paths between anchor nodes and the cameras they pass.

Every trip of the fleet runs between two *anchor* nodes (homes, workplaces,
shops, crime scenes). :class:`CameraRoutes` runs Dijkstra once from each anchor
on the city's directed road graph (``scipy.sparse.csgraph``), then walks all
anchor-to-anchor paths at once, backwards along the predecessor trees, and
keeps only what the ALPR simulation needs: for each ordered anchor pair, the
cameras passed in order and the free-flow seconds from departure to each.
Trips are then expanded to camera passages with array indexing alone.

A fixed ALPR camera sits at the middle of the segment its ``road_edge`` names.
By default it reads traffic in **both** directions of a two-way segment (one
camera per pole covering both carriageways, as most fixed installations do);
``directions="heading"`` makes it read only traffic travelling within 90
degrees of its ``heading``. Each passage carries the direction of travel
("NB", "EB", "SB", "WB") so next-camera models can be direction-aware.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from workbench.data.crs import project
from workbench.errors import WorkbenchError

_DIRECTIONS = np.array(["NB", "EB", "SB", "WB"], dtype=object)


class CameraRoutes:
    """Fastest paths between anchor nodes, reduced to the camera passages along them.

    Parameters
    ----------
    city : City
        Needs ``nodes`` (node_id, x, y) and ``graph`` (networkx DiGraph with
        ``travel_s`` and ``edge_id`` on each edge).
    cameras : pandas.DataFrame
        Canonical cameras; rows with ``kind == "alpr"`` and a ``road_edge``
        found in the graph are placed, the rest ignored.
    anchors : array-like of int
        Node ids trips may start or end at.
    directions : {"both", "heading"}
        Which traffic a camera reads (see the module docstring).

    Attributes
    ----------
    camera_ids : numpy.ndarray of str
        The placed cameras; passages refer to them by position.
    anchor_nodes : numpy.ndarray of int
    travel_s : numpy.ndarray, shape (K, K)
        Free-flow seconds from anchor i to anchor j.
    pair_ptr : numpy.ndarray, shape (K*K + 1,)
        Passages of the pair ``i*K + j`` are ``pair_ptr[i*K+j]:pair_ptr[i*K+j+1]``.
    passage_camera, passage_offset_s, passage_direction : numpy.ndarray
        Camera position, free-flow seconds from departure, direction code
        (index into ``DIRECTIONS``) of each passage.

    Examples
    --------
    >>> routes = CameraRoutes(city, cameras, anchors=city.nodes.node_id[:50])  # doctest: +SKIP
    """

    DIRECTIONS = _DIRECTIONS

    def __init__(self, city, cameras, anchors, *, directions="both"):
        if directions not in ("both", "heading"):
            raise WorkbenchError(f"directions must be 'both' or 'heading', got {directions!r}")
        nodes = city.nodes
        node_ids = nodes["node_id"].to_numpy(np.int64)
        order = np.argsort(node_ids)
        n = len(node_ids)

        def node_index(ids):
            ids = np.asarray(ids, dtype=np.int64)
            pos = np.searchsorted(node_ids[order], ids)
            pos = np.clip(pos, 0, n - 1)
            if not (node_ids[order][pos] == ids).all():
                raise WorkbenchError("a node id of the graph or anchors is missing from city.nodes")
            return order[pos]

        edges = list(city.graph.edges(data=True))  # over road segments, a few thousand
        src = node_index([e[0] for e in edges])
        dst = node_index([e[1] for e in edges])
        travel = np.array([float(e[2]["travel_s"]) for e in edges])
        edge_ids = np.array([str(e[2]["edge_id"]) for e in edges], dtype=object)
        x = nodes["x"].to_numpy(float)
        y = nodes["y"].to_numpy(float)
        bearing = np.degrees(np.arctan2(x[dst] - x[src], y[dst] - y[src])) % 360
        edge_dir = (((bearing + 45) % 360) // 90).astype(np.int8)

        cam = cameras[(cameras["kind"] == "alpr") & cameras["road_edge"].notna()]
        cam = cam[cam["road_edge"].astype(str).isin(set(edge_ids))].reset_index(drop=True)
        if cam.empty:
            raise WorkbenchError("no ALPR camera watches a road edge of the city graph")
        self.camera_ids = cam["camera_id"].astype(str).to_numpy(dtype=object)
        self.camera_lon = cam["lon"].to_numpy(float)
        self.camera_lat = cam["lat"].to_numpy(float)
        # directed edge -> cameras reading it (CSR), so several cameras may share a segment
        e_of_id = pd.Series(np.arange(len(edges))).groupby(edge_ids).apply(list).to_dict()
        pairs = []
        heading = cam["heading"].to_numpy(float) if "heading" in cam else np.full(len(cam), np.nan)
        for c, edge_id in enumerate(cam["road_edge"].astype(str)):  # over cameras
            for e in e_of_id[edge_id]:
                if directions == "heading" and np.isfinite(heading[c]):
                    if abs((bearing[e] - heading[c] + 180) % 360 - 180) > 90:
                        continue
                pairs.append((e, c))
        pairs = np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2)
        self.edge_cam_ptr = np.concatenate([[0], np.cumsum(np.bincount(pairs[:, 0], minlength=len(edges)))])
        self.edge_cam = pairs[:, 1]
        # distances to crime scenes are measured from the camera's own position
        self.camera_x, self.camera_y, _ = project(self.camera_lon, self.camera_lat, city.crs)

        self.node_ids = node_ids
        self.anchor_nodes = np.asarray(anchors, dtype=np.int64)
        anchor_idx = node_index(self.anchor_nodes)
        graph = csr_matrix((travel, (src, dst)), shape=(n, n))
        dist, pred = dijkstra(graph, directed=True, indices=anchor_idx, return_predecessors=True)
        if not np.isfinite(dist[:, anchor_idx]).all():
            raise WorkbenchError("the road graph is not strongly connected between the anchors")
        self.travel_s = dist[:, anchor_idx]
        self._walk(anchor_idx, dist, pred, src, dst, travel, edge_dir, n)

    def _walk(self, anchor_idx, dist, pred, src, dst, travel, edge_dir, n):
        """Walk every anchor-pair path backwards at once, recording camera edges."""
        k = len(anchor_idx)
        edge_key = src.astype(np.int64) * n + dst
        key_order = np.argsort(edge_key)
        sorted_keys = edge_key[key_order]
        cam_count = np.diff(self.edge_cam_ptr)

        s = np.repeat(np.arange(k), k)
        pair = np.arange(k * k)
        cur = np.tile(anchor_idx, k).astype(np.int64)
        active = cur != anchor_idx[s]
        s, pair, cur = s[active], pair[active], cur[active]
        rec_pair, rec_edge, rec_time = [], [], []
        while len(cur):
            p = pred[s, cur].astype(np.int64)
            e = key_order[np.searchsorted(sorted_keys, p * n + cur)]
            hit = cam_count[e] > 0
            if hit.any():
                rec_pair.append(pair[hit])
                rec_edge.append(e[hit])
                rec_time.append(dist[s[hit], p[hit]] + 0.5 * travel[e[hit]])
            more = p != anchor_idx[s]
            s, pair, cur = s[more], pair[more], p[more]
        rec_pair = np.concatenate(rec_pair) if rec_pair else np.zeros(0, np.int64)
        rec_edge = np.concatenate(rec_edge) if rec_edge else np.zeros(0, np.int64)
        rec_time = np.concatenate(rec_time) if rec_time else np.zeros(0)
        # one record per camera on the edge
        reps = cam_count[rec_edge]
        first = np.repeat(self.edge_cam_ptr[rec_edge], reps)
        within = np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps)
        camera = self.edge_cam[first + within]
        rec_pair, rec_time, rec_edge = (np.repeat(a, reps) for a in (rec_pair, rec_time, rec_edge))
        order = np.lexsort((camera, rec_time, rec_pair))
        self.passage_camera = camera[order].astype(np.int32)
        self.passage_offset_s = rec_time[order]
        self.passage_direction = edge_dir[rec_edge[order]]
        self.pair_ptr = np.concatenate([[0], np.cumsum(np.bincount(rec_pair, minlength=k * k))])

    @property
    def n_anchors(self) -> int:
        return len(self.anchor_nodes)

    def passages_per_pair(self) -> np.ndarray:
        """Number of camera passages on the path of each anchor pair, shape (K, K)."""
        return np.diff(self.pair_ptr).reshape(self.n_anchors, self.n_anchors)

    def camera_sequences(self):
        """Number the distinct camera sequences passed on the anchor pairs' paths.

        Many pairs pass the same cameras in the same order (or none), so trips
        can share one list of camera ids per sequence.

        Returns
        -------
        sequence : numpy.ndarray of int32, shape (K*K,)
            Sequence number of each pair ``i*K + j``; equal numbers, equal sequences.
        n_sequences : int
        """
        count = np.diff(self.pair_ptr)
        grid = np.full((len(count), max(int(count.max(initial=0)), 1)), -1, dtype=np.int32)
        row = np.repeat(np.arange(len(count)), count)
        grid[row, np.arange(len(row)) - self.pair_ptr[row]] = self.passage_camera
        distinct, sequence = np.unique(grid, axis=0, return_inverse=True)
        return sequence.reshape(-1).astype(np.int32), len(distinct)

    def expand(self, origin, dest):
        """Camera passages of trips from anchor ``origin[i]`` to ``dest[i]`` (anchor positions).

        Returns
        -------
        trip : numpy.ndarray of int
            Index into ``origin`` / ``dest`` of each passage, passages in path order.
        camera : numpy.ndarray of int
        offset_s : numpy.ndarray of float
            Free-flow seconds from departure.
        direction : numpy.ndarray of int8
        """
        pair = np.asarray(origin, np.int64) * self.n_anchors + np.asarray(dest, np.int64)
        start = self.pair_ptr[pair]
        count = self.pair_ptr[pair + 1] - start
        index = np.int32 if len(pair) < 2**31 else np.int64  # halves the largest array of a 10M-read run
        trip = np.repeat(np.arange(len(pair), dtype=index), count)
        idx = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count - start, count)
        return trip, self.passage_camera[idx], self.passage_offset_s[idx], self.passage_direction[idx]


def camera_lists(route, p_start, n_pass, p_cam, camera_ids) -> np.ndarray:
    """The ``camera_ids`` column: one array of camera ids per trip, shared by trips of one route.

    Building one array per route instead of one per trip keeps a 10M-read run
    from holding ~8M small arrays; the arrays are read-only so that no trip can
    change another's.

    Parameters
    ----------
    route : numpy.ndarray of int
        Route number of each trip (see :func:`trip_routes`): trips of one route
        pass the same cameras in the same order.
    p_start, n_pass : numpy.ndarray of int
        First passage and number of passages of each trip.
    p_cam : numpy.ndarray of int
        Camera (position in ``camera_ids``) of each passage.
    camera_ids : numpy.ndarray of str

    Returns
    -------
    numpy.ndarray of object
        One read-only array of str per trip, as pandas reads a Parquet list<string> column.

    Examples
    --------
    >>> lists = camera_lists(np.array([7, 10, 7]), np.array([0, 1, 3]), np.array([1, 2, 1]),
    ...                      np.array([0, 1, 2, 0]), np.array(["A", "B", "C"]))
    >>> [list(x) for x in lists], lists[0] is lists[2]
    ([['A'], ['B', 'C'], ['A']], True)
    """
    rep = np.full(int(route.max(initial=-1)) + 1, -1, dtype=np.int64)
    rep[route] = np.arange(len(route))  # any trip of a route will do: they pass the same cameras
    used = np.flatnonzero(rep >= 0)
    slot = np.zeros(len(rep), dtype=np.int64)
    slot[used] = np.arange(len(used))
    rep = rep[used]
    count = n_pass[rep]
    passage = np.repeat(p_start[rep] - (np.cumsum(count) - count), count) + np.arange(count.sum())
    offsets = np.concatenate([[0], np.cumsum(count)]).astype(np.int32)
    names = pa.array(np.asarray(camera_ids, dtype=object).astype(str), pa.string())
    per_route = pa.ListArray.from_arrays(pa.array(offsets), names.take(pa.array(p_cam[passage]))).to_numpy(
        zero_copy_only=False)
    for cameras in per_route:  # over distinct camera sequences, not trips
        cameras.flags.writeable = False
    return per_route[slot[route]]


def _relabel(values, size: int) -> np.ndarray:
    """Numbers 0..m-1 for the m distinct ``values`` (all in [0, size)), in the order of the values.

    A table over [0, size) when that is not much larger than ``values``: no sort.
    """
    if size > 4 * len(values) + 1_000_000:
        return np.unique(values, return_inverse=True)[1].reshape(-1)
    present = np.zeros(size, dtype=bool)
    present[values] = True
    return (np.cumsum(present) - 1)[values]


def trip_routes(trip_first, trip_legs, leg_sequence, n_sequences):
    """A number per trip, equal for trips whose legs pass the same camera sequences in the same order.

    A one-leg trip is numbered by its sequence; trips of several legs (a varied
    route, an offender's drive) get numbers from ``n_sequences`` on.

    Parameters
    ----------
    trip_first, trip_legs : numpy.ndarray of int
        First leg and number of legs of each trip (a trip's legs are consecutive).
    leg_sequence : numpy.ndarray of int
        Camera sequence of each leg (see :meth:`CameraRoutes.camera_sequences`).
    n_sequences : int

    Returns
    -------
    numpy.ndarray of int64

    Examples
    --------
    >>> trip_routes(np.array([0, 1, 3]), np.array([1, 2, 1]), np.array([7, 7, 2, 7]), 10).tolist()
    [7, 10, 7]
    """
    route = leg_sequence[trip_first].astype(np.int64)
    multi = np.flatnonzero(trip_legs > 1)
    if len(multi) == 0:
        return route
    code = route[multi]
    for j in range(1, int(trip_legs[multi].max())):  # legs of one trip: two, rarely more
        more = trip_legs[multi] > j
        nxt = np.where(more, leg_sequence[trip_first[multi] + np.where(more, j, 0)].astype(np.int64) + 1, 0)
        code = _relabel(code * (n_sequences + 1) + nxt, (int(code.max()) + 1) * (n_sequences + 1))
    route[multi] = n_sequences + code
    return route
