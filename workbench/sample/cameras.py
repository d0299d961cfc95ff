"""The camera registry of the synthetic city: fixed ALPR, public CCTV and community cameras.

Fixed ALPR cameras watch one direction of traffic on one road segment:
``road_edge`` is the segment's ``edge_id`` and ``heading`` the compass
direction (degrees from north) the watched traffic travels. They sit on every
bridge (one camera per direction), on every highway off-ramp, on arterials
where they enter the city and on the approach to arterial intersections, more
of them where crime is higher (as agencies place them). ``truth["camera_edges"]``
spells the watched direction out as ``from_node`` -> ``to_node``.

Public CCTV cameras hang at busy and high-crime intersections; community
cameras (registered by businesses and residents) cluster in commercial areas.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _heading(dx, dy):
    return np.round(np.degrees(np.arctan2(dx, dy)) % 360.0, 1)


def _alpr(city, rng, n_intersections=16, n_entries=4):
    import shapely

    roads = city.roads
    nodes = city.nodes.set_index("node_id")
    geom = roads.to_crs(city.crs).geometry.to_numpy()
    picks = []  # (edge index, reversed?)
    for k in np.flatnonzero((roads["road_class"] == "bridge").to_numpy()):
        picks += [(k, False), (k, True)]
    for k in np.flatnonzero(roads["name"].str.endswith("off-ramp").to_numpy()):
        picks.append((k, False))

    art = roads[roads["road_class"] == "arterial"]
    corner = nodes["road_class"].eq("arterial") & (
        nodes.index.to_series().map(pd.concat([art["u"], art["v"]]).value_counts()).fillna(0) >= 3)
    # Approaches into arterial corners, weighted by violent-crime geography (deprivation).
    beat_dep = city.beats.set_index("beat")["deprivation"]
    dep_v = beat_dep.reindex(nodes.loc[art["v"], "beat"]).to_numpy()
    into = corner.reindex(art["v"]).to_numpy() & ~art["oneway"].to_numpy()
    w = np.where(into, (0.2 + dep_v) ** 2 + 3 * nodes.loc[art["v"], "job_weight"].to_numpy()
                 * len(nodes), 0.0)
    chosen_nodes = set()
    order = rng.choice(len(art), size=int((w > 0).sum()), replace=False, p=w / w.sum())
    for i in order:
        vnode = art["v"].iloc[i]
        if vnode in chosen_nodes:
            continue
        chosen_nodes.add(vnode)
        picks.append((roads.index.get_loc(art.index[i]), False))
        if len(chosen_nodes) == n_intersections:
            break
    # City entries: arterial segments touching the boundary, watching inbound traffic.
    xmin, xmax = nodes["x"].min(), nodes["x"].max()
    ymin, ymax = nodes["y"].min(), nodes["y"].max()
    nu = nodes.loc[art["u"]]
    nx_, ny_ = nu["x"].to_numpy(), nu["y"].to_numpy()
    on_edge = ((np.isclose(nx_, xmin) | np.isclose(nx_, xmax) | np.isclose(ny_, ymin)
                | np.isclose(ny_, ymax)) & ~art["oneway"].to_numpy())
    entries = np.flatnonzero(on_edge)
    for i in rng.choice(entries, size=min(n_entries, entries.size), replace=False):
        picks.append((roads.index.get_loc(art.index[i]), False))

    k = np.array([p[0] for p in picks])
    rev = np.array([p[1] for p in picks])
    frac = np.where(rev, 0.3, 0.7)
    at = shapely.line_interpolate_point(geom[k], frac, normalized=True)
    ahead = shapely.line_interpolate_point(geom[k], np.where(rev, frac - 0.05, frac + 0.05),
                                           normalized=True)
    dx = shapely.get_x(ahead) - shapely.get_x(at)
    dy = shapely.get_y(ahead) - shapely.get_y(at)
    norm = np.hypot(dx, dy) + 1e-9
    # Mounted at the kerb on the right of the watched traffic.
    x = shapely.get_x(at) + dy / norm * 8.0
    y = shapely.get_y(at) - dx / norm * 8.0
    sel = roads.iloc[k]
    u, v = sel["u"].to_numpy(), sel["v"].to_numpy()
    edges = pd.DataFrame({"road_edge": sel["edge_id"].to_numpy(),
                          "from_node": np.where(rev, v, u), "to_node": np.where(rev, u, v),
                          "x": x, "y": y, "heading": _heading(dx, dy),
                          "road_class": sel["road_class"].to_numpy(),
                          "name": sel["name"].to_numpy()})
    bound = np.array(["N", "NE", "E", "SE", "S", "SW", "W", "NW"])[
        np.round(edges["heading"] / 45).astype(int) % 8]
    edges["name"] = edges["name"] + " (" + bound + "B)"
    return edges


def place_cameras(city, streets, *, start, rng, n_cctv=60, n_community=280):
    """Build the canonical camera registry and its truth.

    Parameters
    ----------
    city : City
    streets : places.Streets
    start : Timestamp
        Start of the period (UTC); ALPR and CCTV cameras are installed before it.
    rng : numpy.random.Generator
    n_cctv, n_community : int

    Returns
    -------
    cameras : DataFrame
        Canonical columns.
    camera_edges : DataFrame
        ``camera_id``, ``road_edge``, ``from_node``, ``to_node`` of each ALPR camera.
    """
    alpr = _alpr(city, rng)
    nodes = city.nodes[city.nodes["road_class"] != "highway"]
    beat_dep = city.beats.set_index("beat")["deprivation"].reindex(nodes["beat"]).to_numpy()

    w_cctv = nodes["job_weight"].to_numpy() + nodes["pop_weight"].to_numpy() * (0.2 + beat_dep) ** 3
    cctv_nodes = nodes.iloc[rng.choice(len(nodes), n_cctv, replace=False, p=w_cctv / w_cctv.sum())]
    w_comm = np.where(nodes["land_use"] == "commercial", 10.0, 0.0) * nodes["job_weight"].to_numpy() \
        + 0.3 * nodes["pop_weight"].to_numpy()
    comm_nodes = nodes.iloc[rng.choice(len(nodes), n_community, p=w_comm / w_comm.sum())]
    comm_commercial = comm_nodes["land_use"].to_numpy() == "commercial"

    start = pd.Timestamp(start)
    frames = []
    n_alpr = len(alpr)
    frames.append(pd.DataFrame({
        "camera_id": [f"ALPR-{i + 1:03d}" for i in range(n_alpr)], "kind": "alpr",
        "x": alpr["x"], "y": alpr["y"], "heading": alpr["heading"], "owner": "police",
        "name": "ALPR " + alpr["name"], "road_edge": alpr["road_edge"],
        "installed_at": start - pd.to_timedelta(rng.integers(30, 4 * 365, n_alpr), unit="D")}))
    frames.append(pd.DataFrame({
        "camera_id": [f"CCTV-{i + 1:03d}" for i in range(n_cctv)], "kind": "cctv",
        "x": cctv_nodes["x"].to_numpy() + rng.normal(0, 5, n_cctv),
        "y": cctv_nodes["y"].to_numpy() + rng.normal(0, 5, n_cctv),
        "heading": rng.choice(np.arange(0, 360, 45.0), n_cctv),
        "owner": rng.choice(["police", "transit", "public_works"], n_cctv, p=[0.7, 0.15, 0.15]),
        "name": "CCTV node " + cctv_nodes["node_id"].astype(str).to_numpy(), "road_edge": None,
        "installed_at": start - pd.to_timedelta(rng.integers(30, 6 * 365, n_cctv), unit="D")}))
    frames.append(pd.DataFrame({
        "camera_id": [f"COMM-{i + 1:04d}" for i in range(n_community)], "kind": "community",
        "x": comm_nodes["x"].to_numpy() + rng.normal(0, 40, n_community),
        "y": comm_nodes["y"].to_numpy() + rng.normal(0, 40, n_community),
        "heading": np.round(rng.uniform(0, 360, n_community), 0),
        "owner": np.where(comm_commercial | (rng.random(n_community) < 0.2), "business", "resident"),
        "name": np.where(comm_commercial, "Business camera", "Doorbell camera"), "road_edge": None,
        # registrations keep arriving during the period
        "installed_at": start + pd.to_timedelta(rng.integers(-3 * 365, 200, n_community), unit="D")}))
    cams = pd.concat(frames, ignore_index=True)
    cams["lon"], cams["lat"] = city.to_lonlat(cams["x"], cams["y"])
    cams["removed_at"] = pd.NaT
    camera_edges = pd.DataFrame({"camera_id": cams["camera_id"].iloc[:n_alpr].to_numpy(),
                                 "road_edge": alpr["road_edge"].to_numpy(),
                                 "from_node": alpr["from_node"].to_numpy(),
                                 "to_node": alpr["to_node"].to_numpy(),
                                 "road_class": alpr["road_class"].to_numpy()})
    return cams, camera_edges
