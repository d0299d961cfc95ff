"""Subscriptions: one poller per server, every dashboard session told of each stored batch.

A session subscribes a callback (called from the poller's thread, so it must
be quick and thread-safe: schedule the UI update, e.g. with
``pn.state.execute`` or ``doc.add_next_tick_callback``) or takes an
``asyncio.Queue`` bound to its event loop, and closes the subscription when the
session ends (``pn.state.on_session_destroyed``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass

import pandas as pd

log = logging.getLogger("workbench.live")


@dataclass
class LiveBatch:
    """One page a poller stored.

    Attributes
    ----------
    table, poller : str
    rows : pandas.DataFrame
        The stored rows (canonical columns and dtypes), new and updated.
    inserted, replaced, rejected : int
    stored_at : pandas.Timestamp
        UTC wall-clock time of the commit.
    watermark : str or None
        The latest change stored so far.
    """

    table: str
    poller: str
    rows: pd.DataFrame
    inserted: int
    replaced: int
    rejected: int
    stored_at: pd.Timestamp
    watermark: str | None = None


class Subscription:
    """A handle on one subscriber; :meth:`close` stops deliveries (idempotent)."""

    def __init__(self, broadcaster: "Broadcaster", callback):
        self._broadcaster = broadcaster
        self.callback = callback
        self.errors = 0
        self.closed = False

    def close(self):
        self._broadcaster._remove(self)
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Broadcaster:
    """Thread-safe fan-out of :class:`LiveBatch` objects to callbacks and asyncio queues.

    Examples
    --------
    >>> hub = Broadcaster()
    >>> seen = []
    >>> sub = hub.subscribe(lambda batch: seen.append(batch))
    >>> hub.publish("batch 1"); sub.close(); hub.publish("batch 2")
    >>> seen
    ['batch 1']
    """

    def __init__(self):
        self._subscribers: list[Subscription] = []
        self._lock = threading.Lock()

    def __len__(self):
        with self._lock:
            return len(self._subscribers)

    def subscribe(self, callback) -> Subscription:
        """Deliver every published batch to ``callback(batch)`` until the subscription is closed."""
        if not callable(callback):
            raise TypeError(f"callback must be callable, got {type(callback).__name__}")
        sub = Subscription(self, callback)
        with self._lock:
            self._subscribers.append(sub)
        return sub

    def queue(self, loop: asyncio.AbstractEventLoop | None = None, maxsize: int = 100):
        """An ``asyncio.Queue`` on ``loop`` (default: the running loop) fed with every batch.

        When a slow consumer lets it fill up, the oldest batch is dropped (a
        dashboard re-queries the store anyway) and counted in ``queue.dropped``.
        Close with ``queue.subscription.close()``.
        """
        loop = loop or asyncio.get_running_loop()
        q: asyncio.Queue = asyncio.Queue(maxsize=maxsize)
        q.dropped = 0

        def put(batch):
            if q.full():
                q.get_nowait()
                q.dropped += 1
            q.put_nowait(batch)

        def deliver(batch):
            if not loop.is_closed():
                loop.call_soon_threadsafe(put, batch)

        q.subscription = self.subscribe(deliver)
        return q

    def publish(self, batch):
        """Hand ``batch`` to every subscriber; a failing subscriber is logged and counted, not fatal."""
        with self._lock:
            subscribers = list(self._subscribers)
        for sub in subscribers:
            try:
                sub.callback(batch)
            except Exception:
                sub.errors += 1
                log.exception("live subscriber %r failed", sub.callback)

    def _remove(self, sub: Subscription):
        with self._lock:
            if sub in self._subscribers:
                self._subscribers.remove(sub)


__all__ = ["Broadcaster", "Subscription", "LiveBatch"]
