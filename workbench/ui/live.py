"""Live data for the dashboards: one poll service per server feeding the shared workspace.

The pollers (:mod:`workbench.live`) store each page in the store and publish
it; :class:`LiveFeed` appends the published rows to the workspace and bumps a
version number that each Command Overview session watches with a cheap
periodic check. One poller per source serves every session.
"""

from __future__ import annotations

import collections
import tempfile
import threading
from pathlib import Path

import pandas as pd

LIVE_TABLES = ("calls", "incidents", "gunshots", "alpr_reads")

#: Who screens reads against the hotlist: the workbench itself, not the person viewing a page.
SYSTEM_USER = "rtcc-system"
SYSTEM_ROLE = "system"
SCREENING_REASON = "hotlist screening of live reads"


class HotlistScreen:
    """Reads checked against the hotlist by the system, one audited check per batch.

    The check is :func:`workbench.trajectories.hits` run as :data:`SYSTEM_USER`
    (role ``system``, which holds only ``hotlist_check``) with
    :data:`SCREENING_REASON`; the search policy lets a hotlist check run
    without a case number. Only entries active at read time count
    (``include_past=False``): a hit is an alert, not a retrospective search.
    Pages get counts from :meth:`counts`, never plates.

    Parameters
    ----------
    hotlist : pandas.DataFrame or workbench.trajectories.Hotlist
    audit_log : workbench.governance.audit.AuditLog, optional
        Default: the process's log.

    Examples
    --------
    >>> screen = HotlistScreen(sample.truth["hotlist"])      # doctest: +SKIP
    >>> screen.screen(sample.alpr_reads)                       # doctest: +SKIP
    >>> screen.counts(now)                                     # doctest: +SKIP
    {'Hotlist hits, last hour': 0, 'Hotlist hits, last day': 3}
    """

    def __init__(self, hotlist, audit_log=None):
        from workbench.trajectories import Hotlist

        self.hotlist = hotlist if isinstance(hotlist, Hotlist) else Hotlist(hotlist)
        self.audit_log = audit_log
        self.hits = pd.DataFrame({"read_id": pd.Series(dtype=str),
                                  "read_at": pd.Series(dtype="datetime64[us, UTC]"),
                                  "priority": pd.Series(dtype="int64")})
        self.checks = 0
        self._lock = threading.Lock()

    def screen(self, reads: pd.DataFrame) -> int:
        """Check ``reads`` (one audit record); returns how many new hits they held."""
        from workbench.trajectories import hits

        if reads is None or not len(reads):
            return 0
        found = hits(reads, self.hotlist, user=SYSTEM_USER, role=SYSTEM_ROLE, reason=SCREENING_REASON,
                     include_past=False, audit_log=self.audit_log)
        found = pd.DataFrame({"read_id": found["read_id"].astype(str).to_numpy(),
                              "read_at": pd.to_datetime(found["read_at"], utc=True).to_numpy(),
                              "priority": found["priority"].astype("int64").to_numpy()})
        with self._lock:
            self.checks += 1
            before = len(self.hits)
            merged = pd.concat([self.hits, found], ignore_index=True) if len(self.hits) else found
            self.hits = merged.drop_duplicates("read_id", keep="last").reset_index(drop=True)
            return len(self.hits) - before

    def counts(self, now: pd.Timestamp) -> dict:
        """Hits in the last hour and day before ``now`` (numbers only, for the command role)."""
        times = self.hits["read_at"]
        return {f"Hotlist hits, last {span}": int(((times > now - delta) & (times <= now)).sum())
                for span, delta in (("hour", pd.Timedelta(hours=1)), ("day", pd.Timedelta(days=1)))}


_SCREENS_LOCK = threading.Lock()


def hotlist_screen(workspace) -> HotlistScreen | None:
    """The workspace's one hotlist screen, made (and the reads so far screened) on first use.

    Every session and the live feed share it, so the system checks each read
    once, whoever is looking. None when the workspace has no hotlist.
    """
    if workspace.hotlist is None:
        return None
    with _SCREENS_LOCK:
        screen = getattr(workspace, "_hotlist_screen", None)
        if screen is None:
            screen = HotlistScreen(workspace.hotlist)
            reads = workspace.tables.get("alpr_reads")
            screen.screen(reads)
            object.__setattr__(workspace, "_hotlist_screen", screen)
        return screen


