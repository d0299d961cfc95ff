"""The scenario's crime has the properties it claims: volumes, seasonality, hot spots, near repeat,
calls, gunshot alerts and cameras."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import cKDTree

from workbench.data.crs import project
from workbench.sample import generate


@pytest.fixture(scope="module")
def year():
    """A year of crime at full scale, without ALPR reads (about 2 s)."""
    return generate(seed=0, days=365, alpr_days=0)


def local(s, col="occurred_at", table="incidents"):
    return getattr(s, table)[col].dt.tz_convert(s.tz)


def xy(s, frame):
    x, y, _ = project(frame["lon"].to_numpy(), frame["lat"].to_numpy(), s.crs)
    return x, y


def test_offence_mix_and_volumes_fit_a_city_of_360k(year):
    inc = year.incidents
    assert 15_000 <= len(inc) <= 30_000
    assert inc["offense"].nunique() >= 8
    assert set(inc["offense_category"]) == {"violent", "property", "other"}
    assert {"sexual_assault", "domestic_assault", "homicide"} <= set(inc["offense"])
    assert inc.loc[inc["offense"] == "domestic_assault", "domestic"].all()
    per_100k = inc["offense_category"].value_counts() / 3.6
    assert 600 <= per_100k["violent"] <= 1_800
    assert 2_500 <= per_100k["property"] <= 5_500
    assert inc["incident_id"].is_unique
    assert inc["address"].str.contains(" block of ").all()


def test_violent_crime_peaks_at_night_and_burglary_by_day(year):
    inc = year.incidents
    hour = local(year).dt.hour
    street = inc["offense"].isin(["aggravated_assault", "robbery"]).to_numpy()
    night = hour.isin([21, 22, 23, 0, 1, 2]).to_numpy()
    morning = hour.isin([5, 6, 7, 8]).to_numpy()
    assert (street & night).sum() / 6 > 2.5 * (street & morning).sum() / 4
    burg = (inc["offense"] == "burglary").to_numpy()
    day = hour.isin(range(9, 17)).to_numpy()
    assert (burg & day).sum() / 8 > 1.5 * (burg & hour.isin([1, 2, 3, 4]).to_numpy()).sum() / 4
    counts = np.bincount(hour, minlength=24)
    assert stats.chisquare(counts).pvalue < 1e-12


def test_weekends_bring_more_violence_and_weekdays_more_burglary(year):
    inc = year.incidents
    dow = local(year).dt.day_of_week.to_numpy()
    weekend = dow >= 5
    dv = (inc["offense"] == "domestic_assault").to_numpy()
    assert (dv & weekend).sum() / 2 > 1.1 * (dv & ~weekend).sum() / 5
    burg = (inc["offense"] == "burglary").to_numpy()
    assert (burg & ~weekend).sum() / 5 > 1.1 * (burg & weekend).sum() / 2


def test_violence_rises_in_summer(year):
    inc = year.incidents
    month = local(year).dt.month.to_numpy()
    violent = (inc["offense_category"] == "violent").to_numpy()
    summer = violent & np.isin(month, [6, 7, 8])
    winter = violent & np.isin(month, [1, 2, 12])
    assert summer.sum() > 1.15 * winter.sum()


def test_planted_hot_spots_have_elevated_density_while_active(year):
    inc = year.incidents
    x, y = xy(year, inc)
    t = inc["occurred_at"]
    hot = year.truth["hotspots"]
    assert set(hot["kind"]) == {"persistent", "emerging", "fading", "oscillating"}
    area_km2 = 100.0
    period_days = 365.0
    for h in hot.itertuples():
        cat = (inc["offense_category"] == h.offense_category).to_numpy()
        active = ((t >= h.start) & (t < h.end)).to_numpy()
        hx, hy, _ = project([h.lon], [h.lat], year.crs)
        near = np.hypot(x - hx[0], y - hy[0]) <= h.radius_m
        days_active = (h.end - h.start) / pd.Timedelta(days=1)
        density = (cat & active & near).sum() / (np.pi * (h.radius_m / 1000) ** 2) / days_active
        city = cat.sum() / area_km2 / period_days
        assert density > 4 * city, (h.hotspot_id, h.kind, density, city)


def test_emerging_hot_spot_is_quiet_before_its_start_and_fading_one_after_its_end(year):
    inc = year.incidents
    x, y = xy(year, inc)
    t = inc["occurred_at"]
    hot = year.truth["hotspots"]
    t0, t1 = t.min(), t.max()
    for h in hot[hot["kind"].isin(["emerging", "fading"])].itertuples():
        hx, hy, _ = project([h.lon], [h.lat], year.crs)
        near = (np.hypot(x - hx[0], y - hy[0]) <= h.radius_m) \
            & (inc["offense_category"] == h.offense_category).to_numpy()
        live = ((t >= h.start) & (t < h.end)).to_numpy()
        rate_live = (near & live).sum() / ((h.end - h.start) / pd.Timedelta(days=1))
        quiet_days = ((h.start - t0) if h.kind == "emerging" else (t1 - h.end)) / pd.Timedelta(days=1)
        rate_quiet = (near & ~live).sum() / quiet_days
        assert rate_live > 3 * rate_quiet, (h.hotspot_id, rate_live, rate_quiet)


def test_near_repeat_share_is_planted_and_measurable(year):
    inc = year.incidents
    nr = year.truth["near_repeat"]
    burg = inc[inc["offense"] == "burglary"]
    share = len(nr) / len(burg)
    assert 0.14 <= share <= 0.26
    assert nr["incident_id"].isin(burg["incident_id"]).all()
    assert nr["parent_incident_id"].isin(burg["incident_id"]).all()
    assert (nr["distance_m"] <= 200 + 1e-6).all()
    assert ((nr["lag_days"] > 0) & (nr["lag_days"] <= 14)).all()

    # Without the truth: a Knox test finds more close-in-space-and-time pairs than chance.
    x, y = xy(year, burg)
    pairs = cKDTree(np.column_stack([x, y])).query_pairs(200.0, output_type="ndarray")
    days = (burg["occurred_at"] - burg["occurred_at"].min()).dt.total_seconds().to_numpy() / 86400
    observed = (np.abs(days[pairs[:, 0]] - days[pairs[:, 1]]) <= 14).sum()
    rng = np.random.default_rng(1)
    expected = np.mean([(np.abs(p[pairs[:, 0]] - p[pairs[:, 1]]) <= 14).sum()
                        for p in (rng.permutation(days) for _ in range(20))])
    assert observed > 1.5 * expected


def test_calls_link_to_incidents_and_respond_by_priority(year):
    calls, inc = year.calls, year.incidents
    linked = calls["incident_id"].dropna()
    assert linked.isin(inc["incident_id"]).all()
    assert linked.nunique() > 0.7 * len(inc)  # thefts are often reported online, not called in
    violent = inc.loc[inc["offense_category"] == "violent", "incident_id"]
    assert violent.isin(linked).mean() > 0.93
    assert calls["incident_id"].isna().sum() > len(inc)  # plenty of non-crime calls
    done = calls.dropna(subset=["arrived_at"])
    assert (done["dispatched_at"] >= done["received_at"]).all()
    assert (done["arrived_at"] >= done["dispatched_at"]).all()
    response = (done["arrived_at"] - done["received_at"]).dt.total_seconds() / 60
    by_priority = response.groupby(done["priority"]).median()
    assert by_priority[1] < by_priority[2] < by_priority[3]
    assert 4 <= by_priority[1] <= 15


def test_most_shootings_are_detected_and_some_alerts_are_false(year):
    truth = year.truth["gunshots"]
    shootings = year.truth["incident_sources"].query("shooting")
    covered = year.truth["gunshot_coverage"].query("covered")["district"]
    inc = year.incidents.set_index("incident_id")
    in_cov = shootings[inc.loc[shootings["incident_id"], "district"].isin(covered).to_numpy()]
    detected = in_cov["incident_id"].isin(truth["incident_id"]).mean()
    assert detected > 0.85
    assert shootings["incident_id"].isin(truth["incident_id"]).mean() > 0.6
    causes = truth["cause"].value_counts(normalize=True)
    assert 0.05 < causes["false_alert"] < 0.2
    assert year.gunshots["incident_id"].dropna().isin(year.incidents["incident_id"]).all()


def test_alpr_cameras_sit_on_the_edge_they_watch_facing_its_traffic(year):
    import geopandas as gpd

    cams = year.cameras
    alpr = cams[cams["kind"] == "alpr"]
    assert 24 <= len(alpr) <= 60
    assert alpr["road_edge"].isin(year.roads["edge_id"]).all()
    classes = year.roads.set_index("edge_id").loc[alpr["road_edge"], "road_class"]
    assert {"bridge", "ramp", "arterial"} <= set(classes)
    roads = year.roads.set_index("edge_id").to_crs(year.crs)
    pts = gpd.GeoSeries(gpd.points_from_xy(alpr["lon"], alpr["lat"]), crs=4326).to_crs(year.crs)
    dist = pts.distance(roads.geometry.loc[alpr["road_edge"]], align=False)
    assert (dist < 20).all()
    edges = year.truth["camera_edges"].set_index("camera_id").loc[alpr["camera_id"]]
    nodes = year.nodes.set_index("node_id")
    a, b = nodes.loc[edges["from_node"]], nodes.loc[edges["to_node"]]
    bearing = np.degrees(np.arctan2(b["x"].to_numpy() - a["x"].to_numpy(),
                                    b["y"].to_numpy() - a["y"].to_numpy())) % 360
    off = np.abs((bearing - alpr["heading"].to_numpy() + 180) % 360 - 180)
    # ramps are bowed, so their heading at the camera differs a little from the chord
    assert (off < 45).all() and np.median(off) < 5


def test_community_cameras_cluster_in_commercial_areas(year):
    cams = year.cameras
    comm = cams[cams["kind"] == "community"]
    assert {"alpr", "cctv", "community"} == set(cams["kind"])
    x, y = xy(year, comm)
    nodes = year.nodes[year.nodes["road_class"] != "highway"]
    _, idx = cKDTree(nodes[["x", "y"]].to_numpy()).query(np.column_stack([x, y]))
    commercial_share = (nodes["land_use"].to_numpy()[idx] == "commercial").mean()
    assert commercial_share > 3 * (nodes["land_use"] == "commercial").mean()
