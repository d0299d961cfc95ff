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
