"""Call briefings on the sample scenario: the planted hot spots, shootings, cameras and hotlist are the oracle."""

import json

import numpy as np
import pandas as pd
import pytest
from pyproj import Geod

from workbench import load_sample
from workbench.briefing import PERSON_NOTE, BriefingContext, brief, check_call
from workbench.briefing.live import BriefingService
from workbench.data import Store
from workbench.errors import BriefingError
from workbench.governance.audit import AuditLog
from workbench.live.subscriptions import LiveBatch

GEOD = Geod(ellps="WGS84")
SYSTEM = {"user": "rtcc-system", "role": "system", "reason": "call briefing"}


@pytest.fixture(scope="module")
def sample():
    return load_sample()


@pytest.fixture(scope="module")
def store(sample):
    store = Store(":memory:")
    for table in ("calls", "incidents", "gunshots", "cameras", "alpr_reads"):
        store.append(table, sample.tables[table])
    return store


@pytest.fixture(scope="module")
def december(sample, store):
    """The context as of the ALPR fortnight (reads exist), with roads and the planted hotlist."""
    return BriefingContext(roads=sample.roads, hotlist=sample.truth["hotlist"]).fit(store, as_of="2025-12-24")


@pytest.fixture
def audit(tmp_path):
    return AuditLog(tmp_path / "audit.jsonl")


def metres(lon0, lat0, lon, lat):
    """Distances by the WGS84 ellipsoid (pyproj), independent of the engine's haversine."""
    n = len(lon)
    return GEOD.inv(np.full(n, lon0), np.full(n, lat0), np.asarray(lon, float), np.asarray(lat, float))[2]


def test_call_at_each_planted_persistent_hot_spot_reports_it(sample, store, december):
    spots = sample.truth["hotspots"]
    for spot in spots[spots["kind"] == "persistent"].itertuples():
        b = brief({"call_id": "T1", "call_type": "disturbance", "priority": 2, "lon": spot.lon, "lat": spot.lat},
                  store, december, at="2025-12-24")
        assert b.hotspot["in_hot_spot"], spot.hotspot_id
        assert b.hotspot["gi_bin"] >= 2, spot.hotspot_id
        assert "is in a current hot spot" in b.summary


def test_emerging_hot_spot_reports_an_emerging_class_at_the_end_of_the_year(sample, store, december):
    spots = sample.truth["hotspots"]
    for spot in spots[spots["kind"] == "emerging"].itertuples():
        spot_info = december.hotspot_at(spot.lon, spot.lat)
        assert spot_info["in_hot_spot"], spot.hotspot_id
        assert spot_info["emerging"] is not None and "hot spot" in spot_info["emerging"]


def test_call_near_a_recent_planted_shooting_lists_its_gunshot_alert(sample, store, december):
    truth = sample.truth["gunshots"]
    shots = sample.gunshots.merge(truth[truth["cause"] == "shooting"][["alert_id"]], on="alert_id")
    recent = shots[shots["detected_at"] < pd.Timestamp("2025-12-24", tz="UTC")].tail(3)
    assert len(recent) == 3
    for shot in recent.itertuples():
        lon, lat, _ = GEOD.fwd(shot.lon, shot.lat, 0.0, 120.0)  # 120 m north of the alert
        at = shot.detected_at + pd.Timedelta(minutes=25)
        b = brief({"call_id": "T2", "call_type": "shots_fired", "priority": 1, "lon": lon, "lat": lat,
                   "received_at": at}, store, december)
        listed = b.gunshots_nearby.set_index("alert_id")
        assert shot.alert_id in listed.index
        assert abs(listed.loc[shot.alert_id, "distance_m"] - 120.0) < 2.0
        assert "gunshot alert" in b.summary
        if isinstance(shot.incident_id, str):  # the shooting's incident is among the violent ones nearby
            assert shot.incident_id in set(b.violent_nearby["incident_id"])


