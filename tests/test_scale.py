"""Beyond one machine: the dask paths give the in-memory results on the sample, on a 2-worker LocalCluster."""

import warnings

import numpy as np
import pandas as pd
import pytest

import workbench
from workbench.data import Store
from workbench.errors import AuditError, TrajectoryError, WorkbenchError
from workbench.governance.audit import AuditLog
from workbench.hotspots import HotspotWarning, emerging, gistar, grid_counts, kde
from workbench.scale import (connect, convoys, export_partitioned, plate_bucket, read_partitioned, reconstruct,
                             search, vehicles_near, write_partitioned)
from workbench.trajectories import convoys as convoys_in_memory
from workbench.trajectories import reconstruct as reconstruct_in_memory
from workbench.trajectories import search as search_in_memory
from workbench.trajectories import vehicles_near as near_in_memory

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

WHO = dict(user="jdoe", role="investigator", reason="robbery follow-up", case_number="25-000123")


@pytest.fixture(scope="module")
def cluster():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        local = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, memory_limit="3GB",
                                         dashboard_address=None)
    client = distributed.Client(local)
    yield client
    client.close()
    local.close()


@pytest.fixture(scope="module")
def sample():
    return workbench.load_sample()


@pytest.fixture(scope="module")
def layout(sample, tmp_path_factory):
    root = tmp_path_factory.mktemp("layout")
    write_partitioned(sample.alpr_reads, root, "alpr_reads", n_buckets=8)
    write_partitioned(sample.incidents, root, "incidents")
    return root


@pytest.fixture()
def log(tmp_path):
    return AuditLog(tmp_path / "audit.jsonl")


def _canonical(trips):
    """Trips, reads and legs with trip ids renumbered in (plate, start) order."""
    t = trips.trips.sort_values(["plate", "start"], kind="stable").reset_index(drop=True)
    ids = pd.Series(np.arange(len(t)), index=t["trip_id"].to_numpy())
    t["trip_id"] = np.arange(len(t))
    reads = trips.reads.assign(trip_id=ids.reindex(trips.reads["trip_id"]).to_numpy())
    legs = trips.legs.assign(trip_id=ids.reindex(trips.legs["trip_id"]).to_numpy())
    return (t, reads.sort_values("read_id", ignore_index=True),
            legs.sort_values(["from_read_id", "to_read_id"], ignore_index=True))


# -- layout ------------------------------------------------------------------------------------

def test_plate_bucket_is_a_fixed_hash_the_same_in_every_process():
    # FNV-1a 32 of the UTF-8 bytes: part of the on-disk layout, so it must never change
    plates = ["ABC1234", "XYZ9", "ÉTÉ1", "A"]
    assert plate_bucket(plates, 4096).tolist() == [_fnv(p) % 4096 for p in plates]
    assert plate_bucket(["ABC1234", "XYZ9"], 64).tolist() == [3, 59]  # as the docstring shows
    assert plate_bucket(pd.Series(["XYZ9", None]), 64).tolist() == [_fnv("XYZ9") % 64, 0]


def _fnv(text):
    h = 2166136261
    for byte in text.encode():
        h = ((h ^ byte) * 16777619) % 2**32
    return h


def test_layout_puts_every_read_of_a_plate_in_one_bucket_and_keeps_all_rows(sample, layout):
    files = sorted((layout / "alpr_reads").glob("date=*/bucket=*/part-*.parquet"))
    assert files and all(f.parent.parent.name[5:15] == f.parent.parent.name[5:] for f in files)
    by_bucket = read_partitioned(layout, by="bucket")
    assert by_bucket.npartitions == 8 and by_bucket.known_divisions
    parts = [p.compute() for p in by_bucket.to_delayed()]
    assert sum(map(len, parts)) == len(sample.alpr_reads)
    plate_sets = [set(p["plate"]) for p in parts]
    assert sum(map(len, plate_sets)) == len(set().union(*plate_sets))  # no plate in two buckets
    by_date = read_partitioned(layout, by="date", start="2025-12-20", end="2025-12-21").compute()
    assert set(by_date["read_at"].dt.strftime("%Y-%m-%d")) == {"2025-12-20", "2025-12-21"}
    assert by_date["read_at"].is_monotonic_increasing


def test_export_partitioned_from_the_store_streams_every_row(sample, tmp_path):
    with Store(tmp_path / "rtcc.duckdb") as store:
        store.append("alpr_reads", sample.alpr_reads.head(20_000))
        done = export_partitioned(store, "alpr_reads", tmp_path / "lake", n_buckets=4, batch_rows=7_000)
        with pytest.raises(WorkbenchError, match="exists"):
            export_partitioned(store, "alpr_reads", tmp_path / "lake")
    back = read_partitioned(tmp_path / "lake", by="bucket").compute()
    assert done["rows"] == len(back) == 20_000
    assert set(back["read_id"]) == set(sample.alpr_reads["read_id"].head(20_000))


