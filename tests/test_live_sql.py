"""Polling a database: a private PostgreSQL server (Debian's package) and DuckDB files."""

import socket

import duckdb
import numpy as np
import pandas as pd
import pytest

import workbench
from tests.conftest import require
from tests.pg_server import PostgresServer, find_binaries
from workbench.data import Store
from workbench.errors import SourceError
from workbench.live import Poller, SqlSource
from workbench.live.feed import Replay, SqlTarget, run_feed

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def postgres_url():
    bin_dir = find_binaries()
    require(bin_dir is not None, "PostgreSQL server binaries not found (apt-get install postgresql)")
    try:
        import psycopg  # noqa: F401
        import sqlalchemy  # noqa: F401
    except ImportError:
        require(False, "the postgres extra is not installed (pip install -e '.[postgres]')")
    server = PostgresServer(bin_dir).start()
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
def scenario():
    return workbench.load_sample()


def source_table(url, table, key):
    import psycopg

    with psycopg.connect(url) as con:
        cur = con.execute(f'SELECT * FROM "{table}" ORDER BY "{key}"')
        names = [d[0] for d in cur.description]
        frame = pd.DataFrame(cur.fetchall(), columns=names)
    return frame


def test_postgres_poller_follows_inserts_and_late_updates_exactly_once(postgres_url, scenario):
    cases = scenario.cases.iloc[:5_000]
    replay = Replay({"cases": cases}, start=cases["opened_at"].min(), speed=1e9, backfill=True)
    target = SqlTarget(postgres_url)
    store = Store(":memory:")
    poller = Poller(SqlSource(postgres_url, "cases", key="case_id", updated_col="updated_at", page_size=700),
                    store, "cases", overlap="30s")
    first = replay.release(cases["opened_at"].min() + pd.Timedelta("60D"))["cases"]
    target.write("cases", first.assign(updated_at=pd.Timestamp.now(tz="UTC")))
    poller.poll_once()
    rest = replay.release(cases["cleared_at"].max() + pd.Timedelta("1D"))["cases"]
    rest = rest.assign(updated_at=pd.Timestamp.now(tz="UTC"))
    target.write("cases", rest.iloc[: len(rest) // 2])
    poller.poll_once()
    target.write("cases", rest.iloc[len(rest) // 2:])
    result = poller.poll_once()
    target.close()
    stored = store.query("cases").sort_values("case_id").reset_index(drop=True)
    source = source_table(postgres_url, "cases", "case_id")
    assert stored["case_id"].tolist() == source["case_id"].tolist() == sorted(cases["case_id"])
    # the final state is the scenario's: clearances that came as late updates are there
    expected = cases.sort_values("case_id").reset_index(drop=True)
    pd.testing.assert_series_equal(stored["cleared_at"], expected["cleared_at"], check_names=False)
    assert stored["clearance_type"].tolist() == expected["clearance_type"].tolist()
    assert poller.health.replaced > 0 and result.pages >= 1 and poller.health.error_count == 0


def test_postgres_malformed_rows_go_to_quarantine_and_watermark_survives_restart(postgres_url, scenario, tmp_path):
    import psycopg

    shots = scenario.gunshots.iloc[:400].copy()
    shots.loc[shots.index[:4], "lat"] = 123.0
    shots.loc[shots.index[4:6], "confidence"] = 7.5
    target = SqlTarget(postgres_url)
    target.write("gunshots", shots)
    path = tmp_path / "store.duckdb"
    with Store(path) as store:
        poller = Poller(SqlSource(postgres_url, "gunshots", key="alert_id", updated_col="detected_at",
                                  page_size=150), store, "gunshots", overlap="0s")
        result = poller.poll_once()
        assert (result.inserted, result.rejected) == (394, 6)
        reasons = store.quarantine("gunshots")["reason"]
        assert reasons.str.contains("lat 123").sum() == 4 and reasons.str.contains("confidence").sum() == 2
    more = scenario.gunshots.iloc[400:450]
    target.write("gunshots", more)
    with psycopg.connect(postgres_url, autocommit=True) as con:  # an edit to a row already read: not re-read
        con.execute("UPDATE gunshots SET rounds = 99 WHERE alert_id = %s", [shots["alert_id"].iloc[10]])
    with Store(path) as store:  # a new process: resumes from the persisted watermark
        poller = Poller(SqlSource(postgres_url, "gunshots", key="alert_id", updated_col="detected_at"),
                        store, "gunshots", overlap="0s")
        assert poller.health.watermark is not None
        result = poller.poll_once()
        assert result.inserted == 50 and result.rows <= 51
        assert store.count("gunshots") == 444
    target.close()


def test_postgres_down_is_a_plain_source_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    source = SqlSource(f"postgresql://rtcc@127.0.0.1:{port}/cad", "calls", key="call_id", updated_col="updated_at",
                       timeout=2)
    poller = Poller(source, Store(":memory:"), "calls")
    with pytest.raises(SourceError, match="cannot reach postgresql://rtcc@127.0.0.1"):
        poller.poll_once()
    assert poller.health.error_count == 1


def test_duckdb_source_reads_a_file_another_writer_updates(tmp_path, scenario):
    path = tmp_path / "cad.duckdb"
    calls = scenario.calls.iloc[:3_000].copy()
    calls["updated_at"] = pd.Timestamp("2025-06-01", tz="UTC") + pd.to_timedelta(np.arange(3_000), unit="s")
    target = SqlTarget(f"duckdb:{path}")
    target.write("calls", calls.iloc[:2_000])
    store = Store(":memory:")
    poller = Poller(SqlSource(f"duckdb:///{path}", "calls", key="call_id", updated_col="updated_at",
                              page_size=512), store, "calls", overlap="10min")
    assert poller.poll_once().inserted == 2_000
    target.write("calls", calls.iloc[2_000:])
    target.write("calls", calls.iloc[:5].assign(priority=1, updated_at=pd.Timestamp("2025-07-01", tz="UTC")))
    result = poller.poll_once()
    assert result.inserted == 1_000
    con = duckdb.connect(str(path), read_only=True)
    source = con.sql("SELECT * FROM calls ORDER BY call_id").to_arrow_table().to_pandas()
    con.close()
    stored = store.query("calls").sort_values("call_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(stored, source[stored.columns], check_dtype=False)


def test_feed_replays_into_postgres_at_speed(postgres_url, scenario):
    shots = scenario.gunshots
    start = shots["detected_at"].iloc[100]
    replay = Replay({"gunshots": shots}, start=start, speed=3600 * 24 * 20)  # 20 days per second
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as con:
        con.execute("CREATE DATABASE replay")
    target = SqlTarget(postgres_url.rsplit("/", 1)[0] + "/replay")
    stats = run_feed(replay, target, tick_s=0.05, duration_s=0.5)
    target.close()
    assert stats.ticks >= 3
    expected = ((shots["detected_at"] > start)
                & (shots["detected_at"] <= start + pd.Timedelta(days=20 * stats.seconds))).sum()
    assert abs(stats.rows["gunshots"] - expected) <= 5 and stats.rows["gunshots"] > 0
