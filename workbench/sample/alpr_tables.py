"""From planned legs to the ``alpr_reads`` table and its ground truth (used by :func:`simulate_alpr`).

Truth tables (names and columns are a contract for the engines' tests)
---------------------------------------------------------------------
``trips``
    trip_id, plate, vehicle_id, kind, start, end (departure and arrival, UTC, whole seconds),
    camera_ids (array of str per trip, as pandas reads a Parquet list<string>
    column: every camera passed, in order, read or missed), n_passages,
    n_reads (reads excluding duplicates). Only trips passing a camera are listed.
``read_trips``
    read_id, vehicle_id, trip_id, is_duplicate, is_misread: every read (in ``read_at`` order).
``misreads``
    read_id, true_plate, read_plate, position (of the swapped character), vehicle_id.
``convoys``
    convoy_id, plate, vehicle_id, role (leader / member).
``convoy_trips``
    convoy_id, outing (one per convoy, day and direction), vehicle_id, trip_id.
``cloned_plates``
    plate, vehicle_id, role (original / clone), make, color: two vehicles per plate.
``incident_vehicles``
    incident_id, plate, vehicle_id, occurred_at, trip_id, before_camera_id,
    before_at, after_camera_id, after_at (the passages nearest the scene).
``hotlist``
    plate, state, reason, priority (1 highest), added_at, expires_at,
    vehicle_id (missing for plates never seen in the city).
``vehicles``
    vehicle_id, plate, state, make, color, home_node, work_node, kind, convoy_id.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from workbench.data.schema import TABLES
from workbench.sample.plates import has_lookalike, misread, random_plates, raw_plates, state_mix

_US = 1_000_000


def _ids(prefix: str, n: int, width: int) -> pa.Array:
    """``prefix`` + zero-padded 0..n-1 as an Arrow string array, without Python strings."""
    width = max(width, len(str(max(n - 1, 0))))
    chars = np.empty((n, len(prefix) + width), dtype=np.uint8)
    chars[:, : len(prefix)] = np.frombuffer(prefix.encode(), dtype=np.uint8)
    number = np.arange(n, dtype=np.int64)
    for j in range(width):
        chars[:, len(prefix) + j] = (number // 10 ** (width - 1 - j)) % 10 + 48
    return pa.array(chars.view(f"S{chars.shape[1]}").ravel(), pa.binary()).cast(pa.string())


def _take(dictionary, codes, missing=None) -> pa.Array:
    """Strings ``dictionary[codes]`` (null where ``missing``) as an Arrow string array."""
    if not isinstance(dictionary, pa.Array):
        dictionary = pa.array(np.asarray(dictionary, dtype=object).astype(str), pa.string())
    indices = pa.array(np.asarray(codes, dtype=np.int32), mask=missing)
    return pa.DictionaryArray.from_arrays(indices, dictionary).cast(pa.string())


def _str(array: pa.Array) -> pd.Series:
    return array.to_pandas()  # the pandas "str" dtype


def _times(t0_us: int, seconds) -> pd.Series:
    us = t0_us + np.round(np.asarray(seconds, dtype=float) * _US).astype(np.int64)
    return pd.Series(us.astype("datetime64[us]")).dt.tz_localize("UTC")


def _lists(offsets, values: pa.Array) -> pd.Series:
    """A column holding one array of str per row, as pandas reads a Parquet list<string> column.

    It writes to Parquet as list<string> and reads back the same; building
    numpy arrays is several times faster than Python lists.
    """
    return pa.ListArray.from_arrays(pa.array(offsets), values).to_pandas()


def _codes(values):
    uniq, inv = np.unique(np.asarray(values, dtype=object).astype(str), return_inverse=True)
    return uniq, inv


def _signal_delays(p_leg, p_off, trip_of_leg, leg, kind, rng, share=0.25):
    """Seconds lost at lights and in traffic before each passage, accumulated along the trip.

    On each stretch (departure to first camera, camera to camera) a vehicle
    loses an exponential share of its travel time, ``share`` on average and at
    most twice that (so a trip never takes more than 1.5 times its planned time).
    Traffic so pulls apart vehicles that happen to pass one camera together; a
    convoy stays together (its members share the delays of each outing), and
    an offender driving to or from a scene does not dawdle (no delays).

    Returns
    -------
    delay : numpy.ndarray
        Per passage.
    per_trip : numpy.ndarray
        Total of each trip (it arrives that much later).
    """
    n_legs = len(leg["vehicle"])
    p_trip = trip_of_leg[p_leg]
    ordinal = np.arange(len(p_leg)) - np.searchsorted(p_leg, np.arange(n_legs))[p_leg]
    stretch = np.where(ordinal > 0, np.diff(p_off, prepend=0.0), p_off) * leg["factor"][p_leg]
    unit = rng.exponential(share, len(p_leg)).clip(max=2 * share)
    group = leg["group"][p_leg]
    joint = (group >= 0) & (kind[p_leg] == "convoy")
    if joint.any():
        shared = rng.exponential(share, (group[joint].max() + 1, ordinal[joint].max() + 1)).clip(max=2 * share)
        unit[joint] = shared[group[joint], ordinal[joint]]
    step = unit * np.maximum(stretch, 0.0)
    step[(group >= 0) & (kind[p_leg] == "offender")] = 0.0
    total = np.cumsum(step)
    n_trips = int(trip_of_leg[-1]) + 1 if n_legs else 0
    first = np.searchsorted(p_trip, np.arange(n_trips))
    delay = total - np.r_[0.0, total][first[p_trip]]
    last = np.searchsorted(p_trip, np.arange(n_trips), side="right") - 1
    per_trip = np.where(last >= first, delay[np.maximum(last, 0)] if len(delay) else 0.0, 0.0)
    return delay, per_trip


def assemble(legs, fleet, routes, t0, rates, incidents, off_vehicles, rng, rng_hot, days):
    """Build ``(reads, truth)`` from the legs of the whole fleet (see the module docstring)."""
    from workbench.sample.itineraries import Legs

    t0_us = int(t0.value // 1000)
    order = np.lexsort((legs.depart_s, legs.vehicle))
    leg = {f: getattr(legs, f)[order] for f in Legs.FIELDS}
    veh = leg["vehicle"]
    arrive = leg["depart_s"] + routes.travel_s[leg["origin"], leg["dest"]] * leg["factor"]
    trip_of_leg = np.cumsum(~leg["joins_previous"]) - 1
    first_leg = np.flatnonzero(~leg["joins_previous"])
    last_leg = np.r_[first_leg[1:] - 1, len(veh) - 1]

    # camera passages, in (vehicle, time) order
    p_leg, p_cam, p_off, p_dir = routes.expand(leg["origin"], leg["dest"])
    delay, trip_delay = _signal_delays(p_leg, p_off, trip_of_leg, leg, fleet.kind[veh], rng)
    p_time = (leg["depart_s"][p_leg] + p_off * leg["factor"][p_leg] + delay
              + rng.normal(0, 0.3, len(p_leg)))
    p_trip = trip_of_leg[p_leg]
    n_pass = np.bincount(p_trip, minlength=len(first_leg))
    keep = n_pass > 0
    trip_no = np.cumsum(keep) - 1  # trips passing no camera get no id

    # reads: misses, duplicates, misreads
    n_cam = len(routes.camera_ids)
    cam_miss = rng.uniform(0.5, 1.5, n_cam) * rates.miss_rate
    seen = rng.random(len(p_leg)) >= cam_miss[p_cam]
    dup = seen & (rng.random(len(p_leg)) < rates.duplicate_rate)
    src = np.concatenate([np.flatnonzero(seen), np.flatnonzero(dup)])
    is_dup = np.r_[np.zeros(int(seen.sum()), bool), np.ones(int(dup.sum()), bool)]
    # camera clocks report milliseconds
    t_read = (p_time[src] + np.where(is_dup, rng.uniform(0.4, 2.5, len(src)), 0.0)).round(3)
    by_time = np.argsort(t_read, kind="stable")
    src, is_dup, t_read = src[by_time], is_dup[by_time], t_read[by_time]
    n = len(src)
    r_veh = veh[p_leg[src]]
    r_cam, r_dir = p_cam[src], p_dir[src]
    # a plate without look-alike characters (rare: e.g. KMX9999) is never misread
    is_mis = (rng.random(n) < rates.misread_rate) & has_lookalike(fleet.plate)[r_veh]

    plates, plate_code = _codes(fleet.plate)
    mis = np.flatnonzero(is_mis)
    true_mis = fleet.plate[r_veh[mis]]
    read_mis, position = misread(true_mis, rng)
    r_plate = plate_code[r_veh]
    r_plate[mis] = len(plates) + np.arange(len(mis))
    plate_dict = np.concatenate([plates.astype(object), read_mis])
    plate_state = fleet.state[np.unique(fleet.plate.astype(str), return_index=True)[1]]
    raw_dict = np.concatenate([raw_plates(plates.astype(object), plate_state),
                               raw_plates(read_mis, fleet.state[r_veh[mis]])])
    states, state_code = _codes(fleet.state)
    makes, make_code = _codes(fleet.make)
    colors, color_code = _codes(fleet.color)
    confidence = np.where(is_mis, rng.beta(6, 3, n), rng.beta(20, 1.5, n)).round(3)
    device_dict = np.char.add(np.repeat(routes.camera_ids.astype(str), 4),
                              np.tile(np.char.add("-", routes.DIRECTIONS.astype(str)), n_cam))

    read_id = _ids("R", n, 9)
    cam_lon, cam_lat = routes.camera_lon, routes.camera_lat
    reads = pd.DataFrame({
        "read_id": _str(read_id),
        "read_at": _times(t0_us, t_read),
        "plate": _str(_take(plate_dict, r_plate)),
        "camera_id": _str(_take(routes.camera_ids, r_cam)),
        "lon": cam_lon[r_cam],
        "lat": cam_lat[r_cam],
        "location_source": _str(_take(["camera"], np.zeros(n))),
        "plate_raw": _str(_take(raw_dict, r_plate)),
        "state": _str(_take(states, state_code[r_veh])),
        "confidence": confidence,
        "make": _str(_take(makes, make_code[r_veh], missing=rng.random(n) < 0.15)),
        "color": _str(_take(colors, color_code[r_veh], missing=rng.random(n) < 0.08)),
        "device": _str(_take(device_dict, r_cam.astype(np.int64) * 4 + r_dir)),
        "direction": _str(_take(routes.DIRECTIONS, r_dir)),
        "address": _str(pa.nulls(n, pa.string())),
    })
    assert list(reads.columns) == TABLES["alpr_reads"].column_names

    vehicle_ids = pa.array(fleet.vehicle_id.astype(str), pa.string())
    trip_ids = _ids("T", int(keep.sum()), 8)
    truth = {}
    k_first, k_last = first_leg[keep], last_leg[keep]
    offsets = np.concatenate([[0], np.cumsum(n_pass[keep])]).astype(np.int32)
    trip_veh = veh[k_first]
    kinds, kind_code = _codes(fleet.kind)
    truth["trips"] = pd.DataFrame({
        "trip_id": _str(trip_ids),
        "plate": _str(_take(plates, plate_code[trip_veh])),
        "vehicle_id": _str(_take(vehicle_ids, trip_veh)),
        "kind": _str(_take(kinds, kind_code[trip_veh])),
        "start": _times(t0_us, leg["depart_s"][k_first].round()),
        "end": _times(t0_us, (arrive[k_last] + trip_delay[keep]).round()),
        "camera_ids": _lists(offsets, _take(routes.camera_ids, p_cam)),
        "n_passages": n_pass[keep].astype(np.int64),
        "n_reads": np.bincount(p_trip[seen], minlength=len(first_leg))[keep].astype(np.int64),
    })
    r_trip = trip_no[p_trip[src]]
    truth["read_trips"] = pd.DataFrame({
        "read_id": reads["read_id"],
        "vehicle_id": _str(_take(vehicle_ids, r_veh)),
        "trip_id": _str(_take(trip_ids, r_trip)),
        "is_duplicate": is_dup,
        "is_misread": is_mis,
    })
    truth["misreads"] = pd.DataFrame({
        "read_id": reads["read_id"].iloc[mis].reset_index(drop=True),
        "true_plate": pd.array(true_mis.astype(str), dtype="str"),
        "read_plate": pd.array(read_mis.astype(str), dtype="str"),
        "position": position.astype(np.int64),
        "vehicle_id": pd.array(fleet.vehicle_id[r_veh[mis]].astype(str), dtype="str"),
    })
    truth.update(_group_truth(leg, veh, fleet, trip_of_leg, trip_no, trip_ids, p_leg, p_cam,
                              p_time, routes, t0_us, incidents, off_vehicles))
    truth["hotlist"] = _hotlist(fleet, incidents, off_vehicles, t0, days, rates, rng_hot)
    truth["vehicles"] = fleet.table(routes.anchor_nodes)
    return reads.reset_index(drop=True), truth


def _group_truth(leg, veh, fleet, trip_of_leg, trip_no, trip_ids, p_leg, p_cam, p_time, routes,
                 t0_us, incidents, off_vehicles):
    vid = fleet.vehicle_id.astype(str)
    out = {}
    members = np.flatnonzero(fleet.convoy >= 0)
    convoy_id = np.char.add("CV", np.char.zfill(fleet.convoy.astype(str), 3))
    out["convoys"] = pd.DataFrame({
        "convoy_id": pd.array(convoy_id[members], dtype="str"),
        "plate": pd.array(fleet.plate[members].astype(str), dtype="str"),
        "vehicle_id": pd.array(vid[members], dtype="str"),
        "role": pd.array(np.where(fleet.convoy_leader[members], "leader", "member"), dtype="str"),
    })
    joint = np.flatnonzero((leg["group"] >= 0) & (fleet.kind[veh] == "convoy"))
    tid = np.asarray(trip_ids.to_numpy(zero_copy_only=False), dtype=object)
    out["convoy_trips"] = pd.DataFrame({
        "convoy_id": pd.array(convoy_id[veh[joint]], dtype="str"),
        "outing": leg["group"][joint].astype(np.int64),
        "vehicle_id": pd.array(vid[veh[joint]], dtype="str"),
        "trip_id": pd.array(tid[trip_no[trip_of_leg[joint]]].astype(str), dtype="str"),
    })
    clones = np.flatnonzero(fleet.clone_of >= 0)
    pair = np.concatenate([fleet.clone_of[clones], clones])
    out["cloned_plates"] = pd.DataFrame({
        "plate": pd.array(fleet.plate[pair].astype(str), dtype="str"),
        "vehicle_id": pd.array(vid[pair], dtype="str"),
        "role": pd.array(np.repeat(["original", "clone"], len(clones)), dtype="str"),
        "make": pd.array(fleet.make[pair].astype(str), dtype="str"),
        "color": pd.array(fleet.color[pair].astype(str), dtype="str"),
    }).sort_values(["plate", "role"], ascending=[True, False], ignore_index=True)

    # offender trips: leg B (to the getaway) joins leg A (to the scene)
    b = np.flatnonzero(leg["joins_previous"] & (leg["group"] >= 0) & (fleet.kind[veh] == "offender"))
    a = b - 1
    j = leg["group"][b]
    last_a = np.searchsorted(p_leg, a, side="right") - 1
    first_b = np.searchsorted(p_leg, b, side="left")
    t_us = t0_us + np.round(p_time * _US).astype(np.int64)
    cams = routes.camera_ids.astype(str)
    if incidents is not None and len(b):
        inc = incidents.iloc[j]
        out["incident_vehicles"] = pd.DataFrame({
            "incident_id": pd.array(inc["incident_id"].astype(str).to_numpy(), dtype="str"),
            "plate": pd.array(fleet.plate[veh[b]].astype(str), dtype="str"),
            "vehicle_id": pd.array(vid[veh[b]], dtype="str"),
            "occurred_at": pd.to_datetime(inc["occurred_at"], utc=True).dt.as_unit("us").to_numpy(),
            "trip_id": pd.array(tid[trip_no[trip_of_leg[b]]].astype(str), dtype="str"),
            "before_camera_id": pd.array(cams[p_cam[last_a]], dtype="str"),
            "before_at": pd.Series(t_us[last_a].astype("datetime64[us]")).dt.tz_localize("UTC"),
            "after_camera_id": pd.array(cams[p_cam[first_b]], dtype="str"),
            "after_at": pd.Series(t_us[first_b].astype("datetime64[us]")).dt.tz_localize("UTC"),
        }).sort_values("occurred_at", ignore_index=True)
        out["incident_vehicles"]["occurred_at"] = pd.to_datetime(out["incident_vehicles"]["occurred_at"], utc=True)
    else:
        out["incident_vehicles"] = pd.DataFrame({
            c: pd.Series([], dtype="str") for c in ("incident_id", "plate", "vehicle_id", "trip_id",
                                                     "before_camera_id", "after_camera_id")})
        for c in ("occurred_at", "before_at", "after_at"):
            out["incident_vehicles"][c] = pd.Series([], dtype="datetime64[us, UTC]")
    return out


def _hotlist(fleet, incidents, off_vehicles, t0, days, rates, rng):
    """Stolen cars of the fleet, some offender cars (wanted) and plates never seen here."""
    stolen = np.flatnonzero(fleet.kind == "stolen")
    added = [t0 + pd.to_timedelta(rng.uniform(-10, 0.6 * days, len(stolen)), "D")]
    rows = {"vehicle": [stolen], "reason": [np.full(len(stolen), "stolen vehicle", dtype=object)],
            "priority": [np.ones(len(stolen), np.int64)]}
    if incidents is not None and len(off_vehicles):
        wanted = rng.random(len(off_vehicles)) < 0.4
        occurred = pd.to_datetime(incidents["occurred_at"], utc=True).to_numpy()[wanted]
        offense = incidents["offense"].astype(str).to_numpy()[wanted]
        rows["vehicle"].append(off_vehicles[wanted])
        rows["reason"].append(np.char.add("wanted: ", offense.astype(str)).astype(object))
        rows["priority"].append(np.ones(int(wanted.sum()), np.int64))
        added.append(pd.DatetimeIndex(occurred) + pd.to_timedelta(rng.uniform(1, 24, len(occurred)), "h"))
    vehicle = np.concatenate(rows["vehicle"])
    table = pd.DataFrame({
        "plate": fleet.plate[vehicle].astype(str),
        "state": fleet.state[vehicle].astype(str),
        "reason": np.concatenate(rows["reason"]).astype(str),
        "priority": np.concatenate(rows["priority"]),
        "added_at": np.concatenate([pd.DatetimeIndex(a).as_unit("us").to_numpy() for a in added]),
        "vehicle_id": fleet.vehicle_id[vehicle].astype(str),
    })
    n_decoy = int(round(rates.hotlist_decoys * len(stolen)))
    states_list, shares = state_mix(rates.home_state)
    state = np.asarray(states_list, dtype=object)[rng.choice(len(states_list), n_decoy, p=shares)]
    plate = random_plates(state, rng)
    fresh = ~np.isin(plate.astype(str), fleet.plate.astype(str))
    reasons = np.array(["stolen vehicle", "stolen plate", "felony warrant", "missing person",
                        "protective order"])
    pick = rng.choice(len(reasons), n_decoy, p=[0.45, 0.25, 0.15, 0.1, 0.05])
    decoys = pd.DataFrame({
        "plate": plate[fresh].astype(str), "state": state[fresh].astype(str),
        "reason": reasons[pick][fresh], "priority": np.array([1, 2, 2, 1, 3])[pick][fresh],
        "added_at": (t0 + pd.to_timedelta(rng.uniform(-60, days, n_decoy), "D")).as_unit("us")[fresh],
        "vehicle_id": np.full(int(fresh.sum()), np.nan, dtype=object),
    })
    table = pd.concat([table, decoys], ignore_index=True)
    table["added_at"] = pd.to_datetime(table["added_at"], utc=True).dt.as_unit("us")
    table["expires_at"] = table["added_at"] + pd.Timedelta(days=90)
    for c in ("plate", "state", "reason", "vehicle_id"):
        table[c] = table[c].astype("str")
    return table.sort_values("added_at", ignore_index=True)