def test_appending_with_another_bucket_count_is_refused(sample, tmp_path):
    write_partitioned(sample.alpr_reads.head(100), tmp_path, "alpr_reads", n_buckets=8)
    with pytest.raises(WorkbenchError, match="n_buckets"):
        write_partitioned(sample.alpr_reads.head(100), tmp_path, "alpr_reads", n_buckets=16)


def test_connect_reads_the_scheduler_address_from_the_environment(cluster, monkeypatch):
    monkeypatch.setenv("WORKBENCH_SCHEDULER", cluster.scheduler.address)
    with connect() as client:
        assert client.scheduler.address == cluster.scheduler.address
        assert len(client.scheduler_info()["workers"]) == 2
    with pytest.raises(WorkbenchError, match="number of workers"):
        connect(2.5)


# -- hotspots ----------------------------------------------------------------------------------

def _same_grid(a, b):
    np.testing.assert_allclose(b.values, a.values, rtol=1e-12, atol=1e-12 * float(np.abs(a.values).max()))
    assert list(a.attrs) == list(b.attrs)
    for key, value in a.attrs.items():
        if isinstance(value, float):
            assert b.attrs[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key
        else:
            assert b.attrs[key] == value, key


def test_grid_counts_and_kde_on_dask_equal_pandas(sample, cluster, layout):
    incidents = sample.incidents
    lake = read_partitioned(layout, "incidents")  # one partition a day
    assert lake.npartitions > 10
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HotspotWarning)
        _same_grid(grid_counts(incidents, 150), grid_counts(lake, 150))
        # the rows of the lake come back in time order: compare with the same rows in that order
        ordered = incidents.sort_values("occurred_at", kind="stable", ignore_index=True)
        _same_grid(kde(ordered, 100), kde(lake, 100))
        _same_grid(kde(ordered, 100, kernel="quartic", units="per_cell"), kde(lake, 100, kernel="quartic",
                                                                              units="per_cell"))
    xy = pd.DataFrame({"x": [0.0, 50.0, np.nan, 250.0], "y": [0.0, 60.0, 1.0, 90.0], "w": [1.0, 2.0, 3.0, 4.0]})
    _same_grid(grid_counts(xy, 100, crs="EPSG:32617", bounds=(0, 0, 300, 100), weights="w"),
               grid_counts(dd.from_pandas(xy, npartitions=2), 100, crs="EPSG:32617", bounds=(0, 0, 300, 100),
                           weights="w"))


def test_exact_order_statistics_match_numpy_when_narrowed_over_partitions(cluster, monkeypatch):
    from workbench.scale import hotspots as on_dask

    monkeypatch.setattr(on_dask, "_CANDIDATES", 50)  # force several narrowing passes
    rng = np.random.default_rng(3)
    values = np.r_[rng.normal(0, 1, 3000), np.full(500, 0.25), rng.standard_cauchy(500)]
    pts = on_dask.dask_points(dd.from_pandas(pd.DataFrame({"x": values, "y": values[::-1]}), npartitions=7),
                              "EPSG:32617")
    assert on_dask.percentiles(pts.parts, pts.sizes, "x", [25, 50, 75, 1]) == pytest.approx(
        list(np.percentile(values, [25, 50, 75, 1])), rel=1e-15)


def test_gistar_and_emerging_on_dask_equal_pandas(sample, cluster):
    incidents = sample.incidents
    lake = dd.from_pandas(incidents, npartitions=6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HotspotWarning)
        for a, b in ((gistar(incidents, 200), gistar(lake, 200)),
                     (emerging(incidents, 300, "7D"), emerging(lake, 300, "7D"))):
            assert set(a.data_vars) == set(b.data_vars)
            for name in a.data_vars:
                if a[name].dtype.kind == "f":
                    np.testing.assert_allclose(b[name].values, a[name].values, rtol=1e-12, atol=1e-12)
                else:
                    assert (a[name].values == b[name].values).all(), name
            assert a.attrs == b.attrs


# -- trajectories ------------------------------------------------------------------------------

def test_reconstruct_on_dask_by_bucket_and_by_shuffle_equals_in_memory(sample, cluster, layout, tmp_path):
    in_memory = reconstruct_in_memory(sample.alpr_reads, sample.cameras, sample.roads)
    by_bucket = reconstruct(read_partitioned(layout, by="bucket"), sample.cameras, sample.roads)
    shuffled = reconstruct(dd.from_pandas(sample.alpr_reads, npartitions=5), sample.cameras, sample.roads)
    expected = _canonical(in_memory)
    for result in (by_bucket.compute(), shuffled.compute()):
        for a, b in zip(expected, _canonical(result)):
            pd.testing.assert_frame_equal(a, b)
        assert result.summary() == in_memory.summary()
    written = by_bucket.to_parquet(tmp_path / "trips")
    assert written["trips"].sum() == len(in_memory.trips) and written["reads"].sum() == len(sample.alpr_reads)
    import pyarrow.dataset as ds

    trip_ids = ds.dataset(tmp_path / "trips" / "trips").to_table(columns=["trip_id"]).column("trip_id").to_numpy()
    assert len(np.unique(trip_ids)) == len(trip_ids) == len(in_memory.trips)


