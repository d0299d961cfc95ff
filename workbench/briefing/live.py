"""Briefing each new priority call as the live poller stores it.

:class:`BriefingService` subscribes to the pollers
(:meth:`workbench.live.Poller.subscribe`). When a batch of calls arrives it
briefs each priority call it has not seen before, keeps the latest briefings
newest first and bumps :attr:`BriefingService.version`, which a dashboard
watches with a cheap periodic check. Once a day of data (by default) it
refits the :class:`~workbench.briefing.BriefingContext`, so the hot spot map
stays current. Briefings are issued by the RTCC itself: the hotlist check in
each runs as ``rtcc-system`` (role ``system``) with the reason "call briefing",
and is audited like any check.
"""

from __future__ import annotations

import collections
import logging
import threading

import pandas as pd

from workbench.briefing.brief import brief
from workbench.briefing.context import BriefingContext

log = logging.getLogger("workbench.briefing")

SYSTEM_USER = "rtcc-system"
SYSTEM_ROLE = "system"
BRIEFING_REASON = "call briefing"
#: Tables a mirrored store copies from the live batches (what a briefing reads).
MIRRORED = ("calls", "incidents", "gunshots", "alpr_reads", "cameras")


class BriefingService:
    """Briefs every new priority call a poller stores.

    Parameters
    ----------
    store : workbench.data.Store
        Where briefings read history (the pollers' store, or a copy; see ``mirror``).
    context : BriefingContext
        Fitted; refitted from ``store`` every ``refresh_every`` of call time.
    priorities : tuple of int
        Call priorities briefed (1 most urgent).
    mirror : bool
        Append each live batch to ``store`` too (when the pollers write elsewhere).
    keep : int
        Briefings kept, newest first.
    refresh_every : str
        Call-time interval between refits of the context.
    brief_options : dict, optional
        Passed to :func:`~workbench.briefing.brief` (radii, windows, ``tz``).

    Attributes
    ----------
    briefings : collections.deque of Briefing
        Newest first.
    version : int
        Bumped whenever a briefing is added.

    Examples
    --------
    >>> service = BriefingService(store, context).watch(poll_service.pollers)   # doctest: +SKIP
    >>> service.briefings[0].summary                                             # doctest: +SKIP
    """

    def __init__(self, store, context: BriefingContext, *, priorities=(1,), mirror: bool = False, keep: int = 20,
                 refresh_every: str = "1D", brief_options: dict | None = None, audit_log=None):
        self.store = store
        self.context = context
        self.priorities = tuple(int(p) for p in priorities)
        self.mirror = mirror
        self.briefings = collections.deque(maxlen=keep)
        self.version = 0
        self.refresh_every = pd.Timedelta(refresh_every)
        self.brief_options = dict(brief_options or {})
        self.audit_log = audit_log
        self.errors = 0
        self._seen = set()
        self._subscriptions = []
        self._lock = threading.RLock()

    def watch(self, pollers) -> "BriefingService":
        """Subscribe to each poller's stored batches; returns ``self``."""
        for poller in pollers:
            self._subscriptions.append(poller.subscribe(self.on_batch))
        return self

    def mark_seen(self, call_ids) -> None:
        """Calls already known (history): later updates of them are not new calls."""
        with self._lock:
            self._seen.update(str(c) for c in call_ids)

    def on_batch(self, batch) -> list:
        """Handle one stored batch (a :class:`workbench.live.LiveBatch`); returns the new briefings."""
        with self._lock:
            made = self.brief_new(batch.rows) if batch.table == "calls" and len(batch.rows) else []
            # Mirrored after briefing: a call's own row is never part of its briefing, and units wait less.
            if self.mirror and batch.table in MIRRORED and len(batch.rows):
                self.store.append(batch.table, batch.rows, source=f"live:{batch.poller}")
            return made

    def brief_new(self, calls: pd.DataFrame) -> list:
        """Brief the priority calls in ``calls`` not seen before, oldest first."""
        with self._lock:
            priority = pd.to_numeric(calls["priority"], errors="coerce")
            new = calls[priority.isin(self.priorities).to_numpy(bool)
                        & ~calls["call_id"].astype(str).isin(self._seen).to_numpy(bool)]
            made = []
            for _, call in new.sort_values("received_at").iterrows():  # new priority calls are few per batch
                self._seen.add(str(call["call_id"]))
                try:
                    self._maybe_refresh(call["received_at"])
                    made.append(brief(call, self.store, self.context, user=SYSTEM_USER, role=SYSTEM_ROLE,
                                      reason=BRIEFING_REASON, audit_log=self.audit_log, **self.brief_options))
                except Exception:  # one bad call must not stop the briefings of the next
                    self.errors += 1
                    log.exception("briefing of call %s failed", call.get("call_id"))
            for b in made:
                self.briefings.appendleft(b)
            if made:
                self.version += 1
            return made

    def _maybe_refresh(self, at):
        at = pd.Timestamp(at)
        if at - self.context.as_of_ >= self.refresh_every:
            self.context.fit(self.store, as_of=at)

    def close(self) -> None:
        """Stop following the pollers."""
        for sub in self._subscriptions:
            sub.close()
        self._subscriptions = []


_SERVICES_LOCK = threading.Lock()


def workspace_service(workspace) -> BriefingService | None:
    """The one briefing service of a dashboard workspace that follows a live feed (None without one).

    The workspace's tables are copied once into an in-memory store (the
    pollers' own store holds only what arrived live), the context is fitted
    on it, and the service mirrors every live batch into it. Every session
    shares the service.

    Parameters
    ----------
    workspace : workbench.ui.data.Workspace
        With ``live`` set (a :class:`workbench.ui.live.LiveFeed`).
    """
    from workbench.data import Store

    live = getattr(workspace, "live", None)
    if live is None:
        return None
    with _SERVICES_LOCK:
        service = getattr(workspace, "_briefing_service", None)
        if service is not None:
            return service
        store = Store(":memory:")
        context = BriefingContext(roads=workspace.roads, hotlist=workspace.hotlist)
        service = BriefingService(store, context, mirror=True, brief_options={"tz": workspace.tz})
        with service._lock:  # batches arriving while the history is copied wait, then apply on top
            service.watch(live.service.pollers)
            for name in MIRRORED:
                frame = workspace.tables.get(name)
                if frame is not None and len(frame):
                    store.append(name, frame, source="workspace")
            calls = workspace.tables.get("calls")
            if calls is not None:
                service.mark_seen(calls["call_id"])
            context.fit(store)
        object.__setattr__(workspace, "_briefing_service", service)
        return service
