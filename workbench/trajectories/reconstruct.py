"""Trip reconstruction: from ALPR reads to trips, legs and impossible-travel flags.

Reads are sorted by (plate, time) once and walked once in that order by a
compiled pass (:mod:`workbench.trajectories._kernels`); the tables are built
from its arrays with Arrow, without Python objects per read:

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

from workbench.data.crs import project
from workbench.errors import TrajectoryError
from workbench.trajectories import _kernels
from workbench.trajectories._dask import dask_aware
from workbench.trajectories.network import CameraNetwork
from workbench.trajectories.trips import Trips

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


def _utc_us(read_at) -> tuple[np.ndarray, np.ndarray]:
    """Microseconds since the epoch (int64) of ``read_at``, and where it is missing or unparseable."""
    dtype = read_at.dtype
    if isinstance(dtype, pd.DatetimeTZDtype) or (dtype.kind == "M" and not isinstance(dtype, pd.ArrowDtype)):
        # already datetimes: their int64 values are UTC whatever the zone, no parsing needed
        values = read_at.array if getattr(dtype, "unit", "ns") == "us" else read_at.dt.as_unit("us").array
    else:
        values = pd.to_datetime(read_at, utc=True, errors="coerce").dt.as_unit("us").array
    t = np.asarray(values.asi8, dtype=np.int64)
    return t, np.asarray(values.isna(), dtype=bool)


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
    plate_codes, plates = pd.factorize(reads["plate"], sort=False)  # -1 for missing
    empty_plate = np.r_[pd.Index(plates).astype("str").str.len().to_numpy() == 0, True]
    bad_plate = (plate_codes < 0) | empty_plate[plate_codes]
    t, bad_time = _utc_us(reads["read_at"])
    bad_time &= ~bad_plate
    if "camera_id" in reads:
        cam_codes, cam_labels = pd.factorize(reads["camera_id"], sort=True)  # -1 for missing
        cam_labels = np.asarray(cam_labels, dtype=object)
    else:
        cam_codes, cam_labels = np.full(n, -1, dtype=np.int64), np.array([], dtype=object)
    cam_codes = cam_codes.astype(np.int64, copy=False)
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
    keep = ~quarantine_mask
    if not keep.any():
        return _empty(quarantine, network, dict(max_gap=max_gap, max_speed_kmh=max_speed_kmh))

    # Plates are numbered by first appearance among the kept reads: trips come out in that order.
    # The quarantined reads stay in place; the sort leaves them out.
    plate_text = _strings(plates)
    if quarantine_mask.any():
        group, rank, n_groups = _kernels.first_seen_groups(plate_codes.astype(np.int64), keep, len(plates))
        by_group = np.empty(n_groups, np.int64)
        by_group[rank[rank >= 0]] = np.flatnonzero(rank >= 0)
        plate_text = plate_text.take(pa.array(by_group))
    else:
        group, n_groups = plate_codes.astype(np.int64, copy=False), len(plates)
    order, t_s, group_s = _kernels.order_by_group_time(group, n_groups, t)

    n_cam = len(cam_labels)
    cam_xy, cam_err, own_ok, own_x, own_y, crs = _positions(reads, cameras, network, cam_labels, cam_codes, keep,
                                                            err)
    if "device" in reads:
        dev_codes, dev_labels = pd.factorize(reads["device"], sort=False)
        dev_codes = dev_codes.astype(np.int64, copy=False)
        device = pa.array(np.asarray(dev_labels, dtype=object), pa.string())
    else:
        dev_codes, device = np.empty(0, np.int64), pa.array([], pa.string())
    if network is not None:
        net_of_cam = network.index(cam_labels).astype(np.int64) if n_cam else np.empty(0, np.int64)
        distance_m = np.ascontiguousarray(network.distance_m, dtype=float)
        travel_s = np.ascontiguousarray(network.travel_s, dtype=float)
    else:
        net_of_cam, distance_m, travel_s = np.full(n_cam, -1, np.int64), np.zeros((0, 0)), np.zeros((0, 0))

    (is_repeat, read_trip), s_label, trip_cols, leg_cols = _kernels.walk(
        order, group_s, t_s, cam_codes, dev_codes, cam_xy[:, 0].copy(), cam_xy[:, 1].copy(), cam_err, own_ok,
        own_x, own_y, float(err["reader"]), net_of_cam, distance_m, travel_s, n_cam, merge_s, gap_s,
        float(max_speed_kmh), float(clock_error_s), float(detour_factor))  # writable copies: one compiled signature

    # Camera ids of the sightings, or the device of a mobile read: codes into one small dictionary.
    cam_dict = pa.array(cam_labels.astype(str) if n_cam else [], pa.string())
    label_dict = pa.concat_arrays([cam_dict, device])
    offsets, start, end, n_reads, n_sightings, trip_group, length_m, mean_speed = trip_cols
    n_trips = len(start)
    offsets = pa.array(offsets)
    labels = label_dict.take(pa.array(s_label, mask=s_label < 0))
    cam_lists = pd.Series(pd.arrays.ArrowExtensionArray(pa.ListArray.from_arrays(offsets, labels)))
    read_ids = pa.array(reads["read_id"])
    if isinstance(read_ids, pa.ChunkedArray):  # a take from one array is several times faster than across chunks
        read_ids = read_ids.combine_chunks()
    trips = pd.DataFrame({
        "trip_id": np.arange(n_trips, dtype=np.int64),
        "plate": _take(plate_text, trip_group),
        "start": _utc(start),
        "end": _utc(end),
        "n_reads": n_reads,
        "n_sightings": n_sightings,
        "camera_ids": cam_lists,
        "length_m": length_m,
        "mean_speed_kmh": mean_speed,
    }, copy=False)
    out_reads = pd.DataFrame({
        "read_id": _take(read_ids, order),
        "plate": _take(plate_text, group_s),
        "read_at": _utc(t_s),
        "trip_id": read_trip,
        "is_repeat": is_repeat,
    }, copy=False)
    legs = _legs(leg_cols, plate_text, read_ids, label_dict, network)
    params = dict(max_gap=max_gap, max_speed_kmh=max_speed_kmh, location_error_m=err,
                  merge_window=merge_window, clock_error_s=clock_error_s, detour_factor=detour_factor,
                  crs=crs)
    return Trips(trips=trips, reads=out_reads, legs=legs, quarantine=quarantine, network=network, params=params)


def _positions(reads, cameras, network, cam_labels, cam_codes, keep, err):
    """Where reads were: (x, y) and error per camera label, and a read's own projected lon/lat where its camera
    gives no position (``own_ok``; empty arrays when no read needs one), with the CRS used."""
    n_cam = len(cam_labels)
    cam_xy = np.full((n_cam, 2), np.nan)
    cam_err = np.full(n_cam, np.nan)
    if cameras is not None and n_cam:
        if network is not None:
            cxy = pd.DataFrame(network.camera_xy, index=network.camera_ids).reindex(cam_labels)
        else:
            cams = cameras.drop_duplicates("camera_id").set_index("camera_id")
            cx, cy, _ = project(cams["lon"], cams["lat"])
            cxy = pd.DataFrame(np.c_[cx, cy], index=cams.index.astype(str)).reindex(cam_labels)
        cam_xy = cxy.to_numpy(float)
        cam_err[:] = err["camera"]
    crs = network.crs if network is not None else None
    own_ok, own_x, own_y = np.empty(0, bool), np.empty(0), np.empty(0)
    if {"lon", "lat"} <= set(reads.columns):
        no_xy = np.r_[np.isnan(cam_xy[:, 0]), True][cam_codes] & keep
        if no_xy.any():
            lon, lat = reads["lon"].to_numpy(float), reads["lat"].to_numpy(float)
            own = no_xy & np.isfinite(lon) & np.isfinite(lat)
            if own.any():
                own_x, own_y = np.full(len(reads), np.nan), np.full(len(reads), np.nan)
                own_x[own], own_y[own], crs = project(lon[own], lat[own], crs)
                own_ok = own
    return cam_xy, cam_err, own_ok, own_x, own_y, crs


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


def _strings(values) -> pa.Array:
    """Text values (a factorize's uniques) as an Arrow string array, without Python strings where they are Arrow."""
    array = pa.array(pd.Series(values).array if isinstance(values, pd.Index) else values)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return array if array.type == pa.large_string() else array.cast(pa.string())


def _take(array, indices, mask=None) -> pd.Series:
    """``array[indices]`` as a pandas ``str`` Series (missing where ``mask``), without Python strings."""
    taken = array.take(pa.array(np.asarray(indices, dtype=np.int64), mask=mask))
    return taken.cast(pa.large_string()).to_pandas()  # pandas' str dtype holds large_string: cast once, here


def _utc(us) -> pd.Series:
    """Microseconds since the epoch as a ``datetime64[us, UTC]`` Series (no copy, no parsing)."""
    return pa.array(us, pa.timestamp("us", tz="UTC")).to_pandas().dt.tz_convert("UTC")


def _legs(leg_cols, plate_text, read_ids, label_dict, network) -> pd.DataFrame:
    (trip, group, from_row, to_row, from_label, to_label, depart, arrive, travel_s, distance_m, min_travel_s,
     speed_kmh, state, route_key) = leg_cols
    judged = state != _kernels.UNJUDGED
    flagged = (state == _kernels.IMPOSSIBLE) | (state == _kernels.DEVICE_DISAGREEMENT)
    # Too fast between two mobile readers: the devices disagree (position or clock), which is
    # not evidence of a second vehicle; the same plate too fast past fixed cameras or one reader is.
    flags = pa.array(["impossible_travel", "device_disagreement"], pa.large_string())
    labels = label_dict.cast(pa.large_string())
    legs = pd.DataFrame({
        "trip_id": trip,
        "plate": _take(plate_text, group),
        "from_read_id": _take(read_ids, from_row),
        "to_read_id": _take(read_ids, to_row),
        "from_camera": _take(labels, from_label, mask=from_label < 0),
        "to_camera": _take(labels, to_label, mask=to_label < 0),
        "depart": _utc(depart),
        "arrive": _utc(arrive),
        "travel_s": travel_s,
        "distance_m": distance_m,
        "min_travel_s": min_travel_s,
        "speed_kmh": speed_kmh,
        "plausible": pd.arrays.BooleanArray(state == _kernels.PLAUSIBLE, ~judged),
        "route": _routes(network, route_key),
        "flag": _take(flags, (state == _kernels.DEVICE_DISAGREEMENT).astype(np.int64), mask=~flagged),
    }, copy=False)
    return legs


def _routes(network, route_key):
    """Edge ids of each leg's fastest route (``()`` without roads): one look-up per camera pair, not per leg."""
    if network is None:
        return pd.Series([()] * len(route_key), dtype=object)
    n1 = len(network.camera_ids)
    if n1 * n1 <= 4 * len(route_key) + 65536:  # a table over all camera pairs spares sorting the legs
        slot = route_key + 1  # slot 0: no route
        table = np.empty(n1 * n1 + 1, dtype=object)
        pairs = np.flatnonzero(np.bincount(slot, minlength=len(table))) - 1
        slots = pairs + 1
    else:
        pairs, slot = np.unique(route_key, return_inverse=True)
        table = np.empty(len(pairs), dtype=object)
        slots = np.arange(len(pairs))
    for s, p in zip(slots, pairs):
        table[s] = network.route_edges(*divmod(int(p), n1)) if p >= 0 else ()
    return table[slot]
