"""The DuckDB store: upsert by key, atomic batches, queries, Parquet, quarantine, versioning."""

import os
import signal
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pandas as pd
import pytest

from workbench.data import Store, read_table
from workbench.data.store import SCHEMA_VERSION
from workbench.errors import StoreError


def make_incidents(n, start=0, offense="burglary"):
    ids = [f"i{k}" for k in range(start, start + n)]
    when = pd.Timestamp("2025-01-01T00:00Z") + pd.to_timedelta(np.arange(start, start + n), unit="h")
    return pd.DataFrame({"incident_id": ids, "occurred_at": when, "offense": offense,
                         "lon": -84.5 + np.arange(start, start + n) * 1e-3, "lat": 39.1})


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "test.duckdb") as s:
        yield s


def snapshot(store, table="incidents"):
    return store.query(table).sort_values(list(store.query(table).columns[:1])).reset_index(drop=True)


def test_loading_the_same_file_twice_leaves_one_copy(tmp_path, store, spd_alpr_path):
    result = read_table(spd_alpr_path, profile="spd-alpr")
    first = store.append("alpr_reads", result, source="spd")
    second = store.append("alpr_reads", read_table(spd_alpr_path, profile="spd-alpr"), source="spd")
    assert first.inserted == 93_490 and first.replaced == 0
    assert second.inserted == 0 and second.replaced == 93_490
    assert store.count("alpr_reads") == 93_490
    assert len(store.loads()) == 2


def test_upsert_replaces_rows_with_the_same_key(store):
    store.append("incidents", make_incidents(5))
    changed = make_incidents(2, start=3, offense="robbery")  # i3, i4 updated; i5 new
    changed = pd.concat([changed, make_incidents(1, start=5)])
    res = store.append("incidents", changed)
    assert (res.inserted, res.replaced) == (1, 2)
    stored = store.query("incidents").set_index("incident_id")
    assert len(stored) == 6
    assert stored.loc["i3", "offense"] == "robbery" and stored.loc["i0", "offense"] == "burglary"


def test_rejected_rows_go_to_the_quarantine_with_reasons(store):
    rows = make_incidents(3).astype({"lat": object})
    rows.loc[1, "lat"] = 123.0
    res = store.append("incidents", rows, source="feed-x")
    assert (res.inserted, res.rejected) == (2, 1)
    q = store.quarantine("incidents")
    assert q["reason"].str.startswith("lat 123 out of range [-90, 90]").tolist() == [True]
    assert q.loc[0, "source"] == "feed-x" and q.loc[0, "source_row"] == 2
    assert '"incident_id": "i1"' in q.loc[0, "row_json"]


def test_a_batch_that_fails_halfway_leaves_the_store_unchanged(store):
    store.append("incidents", make_incidents(10))
    store.append("cases", pd.DataFrame({"case_id": ["c0"], "incident_id": ["i0"],
                                        "opened_at": ["2025-01-01T00:00Z"]}))
    before_incidents, before_cases = snapshot(store), snapshot(store, "cases")
    with pytest.raises(RuntimeError, match="disk gone"):
        with store.transaction():
            store.append("incidents", make_incidents(10, start=5, offense="arson"))  # 5 replaced, 5 new
            store.append("cases", pd.DataFrame({"case_id": ["c1"], "incident_id": ["i12"],
                                                "opened_at": ["2025-01-02T00:00Z"]}))
            raise RuntimeError("disk gone")
    pd.testing.assert_frame_equal(snapshot(store), before_incidents)
    pd.testing.assert_frame_equal(snapshot(store, "cases"), before_cases)
    assert len(store.loads()) == 2  # the failed batch left no load record either


