"""Beyond one machine: the same analyses on Dask (a local cluster or a remote scheduler).

- :func:`connect`: a ``distributed.Client`` for a scheduler address, a number of
  local workers, or ``$WORKBENCH_SCHEDULER``.
- :func:`write_partitioned`, :func:`export_partitioned`, :func:`read_partitioned`,
  :func:`plate_bucket`: the partitioned Parquet layout (by date; reads also
  bucketed by a stable hash of the plate).
- :mod:`workbench.scale.hotspots`: the dask path of ``grid_counts``, ``kde``,
  ``gistar`` and ``emerging`` (those functions dispatch to it when given a dask
  DataFrame).
- :func:`reconstruct`, :func:`search`, :func:`convoys`, :func:`vehicles_near`:
  the trajectory engine over a dask DataFrame of reads, same results as in memory.

Importing this package does not import dask; the functions do, when called.
"""

from workbench.scale.client import connect
from workbench.scale.layout import (export_partitioned, plate_bucket, read_partitioned, write_partitioned)
from workbench.scale.trajectories import DaskTrips, convoys, reconstruct, search, vehicles_near


def is_dask_frame(obj) -> bool:
    """Whether ``obj`` is a dask DataFrame (checked without importing dask)."""
    return type(obj).__module__.split(".")[0] in ("dask", "dask_expr") and hasattr(obj, "map_partitions")


__all__ = ["DaskTrips", "connect", "convoys", "export_partitioned", "is_dask_frame", "plate_bucket",
           "read_partitioned", "reconstruct", "search", "vehicles_near", "write_partitioned"]
