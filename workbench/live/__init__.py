"""Live data: poll the agency's systems and keep the store current, exactly once.

- Sources: :class:`SqlSource` (PostgreSQL through SQLAlchemy, DuckDB),
  :class:`HttpJsonSource` (Socrata SODA, JSON arrays, GeoJSON),
  :class:`DirectorySource` (vendor file drops).
- :class:`Poller`: incremental by watermark with an overlap window, upsert by
  key, quarantine, backoff with jitter, health, subscriptions.
- ``workbench feed`` replays a scenario as a live source (:mod:`workbench.live.feed`);
  ``workbench poll --config sources.yaml`` runs pollers as a service
  (:mod:`workbench.live.service`).
"""

from workbench.live.http_source import HttpJsonSource
from workbench.live.poller import Backoff, Poller, PollerHealth, PollResult, parse_period
from workbench.live.sources import DirectorySource, Page, Source, SqlSource
from workbench.live.subscriptions import Broadcaster, LiveBatch, Subscription

__all__ = ["Source", "Page", "SqlSource", "HttpJsonSource", "DirectorySource", "Poller", "PollerHealth",
           "PollResult", "Backoff", "parse_period", "Broadcaster", "LiveBatch", "Subscription"]
