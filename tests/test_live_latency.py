"""A record written at the source is in the store within one poll period plus a second (p95, 1,000 records)."""

import threading
import time

import numpy as np
import pandas as pd

import workbench
from workbench.data import Store
from workbench.live import HttpJsonSource, Poller
from workbench.live.feed import HttpTarget, Replay, run_feed

EVERY_S = 0.2


class TimedTarget(HttpTarget):
    """The feed's HTTP target, noting the wall-clock time each record was written."""

    def __init__(self, url):
        super().__init__(url)
        self.written_at = {}

    def write(self, table, frame):
        super().write(table, frame)
        now = time.monotonic()
        self.written_at.update(dict.fromkeys(frame["read_id"], now))


def test_live_reads_reach_the_store_within_poll_period_plus_one_second():
    reads = workbench.load_sample().alpr_reads
    first = 100_000
    span = (reads["read_at"].iloc[first + 1_000] - reads["read_at"].iloc[first]).total_seconds()
    replay = Replay({"alpr_reads": reads.iloc[: first + 1_000]}, start=reads["read_at"].iloc[first - 1],
                    speed=span / 8.0)  # 1,000 reads over about 8 s
    target = TimedTarget("http://127.0.0.1:0")
    store = Store(":memory:")
    poller = Poller(HttpJsonSource(target.server.url("alpr_reads"), key="read_id", updated_col="read_at"),
                    store, "alpr_reads", every=EVERY_S, overlap="30s")
    stored_at = {}
    poller.subscribe(lambda batch: stored_at.update(
        {k: time.monotonic() for k in batch.rows["read_id"] if k not in stored_at}))
    poller.start()
    try:
        feeding = threading.Thread(target=run_feed, args=(replay, target), kwargs={"tick_s": 0.05})
        feeding.start()
        feeding.join(timeout=60)
        deadline = time.monotonic() + 10
        while len(stored_at) < len(target.written_at) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        poller.stop()
        target.close()
    assert len(target.written_at) >= 1_000
    assert set(stored_at) == set(target.written_at)
    latency = np.array([stored_at[k] - target.written_at[k] for k in target.written_at])
    p50, p95 = np.percentile(latency, [50, 95])
    print(f"\nlatency over {len(latency):,} reads, poll every {EVERY_S} s: p50 {p50:.3f} s, p95 {p95:.3f} s, "
          f"max {latency.max():.3f} s")
    assert p95 <= EVERY_S + 1.0
    assert store.count("alpr_reads") == len(target.written_at)
    stored = store.query("alpr_reads").set_index("read_id").sort_index()
    expected = reads.set_index("read_id").loc[stored.index]
    pd.testing.assert_series_equal(stored["read_at"], expected["read_at"])
