"""Trip reconstruction: from ALPR reads to trips, legs and impossible-travel flags.

Reads are sorted by (plate, time) once; everything after is numpy over that
order:

1. *Repeat reads* of a plate at one place (the same fixed camera, or the same
   mobile reader) within ``merge_window`` are merged into one sighting.
2. Consecutive sightings of a plate form a *leg*. Its lower-bound distance is
   the shortest road distance between the cameras (:class:`CameraNetwork`),
   or the straight line between read positions (no roads, mobile readers).
   A leg is *impossible* when even that distance, less both ends' location
   error, needs more than ``max_speed_kmh`` in the time between the reads
   (plus a clock tolerance when two devices are involved): a misread or a
   cloned plate. Reads without a location join trips by time but prove nothing
   about speed (``plausible`` is missing).
3. A new trip starts at a new plate, after a gap longer than ``max_gap``, or
   after an impossible leg.

Reads whose ``camera_id`` is not in ``cameras`` (and reads without plate or
time) are set aside in :attr:`Trips.quarantine` with the reason, never dropped.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from workbench.data.crs import project
from workbench.errors import TrajectoryError
from workbench.trajectories.network import CameraNetwork
from workbench.trajectories.trips import Trips
from workbench.trajectories._dask import dask_aware

_US = 1_000_000
DEFAULT_LOCATION_ERROR_M = {"camera": 50.0, "reader": 1000.0}


def _timedelta_s(value, name):
    try:
        return pd.Timedelta(value).total_seconds()
    except (ValueError, TypeError):
        raise TrajectoryError(f"{name} must be a duration such as '30min', got {value!r}") from None


def _check_reads(reads):
    if not isinstance(reads, pd.DataFrame):
        raise TrajectoryError(f"reads must be a DataFrame of alpr_reads, got {type(reads).__name__}")
    missing = [c for c in ("read_id", "read_at", "plate") if c not in reads.columns]
    if missing:
        raise TrajectoryError(f"reads lack column(s) {', '.join(missing)}; see workbench.data.schema (alpr_reads)")
    if "camera_id" not in reads.columns and not {"lon", "lat"} <= set(reads.columns):
        raise TrajectoryError("reads need camera_id or lon/lat to say where a plate was seen")


def _asi8_us(series) -> np.ndarray:
    """Microseconds since the epoch of a timezone-aware datetime Series, as int64."""
    if not len(series):
        return np.array([], np.int64)
    return np.asarray(series.dt.as_unit("us").array.asi8, dtype=np.int64)


def _sort_order(codes, t_us):
    """Order by (plate code, time) with one argsort of a packed key where it fits."""
    if not len(codes):
        return np.array([], np.int64)
    t_rel = t_us - t_us.min()
    bits = int(max(int(codes.max()), 1)).bit_length()
    if int(t_rel.max()) < 2 ** (62 - bits):
        key = (codes.astype(np.int64) << (62 - bits)) | t_rel
        return np.argsort(key)  # ties are reads of one plate in the same microsecond: any order
    return np.lexsort((t_rel, codes))


@dask_aware("reconstruct")
def reconstruct(reads, cameras=None, roads=None, max_gap="30min", max_speed_kmh=150.0,
                location_error_m=None, merge_window="60s", clock_error_s=30.0, detour_factor=1.3,
                network=None) -> Trips:
    """Reconstruct trips from ALPR reads.

    Parameters
    ----------
    reads : pandas.DataFrame
        Canonical ``alpr_reads``: read_id, read_at, plate, camera_id and/or lon/lat; device optional.
    cameras : pandas.DataFrame, optional
        Camera registry. Reads naming a camera not in it are quarantined.
    roads : geopandas.GeoDataFrame, optional
        Road segments; without them distances are straight lines (times a
        ``detour_factor`` for trip length).
    max_gap : str or Timedelta
        A longer gap between sightings ends a trip.
    max_speed_kmh : float
        Faster implied travel is impossible.
    location_error_m : float or dict, optional
        Position error of a read by ``location_source``: default
        ``{"camera": 50, "reader": 1000}``.
    merge_window : str or Timedelta
        Repeat reads of a plate at the same camera or reader within this are merged.
    clock_error_s : float
        Clock tolerance added to legs between two different devices.
    detour_factor : float
        Road length over straight line, for trip length without roads.
    network : CameraNetwork, optional
        Prebuilt from ``roads`` and ``cameras`` (reuse it across calls).

    Returns
    -------
    Trips

    Examples
    --------
    >>> s = workbench.load_sample()                                   # doctest: +SKIP
    >>> trips = reconstruct(s.alpr_reads, s.cameras, s.roads)         # doctest: +SKIP
    >>> trips.trips[["plate", "start", "camera_ids"]].head()          # doctest: +SKIP
    """
    _check_reads(reads)
    gap_s = _timedelta_s(max_gap, "max_gap")
    merge_s = _timedelta_s(merge_window, "merge_window")
    if not max_speed_kmh or max_speed_kmh <= 0:
        raise TrajectoryError(f"max_speed_kmh must be positive, got {max_speed_kmh!r}")
    err = dict(DEFAULT_LOCATION_ERROR_M)
    if isinstance(location_error_m, dict):
        err.update(location_error_m)
    elif location_error_m is not None:
        err = {k: float(location_error_m) for k in err}
    if network is None and roads is not None:
        if cameras is None:
            raise TrajectoryError("roads were given without cameras: pass cameras to route between them")
        network = CameraNetwork(roads, cameras)

    n = len(reads)
    plate = reads["plate"]
    t_us = pd.to_datetime(reads["read_at"], utc=True, errors="coerce")
    bad_plate = plate.isna().to_numpy() | (plate.astype("str").str.len() == 0).to_numpy()
    bad_time = t_us.isna().to_numpy() & ~bad_plate
    if "camera_id" in reads:
        cam_codes, cam_labels = pd.factorize(reads["camera_id"], sort=True)  # -1 for missing
        cam_labels = np.asarray(cam_labels, dtype=object)
    else:
        cam_codes, cam_labels = np.full(n, -1, dtype=np.int64), np.array([], dtype=object)
    unknown = np.zeros(n, dtype=bool)
    if cameras is not None and len(cam_labels):
        cam_ids = network.camera_ids if network is not None else cameras["camera_id"].astype(str).unique()
        label_known = np.r_[pd.Index(cam_ids).get_indexer(cam_labels) >= 0, True]  # code -1: no camera
        unknown = ~label_known[cam_codes] & ~bad_plate & ~bad_time
    quarantine_mask = bad_plate | bad_time | unknown
    reason = np.full(int(quarantine_mask.sum()), "plate missing", dtype=object)
    reason[bad_time[quarantine_mask]] = "read_at missing or unparseable"
    if unknown.any():
        reason[unknown[quarantine_mask]] = [f"unknown camera {c!r}" for c in cam_labels[cam_codes[unknown]]]
    quarantine = reads[quarantine_mask].assign(reason=reason)
    if quarantine_mask.any():
        ok = ~quarantine_mask
        reads, t_us, cam_codes = reads[ok], t_us[ok], cam_codes[ok]
    t = _asi8_us(t_us)
    if not len(t):
        return _empty(quarantine, network, dict(max_gap=max_gap, max_speed_kmh=max_speed_kmh))

    # positions: camera index and metres
    codes, plates = pd.factorize(reads["plate"], sort=False)
    order = _sort_order(codes, t)
    codes, t, cam_codes = codes[order], t[order], cam_codes[order]
    x = np.full(len(order), np.nan)
    y = np.full(len(order), np.nan)
    src_err = np.full(len(order), np.nan)
    if cameras is not None and len(order) and len(cam_labels):
        cams = cameras.drop_duplicates("camera_id").set_index("camera_id")
        if network is not None:
            cxy = pd.DataFrame(network.camera_xy, index=network.camera_ids).reindex(cam_labels)
        else:
            cx, cy, _ = project(cams["lon"], cams["lat"])
            cxy = pd.DataFrame(np.c_[cx, cy], index=cams.index.astype(str)).reindex(cam_labels)
        on_cam = cam_codes >= 0
        x[on_cam] = cxy.to_numpy()[cam_codes[on_cam], 0]
        y[on_cam] = cxy.to_numpy()[cam_codes[on_cam], 1]
        src_err[on_cam] = err["camera"]
    crs = network.crs if network is not None else None
    if {"lon", "lat"} <= set(reads.columns) and (np.isnan(x).any()):
        lon = reads["lon"].to_numpy(float)[order]
        lat = reads["lat"].to_numpy(float)[order]
        own = np.isnan(x) & np.isfinite(lon) & np.isfinite(lat)
        if own.any():
            ox, oy, crs = project(lon[own], lat[own], crs)
            x[own], y[own] = ox, oy
            src_err[own] = err["reader"]
    if "device" in reads:
        dev_codes0, dev_labels = pd.factorize(reads["device"], sort=False)
        dev_codes = dev_codes0[order]
        device = pa.array(np.asarray(dev_labels, dtype=object), pa.string())
    else:
        dev_codes, device = np.full(len(order), -1, dtype=np.int64), pa.array([], pa.string())
    place = np.where(cam_codes >= 0, cam_codes, -2 - dev_codes)  # same camera, or same mobile device

    # 1. repeat reads at one place
    same_plate = np.r_[False, codes[1:] == codes[:-1]]
    dt_prev = np.r_[np.inf, np.diff(t) / _US]
    near = np.r_[False, np.hypot(np.diff(x), np.diff(y)) <= 2 * np.nan_to_num(src_err[1:], nan=0) + 1]
    same_spot = (cam_codes >= 0) | near | (np.isnan(x) & np.r_[True, np.isnan(x[:-1])])
    is_repeat = same_plate & (np.r_[False, place[1:] == place[:-1]]) & (dt_prev <= merge_s) & same_spot
    s_idx = np.flatnonzero(~is_repeat)

    # 2. legs between consecutive sightings of a plate
    sc, st, sx, sy, se, scam = codes[s_idx], t[s_idx], x[s_idx], y[s_idx], src_err[s_idx], cam_codes[s_idx]
    a, b = np.arange(len(s_idx) - 1), np.arange(1, len(s_idx))
    pair = sc[a] == sc[b]
    dt = (st[b] - st[a]) / _US
    straight = np.hypot(sx[b] - sx[a], sy[b] - sy[a])
    lower = straight.copy()
    length = straight * detour_factor
    min_travel = np.full(len(a), np.nan)
    net_i = net_j = None
    if network is not None and len(a):
        lab_net = network.index(cam_labels.astype(object)) if len(cam_labels) else np.array([], int)
        ci = np.where(scam[a] >= 0, lab_net[np.maximum(scam[a], 0)] if len(lab_net) else -1, -1)
        cj = np.where(scam[b] >= 0, lab_net[np.maximum(scam[b], 0)] if len(lab_net) else -1, -1)
        both = (ci >= 0) & (cj >= 0)
        lower[both] = network.distance_m[ci[both], cj[both]]
        length[both] = lower[both]
        min_travel[both] = network.travel_s[ci[both], cj[both]]
        net_i, net_j = ci, cj
    tol_m = np.nan_to_num(se[a], nan=0) + np.nan_to_num(se[b], nan=0)
    dev_s = dev_codes[s_idx]
    other_device = (dev_s[a] != dev_s[b]) & (scam[a] < 0) & (scam[b] < 0)
    tol_s = np.where(other_device, clock_error_s, 0.0)
    need = np.maximum(lower - tol_m, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        worst = need / np.maximum(dt + tol_s, 0.5) * 3.6
        speed = length / np.maximum(dt, 0.5) * 3.6
    judged = np.isfinite(lower)
    impossible = judged & (worst > max_speed_kmh)

    # 3. trips
    new_trip = np.r_[True, ~pair | (dt > gap_s) | impossible]
    s_trip = np.cumsum(new_trip) - 1
    read_trip = np.empty(len(order), np.int64)
    read_trip[s_idx] = s_trip
    read_trip = np.maximum.accumulate(np.where(is_repeat, -1, np.r_[read_trip]))  # repeats follow their sighting
    read_trip[s_idx] = s_trip
    n_trips = int(s_trip[-1]) + 1 if len(s_trip) else 0

    in_leg = pair & (dt <= gap_s)
    leg_len = np.where(in_leg & ~new_trip[1:] & np.isfinite(length), length, 0.0)
    trip_len = np.bincount(s_trip[a], weights=leg_len, minlength=n_trips) if len(a) else np.zeros(n_trips)
    first = np.flatnonzero(np.r_[True, read_trip[1:] != read_trip[:-1]]) if len(order) else np.array([], int)
    last = np.r_[first[1:] - 1, len(order) - 1] if len(first) else first
    start_us, end_us = t[first], t[last]
    dur_h = (end_us - start_us) / _US / 3600
    trip_plate = codes[first]
    labels = _sighting_labels(cam_labels, cam_codes[s_idx], device, dev_codes[s_idx])
    s_first = np.flatnonzero(new_trip)
    offsets = pa.array(np.r_[s_first, len(s_idx)].astype(np.int32))
    cam_lists = pd.Series(pd.arrays.ArrowExtensionArray(pa.ListArray.from_arrays(offsets, labels)))
    plate_text = pa.array(np.asarray(plates, dtype=object), pa.string())
    read_ids = pa.array(reads["read_id"])
    utc = "datetime64[us]"
    trips = pd.DataFrame({
        "trip_id": np.arange(n_trips, dtype=np.int64),
        "plate": _take(plate_text, trip_plate),
        "start": pd.Series(start_us.astype(utc)).dt.tz_localize("UTC"),
        "end": pd.Series(end_us.astype(utc)).dt.tz_localize("UTC"),
        "n_reads": np.bincount(read_trip, minlength=n_trips),
        "n_sightings": np.bincount(s_trip, minlength=n_trips),
        "camera_ids": cam_lists,
        "length_m": trip_len,
        "mean_speed_kmh": np.where(dur_h > 0, trip_len / 1000 / np.where(dur_h > 0, dur_h, 1), np.nan),
    })
    out_reads = pd.DataFrame({
        "read_id": _take(read_ids, order),
        "plate": _take(plate_text, codes),
        "read_at": pd.Series(t.astype(utc)).dt.tz_localize("UTC"),
        "trip_id": read_trip,
        "is_repeat": is_repeat,
    })
    legs = _legs(in_leg, a, b, s_idx, s_trip, plate_text, codes, read_ids, order, labels, st,
                 dt, lower, min_travel, speed, judged, impossible, network, net_i, net_j)
    # Too fast between two mobile readers: the devices disagree (position or clock), which is
    # not evidence of a second vehicle; the same plate too fast past fixed cameras or one reader is.
    kind = np.where(impossible & other_device, "device_disagreement",
                    np.where(impossible, "impossible_travel", None))
    legs["flag"] = pd.Series(kind[in_leg], dtype="str")
    params = dict(max_gap=max_gap, max_speed_kmh=max_speed_kmh, location_error_m=err,
                  merge_window=merge_window, clock_error_s=clock_error_s, detour_factor=detour_factor,
                  crs=crs)
    return Trips(trips=trips, reads=out_reads, legs=legs, quarantine=quarantine, network=network, params=params)


def _empty(quarantine, network, params) -> Trips:
    """The result for input without a usable read (everything, if anything, is in the quarantine)."""
    utc = pd.Series([], dtype="datetime64[us, UTC]")
    text = pd.Series([], dtype="str")
    trips = pd.DataFrame({"trip_id": pd.Series([], dtype="int64"), "plate": text, "start": utc, "end": utc,
                          "n_reads": pd.Series([], dtype="int64"), "n_sightings": pd.Series([], dtype="int64"),
                          "camera_ids": pd.Series(pd.arrays.ArrowExtensionArray(pa.array([], pa.list_(pa.string())))),
                          "length_m": pd.Series([], dtype=float), "mean_speed_kmh": pd.Series([], dtype=float)})
    reads = pd.DataFrame({"read_id": text, "plate": text, "read_at": utc, "trip_id": pd.Series([], dtype="int64"),
                          "is_repeat": pd.Series([], dtype=bool)})
    num = pd.Series([], dtype=float)
    legs = pd.DataFrame({"trip_id": pd.Series([], dtype="int64"), "plate": text, "from_read_id": text,
                         "to_read_id": text, "from_camera": text, "to_camera": text, "depart": utc, "arrive": utc,
                         "travel_s": num, "distance_m": num, "min_travel_s": num, "speed_kmh": num,
                         "plausible": pd.Series([], dtype="boolean"), "route": pd.Series([], dtype=object),
                         "flag": text})
    return Trips(trips=trips, reads=reads, legs=legs, quarantine=quarantine, network=network, params=params)


def _take(array: pa.Array, indices) -> pd.Series:
    """``array[indices]`` as a pandas ``str`` Series, without Python strings."""
    if not isinstance(array, (pa.Array, pa.ChunkedArray)):
        array = pa.array(array)
    return array.take(pa.array(np.asarray(indices, dtype=np.int64))).cast(pa.string()).to_pandas()


def _sighting_labels(cam_labels, cam_codes, device, dev_codes) -> pa.Array:
    """Camera id of each sighting (or the device of a mobile read) as an Arrow string array."""
    cam_dict = pa.array(np.asarray(cam_labels, dtype=object).astype(str) if len(cam_labels) else [], pa.string())
    on_cam = cam_codes >= 0
    out = pa.DictionaryArray.from_arrays(pa.array(np.maximum(cam_codes, 0).astype(np.int32), mask=~on_cam),
                                         cam_dict).cast(pa.string()) if len(cam_dict) else \
        pa.nulls(len(cam_codes), pa.string())
    if (~on_cam).any():
        has_dev = dev_codes >= 0
        dev = pa.DictionaryArray.from_arrays(pa.array(np.maximum(dev_codes, 0).astype(np.int32), mask=~has_dev),
                                             device if len(device) else pa.array([""])).cast(pa.string())
        out = pc.if_else(pa.array(on_cam), out, dev)
    return out


def _legs(in_leg, a, b, s_idx, s_trip, plate_text, codes, read_ids, order, labels, st, dt, lower, min_travel,
          speed, judged, impossible, network, net_i, net_j):
    k = np.flatnonzero(in_leg)
    ra, rb = s_idx[a[k]], s_idx[b[k]]
    plausible = pd.array(np.where(judged[k], ~impossible[k], False), dtype="boolean")
    plausible[~judged[k]] = pd.NA
    legs = pd.DataFrame({
        "trip_id": s_trip[a[k]],
        "plate": _take(plate_text, codes[ra]),
        "from_read_id": _take(read_ids, order[ra]),
        "to_read_id": _take(read_ids, order[rb]),
        "from_camera": _take(labels, a[k]),
        "to_camera": _take(labels, b[k]),
        "depart": pd.Series(st[a[k]].astype("datetime64[us]")).dt.tz_localize("UTC"),
        "arrive": pd.Series(st[b[k]].astype("datetime64[us]")).dt.tz_localize("UTC"),
        "travel_s": dt[k],
        "distance_m": lower[k],
        "min_travel_s": min_travel[k],
        "speed_kmh": speed[k],
        "plausible": plausible,
    })
    if network is not None and len(k):
        n1 = len(network.camera_ids)
        ni, nj = net_i[k].astype(np.int64), net_j[k].astype(np.int64)
        pairs = np.where((ni >= 0) & (nj >= 0), ni * n1 + nj, -1)
        uniq, inv = np.unique(pairs, return_inverse=True)
        routes = np.empty(len(uniq), dtype=object)
        for m, p in enumerate(uniq):  # one route per camera pair, not per leg
            routes[m] = network.route_edges(*divmod(int(p), n1)) if p >= 0 else ()
        legs["route"] = routes[inv]
    else:
        legs["route"] = pd.Series([()] * len(k), dtype=object)
    return legs
