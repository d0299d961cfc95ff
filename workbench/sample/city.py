"""The synthetic city: street network, river, highway, land use, districts and beats.

Contract (other modules route on it; keep it stable)
----------------------------------------------------
``build_city(seed, origin, size_km=10, ...) -> City`` is deterministic by ``seed``.
``origin`` is the (lon, lat) of the city's **centre**; the default,
``DEFAULT_ORIGIN = (-83.00, 39.96)``, is central Columbus, Ohio (UTM zone 17N), a
US city of the right size whose time zone is ``America/New_York``.

``City.crs``
    The local UTM CRS (``"EPSG:326NN"``) that holds ``origin``; all ``x``/``y`` are
    metres in it.
``City.nodes``
    DataFrame, one row per intersection / highway node: ``node_id`` (int), ``x``,
    ``y`` (metres, ``City.crs``), ``lon``, ``lat``, ``road_class`` (the highest
    class meeting there: highway, arterial or local), ``land_use`` in
    {residential, commercial, industrial}, ``pop_weight`` (relative residential
    density, for home anchors), ``job_weight`` (relative activity, for work and
    shopping anchors), ``district``, ``beat``. Highway nodes have zero weights:
    nobody lives on the interstate.
``City.roads``
    GeoDataFrame (EPSG:4326), one row per street segment: ``edge_id`` (str),
    ``u``, ``v`` (node ids; for one-way segments traffic flows u -> v),
    ``length_m``, ``speed_kmh``, ``road_class`` in {highway, ramp, arterial,
    local, bridge}, ``oneway`` (bool), ``name``, ``geometry`` (LineString from u
    to v).
``City.graph``
    networkx DiGraph over ``node_id`` with node attributes ``x``, ``y`` and edge
    attributes ``length_m``, ``speed_kmh``, ``travel_s``, ``edge_id``,
    ``road_class``. A two-way segment is two directed edges sharing one
    ``edge_id``. The graph is strongly connected.
``City.districts`` / ``City.beats``
    GeoDataFrames (EPSG:4326) of police districts ("D1".."Dn") and beats ("D1-1",
    ...; ``beats.district`` names the parent) with ``population``,
    ``median_income`` (USD), race/ethnicity shares ``share_white``,
    ``share_black``, ``share_hispanic``, ``share_asian``, ``share_other``
    (summing to 1) and ``deprivation`` (0-1, the latent index that drives both
    demographics and crime).
``City.river``
    GeoSeries (EPSG:4326) holding the river's centre line; only bridges cross it.

Layout: a 250 m street grid (jittered, with a few missing blocks) whose every
fourth line is an arterial; a one-way couplet grid downtown; a river meandering
west-east crossed by four arterial bridges and the highway; a north-south
interstate ("I-71") with diamond interchanges (four one-way ramps each) every
2 km.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from workbench.data.crs import WGS84, project, unproject, utm_crs_for
from workbench.sample.districts import demographics, lloyd, sample_in, voronoi

DEFAULT_ORIGIN = (-83.00, 39.96)

#: Posted speed limits (km/h): 65, 35, 25 mph and 30 mph on ramps.
SPEEDS_KMH = {"highway": 105.0, "arterial": 56.0, "local": 40.0, "ramp": 48.0}

BLOCK_M = 250.0
ARTERIAL_EVERY = 4
RIVER_HALF_WIDTH_M = 60.0
HIGHWAY_NAME = "I-71"

_AVENUES = ["Oak", "Maple", "Cedar", "Elm", "Walnut", "Cherry", "Hickory", "Spruce", "Willow",
            "Chestnut", "Poplar", "Sycamore", "Birch", "Ash", "Magnolia", "Linden", "Juniper",
            "Alder", "Laurel", "Pine", "Hawthorn", "Cypress", "Dogwood", "Hazel", "Locust",
            "Mulberry", "Redbud", "Aspen", "Beech", "Holly", "Larch", "Myrtle", "Olive", "Palm",
            "Quince", "Rowan", "Tamarack", "Tupelo", "Yew", "Buckeye", "Catalpa", "Fir", "Ginkgo"]


@dataclass
class City:
    """A synthetic city; see the module docstring for the contract of each attribute."""

    nodes: pd.DataFrame
    roads: object  # GeoDataFrame
    graph: object  # networkx.DiGraph
    districts: object  # GeoDataFrame
    beats: object  # GeoDataFrame
    river: object  # GeoSeries
    crs: str
    origin: tuple
    size_km: float
    seed: int
    params: dict = field(default_factory=dict)

    def nearest_node(self, x, y, *, exclude_highway=True):
        """Node ids nearest to points given in metres (``City.crs``).

        Parameters
        ----------
        x, y : array-like of float
        exclude_highway : bool
            Snap to surface streets only (the default): a crime is not on the interstate.

        Returns
        -------
        numpy.ndarray of int
        """
        from scipy.spatial import cKDTree

        nodes = self.nodes
        if exclude_highway:
            nodes = nodes[nodes["road_class"] != "highway"]
        tree = cKDTree(nodes[["x", "y"]].to_numpy())
        _, idx = tree.query(np.column_stack([np.asarray(x, float), np.asarray(y, float)]))
        return nodes["node_id"].to_numpy()[idx]

    def to_xy(self, lon, lat):
        """lon/lat -> metres in ``City.crs``."""
        x, y, _ = project(lon, lat, self.crs)
        return x, y

    def to_lonlat(self, x, y):
        """Metres in ``City.crs`` -> lon/lat."""
        return unproject(x, y, self.crs)

    @property
    def centre_xy(self):
        """The city's centre (``origin``) in metres."""
        x, y = self.to_xy([self.origin[0]], [self.origin[1]])
        return float(x[0]), float(y[0])


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _river_y(x, phase, amp=650.0, base=-1300.0, wavelength=9000.0):
    return base + amp * np.sin(2 * np.pi * (np.asarray(x, float) + 5000.0) / wavelength + phase)