class LiveFeed:
    """Pollers that keep a workspace current.

    Parameters
    ----------
    workspace : Workspace
    config : dict
        A ``workbench poll`` configuration (see :mod:`workbench.live.service`).
    store : workbench.data.Store
        Where the pollers store what they read (the record of truth).

    Attributes
    ----------
    version : int
        Bumped on every stored batch.
    recent : collections.deque
        The latest live rows, newest last: (table, key, time, stored_at).
    """

    def __init__(self, workspace, config: dict, store):
        from workbench.live.service import PollService

        self.workspace = workspace
        self.store = store
        self.service = PollService(config, store)
        self.version = 0
        self.recent = collections.deque(maxlen=50)
        self._feed_stop = threading.Event()
        self._threads = []
        self._subscriptions = [poller.subscribe(self._on_batch) for poller in self.service.pollers]

    def _on_batch(self, batch):
        from workbench.data.schema import table_spec

        self.workspace.append(batch.table, batch.rows)
        if batch.table == "alpr_reads":
            screen = hotlist_screen(self.workspace)
            if screen is not None:
                screen.screen(batch.rows)
        spec = table_spec(batch.table)
        key = spec.key[0] if not isinstance(spec.key, str) else spec.key
        for row in batch.rows[[key, spec.time_column]].itertuples(index=False):
            self.recent.append((batch.table, str(row[0]), row[1], batch.stored_at))
        self.version += 1

    def health(self) -> list:
        """One line per poller (rows stored, errors, lag)."""
        return [f"{poller.name}: {poller.health.summary()}" for poller in self.service.pollers]

    def start(self) -> "LiveFeed":
        for poller in self.service.pollers:
            poller.start()
        return self

    def simulate(self, scenario_tables: dict, folder: Path, speed: float = 60.0) -> None:
        """Replay the scenario into ``folder`` (the feed simulator) in a thread until :meth:`stop`."""
        from workbench.live.feed import DirectoryTarget, Replay, run_feed

        replay = Replay(scenario_tables, speed=speed)
        thread = threading.Thread(target=run_feed, args=(replay, DirectoryTarget(folder)),
                                  kwargs={"tick_s": 1.0, "stop": self._feed_stop}, daemon=True, name="workbench-feed")
        thread.start()
        self._threads.append(thread)
        self.replay_start = replay.start

    def stop(self) -> None:
        self._feed_stop.set()
        for sub in self._subscriptions:
            sub.close()
        for poller in self.service.pollers:
            poller.stop(timeout=10)
        for thread in self._threads:
            thread.join(timeout=10)


def simulated_config(folder: Path, every: str = "1s") -> dict:
    """Directory sources, one per replayed table, under ``folder`` (where the simulator writes)."""
    return {"every": every, "overlap": "60s", "sources": [
        {"name": f"{table}-feed", "table": table,
         "directory": {"path": str(folder / table), "pattern": "*.csv", "settle_s": 0.2}}
        for table in LIVE_TABLES]}


def start_live(workspace, config_path=None, store=None, simulate_from=None) -> LiveFeed:
    """Start live polling into ``workspace``; with no config, replay the sample through the feed simulator.

    Parameters
    ----------
    workspace : Workspace
    config_path : str or Path, optional
        A ``workbench poll`` sources file. Without it the sample is replayed
        (from the start of its ALPR fortnight) into a temporary folder polled
        like a vendor drop; the workspace keeps only what happened before the
        replay start, so the live feed brings the rest.
    store : str or Path, optional
        The DuckDB store the pollers write (default: a temporary file).
    simulate_from : Scenario, optional
        The scenario to replay (default: the sample).

    Returns
    -------
    LiveFeed
        Started; call :meth:`LiveFeed.stop` at shutdown.
    """
    from workbench.data import Store
    from workbench.live.service import load_config

    tmp = Path(tempfile.mkdtemp(prefix="workbench-live-"))
    config = load_config(config_path) if config_path else simulated_config(tmp / "feed")
    for entry in config["sources"]:
        if "directory" in entry:
            Path(entry["directory"]["path"]).mkdir(parents=True, exist_ok=True)
    live = LiveFeed(workspace, config, Store(store or tmp / "live.duckdb"))
    if not config_path:
        from workbench.sample import load_sample

        scenario = simulate_from or load_sample()
        live.simulate({t: scenario.tables[t] for t in LIVE_TABLES}, tmp / "feed")
        workspace.truncate(live.replay_start)
    workspace.live = live
    return live.start()