def test_plate_search_on_dask_equals_in_memory_and_is_audited_once(sample, cluster, layout, log):
    lake = read_partitioned(layout, by="date")
    ordered = lake.compute()  # the lake's own row order (time), which ties follow
    plate = sample.truth["misreads"]["true_plate"].iloc[0]  # a plate that was also misread: look-alikes exist
    for query in (dict(plate=plate, lookalike=1), dict(pattern=plate[:3] + "?" + plate[4:], lookalike=0),
                  dict(pattern=plate[:2] + "*", lookalike=1, start="2025-12-20", end="2025-12-22")):
        expected = search_in_memory(ordered, **query, audit_log=log, **WHO)
        before = len(log.records())
        found = search(lake, **query, audit_log=log, **WHO)
        assert len(expected) > 0
        pd.testing.assert_frame_equal(found.reset_index(drop=True), expected.reset_index(drop=True))
        records = log.records()
        assert len(records) == before + 1 and records.iloc[-1]["result_count"] == len(found)
    with pytest.raises(AuditError):
        search(lake, plate=plate, user="jdoe", role="investigator", reason="", case_number="25-1", audit_log=log)
    assert log.records().iloc[-1]["result_count"] is None or pd.isna(log.records().iloc[-1]["result_count"])


def test_convoys_on_dask_by_day_with_overlap_equal_in_memory(sample, cluster, layout, log):
    lake = read_partitioned(layout, by="date")
    ordered = lake.compute()
    expected = convoys_in_memory(ordered, audit_log=log, **WHO)
    found = convoys(lake, audit_log=log, **WHO)
    assert len(expected) > 0
    key = ["plate_a", "plate_b"]
    pd.testing.assert_frame_equal(found.sort_values(key, ignore_index=True),
                                  expected.sort_values(key, ignore_index=True))
    ev = ["plate_a", "plate_b", "at_a", "camera_id"]
    pd.testing.assert_frame_equal(found.attrs["evidence"].sort_values(ev, ignore_index=True),
                                  expected.attrs["evidence"].sort_values(ev, ignore_index=True))
    assert log.records().iloc[-1]["result_count"] == len(found)
    # a co-sighting straddling midnight is found once, by the earlier day with the next day's overlap
    assert (found.attrs["evidence"]["at_a"].dt.date != found.attrs["evidence"]["at_b"].dt.date).sum() == \
        (expected.attrs["evidence"]["at_a"].dt.date != expected.attrs["evidence"]["at_b"].dt.date).sum()
    with pytest.raises(TrajectoryError, match="time order"):
        convoys(dd.from_pandas(ordered.iloc[::-1], npartitions=3, sort=False), audit_log=log, **WHO)


def test_vehicles_near_on_dask_equals_in_memory(sample, cluster, layout, log):
    lake = read_partitioned(layout, by="date")
    ordered = lake.compute()
    linked = sample.truth["incident_vehicles"].merge(sample.incidents[["incident_id", "lon", "lat"]])
    for row in linked.head(3).itertuples():
        at = (row.lon, row.lat, row.occurred_at)
        expected = near_in_memory(ordered, sample.cameras, at, audit_log=log, **WHO)
        found = vehicles_near(lake, sample.cameras, at, audit_log=log, **WHO)
        assert len(expected) > 0 and row.plate in set(found["plate"])
        pd.testing.assert_frame_equal(found.sort_values("plate", ignore_index=True),
                                      expected.sort_values("plate", ignore_index=True))
        assert log.records().iloc[-1]["result_count"] == len(found)


def test_the_engine_functions_themselves_hand_dask_input_to_the_scale_versions(sample, cluster, layout, log):
    """User code keeps its shape: workbench.trajectories.reconstruct / search on a dask frame."""
    lake = read_partitioned(layout, by="bucket")
    delegated = reconstruct_in_memory(lake, sample.cameras, sample.roads)
    direct = reconstruct(lake, sample.cameras, sample.roads)
    for a, b in zip(_canonical(delegated.compute()), _canonical(direct.compute())):
        pd.testing.assert_frame_equal(a, b)
    plate = sample.truth["misreads"]["true_plate"].iloc[0]
    by_date = read_partitioned(layout, by="date")
    found = search_in_memory(by_date, plate=plate, lookalike=1, audit_log=log, **WHO)
    expected = search(by_date, plate=plate, lookalike=1, audit_log=log, **WHO)
    assert len(found) > 0
    pd.testing.assert_frame_equal(found.reset_index(drop=True), expected.reset_index(drop=True))
