"""Vendor file drops: a half-written file is never read, each file is ingested once, across restarts."""

import os
import time

import pandas as pd

import workbench
from workbench.data import Store
from workbench.live import DirectorySource, Poller
from workbench.live.feed import DirectoryTarget, Replay, run_feed


def _age(path, seconds=5):
    past = time.time() - seconds
    os.utime(path, (past, past))


def test_half_written_files_wait_and_each_file_is_ingested_once(tmp_path):
    reads = workbench.load_sample().alpr_reads.iloc[:300]
    drops = tmp_path / "drops"
    drops.mkdir()
    reads.iloc[:100].to_csv(drops / "reads-001.csv", index=False)
    _age(drops / "reads-001.csv")
    reads.iloc[100:200].to_csv(drops / "reads-002.csv.part", index=False)  # a temporary name
    _age(drops / "reads-002.csv.part")
    growing = drops / "reads-003.csv"
    text = reads.iloc[200:].to_csv(index=False)
    growing.write_text(text[: len(text) // 2])  # still being written (modified just now)

    store_path = tmp_path / "store.duckdb"
    with Store(store_path) as store:
        poller = Poller(DirectorySource(drops, "*.csv", settle_s=2), store, "alpr_reads")
        first = poller.poll_once()
        assert (first.pages, first.inserted) == (1, 100)
        growing.write_text(text)  # the vendor finishes the file
        _age(growing)
        (drops / "reads-002.csv.part").rename(drops / "reads-002.csv")
        _age(drops / "reads-002.csv")
        second = poller.poll_once()
        assert (second.pages, second.inserted, second.rejected) == (2, 200, 0)
        assert poller.poll_once().pages == 0  # nothing is read twice
    with Store(store_path) as store:  # restart: the ingested files are remembered with the data
        again = Poller(DirectorySource(drops, "*.csv", settle_s=2), store, "alpr_reads").poll_once()
        assert again.pages == 0
        stored = store.query("alpr_reads").sort_values("read_id").reset_index(drop=True)
    expected = reads.sort_values("read_id").reset_index(drop=True)
    assert stored["read_id"].tolist() == expected["read_id"].tolist()
    pd.testing.assert_series_equal(stored["read_at"], expected["read_at"])


def test_malformed_lines_in_a_drop_go_to_quarantine_with_reasons(tmp_path):
    path = tmp_path / "shots.csv"
    path.write_text("alert_id,detected_at,lon,lat\n"
                    "a1,2025-03-01T22:15:00Z,-83.0,39.9\n"
                    "a2,13/45/2025,-83.0,39.9\n"
                    "a3,2025-03-01T22:16:00Z,-83.0,91.2\n"
                    "a4,2025-03-01T22:17:00Z,-83.0\n")
    _age(path)
    store = Store(":memory:")
    result = Poller(DirectorySource(tmp_path, "*.csv"), store, "gunshots").poll_once()
    assert (result.inserted, result.rejected) == (1, 3)
    reasons = " | ".join(store.quarantine("gunshots")["reason"])
    assert "detected_at unparseable: '13/45/2025'" in reasons
    assert "lat 91.2 out of range" in reasons and "lat missing" in reasons


def test_feed_writes_drops_a_poller_ingests_exactly(tmp_path):
    shots = workbench.load_sample().gunshots
    replay = Replay({"gunshots": shots}, start=shots["detected_at"].iloc[0] - pd.Timedelta("1s"),
                    speed=3600 * 24 * 120)
    run_feed(replay, DirectoryTarget(tmp_path), tick_s=0.05, duration_s=1.0)
    files = sorted((tmp_path / "gunshots").glob("*.csv"))
    assert files and not list((tmp_path / "gunshots").glob("*.part"))
    for f in files:
        _age(f)
    store = Store(":memory:")
    result = Poller(DirectorySource(tmp_path / "gunshots", "gunshots-*.csv"), store, "gunshots").poll_once()
    written = sum(len(pd.read_csv(f)) for f in files)
    assert result.pages == len(files) and store.count("gunshots") == written > 0
    stored = store.query("gunshots").set_index("alert_id")
    pd.testing.assert_series_equal(stored["detected_at"], shots.set_index("alert_id").loc[stored.index, "detected_at"])
