"""The poller: keeps one canonical table of the store current from one live source.

Each cycle reads the pages a source has changed since the persisted watermark
(minus an overlap window for late commits), and for each page, in order:

1. drops re-sent copies inside the page (same key and change time) and older
   versions of a key that also appears newer in the page, counting both;
2. validates: malformed rows go to the store's quarantine with their reasons
   (each such row once, however often an overlap re-reads it) and the poller
   keeps going;
3. skips rows older than the version already stored (a reordered or replayed
   feed never rolls a record back), counting them;
4. upserts the rest by key **and** saves the source position in the same
   transaction, so a crash or ``kill -9`` at any point leaves data and
   watermark consistent: a restart resumes where the last commit stopped and
   re-reads at most the overlap, which the upsert makes harmless.

Errors (source down, timeouts, truncated pages) are counted in :attr:`Poller.health`
and retried with exponential backoff and jitter. Stored batches are published to
subscribers (see :mod:`workbench.live.subscriptions`), so one poller per server
can feed every dashboard session.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
import time
from dataclasses import asdict, dataclass, field

import pandas as pd

from workbench.data.schema import table_spec
from workbench.data.validate import validate
from workbench.errors import SourceError, WorkbenchError
from workbench.live.sources import Page, Source, as_utc
from workbench.live.subscriptions import Broadcaster, LiveBatch

log = logging.getLogger("workbench.live")

_QUARANTINE_MEMORY = 5_000  # fingerprints of quarantined rows kept to avoid re-quarantining overlap re-reads


def parse_period(value, name: str = "every") -> float:
    """Seconds from ``5``, ``"5s"``, ``"200ms"``, ``"2min"`` or a Timedelta.

    Examples
    --------
    >>> parse_period("200ms"), parse_period("2min"), parse_period(1.5)
    (0.2, 120.0, 1.5)
    """
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        try:
            seconds = pd.Timedelta(value).total_seconds()
        except (ValueError, TypeError):
            raise SourceError(f"{name} must be a duration such as '5s' or '200ms', not {value!r}") from None
    if seconds < 0:
        raise SourceError(f"{name} must not be negative, got {value!r}")
    return seconds


@dataclass
class Backoff:
    """Exponential backoff with jitter: attempt ``n`` waits between half and all of ``min(cap, base * 2**n)``.

    Examples
    --------
    >>> b = Backoff(base_s=1, cap_s=8, seed=0)
    >>> all(0.5 <= b.delay(0) <= 1 and 4 <= b.delay(5) <= 8 for _ in range(20))
    True
    """

    base_s: float = 0.5
    cap_s: float = 60.0
    seed: int | None = None

    def __post_init__(self):
        self._random = random.Random(self.seed)

    def delay(self, attempt: int) -> float:
        ceiling = min(self.cap_s, self.base_s * 2 ** min(attempt, 30))
        return ceiling / 2 + self._random.uniform(0, ceiling / 2)


@dataclass
class PollerHealth:
    """What a dashboard shows about a poller.

    Attributes
    ----------
    name, table : str
    state : str
        ``"idle"`` (not started), ``"running"``, ``"backing_off"`` (the last
        cycle failed; retrying after ``retry_in_s``) or ``"stopped"``.
    last_success_at, last_attempt_at : pandas.Timestamp or None
        UTC wall-clock times of the last good cycle and of the last try.
    lag_s : float or None
        Seconds since the last good cycle (how stale the table may be).
    behind_s : float or None
        Seconds between now and the watermark (the latest change stored).
    watermark : str or None
    error_count, consecutive_errors : int
    last_error : str or None
    cycles, pages : int
    inserted, replaced, rejected : int
        Rows stored new, stored over an older version, quarantined.
    duplicates, superseded, stale : int
        Re-sent copies dropped, older versions in the same page dropped,
        rows older than the stored version skipped.
    retry_in_s : float or None
    """

    name: str
    table: str
    state: str = "idle"
    last_success_at: pd.Timestamp | None = None
    last_attempt_at: pd.Timestamp | None = None
    lag_s: float | None = None
    behind_s: float | None = None
    watermark: str | None = None
    error_count: int = 0
    consecutive_errors: int = 0
    last_error: str | None = None
    cycles: int = 0
    pages: int = 0
    inserted: int = 0
    replaced: int = 0
    rejected: int = 0
    duplicates: int = 0
    superseded: int = 0
    stale: int = 0
    retry_in_s: float | None = None

    def as_dict(self) -> dict:
        """Plain values (ISO strings for times), ready for JSON."""
        out = asdict(self)
        for k in ("last_success_at", "last_attempt_at"):
            out[k] = None if out[k] is None else out[k].isoformat()
        return out

    def summary(self) -> str:
        """One line for a log or a status bar."""
        lag = "never" if self.lag_s is None else f"{self.lag_s:.1f} s ago"
        error = f", last error: {self.last_error}" if self.last_error else ""
        return (f"{self.name} -> {self.table}: {self.state}, last success {lag}, {self.inserted:,} new, "
                f"{self.replaced:,} updated, {self.rejected:,} quarantined, {self.error_count} errors{error}")


@dataclass
class PollResult:
    """What one :meth:`Poller.poll_once` stored."""

    pages: int = 0
    rows: int = 0
    inserted: int = 0
    replaced: int = 0
    rejected: int = 0
    duplicates: int = 0
    superseded: int = 0
    stale: int = 0
    batches: list = field(default_factory=list, repr=False)


class Poller:
    """Poll ``source`` into ``store.table`` incrementally, exactly once per record version.

    Parameters
    ----------
    source : Source
        A :class:`~workbench.live.sources.SqlSource`,
        :class:`~workbench.live.http_source.HttpJsonSource` or
        :class:`~workbench.live.sources.DirectorySource`.
    store : workbench.data.Store
        Opened for writing (this process is the store's one writer).
    table : str
        Canonical table to keep current.
    every : str or float
        Poll period (``"5s"``, ``"200ms"``, seconds).
    overlap : str or float
        How far before the watermark each cycle re-reads, for rows committed
        late at the source with an earlier timestamp.
    name : str, optional
        Names the persisted watermark (default: the source's name); two
        pollers on one store need different names.
    backoff : Backoff, optional
    max_pages : int
        Pages per cycle at most (a long backlog is worked off over cycles).

    Examples
    --------
    >>> from workbench.data import Store
    >>> from workbench.live import Poller, DirectorySource
    >>> import tempfile
    >>> drops = tempfile.mkdtemp()
    >>> poller = Poller(DirectorySource(drops, "*.csv"), Store(":memory:"), "gunshots", every="1s")
    >>> poller.poll_once().rows, poller.health.state
    (0, 'idle')
    """

    def __init__(self, source: Source, store, table: str, every="5s", *, overlap="60s", name: str | None = None,
                 backoff: Backoff | None = None, max_pages: int = 100):
        self.spec = table_spec(table)
        self.source = source
        self.store = store
        self.table = self.spec.name
        self.every_s = parse_period(every, "every")
        self.overlap = pd.Timedelta(seconds=parse_period(overlap, "overlap"))
        self.name = name or getattr(source, "name", "source")
        self.backoff = backoff or Backoff()
        self.max_pages = int(max_pages)
        self.meta_key = f"live:{self.name}:{self.table}"
        self._health = PollerHealth(name=self.name, table=self.table)
        self._lock = threading.Lock()
        self._cycle_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._broadcaster = Broadcaster()
        saved = self._load_meta()
        self._health.watermark = (saved.get("state") or {}).get("updated")

    def __repr__(self):
        return f"Poller({self.source!r}, table={self.table!r}, every={self.every_s:g}s)"

    # ------------------------------------------------------------ subscribers
    def subscribe(self, callback):
        """Call ``callback(batch: LiveBatch)`` after each stored page (from the poller's thread).

        Returns a :class:`~workbench.live.subscriptions.Subscription`; call
        its ``close()`` when the dashboard session ends. A callback that raises
        is logged and counted, never stops the poller.
        """
        return self._broadcaster.subscribe(callback)

    def queue(self, loop=None, maxsize: int = 100):
        """An ``asyncio.Queue`` receiving every stored :class:`LiveBatch` (see :meth:`Broadcaster.queue`)."""
        return self._broadcaster.queue(loop=loop, maxsize=maxsize)

    @property
    def subscribers(self) -> int:
        return len(self._broadcaster)

    # ----------------------------------------------------------------- health
    @property
    def health(self) -> PollerHealth:
        """A snapshot of the poller's health (safe to read from any thread)."""
        with self._lock:
            snap = PollerHealth(**{k: getattr(self._health, k) for k in self._health.__dataclass_fields__})
        now = pd.Timestamp.now(tz="UTC")
        if snap.last_success_at is not None:
            snap.lag_s = (now - snap.last_success_at).total_seconds()
        if snap.watermark:
            snap.behind_s = (now - pd.Timestamp(snap.watermark)).total_seconds()
        return snap

    def _update(self, **changes):
        with self._lock:
            for k, v in changes.items():
                setattr(self._health, k, v)

    def _add(self, **increments):
        with self._lock:
            for k, v in increments.items():
                setattr(self._health, k, getattr(self._health, k) + v)

    # ------------------------------------------------------------------ cycle
    def _load_meta(self) -> dict:
        return self.store.get_meta(self.meta_key, None) or {}

    def poll_once(self) -> PollResult:
        """Run one cycle: read every page changed since the watermark and store it.

        Returns
        -------
        PollResult

        Raises
        ------
        SourceError
            When the source fails; pages stored before the failure stay
            stored (with their watermark), so the next cycle resumes after them.
        """
        with self._cycle_lock:
            self._update(last_attempt_at=pd.Timestamp.now(tz="UTC"))
            result = PollResult()
            try:
                meta = self._load_meta()
                state = meta.get("state")
                fingerprints = list(meta.get("quarantined", []))
                for page in self.source.pages(state, table=self.table, overlap=self.overlap):
                    log.info("%s: fetched page %d (%d rows)", self.name, result.pages + 1, len(page.rows))
                    batch, fingerprints = self._store_page(page, fingerprints, result)
                    result.pages += 1
                    log.info("%s: stored page %d (%d new, %d updated, %d quarantined)", self.name, result.pages,
                             batch.inserted, batch.replaced, batch.rejected)
                    if result.pages >= self.max_pages or self._stop.is_set():
                        break
            except WorkbenchError as exc:
                self._failed(exc)
                raise
            except Exception as exc:  # a bug or an unforeseen driver error: count it, keep the thread alive
                log.exception("%s: unexpected error", self.name)
                self._failed(exc)
                raise SourceError(f"{self.name}: unexpected {type(exc).__name__}: {exc}") from exc
            self._update(last_success_at=pd.Timestamp.now(tz="UTC"), consecutive_errors=0, retry_in_s=None,
                         state="running" if self.running else self._health.state)
            self._add(cycles=1)
            return result

    def _failed(self, exc):
        with self._lock:
            self._health.error_count += 1
            self._health.consecutive_errors += 1
            self._health.last_error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__

    def _store_page(self, page: Page, fingerprints: list, totals: PollResult):
        duplicates = superseded = stale = 0
        if page.result is None:
            rows, duplicates, superseded = self._dedupe(page.rows)
            result = validate(rows, self.table, tz=self.source.tz)
        else:
            result = page.result
        result.valid, stale = self._drop_stale(result.valid)
        result.rejected, fingerprints = _new_rejections(result.rejected, fingerprints)
        with self.store.transaction():
            appended = self.store.append(self.table, result, source=page.origin)
            self.store.set_meta(self.meta_key, {"state": page.state, "quarantined": fingerprints})
        batch = LiveBatch(table=self.table, poller=self.name, rows=result.valid, inserted=appended.inserted,
                          replaced=appended.replaced, rejected=appended.rejected,
                          stored_at=pd.Timestamp.now(tz="UTC"), watermark=page.state.get("updated"))
        for k, v in dict(rows=len(page.rows), inserted=appended.inserted, replaced=appended.replaced,
                         rejected=appended.rejected, duplicates=duplicates, superseded=superseded,
                         stale=stale).items():
            setattr(totals, k, getattr(totals, k) + v)
        self._add(pages=1, inserted=appended.inserted, replaced=appended.replaced, rejected=appended.rejected,
                  duplicates=duplicates, superseded=superseded, stale=stale)
        if page.state.get("updated"):
            self._update(watermark=page.state["updated"])
        self._broadcaster.publish(batch)
        return batch, fingerprints

    def _dedupe(self, rows: pd.DataFrame):
        """Drop re-sent copies and older versions of a key within one page (counted, not silent)."""
        key, updated = self.source.key, self.source.updated_col
        if rows.empty or key is None or key not in rows.columns:
            return rows, 0, 0
        rows = rows.reset_index(drop=True)
        keys = rows[key].astype(str)
        if updated and updated in rows.columns:
            times = as_utc(rows[updated], self.source.tz)
            order = pd.DataFrame({"t": times, "k": keys}).sort_values("t", kind="stable", na_position="first").index
            rows, keys, times = rows.loc[order], keys.loc[order], times.loc[order]
            same_version = pd.DataFrame({"k": keys, "t": times}).duplicated(keep="last").to_numpy()
        else:
            same_version = keys.duplicated(keep="last").to_numpy()
        older = keys.duplicated(keep="last").to_numpy() & ~same_version
        keep = ~(same_version | older)
        return rows.loc[keep].reset_index(drop=True), int(same_version.sum()), int(older.sum())

    def _drop_stale(self, valid: pd.DataFrame):
        """Rows older than the version already stored: a replayed or reordered record never rolls back."""
        updated = self.source.updated_col
        key = self.spec.key[0] if len(self.spec.key) == 1 else None
        if (valid.empty or key is None or updated not in self.spec.column_names or updated not in valid.columns
                or updated == self.spec.time_column):  # followed on its event time: append-only, no versions
            return valid, 0
        stored = self.store.sql(
            f'SELECT "{key}" AS k, "{updated}" AS t FROM "{self.table}" WHERE "{key}" IN (SELECT unnest(?))',
            [valid[key].astype(str).tolist()])
        if stored.empty:
            return valid, 0
        current = valid[[key]].merge(stored.rename(columns={"k": key}), on=key, how="left")["t"]
        incoming = valid[updated].reset_index(drop=True)
        stale = (incoming < current.reset_index(drop=True)).fillna(False).to_numpy(dtype=bool)
        if not stale.any():
            return valid, 0
        return valid.loc[~stale].reset_index(drop=True), int(stale.sum())

    # ------------------------------------------------------------- background
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> "Poller":
        """Poll every ``every`` in a background thread until :meth:`stop`."""
        if self.running:
            return self
        self._stop.clear()
        self._update(state="running")
        self._thread = threading.Thread(target=self._run, name=f"poller-{self.name}", daemon=True)
        self._thread.start()
        return self

    def _run(self):
        attempt = 0
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.poll_once()
                attempt = 0
                self._update(state="running")
                wait = max(0.0, self.every_s - (time.monotonic() - started))
            except WorkbenchError as exc:
                wait = self.backoff.delay(attempt)
                attempt += 1
                log.warning("%s: %s; retrying in %.1f s", self.name, exc, wait)
                self._update(state="backing_off", retry_in_s=wait)
            self._stop.wait(wait)
        self._update(state="stopped", retry_in_s=None)

    def stop(self, timeout: float | None = 30.0) -> bool:
        """Stop after the page being stored; returns True when the thread has ended."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                return False
            self._thread = None
        self._update(state="stopped")
        self.source.close()
        return True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def _new_rejections(rejected: pd.DataFrame, fingerprints: list):
    """Keep rejected rows not quarantined before (overlap re-reads repeat them); remember the new ones."""
    if rejected is None or rejected.empty:
        return rejected, fingerprints
    cells = rejected.drop(columns=["source_row"], errors="ignore")
    prints = [hashlib.sha1(json.dumps(rec, sort_keys=True, default=str).encode()).hexdigest()[:16]
              for rec in cells.to_dict("records")]
    seen = set(fingerprints)
    fresh = [p not in seen for p in prints]
    kept = rejected.loc[fresh].reset_index(drop=True)
    added = [p for p, f in zip(prints, fresh) if f]
    return kept, (fingerprints + list(dict.fromkeys(added)))[-_QUARANTINE_MEMORY:]


__all__ = ["Poller", "PollerHealth", "PollResult", "Backoff", "parse_period"]
