"""The trajectory engine over a dask DataFrame of reads: the same results as in memory.

Each function here calls the in-memory engine (:mod:`workbench.trajectories`)
on pieces that hold everything it needs, so the answers are the engine's own:

- :func:`reconstruct`: trips never span two plates, so one task per plate
  bucket (a layout opened with ``read_partitioned(..., by="bucket")``, or a
  shuffle by bucket of any other dask DataFrame) runs the engine on all reads
  of its plates. Results come back as :class:`DaskTrips`: ``compute()`` for a
  :class:`~workbench.trajectories.Trips` in memory, ``to_parquet()`` to write
  trips, reads, legs and quarantine out of core.
- :func:`search`: plates are matched partition by partition, the (few)
  matching reads are gathered and ranked as the engine ranks them.
- :func:`convoys`: co-sightings are within ``window`` at one camera, so each
  day (partition) is searched with the next ``window`` of reads as overlap, and
  only reads near a co-sighting go to the engine for the counting.
- :func:`vehicles_near`: the reads of the time window, plus every read of the
  plates found there at the same cameras (the familiarity count looks at all
  days), go to the engine.

Every search-like function checks the justification before any work (a
refusal is logged) and the engine writes the one audit record of the search.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.errors import TrajectoryError
from workbench.scale.layout import plate_bucket

_US = 1_000_000


def _require_dask(reads, name):
    if not hasattr(reads, "to_delayed") or not hasattr(reads, "map_partitions"):
        raise TrajectoryError(f"workbench.scale.{name} takes a dask DataFrame of alpr_reads; "
                              f"got {type(reads).__name__} (use workbench.trajectories.{name} for pandas)")
    missing = [c for c in ("read_at", "plate") if c not in reads.columns]
    if missing:
        raise TrajectoryError(f"reads lack column(s) {', '.join(missing)}; see workbench.data.schema (alpr_reads)")


def _with_position(frame, partition_info=None):
    """Tag rows with their global position (partition number, row) so a shuffle can restore input order."""
    number = partition_info["number"] if partition_info else 0
    return frame.assign(_wb_pos=(np.int64(number) << 40) + np.arange(len(frame), dtype=np.int64))


def _add_bucket(frame, n_buckets):
    return frame.assign(_wb_bucket=plate_bucket(frame["plate"], n_buckets).astype(np.int64))


def _restore_order(frame):
    return frame.sort_values("_wb_pos", kind="stable").drop(columns=["_wb_pos", "_wb_bucket"]) \
        .reset_index(drop=True)


def by_plate(reads, n_buckets=None):
    """Partitions of ``reads`` that each hold every read of their plates, in input order.

    A frame opened with ``read_partitioned(..., by="bucket")`` already is (its
    index is the bucket, divisions known); any other is shuffled by plate bucket.

    Returns
    -------
    list of dask.delayed.Delayed
        One pandas DataFrame per partition.
    """
    if reads.index.name == "bucket" and reads.known_divisions:
        return list(reads.to_delayed())
    n_buckets = n_buckets or max(reads.npartitions, 1)
    tagged = reads.map_partitions(_with_position).map_partitions(_add_bucket, n_buckets)
    shuffled = tagged.shuffle("_wb_bucket", npartitions=reads.npartitions)
    return list(shuffled.map_partitions(_restore_order).to_delayed())


def _reconstruct_part(part, cameras, roads, network, params):
    from workbench.trajectories import reconstruct as reconstruct_in_memory

    if not len(part):
        return None
    return reconstruct_in_memory(part.reset_index(drop=True), cameras, roads, network=network, **params)


def _write_part(part, cameras, roads, network, params, root, number):
    """Reconstruct one partition and write its four tables; return counts and seconds (the task's cost)."""
    began = time.perf_counter()
    trips = _reconstruct_part(part, cameras, roads, network, params)
    n_reads = len(part)
    counts = {"partition": number, "reads": n_reads, "trips": 0, "legs": 0, "quarantined": 0}
    if trips is not None:
        shift = np.int64(number) << 40  # unique trip ids across partitions without a second pass
        for name in ("trips", "reads", "legs", "quarantine"):
            table = getattr(trips, name)
            if "trip_id" in table:
                table = table.assign(trip_id=table["trip_id"].to_numpy(np.int64) + shift)
            if name == "legs":  # route: tuples of edge ids, as a list column
                table = table.assign(route=table["route"].map(list))
            folder = Path(root) / name
            folder.mkdir(parents=True, exist_ok=True)
            table.to_parquet(folder / f"part-{number:05d}.parquet", index=False)
        counts.update(trips=len(trips.trips), legs=len(trips.legs), quarantined=len(trips.quarantine))
    counts["seconds"] = time.perf_counter() - began
    return counts


class DaskTrips:
    """Trips reconstructed partition by partition on a Dask cluster (lazy until asked).

    Parameters
    ----------
    parts : list of dask.delayed.Delayed
        Partitions of reads, each holding every read of its plates.
    cameras, roads, network, params
        As for :func:`workbench.trajectories.reconstruct`.

    Examples
    --------
    >>> reads = read_partitioned("layout", by="bucket")            # doctest: +SKIP
    >>> trips = reconstruct(reads, cameras).compute()              # doctest: +SKIP
    >>> reconstruct(reads, cameras).to_parquet("trips-out")        # doctest: +SKIP
    """

    def __init__(self, parts, cameras, roads, network, params):
        self.parts = parts
        self.cameras, self.roads, self.network, self.params = cameras, roads, network, params

    @property
    def npartitions(self) -> int:
        return len(self.parts)

    def _shared(self):
        import dask

        # one copy of the camera table and network in the graph, not one per task
        return (dask.delayed(self.cameras, pure=True, traverse=False),
                dask.delayed(self.roads, pure=True, traverse=False) if self.roads is not None else None,
                dask.delayed(self.network, pure=True, traverse=False) if self.network is not None else None)

    def compute(self):
        """Run everything and return one in-memory :class:`~workbench.trajectories.Trips`.

        Trip ids are renumbered 0..n-1 in partition order, then as the engine
        numbers them inside a partition.
        """
        import dask

        from workbench.trajectories import Trips

        cams, roads, net = self._shared()
        tasks = [dask.delayed(_reconstruct_part)(p, cams, roads, net, self.params) for p in self.parts]
        results = [r for r in dask.compute(*tasks) if r is not None]
        if not results:
            raise TrajectoryError("no reads to reconstruct: every partition is empty")
        tables = {name: [] for name in ("trips", "reads", "legs", "quarantine")}
        offset = 0
        for r in results:
            for name in tables:
                table = getattr(r, name)
                if "trip_id" in table and offset:
                    table = table.assign(trip_id=table["trip_id"] + offset)
                tables[name].append(table)
            offset += len(r.trips)
        merged = {name: pd.concat(frames, ignore_index=True) for name, frames in tables.items()}
        return Trips(**merged, network=results[0].network, params=results[0].params)

    def to_parquet(self, root) -> pd.DataFrame:
        """Write trips, reads, legs and quarantine under ``root`` (one file per partition), out of core.

        Trip ids are ``(partition << 40) + engine id``: unique without a second pass.

        Returns
        -------
        pandas.DataFrame
            Per partition: reads, trips, legs, quarantined and the task's seconds.
        """
        import dask

        cams, roads, net = self._shared()
        tasks = [dask.delayed(_write_part)(p, cams, roads, net, self.params, str(root), i)
                 for i, p in enumerate(self.parts)]
        return pd.DataFrame(list(dask.compute(*tasks)))


def reconstruct(reads, cameras=None, roads=None, *, network=None, n_buckets=None, **params) -> DaskTrips:
    """Trip reconstruction over a dask DataFrame of reads, one task per plate bucket.

    Parameters
    ----------
    reads : dask.dataframe.DataFrame
        Canonical ``alpr_reads``; best opened with
        ``read_partitioned(root, by="bucket")`` (no shuffle). Any other dask
        DataFrame is shuffled by plate bucket first.
    cameras, roads, network
        As for :func:`workbench.trajectories.reconstruct`; a network is built
        once here from ``roads`` and shipped once to the workers.
    n_buckets : int, optional
        Buckets for the shuffle (default: the number of partitions).
    **params
        ``max_gap``, ``max_speed_kmh``, ``location_error_m``, ``merge_window``,
        ``clock_error_s``, ``detour_factor``: as for the in-memory engine.

    Returns
    -------
    DaskTrips
        ``.compute()`` -> Trips (trips ordered by partition, then as the engine
        orders them); ``.to_parquet(root)`` writes them out of core.

    Examples
    --------
    >>> trips = reconstruct(read_partitioned("layout", by="bucket"), cameras).compute()  # doctest: +SKIP
    """
    from workbench.trajectories import CameraNetwork

    _require_dask(reads, "reconstruct")
    if network is None and roads is not None:
        if cameras is None:
            raise TrajectoryError("roads were given without cameras: pass cameras to route between them")
        network = CameraNetwork(roads, cameras)
    return DaskTrips(by_plate(reads, n_buckets), cameras, None, network, params)


# ------------------------------------------------------------------ search
def _tag(frame, number):
    """Rows with their global position (partition, row): gathered pieces go back in input order."""
    return frame.assign(_wb_pos=(np.int64(number) << 40) + np.arange(len(frame), dtype=np.int64))


def _gather(tasks) -> pd.DataFrame:
    """Compute tagged pieces, drop rows seen twice (overlaps) and restore input order."""
    import dask

    pieces = [p for p in dask.compute(*tasks) if len(p)]
    if not pieces:
        return None
    found = pd.concat(pieces, ignore_index=True).drop_duplicates("_wb_pos")
    return found.sort_values("_wb_pos", kind="stable").drop(columns="_wb_pos").reset_index(drop=True)


def _plate_matches(frame, number, plate, pattern, lookalike):
    from workbench.trajectories import PlateIndex

    if not len(frame):
        return _tag(frame, number)
    index = PlateIndex(frame)
    subs = index.match_plate(plate, lookalike) if plate is not None else index.match_pattern(pattern, lookalike)
    if plate is not None and pattern is not None:
        other = index.match_pattern(pattern, lookalike)
        subs = np.where((subs >= 0) & (other >= 0), subs, -1)
    hit = np.r_[subs, -1][index.codes] >= 0
    return _tag(frame, number)[hit]


def search(reads, plate=None, pattern=None, lookalike=1, *, user, reason, case_number, role=None,
           audit_log=None, policy=None, **filters) -> pd.DataFrame:
    """Plate search over a dask DataFrame of reads: the engine's result and its one audit record.

    Each partition keeps the reads whose plate matches (the engine's
    :class:`~workbench.trajectories.PlateIndex`); the matching reads, in input
    order, go to :func:`workbench.trajectories.search`, which applies the
    filters, ranks and audits.

    Parameters
    ----------
    reads : dask.dataframe.DataFrame
    plate, pattern, lookalike, user, reason, case_number, role, audit_log, policy
        As for :func:`workbench.trajectories.search`.
    **filters
        ``state``, ``start``, ``end``, ``near``, ``radius_m``, ``make``, ``color``, ``cameras``.

    Returns
    -------
    pandas.DataFrame
        As :func:`workbench.trajectories.search` returns it.

    Examples
    --------
    >>> search(read_partitioned("layout"), pattern="HAD?435", user="jdoe", role="investigator",
    ...        reason="robbery follow-up", case_number="25-000123")   # doctest: +SKIP
    """
    import dask

    from workbench.trajectories import audit, check_pattern, normalize_plate
    from workbench.trajectories import search as search_in_memory

    _require_dask(reads, "search")
    audit_args = dict(user=user, reason=reason, case_number=case_number, role=role, audit_log=audit_log,
                      policy=policy)
    parameters = {"plate": plate, "pattern": pattern, "lookalike": lookalike, **filters}
    audit.authorize("plate_search", user, reason, case_number, parameters=parameters, role=role, policy=policy,
                    audit_log=audit_log)  # refuse (and log the refusal) before reading anything
    q = normalize_plate(str(plate)) if plate is not None and not set(str(plate)) & set("?*") else None
    p = check_pattern(pattern) if pattern is not None else None
    if (plate is None and pattern is None) or (plate is not None and not q) or \
            not isinstance(lookalike, (int, np.integer)) or isinstance(lookalike, bool) or lookalike < 0:
        return search_in_memory(reads._meta, plate, pattern, lookalike, **filters, **audit_args)  # its error
    tasks = [dask.delayed(_plate_matches)(part, i, q, p, int(lookalike))
             for i, part in enumerate(reads.to_delayed())]
    found = _gather(tasks)
    return search_in_memory(reads._meta if found is None else found, plate, pattern, lookalike, **filters,
                            **audit_args)


# ------------------------------------------------------------------ convoys
def _span(frame):
    t = frame["read_at"]
    return (t.min(), t.max()) if len(frame) else (None, None)


def _near_co_sightings(frame, own, number, window_us, max_neighbours=50):
    """Reads of one time window (own rows first, then the overlap) in, or between, co-sightings.

    The same neighbour scan as :func:`workbench.trajectories.convoys.co_sightings`,
    keeping pairs whose earlier read is one of the ``own`` rows (each pair is
    found by exactly one window). A read between a pair's two reads at that
    camera is kept too, so the pairs among the kept reads are the pairs among all.
    """
    tagged = _tag(frame, number)
    tagged["_wb_own"] = np.arange(len(frame)) < own
    place = tagged["camera_id"] if "camera_id" in tagged else tagged["device"]
    ok = place.notna().to_numpy() & tagged["plate"].notna().to_numpy()
    r = tagged[ok]
    pcode, _ = pd.factorize(r["plate"])
    ccode, _ = pd.factorize(place[ok])
    t = np.asarray(pd.to_datetime(r["read_at"], utc=True).dt.as_unit("us").array.asi8)
    order = np.lexsort((t, ccode))
    pcode, ccode, t = pcode[order], ccode[order], t[order]
    is_own = r["_wb_own"].to_numpy()[order]
    cover = np.zeros(len(t) + 1, np.int64)
    for k in range(1, max_neighbours + 1):
        a = np.arange(len(t) - k)
        close = (ccode[a] == ccode[a + k]) & (t[a + k] - t[a] <= window_us)
        if not close.any():
            break
        a = a[close]
        a = a[(pcode[a] != pcode[a + k]) & is_own[a]]
        np.add.at(cover, a, 1)
        np.add.at(cover, a + k + 1, -1)
    keep = np.zeros(len(t), bool)
    keep[order] = np.cumsum(cover)[:-1] > 0
    return r[keep].drop(columns="_wb_own")


def _window_with_overlap(parts, spans, window):
    """Each partition with the head of the next ones (reads up to ``window`` after its last read)."""
    import dask

    out = []
    for i, (part, (lo, hi)) in enumerate(zip(parts, spans)):
        if lo is None:
            continue
        tails = [dask.delayed(lambda f, end: f[f["read_at"] <= end])(parts[j], hi + window)
                 for j in range(i + 1, len(parts)) if spans[j][0] is not None and spans[j][0] <= hi + window]
        out.append((i, part, tails))
    return out


def _own_and_overlap(part, *tails):
    return pd.concat([part, *tails], ignore_index=True), len(part)


def convoys(reads, window="60s", min_cameras=3, min_trips=2, outing_gap="30min", max_drift="5s", *, user,
            reason, case_number, role=None, audit_log=None, policy=None) -> pd.DataFrame:
    """Convoys over a dask DataFrame of reads in time order: the engine's result and its one audit record.

    Co-sightings are at most ``window`` apart at one camera, so each partition
    (a day, from ``read_partitioned(by="date")``) is scanned together with the
    first ``window`` of the partitions after it. Only reads in or between
    co-sightings go to :func:`workbench.trajectories.convoys`, which counts
    cameras and outings, groups the plates and audits.

    Parameters
    ----------
    reads : dask.dataframe.DataFrame
        Partitions in time order (each partition's reads no earlier than the previous one's).
    window, min_cameras, min_trips, outing_gap, max_drift, user, reason, case_number, role, audit_log, policy
        As for :func:`workbench.trajectories.convoys`.

    Returns
    -------
    pandas.DataFrame
        As :func:`workbench.trajectories.convoys` returns it.
    """
    import dask

    from workbench.trajectories import audit
    from workbench.trajectories import convoys as convoys_in_memory

    _require_dask(reads, "convoys")
    audit_args = dict(user=user, reason=reason, case_number=case_number, role=role, audit_log=audit_log,
                      policy=policy)
    parameters = {"window": window, "min_cameras": min_cameras, "min_trips": min_trips, "outing_gap": outing_gap,
                  "max_drift": max_drift}
    audit.authorize("convoys", user, reason, case_number, parameters=parameters, role=role, policy=policy,
                    audit_log=audit_log)
    try:
        win = pd.Timedelta(window)
    except (ValueError, TypeError):
        return convoys_in_memory(reads._meta, window, min_cameras, min_trips, outing_gap, max_drift, **audit_args)
    parts = list(reads.to_delayed())
    spans = dask.compute(*[dask.delayed(_span)(p) for p in parts])
    seen = [s for s in spans if s[0] is not None]
    if any(a[1] > b[0] for a, b in zip(seen, seen[1:])):
        raise TrajectoryError("convoys on dask needs partitions in time order; open the reads with "
                              "read_partitioned(root, by='date') or sort them by read_at")
    tasks = []
    for i, part, tails in _window_with_overlap(parts, spans, win):
        joined = dask.delayed(_own_and_overlap, nout=2)(part, *tails)
        tasks.append(dask.delayed(_near_co_sightings)(joined[0], joined[1], i, win.value // 1000))
    found = _gather(tasks)
    return convoys_in_memory(reads._meta if found is None else found, window, min_cameras, min_trips,
                             outing_gap, max_drift, **audit_args)


# ------------------------------------------------------------------ vehicles near
def _in_window(frame, number, t_lo, t_hi):
    t = pd.to_datetime(frame["read_at"], utc=True)
    return _tag(frame, number)[((t >= t_lo) & (t <= t_hi)).to_numpy()]


def _window_or_familiar(frame, number, t_lo, t_hi, plates, cams, lon0, lat0, radius_m, cameras):
    from workbench.trajectories.search import _positions, haversine_m

    t = pd.to_datetime(frame["read_at"], utc=True)
    keep = ((t >= t_lo) & (t <= t_hi)).to_numpy()
    known = frame["plate"].isin(plates).to_numpy()
    if cams and "camera_id" in frame:
        keep = keep | (known & frame["camera_id"].isin(cams).to_numpy())
    else:
        lon, lat = _positions(frame, cameras)
        keep = keep | (known & (np.nan_to_num(haversine_m(lon, lat, lon0, lat0), nan=np.inf) <= radius_m))
    return _tag(frame, number)[keep]


def vehicles_near(reads, cameras, at, radius_m=1500.0, before="15min", after="15min", *, user, reason,
                  case_number, role=None, audit_log=None, policy=None) -> pd.DataFrame:
    """Vehicles near a place and time over a dask DataFrame of reads: the engine's result, audited once.

    One pass finds the plates and cameras within ``radius_m`` in the window; a
    second keeps the window's reads and, on every day, the reads of those
    plates at those cameras (what the familiarity count looks at). They go, in
    input order, to :func:`workbench.trajectories.vehicles_near`.

    Parameters
    ----------
    reads : dask.dataframe.DataFrame
    cameras, at, radius_m, before, after, user, reason, case_number, role, audit_log, policy
        As for :func:`workbench.trajectories.vehicles_near`.

    Returns
    -------
    pandas.DataFrame
        As :func:`workbench.trajectories.vehicles_near` returns it.
    """
    import dask

    from workbench.trajectories import audit
    from workbench.trajectories import vehicles_near as near_in_memory
    from workbench.trajectories.near import _check_at
    from workbench.trajectories.search import _positions, haversine_m

    _require_dask(reads, "vehicles_near")
    audit_args = dict(user=user, reason=reason, case_number=case_number, role=role, audit_log=audit_log,
                      policy=policy)
    lon0, lat0, t0 = _check_at(at)
    parameters = {"at": [lon0, lat0, t0], "radius_m": radius_m, "before": before, "after": after}
    audit.authorize("vehicles_near", user, reason, case_number, parameters=parameters, role=role, policy=policy,
                    audit_log=audit_log)
    if not radius_m or radius_m <= 0:
        return near_in_memory(reads._meta, cameras, at, radius_m, before, after, **audit_args)  # its error
    t_lo, t_hi = t0 - pd.Timedelta(before), t0 + pd.Timedelta(after)
    parts = list(reads.to_delayed())
    window = _gather([dask.delayed(_in_window)(p, i, t_lo, t_hi) for i, p in enumerate(parts)])
    if window is None:
        return near_in_memory(reads._meta, cameras, at, radius_m, before, after, **audit_args)
    lon, lat = _positions(window, cameras)
    here = window[np.nan_to_num(haversine_m(lon, lat, lon0, lat0), nan=np.inf) <= radius_m]
    plates = set(here["plate"].dropna())
    cams = set(here["camera_id"].dropna()) if "camera_id" in here else set()
    cams_d = dask.delayed(cams, pure=True, traverse=False)
    found = _gather([dask.delayed(_window_or_familiar)(p, i, t_lo, t_hi, dask.delayed(plates, traverse=False),
                                                       cams_d, lon0, lat0, radius_m, cameras)
                     for i, p in enumerate(parts)])
    return near_in_memory(found, cameras, at, radius_m, before, after, **audit_args)
