"""The compiled reconstruct walk against the rules written out one plate at a time in plain Python."""

import math

import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.data.crs import project
from workbench.trajectories import reconstruct
from workbench.trajectories import _kernels


def _reference_trips(reads, network=None, gap_s=1800.0, merge_s=60.0, max_speed_kmh=150.0, clock_error_s=30.0,
                     detour_factor=1.3, camera_error_m=50.0, reader_error_m=1000.0):
    """Trips, legs and per-read trip numbers of ``reads`` by the module docstring's rules, read by read.

    With a ``network`` its cameras are the registry: reads at other cameras are set aside and a
    camera read is placed at its camera. Without one, every read is placed at its own lon/lat.
    """
    located = np.isfinite(reads["lon"].to_numpy(float)) & np.isfinite(reads["lat"].to_numpy(float))
    px, py = np.full(len(reads), np.nan), np.full(len(reads), np.nan)
    if located.any():
        px[located], py[located], _ = project(reads["lon"][located], reads["lat"][located],
                                              network.crs if network is not None else None)
    by_plate = {}  # plates in order of first appearance among the reads kept
    for pos, r in enumerate(reads.to_dict("records")):
        cam = r.get("camera_id") if isinstance(r.get("camera_id"), str) else None
        if not isinstance(r["plate"], str) or not r["plate"] or (
                network is not None and cam is not None and cam not in network.camera_ids):
            continue  # quarantined
        if network is not None and cam is not None:
            x, y = network.camera_xy[network.index([cam])[0]]
            err = camera_error_m
        else:
            x, y, err = (px[pos], py[pos], reader_error_m) if located[pos] else (np.nan, np.nan, np.nan)
        device = r.get("device") if isinstance(r.get("device"), str) else None
        by_plate.setdefault(r["plate"], []).append(dict(
            pos=pos, id=r["read_id"], t=r["read_at"].value // 1000, cam=cam, device=device, x=x, y=y,
            err=0.0 if np.isnan(err) else err, place=("camera", cam) if cam else ("device", device)))
    trips, legs, per_read = [], [], {}
    for plate, plate_reads in by_plate.items():
        prev = last = None  # the previous read, the previous sighting
        for r in sorted(plate_reads, key=lambda r: (r["t"], r["pos"])):
            repeat = False
            if prev is not None and r["place"] == prev["place"] and (r["t"] - prev["t"]) / 1e6 <= merge_s:
                near = math.hypot(r["x"] - prev["x"], r["y"] - prev["y"]) <= 2 * r["err"] + 1
                repeat = r["cam"] is not None or near or (np.isnan(r["x"]) and np.isnan(prev["x"]))
            prev = r
            if repeat:
                trips[-1]["n_reads"] += 1
                per_read[r["id"]] = (len(trips) - 1, True)
                continue
            new_trip = True
            if last is not None:
                dt = (r["t"] - last["t"]) / 1e6
                if network is not None and last["cam"] and r["cam"]:
                    i, j = network.index([last["cam"], r["cam"]])
                    lower = length = network.distance_m[i, j]
                else:
                    lower = math.hypot(r["x"] - last["x"], r["y"] - last["y"])
                    length = lower * detour_factor
                other_device = last["cam"] is None and r["cam"] is None and last["device"] != r["device"]
                slack_s = clock_error_s if other_device else 0.0
                worst = max(lower - last["err"] - r["err"], 0.0) / max(dt + slack_s, 0.5) * 3.6
                judged = bool(np.isfinite(lower))
                impossible = judged and worst > max_speed_kmh
                new_trip = dt > gap_s or impossible
                if dt <= gap_s:
                    legs.append(dict(from_read_id=last["id"], to_read_id=r["id"], trip_id=len(trips) - 1,
                                     distance_m=lower, speed_kmh=length / max(dt, 0.5) * 3.6,
                                     plausible=(not impossible) if judged else None,
                                     flag=("device_disagreement" if other_device else "impossible_travel")
                                     if impossible else None))
                    if not new_trip and np.isfinite(length):
                        trips[-1]["length_m"] += length
            if new_trip:
                trips.append(dict(plate=plate, n_reads=0, n_sightings=0, camera_ids=[], length_m=0.0))
            trips[-1]["n_reads"] += 1
            trips[-1]["n_sightings"] += 1
            trips[-1]["camera_ids"].append(r["cam"] or r["device"])
            per_read[r["id"]] = (len(trips) - 1, False)
            last = r
    return trips, legs, per_read