def test_a_writer_killed_mid_batch_leaves_the_store_as_it_was(tmp_path):
    path = tmp_path / "killed.duckdb"
    with Store(path) as s:
        s.append("incidents", make_incidents(100))
        before = snapshot(s)
    script = textwrap.dedent(f"""
        import sys, time
        import numpy as np, pandas as pd
        sys.path.insert(0, {os.getcwd()!r})
        from workbench.data import Store
        from tests.test_data_store import make_incidents
        store = Store({str(path)!r})
        with store.transaction():
            store.append("incidents", make_incidents(100, start=50, offense="arson"))
            print("halfway", flush=True)
            time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            cwd=os.getcwd())
    try:
        assert proc.stdout.readline().strip() == "halfway"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    with Store(path) as s:
        pd.testing.assert_frame_equal(snapshot(s), before)
        assert s.count("incidents") == 100


def test_query_by_time_window_box_and_condition(store):
    store.append("incidents", make_incidents(48))
    day2 = store.query("incidents", start="2025-01-02", end="2025-01-03")
    assert len(day2) == 24 and day2["occurred_at"].min() == pd.Timestamp("2025-01-02T00:00Z")
    assert day2["occurred_at"].is_monotonic_increasing
    boxed = store.query("incidents", bbox=(-84.5005, 39.0, -84.4895, 39.2))  # i0 .. i10
    assert sorted(boxed["incident_id"]) == sorted(f"i{k}" for k in range(11))
    picked = store.query("incidents", where="incident_id IN (?, ?)", params=["i3", "i7"], columns=["incident_id"])
    assert picked["incident_id"].tolist() == ["i3", "i7"]
    assert str(day2["occurred_at"].dtype) == "datetime64[us, UTC]"


def test_bbox_on_camera_reads_uses_the_camera_position(store):
    store.append("cameras", pd.DataFrame({"camera_id": ["in", "out"], "kind": "alpr",
                                          "lon": [-84.50, -80.0], "lat": [39.10, 30.0]}))
    store.append("alpr_reads", pd.DataFrame({"read_id": ["r1", "r2", "r3"], "plate": ["A1", "B2", "C3"],
                                             "read_at": ["2025-01-01T00:00Z"] * 3,
                                             "camera_id": ["in", "out", None],
                                             "lon": [None, None, -84.51], "lat": [None, None, 39.11]}))
    got = store.query("alpr_reads", bbox=(-84.6, 39.0, -84.4, 39.2))
    assert sorted(got["read_id"]) == ["r1", "r3"]


def test_parquet_export_and_import_round_trip(tmp_path, store):
    store.append("incidents", make_incidents(30))
    out = store.export_parquet("incidents", tmp_path / "incidents.parquet")
    with Store(tmp_path / "other.duckdb") as other:
        res = other.import_parquet("incidents", out, batch_rows=7)  # several batches, one transaction
        assert res.inserted == 30
        pd.testing.assert_frame_equal(snapshot(other), snapshot(store))


def test_schema_version_is_recorded_and_a_newer_store_is_refused(tmp_path):
    path = tmp_path / "v.duckdb"
    with Store(path) as s:
        assert s.schema_version == SCHEMA_VERSION
        s._con.execute("INSERT INTO _schema_version VALUES (?, now(), 'from the future')", [SCHEMA_VERSION + 1])
    with pytest.raises(StoreError, match="newer than this workbench"):
        Store(path)


def test_one_writer_at_a_time_and_read_only_refuses_writes(tmp_path):
    path = tmp_path / "lock.duckdb"
    with Store(path) as s:
        s.append("incidents", make_incidents(3))
    with Store(path, read_only=True) as reader:
        assert reader.count("incidents") == 3
        with pytest.raises(StoreError, match="read-only"):
            reader.append("incidents", make_incidents(1, start=9))
    writer = Store(path)
    try:
        script = (f"import sys; sys.path.insert(0, {os.getcwd()!r})\n"
                  "from workbench.data import Store\n"
                  f"Store({str(path)!r}, read_only=True)")
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
        assert proc.returncode != 0 and "open for writing in another process" in proc.stderr
    finally:
        writer.close()


def test_threads_read_while_one_writes(store):
    store.append("incidents", make_incidents(200))
    errors, counts = [], []

    def reader():
        try:
            for _ in range(20):
                counts.append(len(store.query("incidents", start="2025-01-01")))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    for k in range(10):
        store.append("incidents", make_incidents(10, start=200 + 10 * k))
    for t in threads:
        t.join()
    assert not errors
    assert min(counts) >= 200 and max(counts) <= 300
    assert store.count("incidents") == 300


def test_meta_values_survive_reopening(tmp_path):
    path = tmp_path / "meta.duckdb"
    with Store(path) as s:
        s.set_meta("poller:calls", {"watermark": "2025-01-01T00:00:00Z"})
    with Store(path) as s:
        assert s.get_meta("poller:calls") == {"watermark": "2025-01-01T00:00:00Z"}
        assert s.get_meta("absent", default=0) == 0