def test_cameras_are_nearest_first_and_include_community_cameras(sample, store, december):
    cams = sample.cameras
    at = pd.Timestamp("2025-12-24", tz="UTC")
    community = cams[(cams["kind"] == "community") & (cams["installed_at"].isna() | (cams["installed_at"] <= at))]
    anchor = community.iloc[len(community) // 2]
    b = brief((anchor["lon"] + 0.0008, anchor["lat"]), store, december, at=at)
    listed = b.cameras
    assert listed["distance_m"].is_monotonic_increasing
    assert "community" in set(listed["kind"])
    assert listed[["owner", "facing"]].notna().all().all()
    active = cams[(cams["installed_at"].isna() | (cams["installed_at"] <= at))
                  & (cams["removed_at"].isna() | (cams["removed_at"] > at))]
    d = metres(anchor["lon"] + 0.0008, anchor["lat"], active["lon"], active["lat"])
    assert set(listed["camera_id"]) == set(active["camera_id"][d <= 300.0])
    np.testing.assert_allclose(listed.set_index("camera_id")["distance_m"],
                               pd.Series(d, index=active["camera_id"]).reindex(listed["camera_id"]), rtol=5e-3)


def direct_counts(store, table, time_col, type_col, key, start, end, address, lon, lat, radius, exclude=None):
    """Counts by type straight from the store: same address (SQL) or within ``radius`` (ellipsoid)."""
    rows = store.query(table, start=start, end=end)
    if exclude is not None:
        rows = rows[rows[key] != exclude]
    same = rows["address"].eq(address).fillna(False).to_numpy(bool)
    near = metres(lon, lat, rows["lon"].fillna(0), rows["lat"].fillna(0)) <= radius if lon is not None \
        else np.zeros(len(rows), bool)
    by_sql = store.sql(f"SELECT count(*) AS n FROM {table} WHERE address = ? AND {time_col} >= ? AND "
                       f"{time_col} < ? AND {key} <> ?", [address, start, end, exclude or ""])["n"].iloc[0]
    assert same.sum() == by_sql
    return rows[same | near][type_col].value_counts()


def test_premise_history_counts_agree_with_a_direct_query_of_the_store(sample, store, december):
    calls = sample.calls
    chosen = calls[(calls["received_at"] > "2025-12-01") & (calls["priority"] == 1)].iloc[::40].head(5)
    for call in chosen.to_dict("records"):
        b = brief(call, store, december)
        t = call["received_at"]
        for days in (30, 365):
            start = t - pd.Timedelta(days=days)
            want = direct_counts(store, "calls", "received_at", "call_type", "call_id", start, t, call["address"],
                                 call["lon"], call["lat"], 50.0, exclude=call["call_id"])
            got = b.premise_counts[b.premise_counts["source"] == "call"].set_index("type")[f"last_{days}d"]
            assert got[got > 0].sort_index().to_dict() == want.sort_index().to_dict()
            want = direct_counts(store, "incidents", "occurred_at", "offense", "incident_id", start, t,
                                 call["address"], call["lon"], call["lat"], 50.0,
                                 exclude=call["incident_id"] if isinstance(call["incident_id"], str) else None)
            got = b.premise_counts[b.premise_counts["source"] == "incident"].set_index("type")[f"last_{days}d"]
            assert got[got > 0].sort_index().to_dict() == want.sort_index().to_dict()
        assert b.premise["severity"].is_monotonic_increasing  # most serious first


def test_a_call_with_no_history_says_so_plainly(sample, store, december):
    first = sample.calls["received_at"].min()
    b = brief({"call_id": "T5", "call_type": "welfare_check", "priority": 3, "lon": -83.0, "lat": 39.96,
               "address": "no such block"}, store, december, at=first - pd.Timedelta(days=1))
    assert not len(b.premise) and not len(b.violent_nearby) and not len(b.gunshots_nearby)
    assert "No prior calls or incidents at this address or within 50 m in the last 365 days" in b.summary
    assert "No violent incidents or gunshot alerts within 400 m" in b.summary


def test_call_without_coordinates_gets_premise_history_by_address_and_says_what_was_not_looked_up(
        sample, store, december):
    call = sample.calls[(sample.calls["received_at"] > "2025-12-10")].iloc[5].to_dict()
    call.update(lon=float("nan"), lat=None, vehicle_involved=True)
    b = brief(call, store, december)
    t = call["received_at"]
    want = store.sql("SELECT count(*) AS n FROM calls WHERE address = ? AND received_at >= ? AND received_at < ? "
                     "AND call_id <> ?", [call["address"], t - pd.Timedelta(days=365), t, call["call_id"]])["n"][0]
    assert (b.premise["source"] == "call").sum() == want > 0
    assert b.premise["same_address"].all()
    assert b.hotspot is None and not len(b.cameras) and b.escape_cameras is None and b.hotlist_hits is None
    assert any("no coordinates" in text and "by address only" in text for text in b.not_looked_up)
    assert "Not looked up:" in b.summary
    nowhere = brief({"call_id": "T6", "call_type": "alarm"}, store, december, at=t)
    assert "No coordinates and no address" in nowhere.summary
    assert any("neither coordinates nor an address" in text for text in nowhere.not_looked_up)


def test_vehicle_call_lists_the_plate_readers_reachable_on_the_routes_out(sample, store, december, audit):
    from workbench.trajectories import reachable

    call = sample.calls[(sample.calls["received_at"] > "2025-12-20") & sample.calls["vehicle_involved"]].iloc[0]
    b = brief(call, store, december, escape_minutes=4, speed_factor=1.2, audit_log=audit, **SYSTEM)
    oracle = reachable((call["lon"], call["lat"]), 4, sample.roads, sample.cameras, speed_factor=1.2,
                       network=december.network_).cameras
    oracle = oracle[oracle["kind"] == "alpr"]
    assert len(oracle) > 0
    assert set(b.escape_cameras["camera_id"]) == set(oracle["camera_id"])
    np.testing.assert_allclose(b.escape_cameras.set_index("camera_id")["seconds"],
                               oracle.set_index("camera_id")["seconds"].reindex(b.escape_cameras["camera_id"]))
    assert b.escape_cameras["seconds"].is_monotonic_increasing
    assert brief(call, store, december, vehicle=False).escape_cameras is None


def planted_hit(sample, audit_log):
    """A read of a plate on the planted hotlist while its entry was active (the truth table)."""
    from workbench.trajectories import hits

    found = hits(sample.alpr_reads, sample.truth["hotlist"], include_past=False, user="test-oracle",
                 role="system", reason="finding a planted hotlist read", audit_log=audit_log)
    return found[found["camera_id"].notna()].iloc[0]


def test_hotlist_hit_nearby_in_the_last_hour_is_reported_through_an_audited_system_check(
        sample, store, december, audit, tmp_path):
    hit = planted_hit(sample, AuditLog(tmp_path / "oracle.jsonl"))
    cam = sample.cameras.set_index("camera_id").loc[hit["camera_id"]]
    call = {"call_id": "T7", "call_type": "stolen_vehicle", "priority": 2, "lon": cam["lon"], "lat": cam["lat"],
            "received_at": hit["read_at"] + pd.Timedelta(minutes=20), "vehicle_involved": True}
    b = brief(call, store, december, audit_log=audit, **SYSTEM)
    assert hit["read_id"] in set(b.hotlist_hits["read_id"])
    assert hit["plate"] in set(b.hotlist_hits["plate"])
    assert "hotlist hit" in b.summary and "No hotlist hits" not in b.summary
    records = audit.records()
    assert list(records["action"]) == ["hits"] and records["user"].iloc[0] == "rtcc-system"
    assert records["reason"].iloc[0] == "call briefing" and records["result_count"].iloc[0] >= 1
    assert hit["plate"] not in json.dumps(b.to_dict(plates=False))  # counts only for command staff
    late = brief({**call, "received_at": hit["read_at"] + pd.Timedelta(minutes=90)}, store, december,
                 audit_log=audit, **SYSTEM)
    assert hit["read_id"] not in set(late.hotlist_hits["read_id"])  # only the last hour counts
    refused = brief(call, store, december, audit_log=audit)  # nobody named: the check is refused, not run
    assert refused.hotlist_hits is None
    assert any("refused" in text for text in refused.not_looked_up)
    assert "refused" in audit.records()["parameters"].iloc[-1]


def test_briefing_renders_as_json_text_and_a_card_that_disclaim_person_checks(sample, store, december):
    from workbench.briefing.card import BriefingCard, card_html

    call = sample.calls[(sample.calls["received_at"] > "2025-12-20") & (sample.calls["priority"] == 1)].iloc[0]
    b = brief(call, store, december, tz=sample.tz)
    data = json.loads(b.to_json())
    assert data["summary"] == b.summary and data["person_note"] == PERSON_NOTE
    assert data["call"]["call_id"] == call["call_id"]
    assert len(data["premise"]) == len(b.premise) and len(data["cameras"]) == len(b.cameras)
    text = b.to_text()
    assert text.startswith(f"BRIEFING {call['call_id']}") and "person records" in text
    assert "No person checks were made" in b.summary
    markup = card_html(b)
    assert call["call_id"] in markup and "no person records" in markup
    card = BriefingCard(briefing=b)
    assert call["call_id"] in card.__panel__().object


def test_service_briefs_each_new_priority_call_once(sample, store, december, audit):
    calls = sample.calls[sample.calls["received_at"] > "2025-12-22"].head(40)
    mirror = Store(":memory:")
    for table in ("incidents", "gunshots", "cameras"):
        mirror.append(table, sample.tables[table])
    service = BriefingService(mirror, december, mirror=True, audit_log=audit)
    batch = LiveBatch(table="calls", poller="cad", rows=calls, inserted=len(calls), replaced=0, rejected=0,
                      stored_at=pd.Timestamp.now("UTC"))
    made = service.on_batch(batch)
    priority_one = calls[calls["priority"] == 1]
    assert len(priority_one) > 0
    assert [b.call["call_id"] for b in made] == list(priority_one.sort_values("received_at")["call_id"])
    assert service.version == 1 and service.briefings[0].call["call_id"] == made[-1].call["call_id"]
    assert mirror.count("calls") == len(calls)  # the live batch was mirrored into the briefing store
    assert service.on_batch(batch) == [] and service.version == 1  # an update of a briefed call is not new


def test_a_briefing_needs_a_time():
    with pytest.raises(BriefingError, match="needs a time"):
        check_call((-83.0, 39.96))
    with pytest.raises(BriefingError, match="one call at a time"):
        check_call(pd.DataFrame({"lon": [1.0, 2.0]}))