def _assert_matches_reference(res, reads, network):
    trips, legs, per_read = _reference_trips(reads, network)
    got = dict(zip(res.reads["read_id"], zip(res.reads["trip_id"].tolist(), res.reads["is_repeat"].tolist())))
    assert got == per_read
    assert res.trips["plate"].tolist() == [t["plate"] for t in trips]
    for column in ("n_reads", "n_sightings"):
        assert res.trips[column].tolist() == [t[column] for t in trips]
    assert pa.array(res.trips["camera_ids"]).to_pylist() == [t["camera_ids"] for t in trips]
    np.testing.assert_allclose(res.trips["length_m"], [t["length_m"] for t in trips], rtol=1e-12)
    for column in ("from_read_id", "to_read_id", "trip_id"):
        assert res.legs[column].tolist() == [leg[column] for leg in legs]
    assert res.legs["plausible"].astype(object).where(res.legs["plausible"].notna(), None).tolist() == \
        [leg["plausible"] for leg in legs]
    assert res.legs["flag"].astype(object).where(res.legs["flag"].notna(), None).tolist() == \
        [leg["flag"] for leg in legs]
    for column in ("distance_m", "speed_kmh"):
        np.testing.assert_allclose(res.legs[column], [leg[column] for leg in legs], rtol=1e-12)


_READ = st.tuples(
    st.sampled_from(["AAA111", "AAA111", "BBB222", "CCC333", "", None]),  # missing or empty: quarantined
    st.one_of(st.integers(0, 8).map(lambda k: 30 * k), st.integers(0, 3 * 3600)),  # second: bunched, or not
    st.sampled_from([0, 1, 400_000]),  # microsecond: ties and near-ties
    st.integers(-1, 3),  # camera: -1 a mobile reader, 3 not in the registry
    st.sampled_from(["CAR-7", "CAR-9", None]),  # the mobile reader's device
    st.one_of(st.none(), st.tuples(st.floats(-0.04, 0.04), st.floats(-0.04, 0.04))),  # its offset, or no fix
)


def _random_reads(rows, cameras):
    ids = ["ALPR-001", "ALPR-002", "ALPR-040", "ALPR-999"]
    lon0, lat0 = cameras.loc[cameras["camera_id"] == "ALPR-001", ["lon", "lat"]].iloc[0]
    t0 = pd.Timestamp("2025-06-01", tz="UTC")
    return pd.DataFrame({
        "read_id": [f"R{k}" for k in range(len(rows))],
        "read_at": pd.Series([t0 + pd.Timedelta(seconds=s, microseconds=us) for _, s, us, *_ in rows],
                             dtype="datetime64[us, UTC]"),
        "plate": pd.Series([r[0] for r in rows], dtype="str"),
        "camera_id": pd.Series([ids[r[3]] if r[3] >= 0 else None for r in rows], dtype="str"),
        "device": pd.Series([r[4] if r[3] < 0 else None for r in rows], dtype="str"),
        "lon": [lon0 + r[5][0] if r[5] else np.nan for r in rows],
        "lat": [lat0 + r[5][1] if r[5] else np.nan for r in rows],
    })


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(_READ, max_size=40))
def test_compiled_walk_matches_a_plain_per_plate_loop_on_random_reads(sample, sample_network, rows):
    reads = _random_reads(rows, sample.cameras)
    _assert_matches_reference(reconstruct(reads, sample.cameras, network=sample_network), reads, sample_network)
    _assert_matches_reference(reconstruct(reads), reads, None)  # no registry: cameras placed by the reads
    by_position = reads.drop(columns="camera_id")  # mobile readers only: straight lines, clock tolerance
    _assert_matches_reference(reconstruct(by_position), by_position, None)


def test_plate_time_order_is_a_stable_lexsort_for_short_and_long_plates():
    rng = np.random.default_rng(5)
    for n, n_plates, t_max in ((20_000, 4, 50), (20_000, 3_000, 10**9), (3_000, 1, 7)):  # long runs, ties
        plate, t = rng.integers(-1, n_plates, n), rng.integers(0, t_max, n)  # -1: a read set aside
        order, t_sorted, plate_sorted = _kernels.order_by_group_time(plate, n_plates, t)
        kept = np.flatnonzero(plate >= 0)
        expected = kept[np.lexsort((t[kept], plate[kept]))]
        assert np.array_equal(order, expected) and np.array_equal(t_sorted, t[expected])
        assert np.array_equal(plate_sorted, plate[expected])


def test_compiled_walk_matches_a_plain_per_plate_loop_on_the_sample(sample, sample_network):
    reads = sample.alpr_reads.iloc[:4000]
    _assert_matches_reference(reconstruct(reads, sample.cameras, network=sample_network), reads, sample_network)


# -- next camera, reachable ----------------------------------------------------------------------