def _highway_x(y, phase, base=2100.0, amp=450.0):
    return base + amp * np.sin(2 * np.pi * np.asarray(y, float) / 12000.0 + phase)


def build_city(seed: int = 0, origin=DEFAULT_ORIGIN, size_km: float = 10.0, *,
               population: float = 360_000, n_districts: int = 8, beats_per_district: int = 5,
               block_m: float = BLOCK_M) -> City:
    """Build the synthetic city.

    Parameters
    ----------
    seed : int
        Seed of every random choice (jitter, missing blocks, district shapes, demographics).
    origin : (float, float)
        lon, lat of the city centre.
    size_km : float
        Side of the square city, km.
    population : float
        Residents for a 10 x 10 km city; scaled by area for other sizes.
    n_districts : int
        Police districts, 6-12 recommended.
    beats_per_district : int
    block_m : float
        Street-grid spacing, metres.

    Returns
    -------
    City

    Examples
    --------
    >>> city = build_city(seed=0, size_km=4)
    >>> sorted(city.roads["road_class"].unique())[:2]
    ['arterial', 'bridge']
    """
    import geopandas as gpd
    import networkx as nx
    import shapely

    rng = np.random.default_rng([seed, 101])
    lon0, lat0 = float(origin[0]), float(origin[1])
    crs = utm_crs_for([lon0], [lat0])
    X0, Y0, _ = project([lon0], [lat0], crs)
    X0, Y0 = float(X0[0]), float(Y0[0])
    half = size_km * 500.0
    scale = size_km / 10.0
    river_phase = rng.uniform(0, 2 * np.pi)
    hw_phase = rng.uniform(0, 2 * np.pi)

    def river_y(x):
        return _river_y(x * 10.0 / size_km, river_phase, amp=650.0) * scale

    def highway_x(y):
        return _highway_x(y * 10.0 / size_km, hw_phase) * scale

    # --- surface grid -------------------------------------------------------------
    n = int(round(2 * half / block_m)) + 1
    ticks = -half + block_m * np.arange(n)
    is_art = (np.arange(n) % ARTERIAL_EVERY == 0)
    jj, ii = np.meshgrid(np.arange(n), np.arange(n))  # ii: row (y), jj: column (x)
    ii, jj = ii.ravel(), jj.ravel()
    gx = ticks[jj] + np.where(is_art[jj], 0.0, rng.uniform(-15, 15, ii.size))
    gy = ticks[ii] + np.where(is_art[ii], 0.0, rng.uniform(-15, 15, ii.size))
    in_river = np.abs(gy - river_y(gx)) < RIVER_HALF_WIDTH_M
    node_id = np.where(in_river, -1, np.arange(ii.size))
    grid_id = node_id.reshape(n, n)

    downtown = (np.abs(ticks) <= 1000 * scale + 1)
    edges = []  # (u, v, class, oneway, name, extra_coords)

    def add(u, v, cls, oneway, name):
        edges.append((u, v, cls, oneway, name))

    # Streets named by column (avenues) and row (numbered streets, 1st at the south).
    avenue = [f"{_AVENUES[j % len(_AVENUES)]} {'Ave' if is_art[j] else 'St'}" for j in range(n)]
    street = [f"{_ordinal(i + 1)} {'Blvd' if is_art[i] else 'St'}" for i in range(n)]
    drop = rng.random((2, n, n)) < 0.06
    # Downtown local streets form one-way couplets: alternate directions street by street.
    for i in range(n):  # loops over grid lines (tens), not over data rows
        for j in range(n - 1):  # east-west segments on row i
            u, v = grid_id[i, j], grid_id[i, j + 1]
            if u < 0 or v < 0:
                continue
            if np.sign(gy[u] - river_y(gx[u])) != np.sign(gy[v] - river_y(gx[v])):
                continue
            art = is_art[i]
            if not art and drop[0, i, j]:
                continue
            oneway = bool(not art and downtown[i] and downtown[j] and downtown[j + 1])
            if oneway and i % 2:
                u, v = v, u
            add(u, v, "arterial" if art else "local", oneway, street[i])
    for j in range(n):
        for i in range(n - 1):  # north-south segments on column j
            u, v = grid_id[i, j], grid_id[i + 1, j]
            if u < 0 or v < 0:
                continue
            if np.sign(gy[u] - river_y(gx[u])) != np.sign(gy[v] - river_y(gx[v])):
                continue
            art = is_art[j]
            if not art and drop[1, i, j]:
                continue
            oneway = bool(not art and downtown[j] and downtown[i] and downtown[i + 1])
            if oneway and j % 2:
                u, v = v, u
            add(u, v, "arterial" if art else "local", oneway, avenue[j])

    # Four arterial bridges, spread across the river.
    art_cols = np.flatnonzero(is_art)[1:-1]
    bridge_cols = art_cols[np.linspace(0, art_cols.size - 1, 4).round().astype(int)]
    bridge_cols = np.unique(bridge_cols)
    for j in bridge_cols:
        col = grid_id[:, j]
        side = np.sign(gy[np.arange(n) * n + j] - river_y(gx[np.arange(n) * n + j]))
        south = [i for i in range(n) if col[i] >= 0 and side[i] < 0]
        north = [i for i in range(n) if col[i] >= 0 and side[i] > 0]
        if south and north:
            add(col[max(south)], col[min(north)], "bridge", False, f"{avenue[j]} Bridge")

    # --- highway with diamond interchanges ---------------------------------------
    hy = -half + block_m * np.arange(n)
    hx = highway_x(hy)
    h_ids = ii.size + np.arange(n)
    hw_side = np.sign(hy - river_y(hx))
    for k in range(n - 1):
        cls = "bridge" if hw_side[k] != hw_side[k + 1] else "highway"
        name = f"{HIGHWAY_NAME} Bridge" if cls == "bridge" else HIGHWAY_NAME
        add(h_ids[k], h_ids[k + 1], cls, False, name)
    exit_no = 0
    for i in np.flatnonzero(is_art)[1:-1][::2]:
        if i - 1 < 0 or i + 1 >= n:
            continue
        row = grid_id[i]
        alive = np.flatnonzero(row >= 0)
        if alive.size == 0:
            continue
        j = alive[np.argmin(np.abs(ticks[alive] - hx[i]))]
        g = row[j]
        exit_no += 1
        ramp = f"{HIGHWAY_NAME} Exit {exit_no} ({street[i]})"
        add(h_ids[i - 1], g, "ramp", True, f"{ramp} NB off-ramp")
        add(g, h_ids[i + 1], "ramp", True, f"{ramp} NB on-ramp")
        add(h_ids[i + 1], g, "ramp", True, f"{ramp} SB off-ramp")
        add(g, h_ids[i - 1], "ramp", True, f"{ramp} SB on-ramp")

    x_all = np.concatenate([gx, hx])
    y_all = np.concatenate([gy, hy])
    e = pd.DataFrame(edges, columns=["u", "v", "road_class", "oneway", "name"])
    e["u"] = e["u"].astype(np.int64)
    e["v"] = e["v"].astype(np.int64)

    # Keep the strongly connected core so every trip has a route.
    g0 = nx.DiGraph()
    g0.add_edges_from(zip(e["u"], e["v"]))
    g0.add_edges_from(zip(e.loc[~e["oneway"], "v"], e.loc[~e["oneway"], "u"]))
    core = max(nx.strongly_connected_components(g0), key=len)
    e = e[e["u"].isin(core) & e["v"].isin(core)].reset_index(drop=True)

    # Geometry: straight lines, ramps bowed outwards so the four ramps stay apart.
    ux, uy, vx, vy = x_all[e["u"]], y_all[e["u"]], x_all[e["v"]], y_all[e["v"]]
    is_ramp = (e["road_class"] == "ramp").to_numpy()
    mx, my = (ux + vx) / 2, (uy + vy) / 2
    dx, dy = vx - ux, vy - uy
    norm = np.hypot(dx, dy) + 1e-9
    bow = 40.0
    mx = mx + np.where(is_ramp, -dy / norm * bow, 0.0)
    my = my + np.where(is_ramp, dx / norm * bow, 0.0)
    coords = np.stack([np.column_stack([ux, uy]), np.column_stack([mx, my]),
                       np.column_stack([vx, vy])], axis=1)
    lon_c, lat_c = unproject(coords[..., 0].ravel() + X0, coords[..., 1].ravel() + Y0, crs)
    lines = shapely.linestrings(np.column_stack([lon_c, lat_c]).reshape(-1, 3, 2))
    seg = np.hypot(coords[:, 1:, 0] - coords[:, :-1, 0], coords[:, 1:, 1] - coords[:, :-1, 1])
    e["length_m"] = seg.sum(axis=1).round(1)
    base_speed = e["road_class"].map(SPEEDS_KMH)
    bridge_speed = np.where(e["name"].str.startswith(HIGHWAY_NAME), SPEEDS_KMH["highway"],
                            SPEEDS_KMH["arterial"])
    e["speed_kmh"] = np.where(e["road_class"] == "bridge", bridge_speed, base_speed).astype(float)
    e.insert(0, "edge_id", [f"e{k:05d}" for k in range(len(e))])
    e["oneway"] = e["oneway"].astype(bool)
    roads = gpd.GeoDataFrame(e[["edge_id", "u", "v", "length_m", "speed_kmh", "road_class",
                                "oneway", "name"]], geometry=lines, crs=WGS84)

    # --- nodes --------------------------------------------------------------------
    used = np.unique(np.concatenate([e["u"].to_numpy(), e["v"].to_numpy()]))
    nodes = pd.DataFrame({"node_id": used, "x": x_all[used] + X0, "y": y_all[used] + Y0})
    nodes["lon"], nodes["lat"] = unproject(nodes["x"], nodes["y"], crs)
    lx, ly = x_all[used], y_all[used]
    is_hw = used >= ii.size
    grid_i = np.where(is_hw, 0, used // n)
    grid_j = np.where(is_hw, 0, used % n)
    on_art = ~is_hw & (is_art[grid_i] | is_art[grid_j])
    nodes["road_class"] = np.where(is_hw, "highway", np.where(on_art, "arterial", "local"))

    # Land use: downtown and arterial corridors and three shopping centres are commercial;
    # the riverside in the west and the highway's southern stretch are industrial.
    r_centre = np.hypot(lx, ly - 300 * scale)
    malls = np.column_stack([rng.uniform(-0.8, 0.8, 3) * half, rng.uniform(-0.8, 0.8, 3) * half])
    near_mall = (np.hypot(lx[:, None] - malls[:, 0], ly[:, None] - malls[:, 1]) < 350 * scale).any(1)
    art_corner = ~is_hw & is_art[grid_i] & is_art[grid_j]
    commercial = (r_centre < 1100 * scale) | near_mall | (art_corner & (rng.random(used.size) < 0.6))
    near_river = np.abs(ly - river_y(lx)) < 450 * scale
    industrial = (near_river & (lx < -1500 * scale)) | (
        (np.abs(lx - highway_x(ly)) < 500 * scale) & (ly < -2800 * scale))
    land_use = np.where(commercial, "commercial", np.where(industrial, "industrial", "residential"))
    nodes["land_use"] = land_use

    # --- districts and beats ------------------------------------------------------
    city_box = shapely.box(-half, -half, half, half)
    rows = [(-0.66, 0.66), (0.0, 0.66), (0.66, 0.66), (-0.4, 0.0), (0.4, 0.0),
            (-0.66, -0.66), (0.0, -0.66), (0.66, -0.66), (0.0, 0.0), (-0.9, 0.0), (0.9, 0.0),
            (0.0, 0.33)]
    layout = np.array(rows[:n_districts]) * half
    seeds = layout + rng.uniform(-0.08, 0.08, layout.shape) * half
    d_polys = voronoi(seeds, city_box)
    d_names = [f"D{k + 1}" for k in range(n_districts)]

    # Deprivation: higher south of the river and near the industrial riverside, with noise.
    dep = (0.5 - 0.35 * seeds[:, 1] / half - 0.15 * seeds[:, 0] / half
           + rng.normal(0, 0.08, n_districts))
    dep = np.clip((dep - dep.min()) / (np.ptp(dep) + 1e-9) * 0.85 + 0.08, 0.0, 1.0)

    beat_polys, beat_names, beat_district = [], [], []
    for k, poly in enumerate(d_polys):  # small loop over districts
        pts = sample_in(poly, 400, rng)
        cents = lloyd(pts, beats_per_district, rng)
        for b, bp in enumerate(voronoi(cents, poly)):
            beat_polys.append(bp)
            beat_names.append(f"{d_names[k]}-{b + 1}")
            beat_district.append(d_names[k])

    node_beat = np.full(used.size, "", dtype=object)
    for name, bp in zip(beat_names, beat_polys):
        node_beat[shapely.contains_xy(bp, lx, ly) & (node_beat == "")] = name
    # Points exactly on a shared border: take the nearest beat centroid.
    missing = node_beat == ""
    if missing.any():
        cx = np.array([bp.centroid.x for bp in beat_polys])
        cy = np.array([bp.centroid.y for bp in beat_polys])
        near = np.argmin(np.hypot(lx[missing, None] - cx, ly[missing, None] - cy), axis=1)
        node_beat[missing] = np.array(beat_names, dtype=object)[near]
    nodes["beat"] = node_beat.astype(str)
    nodes["district"] = nodes["beat"].str.split("-").str[0]
    d_index = {d: k for k, d in enumerate(d_names)}
    node_dep = dep[nodes["district"].map(d_index).to_numpy()]

    density = np.exp(-r_centre / (4500 * scale)) * (1 + 0.6 * node_dep)
    lu_factor = np.select([land_use == "residential", land_use == "commercial"], [1.0, 0.35], 0.05)
    pop_w = np.where(is_hw, 0.0, density * lu_factor * rng.lognormal(0, 0.25, used.size))
    job_w = np.where(is_hw, 0.0,
                     np.select([land_use == "commercial", land_use == "industrial"], [6.0, 3.0], 0.3)
                     * (1 + 2.0 * (r_centre < 1100 * scale)) * rng.lognormal(0, 0.3, used.size))
    total_pop = population * scale ** 2
    nodes["pop_weight"] = pop_w / pop_w.sum()
    nodes["job_weight"] = job_w / job_w.sum()

    def polygons_frame(names, polys, dvals, extra):
        pop = pd.Series(nodes["pop_weight"].to_numpy() * total_pop).groupby(
            nodes[extra["key"]].to_numpy()).sum()
        income, shares = demographics(dvals, rng.normal(0, 1, (5, len(names))))
        geoms = shapely.transform(np.asarray(polys, dtype=object),
                                  lambda xx, yy: unproject(xx + X0, yy + Y0, crs),
                                  interleaved=False)
        frame = pd.DataFrame({extra["col"]: names, **extra.get("cols", {})})
        frame["population"] = pop.reindex(names).fillna(0).round().astype(np.int64).to_numpy()
        frame["median_income"] = income
        for s, col in enumerate(["share_white", "share_black", "share_hispanic", "share_asian",
                                 "share_other"]):
            frame[col] = shares[s]
        frame["deprivation"] = np.round(dvals, 3)
        frame["area_km2"] = [round(p.area / 1e6, 3) for p in polys]
        return gpd.GeoDataFrame(frame, geometry=geoms, crs=WGS84)

    districts = polygons_frame(d_names, d_polys, dep, {"key": "district", "col": "district"})
    beat_dep = np.clip(dep[[d_index[d] for d in beat_district]]
                       + rng.normal(0, 0.05, len(beat_names)), 0, 1)
    beats = polygons_frame(beat_names, beat_polys, beat_dep,
                           {"key": "beat", "col": "beat", "cols": {"district": beat_district}})
    beats = beats[["beat", "district"] + [c for c in beats.columns if c not in ("beat", "district")]]

    graph = road_graph(nodes, roads)

    rx = np.linspace(-half, half, 200)
    r_lon, r_lat = unproject(rx + X0, river_y(rx) + Y0, crs)
    river = gpd.GeoSeries([shapely.linestrings(np.column_stack([r_lon, r_lat]))], crs=WGS84)

    params = dict(seed=seed, origin=[lon0, lat0], size_km=size_km, population=population,
                  n_districts=n_districts, beats_per_district=beats_per_district, block_m=block_m)
    return City(nodes=nodes, roads=roads, graph=graph, districts=districts, beats=beats,
                river=river, crs=crs, origin=(lon0, lat0), size_km=size_km, seed=seed,
                params=params)


def road_graph(nodes, roads):
    """The routable DiGraph of a road table (two directed edges per two-way segment).

    Parameters
    ----------
    nodes : DataFrame
        ``node_id``, ``x``, ``y``.
    roads : DataFrame
        ``edge_id``, ``u``, ``v``, ``length_m``, ``speed_kmh``, ``road_class``, ``oneway``.

    Returns
    -------
    networkx.DiGraph
    """
    import networkx as nx

    graph = nx.DiGraph()
    graph.add_nodes_from((int(n), {"x": float(x), "y": float(y)})
                         for n, x, y in zip(nodes["node_id"], nodes["x"], nodes["y"]))
    travel = roads["length_m"] / (roads["speed_kmh"] / 3.6)
    attrs = [dict(length_m=float(length), speed_kmh=float(sp), travel_s=float(t), edge_id=str(eid),
                  road_class=str(cls))
             for length, sp, t, eid, cls in zip(roads["length_m"], roads["speed_kmh"], travel,
                                                roads["edge_id"], roads["road_class"])]
    u, v = roads["u"].to_numpy(), roads["v"].to_numpy()
    graph.add_edges_from((int(a), int(b), d) for a, b, d in zip(u, v, attrs))
    two_way = ~roads["oneway"].to_numpy(dtype=bool)
    graph.add_edges_from((int(b), int(a), d) for a, b, d, t in zip(u, v, attrs, two_way) if t)
    return graph
