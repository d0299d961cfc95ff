"""From planned legs to the ``alpr_reads`` table and its ground truth (used by :func:`simulate_alpr`).

Truth tables (names and columns are a contract for the engines' tests)
---------------------------------------------------------------------
``trips``
    trip_id, plate, vehicle_id, kind, start, end (departure and arrival, UTC, whole seconds),
    camera_ids (array of str per trip, as pandas reads a Parquet list<string>
    column: every camera passed, in order, read or missed; trips passing the
    same cameras share one read-only array), n_passages,
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
from workbench.sample.routing import camera_lists, trip_routes

_US = 1_000_000


def _digits(numbers, width: int) -> np.ndarray:
    """Zero-padded decimal digits of ``numbers`` as ASCII bytes, shape (n, width)."""
    out = np.empty((len(numbers), width), dtype=np.uint8)
    for j in range(width - 1, -1, -1):  # over digits
        numbers, out[:, j] = np.divmod(numbers, 10)
    return out + 48


def _ids(prefix: str, n: int, width: int) -> pa.Array:
    """``prefix`` + zero-padded 0..n-1 as an Arrow string array, without Python strings.

    Ids are numbered in blocks of 10,000: the low four digits repeat in every
    block and the others are the block's number, so no digit of the ~10M ids
    has to be computed one by one.
    """
    width = max(width, len(str(max(n - 1, 0))))
    size = len(prefix) + width
    low = min(4, width)
    per_block = 10 ** low
    n_blocks = -(-n // per_block)
    chars = np.empty((n_blocks, per_block, size), dtype=np.uint8)
    chars[:, :, : len(prefix)] = np.frombuffer(prefix.encode(), dtype=np.uint8)
    chars[:, :, size - low:] = _digits(np.arange(per_block), low)
    chars[:, :, len(prefix):size - low] = _digits(np.arange(n_blocks), width - low)[:, None, :]
    offsets = np.arange(0, (n + 1) * size, size, dtype=np.int64)
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(chars.reshape(-1)[: n * size]))


def _take(dictionary, codes, missing=None) -> pa.Array:
    """Strings ``dictionary[codes]`` (null where ``missing``) as an Arrow (large) string array.

    Large strings are what the pandas ``str`` dtype holds, so no conversion follows.
    """
    if not isinstance(dictionary, pa.Array):
        dictionary = pa.array(np.asarray(dictionary, dtype=object).astype(str), pa.large_string())
    elif dictionary.type != pa.large_string():
        dictionary = dictionary.cast(pa.large_string())
    return dictionary.take(pa.array(np.asarray(codes, dtype=np.int32), mask=missing))


def _str(array: pa.Array) -> pd.Series:
    return array.to_pandas()  # the pandas "str" dtype


def _times(t0_us: int, seconds) -> pd.Series:
    us = np.round(np.asarray(seconds, dtype=float) * _US).astype(np.int64)
    us += t0_us
    return pd.Series(us.view("datetime64[us]"), copy=False).dt.tz_localize("UTC")


def _codes(values):
    uniq, inv = np.unique(np.asarray(values, dtype=object).astype(str), return_inverse=True)
    return uniq, inv


def _time_key(t_s) -> np.ndarray:
    """A distinct 64-bit key per time (whole milliseconds), in time order, ties by position.

    Sorting it gives what a stable sort of ``t_s`` gives, with a quicksort, and
    the same order on every machine (an unstable sort may order ties differently).
    """
    ms = np.round(np.asarray(t_s) * 1000).astype(np.int64)
    ms -= ms.min(initial=0)
    bits = max(len(ms) - 1, 1).bit_length()
    ms <<= bits
    ms |= np.arange(len(ms))
    return ms


def _starts(counts):
    """Where each run of ``counts`` items starts in the concatenation of the runs."""
    return np.cumsum(counts) - counts


def _signal_delays(p_off, p_factor, ordinal, p_trip, trip_start, n_pass, joint_group, no_delay, rng,
                   share=0.25):
    """Seconds lost at lights and in traffic before each passage, accumulated along the trip.

    On each stretch (departure to first camera, camera to camera) a vehicle
    loses an exponential share of its travel time, ``share`` on average and at
    most twice that (so a trip never takes more than 1.5 times its planned time).
    Traffic so pulls apart vehicles that happen to pass one camera together; a
    convoy stays together (its members share the delays of each outing:
    ``joint_group`` is the outing of a convoy passage, -1 otherwise), and an
    offender driving to or from a scene does not dawdle (``no_delay``).

    Returns
    -------
    delay : numpy.ndarray
        Per passage.
    per_trip : numpy.ndarray
        Total of each trip (it arrives that much later).
    """
    stretch = np.diff(p_off, prepend=0.0)
    first = ordinal == 0
    stretch[first] = p_off[first]
    stretch *= p_factor
    np.maximum(stretch, 0.0, out=stretch)
    unit = rng.exponential(share, len(p_off))
    unit.clip(max=2 * share, out=unit)
    joint = joint_group >= 0
    if joint.any():
        shared = rng.exponential(share, (joint_group.max() + 1, ordinal[joint].max() + 1)).clip(max=2 * share)
        unit[joint] = shared[joint_group[joint], ordinal[joint]]
    stretch *= unit  # the seconds lost on each stretch
    stretch[no_delay] = 0.0
    total = np.cumsum(stretch)
    # minus what was lost before the trip's first passage
    delay = total - np.r_[0.0, total][trip_start[p_trip]]
    per_trip = np.zeros(len(n_pass))
    passes = n_pass > 0
    per_trip[passes] = delay[trip_start[passes] + n_pass[passes] - 1]
    return delay, per_trip


def assemble(legs, fleet, routes, t0, rates, incidents, off_vehicles, rng, rng_hot, days):
    """Build ``(reads, truth)`` from the legs of the whole fleet (see the module docstring).

    Memory: a 10M-read run has ~17M legs and ~10M passages; their columns are
    dropped as soon as they are used, so that they do not sit beside the tables.
    """
    t0_us = int(t0.value // 1000)
    legs = legs.in_vehicle_order()
    veh, depart, factor, group = legs.vehicle, legs.depart_s, legs.factor, legs.group
    joins, origin, dest = legs.joins_previous, legs.origin, legs.dest
    del legs
    n_legs = len(veh)
    k = routes.n_anchors
    trip_of_leg = (np.cumsum(~joins) - 1).astype(np.int32)
    first_leg = np.flatnonzero(~joins)
    last_leg = np.r_[first_leg[1:] - 1, n_legs - 1]
    del joins
    n_trips_all = len(first_leg)
    arrive_last = (depart[last_leg]
                   + routes.travel_s[origin[last_leg], dest[last_leg]] * factor[last_leg])
    pair_sequence, n_sequences = routes.camera_sequences()
    leg_sequence = pair_sequence[origin.astype(np.int64) * k + dest]
    # camera passages, in (vehicle, time) order
    p_leg, p_cam, p_off, p_dir = routes.expand(origin, dest)
    del origin, dest
    p_trip = trip_of_leg[p_leg]
    n_pass = np.bincount(p_trip, minlength=n_trips_all)
    trip_start = _starts(n_pass)
    # position of each passage along its leg (passages of a leg are consecutive)
    ordinal = np.arange(len(p_leg))
    ordinal[1:][p_leg[1:] == p_leg[:-1]] = 0
    np.maximum.accumulate(ordinal, out=ordinal)
    ordinal = np.arange(len(p_leg)) - ordinal
    is_convoy, is_offender = fleet.kind == "convoy", fleet.kind == "offender"
    p_group = group[p_leg]
    p_veh = veh[p_leg]
    p_factor = factor[p_leg]
    delay, trip_delay = _signal_delays(
        p_off, p_factor, ordinal, p_trip, trip_start, n_pass,
        joint_group=np.where(is_convoy[p_veh], p_group, -1),
        no_delay=(p_group >= 0) & is_offender[p_veh], rng=rng)
    del ordinal, p_group
    p_time = depart[p_leg]  # in place from here: each passage-sized array is ~80 MB at 10M reads
    p_off *= p_factor
    p_time += p_off
    p_time += delay
    p_time += rng.normal(0, 0.3, len(p_leg))
    del delay, p_off, p_factor, factor
    keep = n_pass > 0
    trip_no = (np.cumsum(keep) - 1).astype(np.int32)  # trips passing no camera get no id

    # reads: misses, duplicates, misreads
    n_cam = len(routes.camera_ids)
    cam_miss = rng.uniform(0.5, 1.5, n_cam) * rates.miss_rate
    seen = rng.random(len(p_leg)) >= cam_miss[p_cam]
    dup = seen & (rng.random(len(p_leg)) < rates.duplicate_rate)
    src = np.concatenate([np.flatnonzero(seen), np.flatnonzero(dup)])
    is_dup = np.r_[np.zeros(int(seen.sum()), bool), np.ones(int(dup.sum()), bool)]
    # camera clocks report milliseconds
    t_read = p_time[src]
    t_read[is_dup] += rng.uniform(0.4, 2.5, int(is_dup.sum()))
    t_read.round(3, out=t_read)
    by_time = np.argsort(_time_key(t_read))
    src, is_dup, t_read = src[by_time], is_dup[by_time], t_read[by_time]
    del by_time
    n = len(src)
    r_veh = p_veh[src]
    r_cam, r_dir = p_cam[src], p_dir[src]
    r_trip = trip_no[p_trip[src]]
    del p_dir, src
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
    confidence = rng.beta(20, 1.5, n)
    confidence[mis] = rng.beta(6, 3, len(mis))  # misreads look less certain to the camera
    confidence.round(3, out=confidence)
    device_dict = np.char.add(np.repeat(routes.camera_ids.astype(str), 4),
                              np.tile(np.char.add("-", routes.DIRECTIONS.astype(str)), n_cam))

    read_id = _str(_ids("R", n, 9))
    cam_lon, cam_lat = routes.camera_lon, routes.camera_lat
    reads = pd.DataFrame({
        "read_id": read_id,
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
        "address": _str(pa.nulls(n, pa.large_string())),
    }, copy=False)
    assert list(reads.columns) == TABLES["alpr_reads"].column_names
    del t_read, r_cam, r_dir, r_plate, confidence

    vehicle_ids = pa.array(fleet.vehicle_id.astype(str), pa.large_string())
    trip_ids = _ids("T", int(keep.sum()), 8)
    truth = {}
    k_first = first_leg[keep]
    trip_veh = veh[k_first]
    kinds, kind_code = _codes(fleet.kind)
    route = trip_routes(k_first, np.diff(np.r_[first_leg, n_legs])[keep], leg_sequence, n_sequences)
    del leg_sequence
    truth["trips"] = pd.DataFrame({
        "trip_id": _str(trip_ids),
        "plate": _str(_take(plates, plate_code[trip_veh])),
        "vehicle_id": _str(_take(vehicle_ids, trip_veh)),
        "kind": _str(_take(kinds, kind_code[trip_veh])),
        "start": _times(t0_us, depart[k_first].round()),
        "end": _times(t0_us, (arrive_last[keep] + trip_delay[keep]).round()),
        "camera_ids": camera_lists(route, trip_start[keep], n_pass[keep], p_cam, routes.camera_ids),
        "n_passages": n_pass[keep].astype(np.int64),
        "n_reads": np.bincount(p_trip[seen], minlength=n_trips_all)[keep].astype(np.int64),
    }, copy=False)
    del route, trip_veh, arrive_last, trip_delay, seen
    truth["read_trips"] = pd.DataFrame({
        "read_id": read_id,
        "vehicle_id": _str(_take(vehicle_ids, r_veh)),
        "trip_id": _str(trip_ids.take(pa.array(r_trip))),
        "is_duplicate": is_dup,
        "is_misread": is_mis,
    }, copy=False)
    truth["misreads"] = pd.DataFrame({
        "read_id": read_id.iloc[mis].reset_index(drop=True),
        "true_plate": pd.array(true_mis.astype(str), dtype="str"),
        "read_plate": pd.array(read_mis.astype(str), dtype="str"),
        "position": position.astype(np.int64),
        "vehicle_id": pd.array(fleet.vehicle_id[r_veh[mis]].astype(str), dtype="str"),
    })
    del r_veh, r_trip, is_dup, is_mis
    truth.update(_group_truth(veh, group, fleet, trip_of_leg, trip_no, trip_ids, p_leg, p_cam,
                              p_time, routes, t0_us, incidents))
    truth["hotlist"] = _hotlist(fleet, incidents, off_vehicles, t0, days, rates, rng_hot)
    truth["vehicles"] = fleet.table(routes.anchor_nodes)
    return reads, truth


def _group_truth(veh, group, fleet, trip_of_leg, trip_no, trip_ids, p_leg, p_cam, p_time, routes,
                 t0_us, incidents):
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
    grouped = np.flatnonzero(group >= 0)  # convoy outings and offender drives: a few thousand legs
    joint = grouped[(fleet.kind == "convoy")[veh[grouped]]]
    out["convoy_trips"] = pd.DataFrame({
        "convoy_id": pd.array(convoy_id[veh[joint]], dtype="str"),
        "outing": group[joint].astype(np.int64),
        "vehicle_id": pd.array(vid[veh[joint]], dtype="str"),
        "trip_id": _str(trip_ids.take(pa.array(trip_no[trip_of_leg[joint]]))),
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
    b = grouped[(fleet.kind == "offender")[veh[grouped]]]
    b = b[b > 0]
    b = b[trip_of_leg[b - 1] == trip_of_leg[b]]
    a = b - 1
    j = group[b]
    last_a = np.searchsorted(p_leg, a, side="right") - 1
    first_b = np.searchsorted(p_leg, b, side="left")
    cams = routes.camera_ids.astype(str)
    if incidents is not None and len(b):
        t_before = t0_us + np.round(p_time[last_a] * _US).astype(np.int64)
        t_after = t0_us + np.round(p_time[first_b] * _US).astype(np.int64)
        inc = incidents.iloc[j]
        out["incident_vehicles"] = pd.DataFrame({
            "incident_id": pd.array(inc["incident_id"].astype(str).to_numpy(), dtype="str"),
            "plate": pd.array(fleet.plate[veh[b]].astype(str), dtype="str"),
            "vehicle_id": pd.array(vid[veh[b]], dtype="str"),
            "occurred_at": pd.to_datetime(inc["occurred_at"], utc=True).dt.as_unit("us").to_numpy(),
            "trip_id": _str(trip_ids.take(pa.array(trip_no[trip_of_leg[b]]))),
            "before_camera_id": pd.array(cams[p_cam[last_a]], dtype="str"),
            "before_at": pd.Series(t_before.astype("datetime64[us]")).dt.tz_localize("UTC"),
            "after_camera_id": pd.array(cams[p_cam[first_b]], dtype="str"),
            "after_at": pd.Series(t_after.astype("datetime64[us]")).dt.tz_localize("UTC"),
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
