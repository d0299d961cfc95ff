"""Connect to a Dask cluster: a scheduler address, a number of local workers, or the environment.

``connect()`` is the one place the workbench learns where to compute. The
analyses themselves take dask DataFrames and run on whatever client is
current (``distributed`` makes the latest client the default), so user code
keeps its shape: open the data with :func:`~workbench.scale.read_partitioned`
instead of pandas and call the same functions.
"""

from __future__ import annotations

import os

from workbench.errors import WorkbenchError

ENV = "WORKBENCH_SCHEDULER"


def connect(scheduler=None, *, threads_per_worker=1, memory_limit="auto", **cluster_kwargs):
    """A ``distributed.Client`` for a scheduler, a local cluster, or ``$WORKBENCH_SCHEDULER``.

    Parameters
    ----------
    scheduler : None, str or int
        ``"tcp://host:8786"`` (or any address ``distributed`` accepts): join
        that cluster. An int: start a ``LocalCluster`` of that many worker
        processes. None: use ``$WORKBENCH_SCHEDULER`` (an address or a number)
        if set, else a local cluster with one worker per core.
    threads_per_worker : int
        Local clusters only. One thread per worker suits the engines (they are
        NumPy / numba bound and hold the GIL in places).
    memory_limit : str or int
        Local clusters only: per-worker memory limit (``"3GB"``); see docs/scale.md.
    **cluster_kwargs
        Passed to ``distributed.LocalCluster``.

    Returns
    -------
    distributed.Client
        Close it (or use it as a context manager) when done; a local cluster
        closes with it.

    Examples
    --------
    >>> client = connect(2, memory_limit="2GB")        # doctest: +SKIP
    >>> client = connect("tcp://10.0.0.5:8786")        # doctest: +SKIP
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - the scale extra is missing
        raise WorkbenchError("Dask is not installed: pip install 'rtcc-workbench[scale]'") from None
    if scheduler is None:
        scheduler = os.environ.get(ENV) or None
        if isinstance(scheduler, str) and scheduler.strip().isdigit():
            scheduler = int(scheduler)
    if isinstance(scheduler, bool):
        raise WorkbenchError(f"scheduler must be an address or a number of workers; got {scheduler!r}")
    if scheduler is None or isinstance(scheduler, int):
        n = scheduler if scheduler is not None else (os.cpu_count() or 1)
        if n < 1:
            raise WorkbenchError(f"a local cluster needs at least 1 worker; got {n}")
        cluster = LocalCluster(n_workers=n, threads_per_worker=threads_per_worker, processes=True,
                               memory_limit=memory_limit, **cluster_kwargs)
        client = Client(cluster)
        return _closing_cluster(client, cluster)
    if not isinstance(scheduler, str):
        raise WorkbenchError(f"scheduler must be an address or a number of workers; got {scheduler!r}")
    try:
        return Client(scheduler, timeout="10s")
    except (OSError, TimeoutError) as exc:
        raise WorkbenchError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None


def _closing_cluster(client, cluster):
    """Make ``client.close()`` also close the local cluster it started."""
    close = client.close

    def close_both(*args, **kwargs):
        out = close(*args, **kwargs)
        cluster.close()
        return out

    client.close = close_both
    return client
