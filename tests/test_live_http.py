"""Polling a SODA-style HTTP feed through real sockets: faults, exactly once, quarantine, subscriptions."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import workbench
from workbench.data import Store
from workbench.errors import SourceError
from workbench.live import Backoff, HttpJsonSource, Poller
from workbench.live.http_feed import FeedServer

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def calls():
    return workbench.load_sample().calls


@pytest.fixture
def server():
    srv = FeedServer().start()
    yield srv
    srv.stop()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assert_store_equals_source(store, server, table, key, exclude=()):
    stored = store.query(table).sort_values(key).reset_index(drop=True)
    source = server.table(table)
    source = source[~source[key].isin(list(exclude))].sort_values(key).reset_index(drop=True)
    assert stored[key].tolist() == source[key].tolist()
    pd.testing.assert_frame_equal(stored, source[stored.columns], check_dtype=False)


def drain(poller, server, limit=60):
    """Poll until every queued fault was served and a whole cycle succeeded; return the failures."""
    errors = []
    for _ in range(limit):
        try:
            poller.poll_once()
        except SourceError as exc:
            errors.append(str(exc))
            continue
        if server.faults.pending() == 0:
            return errors
    raise AssertionError(f"poller did not settle; errors: {errors[-3:]}")


def test_poller_survives_every_fault_and_ends_equal_to_the_source(server, calls):
    calls = calls.iloc[:12_000].copy()
    hour_ago = pd.Timestamp.now(tz="UTC") - pd.Timedelta("1h")
    calls["updated_at"] = hour_ago + pd.to_timedelta(np.arange(len(calls)), unit="ms")
    server.upsert("calls", calls.iloc[:8_000])
    server.faults.hang_s = 1.5
    store = Store(":memory:")
    source = HttpJsonSource(server.url("calls"), key="call_id", updated_col="updated_at", page_size=1_000,
                            timeout=0.5)
    poller = Poller(source, store, "calls", overlap="5s", backoff=Backoff(base_s=0.01, cap_s=0.05))

    for kind, times in [("error500", 2), ("hang", 1), ("truncate", 2), ("drop", 1), ("duplicate", 3),
                        ("shuffle", 3)]:
        server.faults.add(kind, times)
    errors = drain(poller, server)
    assert server.faults.pending() == 0
    # new records, late updates to stored rows, and a row committed late with an older timestamp
    server.upsert("calls", calls.iloc[8_000:11_000].assign(updated_at=pd.Timestamp.now(tz="UTC")))
    late = calls.iloc[:500].assign(disposition="arrest made", updated_at=pd.Timestamp.now(tz="UTC"))
    server.upsert("calls", late)
    for kind in ("duplicate", "shuffle", "truncate", "error500"):
        server.faults.add(kind, 2)
    errors += drain(poller, server)
    # committed after the poller stored newer changes, stamped before them (inside the overlap)
    committed_late = calls.iloc[11_000:].assign(updated_at=pd.Timestamp(poller.health.watermark) - pd.Timedelta("2s"))
    server.upsert("calls", committed_late)
    # the source goes away (connection refused), then comes back on the same port
    port = server.port
    server.stop()
    with pytest.raises(SourceError, match="cannot reach"):
        poller.poll_once()
    errors.append("refused")
    server.port = port
    server.start()
    errors += drain(poller, server)

    health = poller.health
    print(f"\nfaults applied: {dict(server.faults.applied)}; failed cycles {len(errors)}; "
          f"health: {health.as_dict()}")
    assert server.faults.applied["duplicate"] == 5 and server.faults.applied["hang"] == 1
    assert health.error_count == len(errors) >= 9  # 4 x 500, hang, 4 x truncate, drop, refused
    assert health.duplicates > 0 and health.rejected == 0
    assert store.count("calls") == len(calls)
    assert_store_equals_source(store, server, "calls", "call_id")
    assert (store.query("calls", where="disposition = 'arrest made'")["call_id"].sort_values().tolist()
            == sorted(late["call_id"]))


def test_replayed_older_version_never_rolls_a_record_back(server, calls):
    rows = calls.iloc[:50].copy()
    rows["updated_at"] = pd.Timestamp.now(tz="UTC") - pd.Timedelta("5s")
    server.upsert("calls", rows)
    store = Store(":memory:")
    poller = Poller(HttpJsonSource(server.url("calls"), key="call_id", updated_col="updated_at"), store, "calls",
                    overlap="60s")
    poller.poll_once()
    newer = rows.iloc[:10].assign(disposition="updated", updated_at=pd.Timestamp.now(tz="UTC"))
    server.upsert("calls", newer)
    poller.poll_once()
    server.upsert("calls", rows.iloc[:10])  # the source replays the old versions (out of order)
    result = poller.poll_once()
    assert result.stale == 10
    stored = store.query("calls", where="disposition = 'updated'")
    assert len(stored) == 10


def test_malformed_rows_are_quarantined_once_and_polling_continues(server, calls):
    rows = calls.iloc[:200].copy()
    rows["updated_at"] = pd.Timestamp.now(tz="UTC")
    rows.loc[rows.index[:3], "lat"] = 95.0
    rows.loc[rows.index[3:5], "call_type"] = None
    server.upsert("calls", rows)
    store = Store(":memory:")
    poller = Poller(HttpJsonSource(server.url("calls"), key="call_id", updated_col="updated_at", page_size=64),
                    store, "calls", overlap="60s")
    first = poller.poll_once()
    assert first.rejected == 5 and store.count("calls") == 195
    reasons = store.quarantine("calls")["reason"].tolist()
    assert sum("lat 95" in r and "out of range" in r for r in reasons) == 3
    assert sum(r == "call_type missing" for r in reasons) == 2
    server.upsert("calls", calls.iloc[200:260].assign(updated_at=pd.Timestamp.now(tz="UTC")))
    second = poller.poll_once()  # re-reads the overlap, malformed rows included
    assert second.inserted == 60
    assert len(store.quarantine("calls")) == 5  # each malformed row quarantined once
    assert_store_equals_source(store, server, "calls", "call_id", exclude=rows["call_id"].iloc[:5])


def test_geojson_and_offset_paging_read_the_same_records(server):
    shots = workbench.load_sample().gunshots
    server.upsert("gunshots", shots)
    a, b = Store(":memory:"), Store(":memory:")
    # a plain GeoJSON document: one request per cycle (SODA's default $limit is 1000, so ask for all)
    Poller(HttpJsonSource(server.url("gunshots", "geojson") + "?$limit=5000", key="alert_id", updated_col="detected_at",
                          paging="none"), a, "gunshots").poll_once()
    Poller(HttpJsonSource(server.url("gunshots"), key="alert_id", updated_col="detected_at", paging="offset",
                          page_size=300), b, "gunshots").poll_once()
    assert a.count("gunshots") == b.count("gunshots") == len(shots)
    pd.testing.assert_frame_equal(a.query("gunshots"), b.query("gunshots"))


def test_soql_where_is_parsed_not_pasted(server):
    server.upsert("gunshots", workbench.load_sample().gunshots.iloc[:20])
    source = HttpJsonSource(server.url("gunshots"), key="alert_id", updated_col="detected_at")
    with pytest.raises(SourceError, match="HTTP 400"):
        source.fetch({"$where": "alert_id = 'x'; DROP TABLE gunshots"})
    got = source.fetch({"$where": "rounds >= 0 AND NOT (alert_id = 'nope') OR rounds IS NULL", "$limit": 5})
    assert len(got) == 5 and server.count("gunshots") == 20


def test_subscribers_get_each_stored_batch_and_a_failing_one_does_not_stop_the_poller(server, calls):
    server.upsert("calls", calls.iloc[:300].assign(updated_at=pd.Timestamp.now(tz="UTC")))
    store = Store(":memory:")
    poller = Poller(HttpJsonSource(server.url("calls"), key="call_id", updated_col="updated_at", page_size=100),
                    store, "calls", every="50ms")
    seen = []
    sub = poller.subscribe(lambda batch: seen.append(batch))
    poller.subscribe(lambda batch: 1 / 0)

    async def consume():
        queue = poller.queue()
        poller.start()
        got = []
        while sum(len(b.rows) for b in got) < 300:
            got.append(await asyncio.wait_for(queue.get(), timeout=10))
        poller.stop()
        return got

    batches = asyncio.run(consume())
    assert sum(b.inserted for b in batches) == 300
    assert sum(b.inserted for b in seen) == 300 and poller.health.state == "stopped"
    sub.close()
    assert poller.subscribers == 2


def test_backoff_grows_with_jitter_while_the_source_refuses_connections():
    store = Store(":memory:")
    poller = Poller(HttpJsonSource(f"http://127.0.0.1:{closed_port()}/resource/calls.json", key="call_id",
                                   updated_col="updated_at"), store, "calls", every="10ms",
                    backoff=Backoff(base_s=0.02, cap_s=0.2, seed=1))
    poller.start()
    deadline = time.monotonic() + 10
    while poller.health.error_count < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    health = poller.health
    assert poller.stop()
    assert health.state == "backing_off" and health.error_count >= 5
    assert "Connection refused" in health.last_error and health.last_success_at is None
    assert 0.1 <= health.retry_in_s <= 0.2  # the delay grew to the cap (attempt >= 3)


def test_kill_9_mid_batch_then_restart_leaves_the_store_equal_to_the_source(tmp_path, calls):
    rows = calls.copy()
    rows["updated_at"] = pd.Timestamp.now(tz="UTC") - pd.to_timedelta(np.arange(len(rows))[::-1], unit="us")
    server = FeedServer().start()
    try:
        server.upsert("calls", rows.iloc[:40_000])
        store_path = tmp_path / "live.duckdb"
        config = tmp_path / "sources.yaml"
        config.write_text(f"store: {store_path}\nevery: 0.1s\noverlap: 120s\nsources:\n"
                          f"  - {{name: cad, table: calls, http: {{url: '{server.url('calls')}', page_size: 4000}}}}\n")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        cmd = [sys.executable, "-m", "workbench", "poll", "--config", str(config), "--verbose"]
        kills = mid_batch = 0
        for round_ in range(3):
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                    cwd=ROOT)
            for line in proc.stdout:
                if "fetched page" in line and (round_ > 0 or "page 3 " in line):
                    break
            proc.send_signal(signal.SIGKILL)
            rest = proc.stdout.read()
            proc.wait()
            kills += 1
            assert proc.returncode == -signal.SIGKILL
            mid_batch += "stored page" not in rest  # killed between fetching a page and committing it
            # the source moves on while the poller is down: new rows and late updates
            server.upsert("calls", rows.iloc[40_000 + round_ * 8_000: 48_000 + round_ * 8_000]
                          .assign(updated_at=pd.Timestamp.now(tz="UTC")))
            server.upsert("calls", rows.iloc[round_ * 100: round_ * 100 + 100]
                          .assign(disposition=f"late {round_}", updated_at=pd.Timestamp.now(tz="UTC")))
        done = subprocess.run([*cmd[:-1], "--once"], capture_output=True, text=True, env=env, cwd=ROOT,
                              timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        with Store(store_path, read_only=True) as store:
            assert store.count("calls") == server.count("calls") == 64_000
            assert_store_equals_source(store, server, "calls", "call_id")
        print(f"\nkill -9 x{kills} ({mid_batch} mid-batch); store == source on {server.count('calls'):,} calls")
        assert mid_batch >= 1
    finally:
        server.stop()
