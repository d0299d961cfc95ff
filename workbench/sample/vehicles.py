"""Vehicles and ALPR reads with ground truth, for the synthetic scenario.

:func:`simulate_alpr` puts a fleet on the city's roads for a number of days
and returns what the fixed ALPR cameras read, with the truth the trajectory
engine is judged against.

How it works
------------
1. *Anchors*: a sample of street nodes weighted by residential and activity
   density (``nodes.pop_weight`` / ``job_weight``) plus the nodes nearest to
   crime scenes. Every trip runs between two anchors along the fastest path
   (:class:`~workbench.sample.routing.CameraRoutes`).
2. *Fleet* (:mod:`workbench.sample.fleet`): commuters and other drivers, plus
   convoys, cloned plates, stolen cars and offender cars; plates in real state
   formats, mostly Ohio's (``home_state``).
3. *Itineraries* (:mod:`workbench.sample.itineraries`): every vehicle-day
   becomes legs with departure times, driver pace and rush-hour congestion.
   Trips are separated by stops of at least 45 minutes.
4. *Passages and reads*: each trip passes the cameras on its path; a camera
   misses a passage with its own rate (cameras vary around ``miss_rate``),
   sometimes reads it twice (``duplicate_rate``, 0.4-2.5 s apart) and sometimes
   misreads the plate by one look-alike character (``misread_rate``; see
   :mod:`workbench.sample.plates`). A camera reads both directions of its
   segment (``directions="both"``) and reports the direction of travel.

Volume
------
The fleet is sized so that ``scale=1`` gives about ``reads_per_day`` reads a
day (25,000 by default). On the sample city (40 ALPR cameras) 14 days at
``scale=1`` give ~370,000 reads from ~14,000 vehicles: 5.5 MB of zstd Parquet
for the reads and 7.4 MB for all truth tables. Volume grows linearly with
``scale`` and ``days``: ``scale=0.5`` ~12,500 reads a day, ``scale=10``
~250,000 a day; 10 million reads are ``days=14, scale=28.6``. Pass
``n_vehicles`` to fix the ordinary fleet instead.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from workbench.errors import WorkbenchError
from workbench.sample.fleet import build_fleet, sync_clones
from workbench.sample.itineraries import (Clock, Legs, convoy_legs, drop_overlaps, offender_legs,
                                          regular_legs, vary_routes)
from workbench.sample.routing import CameraRoutes
from workbench.sample import alpr_tables

#: Offences (matched in ``incidents.offense``, lower case, "_" as " ") that may get an offender vehicle.
VEHICLE_OFFENSES = ("robbery", "burglary", "aggravated assault", "shooting", "homicide",
                    "motor vehicle theft", "auto theft", "carjacking", "theft from vehicle")


@dataclass(frozen=True)
class AlprRates:
    """Knobs of :func:`simulate_alpr` (pass any of them as keyword arguments).

    Attributes
    ----------
    reads_per_day : float
        Target reads a day at ``scale=1`` (sizes the fleet when ``n_vehicles`` is None).
    miss_rate, duplicate_rate, misread_rate : float
        Mean share of passages missed; of reads duplicated; of reads misread.
    commuter_share : float
        Share of ordinary vehicles that commute on weekdays.
    convoys_per_1000, clones_per_1000, stolen_per_1000 : float
        Convoys (2-4 vehicles), cloned plates and stolen cars per 1000 ordinary
        vehicles (at least 3, 2 and 3).
    offender_share : float
        Share of eligible incidents (``VEHICLE_OFFENSES`` in the period) given an offender vehicle.
    near_scene_m : float
        An offender passes a camera this close to the scene on the way in and on the way out.
    n_anchors : int
        Home / work / shop anchor nodes (plus crime scenes).
    home_state : str
    tz : str
        Agency time zone (daily rhythms are local) when ``start`` has none.
    directions : {"both", "heading"}
        Which traffic a camera reads (see :mod:`workbench.sample.routing`).
    hotlist_decoys : float
        Hotlist plates never seen in the city, per stolen car.
    """

    reads_per_day: float = 25_000.0
    miss_rate: float = 0.07
    duplicate_rate: float = 0.03
    misread_rate: float = 0.02
    commuter_share: float = 0.62
    convoys_per_1000: float = 2.5
    clones_per_1000: float = 0.25
    stolen_per_1000: float = 0.5
    offender_share: float = 0.5
    near_scene_m: float = 1500.0
    n_anchors: int = 500
    home_state: str = "OH"
    tz: str = "America/New_York"
    directions: str = "both"
    hotlist_decoys: float = 8.0


def _rates(overrides: dict) -> AlprRates:
    known = {f.name for f in fields(AlprRates)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise WorkbenchError(f"unknown ALPR rate(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    rates = AlprRates(**overrides)
    for name in ("miss_rate", "duplicate_rate", "misread_rate", "commuter_share", "offender_share"):
        value = getattr(rates, name)
        if not 0 <= value < 1:
            raise WorkbenchError(f"{name} must be in [0, 1), got {value!r}")
    return rates


def _clock(start, days: int, tz: str):
    start = pd.Timestamp(start)
    if start.tzinfo is None:
        start = start.tz_localize(tz)
    local = start.normalize()
    midnights = pd.date_range(local, periods=days + 1, freq="D")
    t0 = midnights[0].tz_convert("UTC")
    day_start = (midnights.tz_convert("UTC") - t0).total_seconds().to_numpy()
    return t0, Clock(day_start[:-1], midnights[:-1].day_of_week), day_start[-1]


def _anchor_nodes(city, k, rng):
    nodes = city.nodes
    surface = nodes[nodes.get("road_class", pd.Series("local", index=nodes.index)) != "highway"]
    pop = surface["pop_weight"].to_numpy(float) if "pop_weight" in surface else np.ones(len(surface))
    job = surface["job_weight"].to_numpy(float) if "job_weight" in surface else np.ones(len(surface))
    w = np.nan_to_num(pop / max(pop.sum(), 1e-12) + job / max(job.sum(), 1e-12))
    ids = surface["node_id"].to_numpy(np.int64)
    ok = w > 0
    k = min(k, int(ok.sum()))
    chosen = rng.choice(ids[ok], k, replace=False, p=w[ok] / w[ok].sum())
    return np.sort(chosen), surface.set_index("node_id")


def _eligible_incidents(incidents, t0, t_end, share, rng):
    if incidents is None or len(incidents) == 0:
        return incidents.iloc[:0] if incidents is not None else None
    offense = incidents["offense"].astype(str).str.lower().str.replace(r"[_-]", " ", regex=True)
    pattern = "|".join(VEHICLE_OFFENSES)
    when = pd.to_datetime(incidents["occurred_at"], utc=True)
    ok = (offense.str.contains(pattern, regex=True) & incidents["lon"].notna() & incidents["lat"].notna()
          & (when >= t0 + pd.Timedelta(hours=2)) & (when <= t_end - pd.Timedelta(hours=5)))
    eligible = incidents[ok.to_numpy()]
    n = int(round(share * len(eligible)))
    return eligible.iloc[np.sort(rng.choice(len(eligible), n, replace=False))]


def _link_offenders(routes, scene_pos, scene_xy, near_m, rng):
    """For each scene, an offender home and getaway anchor whose paths pass a camera near it.

    The way in must pass a camera within ``near_m`` at most 7 free-flow minutes
    before the scene, the way out one at most 5 minutes after it.
    """
    k = routes.n_anchors
    ptr = routes.pair_ptr
    has = np.diff(ptr) > 0
    last = np.where(has, ptr[1:] - 1, 0)
    first = np.where(has, ptr[:-1], 0)
    last_cam, first_cam = routes.passage_camera[last], routes.passage_camera[first]
    to_last = routes.travel_s.ravel() - routes.passage_offset_s[last]
    to_first = routes.passage_offset_s[first]
    homes, exits, linked = [], [], []
    for j, (s, (x, y)) in enumerate(zip(scene_pos, scene_xy)):  # over incidents
        near = np.hypot(routes.camera_x - x, routes.camera_y - y) <= near_m
        into = np.arange(k) * k + s
        ok_in = has[into] & near[last_cam[into]] & (to_last[into] <= 420) & (np.arange(k) != s)
        away = s * k + np.arange(k)
        ok_out = has[away] & near[first_cam[away]] & (to_first[away] <= 300) & (np.arange(k) != s)
        if ok_in.any() and ok_out.any():
            homes.append(rng.choice(np.flatnonzero(ok_in)))
            exits.append(rng.choice(np.flatnonzero(ok_out)))
            linked.append(j)
    return np.array(linked, np.int64), np.array(homes, np.int64), np.array(exits, np.int64)


def simulate_alpr(city, cameras, incidents, *, start, days, seed, n_vehicles=None, scale=1.0, **rates):
    """Simulate a fleet driving the city and the reads of its fixed ALPR cameras.

    Parameters
    ----------
    city : City
        From :func:`workbench.sample.city.build_city` (``nodes``, ``graph``, ``crs``).
    cameras : pandas.DataFrame
        Canonical cameras; ALPR cameras (``kind == "alpr"``) read the segment named by ``road_edge``.
    incidents : pandas.DataFrame or None
        Canonical incidents; offender vehicles are planted for some in the period.
    start : str or pandas.Timestamp
        First day (local midnight is used; naive means ``tz``).
    days : int
    seed : int
    n_vehicles : int, optional
        Ordinary vehicles (commuters and others); special vehicles come on top.
        By default sized from ``reads_per_day * scale``.
    scale : float
        Multiplies the default fleet (and so the reads) linearly.
    **rates
        Fields of :class:`AlprRates`.

    Returns
    -------
    reads : pandas.DataFrame
        Canonical ``alpr_reads`` columns and dtypes, sorted by ``read_at``.
    truth : dict of str to pandas.DataFrame
        ``trips``, ``read_trips``, ``misreads``, ``convoys``, ``convoy_trips``,
        ``cloned_plates``, ``incident_vehicles``, ``hotlist``, ``vehicles`` (see
        :mod:`workbench.sample.alpr_tables` for their columns).

    Examples
    --------
    >>> reads, truth = simulate_alpr(city, cameras, incidents, start="2024-05-06",
    ...                              days=2, seed=1, scale=0.1)  # doctest: +SKIP
    """
    rates = _rates(rates)
    days = int(days)
    if days < 1:
        raise WorkbenchError(f"days must be at least 1, got {days!r}")
    if not scale > 0:
        raise WorkbenchError(f"scale must be positive, got {scale!r}")
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(6)]
    rng_anchor, rng_incident, rng_fleet, rng_plan, rng_read, rng_hot = streams

    t0, clock, end_s = _clock(start, days, rates.tz)
    t_end = t0 + pd.Timedelta(seconds=end_s)
    anchors, surface = _anchor_nodes(city, rates.n_anchors, rng_anchor)

    chosen = _eligible_incidents(incidents, t0, t_end, rates.offender_share, rng_incident)
    n_chosen = 0 if chosen is None else len(chosen)
    if n_chosen:
        from scipy.spatial import cKDTree

        from workbench.data.crs import project

        ix, iy, _ = project(chosen["lon"].to_numpy(float), chosen["lat"].to_numpy(float), city.crs)
        tree = cKDTree(surface[["x", "y"]].to_numpy(float))
        scene_nodes = surface.index.to_numpy(np.int64)[tree.query(np.column_stack([ix, iy]))[1]]
        anchors = np.union1d(anchors, scene_nodes)
    routes = CameraRoutes(city, cameras, anchors, directions=rates.directions)
    anchor_w = surface.reindex(anchors)
    anchor_pop = anchor_w["pop_weight"].to_numpy(float) if "pop_weight" in anchor_w else np.ones(len(anchors))
    anchor_job = anchor_w["job_weight"].to_numpy(float) if "job_weight" in anchor_w else np.ones(len(anchors))
    passages = routes.passages_per_pair()

    if n_chosen:
        scene_pos = np.searchsorted(anchors, scene_nodes)
        linked, off_home, off_exit = _link_offenders(routes, scene_pos, np.column_stack([ix, iy]),
                                                     rates.near_scene_m, rng_incident)
    else:
        linked = off_home = off_exit = np.zeros(0, np.int64)

    if n_vehicles is None:
        n_vehicles = _fleet_size(rates, scale, anchor_pop, anchor_job, passages)
    n_vehicles = int(n_vehicles)
    per_k = n_vehicles / 1000
    fleet = build_fleet(
        n_vehicles, anchor_pop, anchor_job, routes,
        n_convoys=max(3, round(rates.convoys_per_1000 * per_k)),
        n_clones=max(2, round(rates.clones_per_1000 * per_k)),
        n_stolen=max(3, round(rates.stolen_per_1000 * per_k)),
        offender_homes=off_home, commuter_share=rates.commuter_share,
        home_state=rates.home_state, rng=rng_fleet)

    convoy, busy_convoy = convoy_legs(fleet, clock, passages, routes.travel_s, rng_plan)
    off_vehicles = np.flatnonzero(fleet.kind == "offender")
    occurred_s = np.zeros(0)
    if len(linked):
        occurred_at = pd.to_datetime(chosen["occurred_at"].iloc[linked], utc=True)
        occurred_s = (occurred_at - t0).dt.total_seconds().to_numpy()
    offender, busy_off = offender_legs(fleet, off_vehicles, scene_pos[linked] if len(linked) else linked,
                                       off_exit, occurred_s, clock, routes.travel_s, rng_plan)
    free_veh, free_day = np.nonzero(~(busy_convoy | busy_off))
    chunk = 1_000_000  # vehicle-days planned at a time, to bound the temporaries
    regular = [regular_legs(fleet, free_veh[i:i + chunk], free_day[i:i + chunk], clock,
                            routes.travel_s, rng_plan)
               for i in range(0, len(free_veh), chunk)]
    # one concatenation: each copy of the legs is ~0.6 GB at 10M reads
    legs = Legs.concat([*regular, convoy, offender])
    del regular, convoy, offender
    sync_clones(legs, fleet, routes, clock, rng_plan)  # clones and originals drive ordinary days only
    cloned = np.zeros(len(fleet), dtype=bool)
    cloned[fleet.clone_of >= 0] = True
    cloned[fleet.clone_of[fleet.clone_of >= 0]] = True
    legs = vary_routes(legs, routes.travel_s, rng_plan, keep=(legs.group >= 0) | cloned[legs.vehicle])
    legs = drop_overlaps(legs, routes.travel_s, protected=legs.group >= 0)

    incidents_linked = chosen.iloc[linked] if len(linked) else None
    # hand the only reference over, so assemble can free the leg columns as it goes
    legs = [legs]
    return alpr_tables.assemble(legs.pop(), fleet, routes, t0, rates, incidents_linked, off_vehicles,
                                rng_read, rng_hot, days)


def _fleet_size(rates, scale, anchor_pop, anchor_job, passages):
    """Ordinary vehicles giving about ``reads_per_day * scale`` reads a day."""
    pop = anchor_pop / anchor_pop.sum()
    job = anchor_job / anchor_job.sum()
    per_trip = float(pop @ (passages + passages.T) @ job) / 2
    trips_per_day = 2.75
    reads_per_passage = (1 - rates.miss_rate) * (1 + rates.duplicate_rate)
    per_vehicle = max(per_trip * trips_per_day * reads_per_passage, 1e-3)
    return max(50, int(round(rates.reads_per_day * scale / per_vehicle)))
